"""``MultimodalDataset``: RecBole's ``Dataset`` plus MMRec-format files and per-item modality matrices.

Config keys it reads (all optional):

``data_format``
    ``mmrec``, ``atomic`` or ``auto`` / missing / ``~`` (the default: an ``.inter`` header without ``:`` is MMRec).
    MMRec files are read by :mod:`recbole_unlearn.data.mmrec`; their published split (``x_label``) is kept and
    ``eval_args``'s split is ignored for them.
``modalities``
    ``{name: file.npy, ...}``. Each file holds one 2-D numeric array, one row per item. A relative path is taken
    from the dataset folder (``data_path/<dataset>``), an absolute path as is, and a leading ``{package_data}``
    stands for :data:`PACKAGE_DATA_DIR`. Loaded with ``np.load(path, allow_pickle=False)``.
``modality_item_map``
    A one-column TSV, header ``item_id``, whose line *k* after the header is the item token of row *k* of every
    matrix. Without it, row *i* belongs to item token ``str(i)`` (MMRec's convention).

Result: ``dataset.modality_features[name]`` is a ``float32`` tensor of shape ``(dataset.item_num, d)`` indexed by
RecBole's internal item id. Row 0 (padding) is all zeros; an all-zero row means "no features for this item in this
modality" (padding, or purged by :meth:`MultimodalDataset.with_modality_rows_purged`). The matrices never enter
``inter_feat`` / ``item_feat``, so they stay off the per-batch path; ``copy`` (a shallow copy) and ``build`` hand the
same tensors to every split.

Bad input raises :class:`~recbole_unlearn.errors.UnlearnError` with one line naming the file, at construction time.
"""

import os
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from recbole.data.dataset import Dataset
from recbole.utils import FeatureSource, FeatureType, set_color

import recbole_unlearn
from recbole_unlearn.data.mmrec import (
    RATING_COLUMN,
    SPLIT_NAMES,
    TIME_COLUMN,
    is_mmrec_file,
    read_mmrec_inter,
    split_counts,
)
from recbole_unlearn.errors import UnlearnError

PACKAGE_DATA_DIR = Path(recbole_unlearn.__file__).parent / "package_data"
"""Folder that ``{package_data}`` expands to in ``modalities`` / ``modality_item_map`` paths."""

PACKAGE_DATA_PREFIX = "{package_data}"
ITEM_MAP_HEADER = "item_id"
DATA_FORMATS = ("auto", "mmrec", "atomic")


def config_data_format(config) -> str:
    """The ``data_format`` config key normalised to ``auto``, ``mmrec`` or ``atomic`` (missing or ``~`` is auto)."""
    value = config["data_format"]
    value = "auto" if value is None else str(value).strip().lower()
    if value not in DATA_FORMATS:
        raise UnlearnError(f"config key data_format must be mmrec, atomic or auto (~), got {config['data_format']!r}")
    return value


def inter_file(config) -> str:
    """The dataset's interaction file: ``<data_path>/<dataset>.inter`` (RecBole's ``data_path`` ends in the name)."""
    return os.path.join(config["data_path"], f"{config['dataset']}.inter")


def resolve_data_file(spec, dataset_path) -> Path:
    """A config path: ``{package_data}/...`` under :data:`PACKAGE_DATA_DIR`, absolute as is, else under
    ``dataset_path`` (the dataset folder)."""
    text = str(spec).strip()
    if text.startswith(PACKAGE_DATA_PREFIX):
        return PACKAGE_DATA_DIR / text[len(PACKAGE_DATA_PREFIX) :].lstrip("/\\")
    path = Path(text).expanduser()
    return path if path.is_absolute() else Path(dataset_path) / path


def _one_line(exc) -> str:
    return " ".join(str(exc).split()) or exc.__class__.__name__


def read_item_map(path) -> list:
    """Row tokens from a one-column TSV with header ``item_id``: element *k* is the item token of matrix row *k*.

    Raises:
        UnlearnError: missing file, wrong header, an empty line or a line with more than one field, a repeated token.
    """
    if not Path(path).is_file():
        raise UnlearnError(f"{path}: modality item map not found")
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise UnlearnError(f"{path}: cannot read the modality item map ({_one_line(exc)})") from None
    header = lines[0].strip().lstrip("\ufeff") if lines else ""
    if header != ITEM_MAP_HEADER:
        raise UnlearnError(f"{path}: modality item map must have the one-column header 'item_id', got {header!r}")
    tokens = [line.strip() for line in lines[1:]]
    while tokens and not tokens[-1]:
        tokens.pop()
    for k, token in enumerate(tokens):
        if not token or "\t" in token:
            problem = "is empty" if not token else "has more than one column"
            raise UnlearnError(f"{path}: line {k + 2} {problem} (one item token per line expected)")
    first_seen = {}
    for k, token in enumerate(tokens):
        if token in first_seen:
            raise UnlearnError(f"{path}: item token {token!r} repeated on lines {first_seen[token] + 2} and {k + 2}")
        first_seen[token] = k
    return tokens


