"""``PublishedSplitDataset``: RecBole's ``Dataset`` that also reads MMRec-format files and keeps their published split.

Config key ``data_format``: ``mmrec``, ``atomic`` or ``auto`` / missing / ``~`` (the default: an ``.inter`` header
without ``:`` is MMRec). MMRec files are read by :mod:`recbole_unlearn.data.mmrec`; their split (``x_label``) is kept
beside the interactions, followed through RecBole's filters and copies (its ``_reset_index`` and ``copy`` hooks), and
used by ``build`` in place of ``eval_args``'s split.

Bad input raises :class:`~recbole_unlearn.errors.InputError` with one line naming the file, at construction time.
"""

import os

import numpy as np
import pandas as pd
import torch
from recbole.data.dataset import Dataset
from recbole.utils import FeatureSource, FeatureType, set_color

from recbole_unlearn.data.mmrec import (
    RATING_COLUMN,
    SPLIT_NAMES,
    TIME_COLUMN,
    FieldNames,
    is_mmrec_file,
    read_mmrec_inter,
    split_counts,
)
from recbole_unlearn.errors import InputError

DATA_FORMATS = ("auto", "mmrec", "atomic")


def config_data_format(config) -> str:
    """The ``data_format`` config key normalised to ``auto``, ``mmrec`` or ``atomic`` (missing or ``~`` is auto)."""
    value = config["data_format"]
    value = "auto" if value is None else str(value).strip().lower()
    if value not in DATA_FORMATS:
        raise InputError(f"config key data_format must be mmrec, atomic or auto (~), got {config['data_format']!r}")
    return value


def inter_file(config) -> str:
    """The dataset's interaction file: ``<data_path>/<dataset>.inter`` (RecBole's ``data_path`` ends in the name)."""
    return os.path.join(config["data_path"], f"{config['dataset']}.inter")