def load_feature_matrix(path) -> np.ndarray:
    """One modality matrix as ``float32`` (rows x features), checked to be a finite 2-D numeric array.

    Raises:
        UnlearnError: missing file, not a ``.npy`` array, not 2-D, not numeric, empty, NaN or inf (the first bad
            row is named, 0-based).
    """
    path = Path(path)
    if not path.is_file():
        raise UnlearnError(f"{path}: modality feature file not found")
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, pickle.UnpicklingError) as exc:
        raise UnlearnError(f"{path}: not a .npy numeric array ({_one_line(exc)})") from None
    if not isinstance(array, np.ndarray):
        if hasattr(array, "close"):
            array.close()
        raise UnlearnError(f"{path}: an .npz archive; expected one 2-D numeric .npy array (items x features)")
    if array.ndim != 2:
        raise UnlearnError(f"{path}: expected a 2-D numeric array (items x features), got shape {array.shape}")
    if array.dtype.kind not in "biuf":
        raise UnlearnError(f"{path}: expected a 2-D numeric array, got dtype {array.dtype}")
    if 0 in array.shape:
        raise UnlearnError(f"{path}: empty feature matrix of shape {array.shape}")
    with np.errstate(over="ignore", invalid="ignore"):
        array = array.astype(np.float32, copy=False)
    bad = np.flatnonzero(~np.isfinite(array).all(axis=1))
    if len(bad):
        more = f" (and {len(bad) - 1} more row(s))" if len(bad) > 1 else ""
        raise UnlearnError(f"{path}: row {bad[0]} (0-based) has NaN or inf values{more}")
    return array


def align_feature_rows(matrix, item_tokens, path, row_tokens=None, map_path=None) -> torch.Tensor:
    """Reorder ``matrix`` rows to internal item ids: row 0 zeros (padding), row ``j`` = item ``item_tokens[j-1]``.

    Args:
        matrix: ``(rows, d)`` float32 array from :func:`load_feature_matrix`.
        item_tokens: the dataset's item tokens for internal ids ``1..item_num-1``.
        path: the matrix file (for messages).
        row_tokens: the token of every matrix row (from :func:`read_item_map`); ``None``: row ``i`` is ``str(i)``.
        map_path: the item map file (for messages).
    """
    n_rows = matrix.shape[0]
    if row_tokens is None:
        row_tokens, source = [str(k) for k in range(n_rows)], path
        hint = " (row i is item token str(i); set modality_item_map to map rows to other tokens)"
    else:
        if n_rows != len(row_tokens):
            raise UnlearnError(f"{path}: {n_rows} rows, but the item map {map_path} lists {len(row_tokens)} items")
        source, hint = map_path, ""
    rows = pd.Index(row_tokens).get_indexer(np.asarray(item_tokens, dtype=object))
    missing = np.asarray(item_tokens)[rows < 0]
    if len(missing):
        shown = ", ".join(repr(str(t)) for t in missing[:5]) + (", ..." if len(missing) > 5 else "")
        raise UnlearnError(f"{source}: no row for {len(missing)} item token(s) of the dataset: {shown}{hint}")
    features = torch.zeros(len(rows) + 1, matrix.shape[1], dtype=torch.float32)
    features[1:] = torch.from_numpy(np.ascontiguousarray(matrix[rows]))
    return features


class MultimodalDataset(Dataset):
    """RecBole ``Dataset`` that also reads MMRec-format files and loads modality matrices aligned to item ids.

    Attributes:
        modality_features (dict[str, torch.FloatTensor]): ``name -> (item_num, d)``, see the module docstring.
        modality_files (dict[str, str]): ``name ->`` the file each matrix was read from.
        data_format (str): ``"mmrec"`` or ``"atomic"``, as the ``.inter`` file was read.
    """

    def __init__(self, config):
        self.modality_features = {}
        self.modality_files = {}
        self.data_format = "atomic"
        self._x_label = None  # pd.Series of 0/1/2 aligned to inter_feat rows (MMRec data only)
        super().__init__(config)

    @classmethod
    def handles(cls, config) -> bool:
        """True when ``modalities`` is set, ``data_format`` is ``mmrec``, or (auto) the ``.inter`` header is MMRec."""
        fmt = config_data_format(config)
        if config["modalities"] or fmt == "mmrec":
            return True
        return fmt == "auto" and is_mmrec_file(inter_file(config), config["encoding"] or "utf-8")

    # ----------------------------------------------------------------------------------------------- loading
    def _from_scratch(self):
        super()._from_scratch()
        self._load_modalities()

    def _load_data(self, token, dataset_path):
        if config_data_format(self.config) == "mmrec" and not os.path.isdir(dataset_path):
            raise UnlearnError(f"{dataset_path}: dataset folder not found (data_path must hold {token}/{token}.inter)")
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
            raise UnlearnError(f"{path}: MMRec files carry their own split (x_label); unset benchmark_filename")
        load_col, unload_col = self._get_load_and_unload_col(FeatureSource.INTERACTION)
        rating_field, time_field = self.config["RATING_FIELD"], self.config["TIME_FIELD"]
        wanted = {RATING_COLUMN: rating_field, TIME_COLUMN: time_field}
        load = {
            column
            for column, field in wanted.items()
            if (load_col is None or field in load_col) and (unload_col is None or field not in unload_col)
        }
        read = read_mmrec_inter(path, self.uid_field, self.iid_field, rating_field, time_field, load, encoding)
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
            raise UnlearnError(f"{inter_file(self.config)}: x_label no longer lines up with the interactions")
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

    def _load_modalities(self):
        spec = self.config["modalities"]
        if not spec:
            return
        if not isinstance(spec, dict):
            raise UnlearnError(f"config key modalities must map names to .npy files ({{text: t.npy}}), got {spec!r}")
        map_spec = self.config["modality_item_map"]
        map_path = resolve_data_file(map_spec, self.dataset_path) if map_spec else None
        row_tokens = read_item_map(map_path) if map_path else None
        item_tokens = self.field2id_token[self.iid_field][1:]
        for name, file in spec.items():
            if not isinstance(file, (str, os.PathLike)) or not str(file).strip():
                raise UnlearnError(f"config key modalities: modality {name!r} needs a .npy file, got {file!r}")
            path = resolve_data_file(file, self.dataset_path)
            matrix = load_feature_matrix(path)
            self.modality_features[str(name)] = align_feature_rows(matrix, item_tokens, path, row_tokens, map_path)
            self.modality_files[str(name)] = str(path)
            self.logger.debug(f"modality [{name}] {tuple(matrix.shape)} loaded from [{path}]")

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
                raise UnlearnError(f"copy: {len(x_label)} x_label values for {len(new_inter_feat)} interactions")
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
            raise UnlearnError(f"{inter_file(self.config)}: no training interactions (x_label 0) left")
        for name in SPLIT_NAMES[1:]:
            if counts[name] == 0:
                self.logger.warning(f"{inter_file(self.config)}: the {name} split (x_label) is empty")
        parts = []
        for k in range(len(SPLIT_NAMES)):
            index = torch.from_numpy(np.flatnonzero(labels == k))
            parts.append(self.copy(self.inter_feat[index], x_label=np.full(len(index), k, dtype=np.int8)))
        return parts

    # ------------------------------------------------------------------------------------------ modalities
    @property
    def modality_names(self) -> list:
        """Names of the loaded modalities, in config order."""
        return list(self.modality_features)

    def modality(self, name) -> torch.Tensor:
        """``modality_features[name]``, or an UnlearnError naming the unknown modality and the available ones."""
        if name not in self.modality_features:
            available = ", ".join(self.modality_features) or "none (config key modalities is not set)"
            raise UnlearnError(f"unknown modality {name!r}; available: {available}")
        return self.modality_features[name]

    def with_modality_rows_purged(self, name, item_ids):
        """A copy whose ``modality_features[name]`` rows ``item_ids`` (internal ids) are zero.

        Other modalities are shared with this dataset, which is left unchanged.
        """
        features = self.modality(name)
        try:
            ids = item_ids if isinstance(item_ids, torch.Tensor) else torch.as_tensor(np.asarray(item_ids))
        except (TypeError, ValueError, RuntimeError):
            raise UnlearnError(f"modality {name!r}: item ids must be integer internal ids, got {item_ids!r}") from None
        if ids.numel() and (ids.is_floating_point() or ids.is_complex() or ids.dtype == torch.bool):
            raise UnlearnError(f"modality {name!r}: item ids must be integer internal ids, got dtype {ids.dtype}")
        ids = ids.long().flatten()
        out_of_range = ids[(ids < 0) | (ids >= features.shape[0])]
        if len(out_of_range):
            shown = ", ".join(str(int(i)) for i in out_of_range[:5])
            raise UnlearnError(f"modality {name!r}: item id(s) {shown} outside 0..{features.shape[0] - 1}")
        purged = features.clone()
        purged[ids] = 0
        nxt = self.copy(self.inter_feat)
        nxt.modality_features = {**self.modality_features, name: purged}
        return nxt

    def __str__(self):
        info = [super().__str__()]
        if self.data_format == "mmrec":
            info.append(set_color("Format", "blue") + ": MMRec (published x_label split)")
        for name, features in self.modality_features.items():
            source = self.modality_files[name]
            info.append(set_color(f"Modality {name}", "blue") + f": {tuple(features.shape)} from {source}")
        return "\n".join(info)