class PublishedSplitDataset(Dataset):
    """RecBole ``Dataset`` that also reads MMRec-format files and splits them as published.

    Attributes:
        data_format (str): ``"mmrec"`` or ``"atomic"``, as the ``.inter`` file was read.
    """

    def __init__(self, config):
        self.data_format = "atomic"
        self._x_label = None  # pd.Series of 0/1/2 aligned to inter_feat rows (MMRec data only)
        super().__init__(config)

    @classmethod
    def handles(cls, config) -> bool:
        """True when ``data_format`` is ``mmrec``, or (auto) the ``.inter`` header is MMRec."""
        fmt = config_data_format(config)
        return fmt == "mmrec" or (fmt == "auto" and is_mmrec_file(inter_file(config), config["encoding"] or "utf-8"))

    # ----------------------------------------------------------------------------------------------- loading
    def _load_data(self, token, dataset_path):
        if config_data_format(self.config) == "mmrec" and not os.path.isdir(dataset_path):
            raise InputError(f"{dataset_path}: dataset folder not found (data_path must hold {token}/{token}.inter)")
        super()._load_data(token, dataset_path)

    def _load_inter_feat(self, token, dataset_path):
        path = os.path.join(dataset_path, f"{token}.inter")
        encoding = self.config["encoding"] or "utf-8"
        fmt = config_data_format(self.config)
        if fmt == "atomic" or (fmt == "auto" and not is_mmrec_file(path, encoding)):
            self.data_format = "atomic"
            return super()._load_inter_feat(token, dataset_path)
        self.data_format = "mmrec"
        if self.benchmark_filename_list is not None:
            raise InputError(f"{path}: MMRec files carry their own split (x_label); unset benchmark_filename")
        load_col, unload_col = self._get_load_and_unload_col(FeatureSource.INTERACTION)
        rating_field, time_field = self.config["RATING_FIELD"], self.config["TIME_FIELD"]
        wanted = {RATING_COLUMN: rating_field, TIME_COLUMN: time_field}
        load = {
            column
            for column, field in wanted.items()
            if (load_col is None or field in load_col) and (unload_col is None or field not in unload_col)
        }
        fields = FieldNames(self.uid_field, self.iid_field, rating_field, time_field)
        read = read_mmrec_inter(path, fields, load, encoding)
        for field in read.frame.columns:
            is_id = field in (self.uid_field, self.iid_field)
            self.field2source[field] = FeatureSource.INTERACTION
            self.field2type[field] = FeatureType.TOKEN if is_id else FeatureType.FLOAT
            self.field2seqlen[field] = 1
            if not is_id:
                self.field2bucketnum[field] = 2
        self.inter_feat = read.frame
        self._x_label = pd.Series(read.x_label, index=read.frame.index)

    def _reset_index(self):
        # RecBole's filters drop rows by index label; follow them before the labels are renumbered.
        if self._x_label is not None:
            self._x_label = self._aligned_x_label()
        super()._reset_index()
        if self._x_label is not None:
            self._x_label = self._x_label.reset_index(drop=True)

    def _aligned_x_label(self) -> pd.Series:
        if isinstance(self.inter_feat, pd.DataFrame):
            labels = self._x_label.reindex(self.inter_feat.index)
        else:
            labels = self._x_label
        if len(labels) != len(self.inter_feat) or labels.isna().any():
            raise InputError(f"{inter_file(self.config)}: x_label no longer lines up with the interactions")
        return labels.astype(np.int8)

    def _fill_nan(self):
        """RecBole's imputation (token NaN -> 0, float NaN -> column mean) without its chained in-place ``fillna``,
        which pandas 2 warns about on every load and pandas 3 silently ignores."""
        for feat_name in self.feat_name_list:
            feat = getattr(self, feat_name)
            for field in feat:
                ftype = self.field2type[field]
                if ftype == FeatureType.TOKEN:
                    feat[field] = feat[field].fillna(value=0)
                elif ftype == FeatureType.FLOAT:
                    feat[field] = feat[field].fillna(value=feat[field].mean())
                else:
                    dtype = np.int64 if ftype == FeatureType.TOKEN_SEQ else np.float64
                    feat[field] = feat[field].apply(lambda x: np.array([], dtype=dtype) if isinstance(x, float) else x)

    # ------------------------------------------------------------------------------------------- splitting
    @property
    def split_labels(self):
        """``int8`` array of the published split (0 train, 1 valid, 2 test) per row of ``inter_feat``; ``None``
        when the data has no published split (atomic files) or this copy's rows could not be traced."""
        return None if self._x_label is None else self._x_label.to_numpy()

    def copy(self, new_inter_feat, x_label=None):
        """RecBole's shallow copy (modality tensors are shared) with the split labels of the new rows.

        The labels follow when they can be traced: the same rows, a sub-frame of the loaded ``DataFrame`` (by index),
        or a copy of a single-split dataset (every row of a built train part is train). Pass ``x_label`` to set them.
        """
        nxt = super().copy(new_inter_feat)
        if x_label is not None:
            x_label = np.asarray(x_label, dtype=np.int8)
            if len(x_label) != len(new_inter_feat):
                raise InputError(f"copy: {len(x_label)} x_label values for {len(new_inter_feat)} interactions")
            nxt._x_label = pd.Series(x_label)
        else:
            nxt._x_label = self._labels_for(new_inter_feat)
        return nxt

    def _labels_for(self, new_inter_feat):
        if self._x_label is None:
            return None
        if new_inter_feat is self.inter_feat:
            return self._x_label
        if isinstance(new_inter_feat, pd.DataFrame) and isinstance(self.inter_feat, pd.DataFrame):
            if new_inter_feat.index.isin(self._x_label.index).all():
                return self._x_label.loc[new_inter_feat.index]
        values = self._x_label.unique()
        if len(values) == 1:
            return pd.Series(np.full(len(new_inter_feat), values[0], dtype=np.int8))
        return None

    def build(self):
        """``[train, valid, test]``: the published ``x_label`` split for MMRec data, else RecBole's ``eval_args``.

        For MMRec data the rows keep their file order within each part and ``eval_args``'s split and order are
        ignored (logged once, with the part sizes).
        """
        if self._x_label is None:
            return super().build()
        labels = self._aligned_x_label().to_numpy()
        self._change_feat_format()
        self._drop_unused_col()
        self._x_label = pd.Series(labels)
        counts = split_counts(labels)
        self.logger.info(
            set_color("published split", "blue")
            + f": x_label kept (train {counts['train']}, valid {counts['valid']}, test {counts['test']}); "
            + f"eval_args split {self.config['eval_args']['split']} ignored for MMRec data"
        )
        if counts["train"] == 0:
            raise InputError(f"{inter_file(self.config)}: no training interactions (x_label 0) left")
        for name in SPLIT_NAMES[1:]:
            if counts[name] == 0:
                self.logger.warning(f"{inter_file(self.config)}: the {name} split (x_label) is empty")
        parts = []
        for k in range(len(SPLIT_NAMES)):
            index = torch.from_numpy(np.flatnonzero(labels == k))
            parts.append(self.copy(self.inter_feat[index], x_label=np.full(len(index), k, dtype=np.int8)))
        return parts

    def __str__(self):
        info = [super().__str__()]
        if self.data_format == "mmrec":
            info.append(set_color("Format", "blue") + ": MMRec (published x_label split)")
        return "\n".join(info)
