"""``MultimodalDataset``: a :class:`~recbole_unlearn.data.published_split.PublishedSplitDataset` with per-item
modality matrices (:mod:`recbole_unlearn.data.features`).

Config keys it reads (all optional):

``modalities``
    ``{name: file.npy, ...}``. Each file holds one 2-D numeric array, one row per item. A relative path is taken
    from the dataset folder (``data_path/<dataset>``), an absolute path as is, and a leading ``{package_data}``
    stands for :data:`PACKAGE_DATA_DIR`. Loaded with ``np.load(path, allow_pickle=False)``.
``modality_item_map``
    A one-column TSV, header ``item_id``, whose line *k* after the header is the item token of row *k* of every
    matrix. Without it, row *i* belongs to item token ``str(i)`` (MMRec's convention).
``feature_norm``
    How each matrix is normalised once aligned (:func:`~recbole_unlearn.data.features.feature_norm_plan`):
    ``none`` | ``l2`` | ``standardize``, a list of them applied in order, or ``{modality: ...}``. The plan applied is
    ``dataset.feature_norm`` (``{name: (step, ...)}``); checkpoints record it, so a loaded model sees the same
    features.

Result: ``dataset.modality_features[name]`` is a ``float32`` tensor of shape ``(dataset.item_num, d)`` indexed by
RecBole's internal item id, normalised as ``feature_norm`` says. Row 0 (padding) is all zeros; an all-zero row means
"no features for this item in this modality" (padding, or purged by
:meth:`MultimodalDataset.with_modality_rows_purged`).
A purge zeroes the rows of the matrix as read and normalises it again, so a statistic of the normalisation (a column
mean, for ``standardize``) never carries anything of a purged row. The matrices never enter
``inter_feat`` / ``item_feat``, so they stay off the per-batch path; ``copy`` (a shallow copy) and ``build`` hand the
same tensors to every split.

Bad input raises :class:`~recbole_unlearn.errors.InputError` with one line naming the file, at construction time.
"""

import os

import numpy as np
import torch
from recbole.utils import set_color

from recbole_unlearn.data.features import (
    align_feature_rows,
    feature_norm_plan,
    load_feature_matrix,
    normalize_features,
    read_item_map,
    resolve_data_file,
)
from recbole_unlearn.data.published_split import PublishedSplitDataset
from recbole_unlearn.errors import InputError


class MultimodalDataset(PublishedSplitDataset):
    """A dataset (atomic or MMRec files) whose items also carry modality matrices aligned to internal item ids.

    Attributes:
        modality_features (dict[str, torch.FloatTensor]): ``name -> (item_num, d)``, see the module docstring.
        modality_files (dict[str, str]): ``name ->`` the file each matrix was read from.
        feature_norm (dict[str, tuple]): ``name ->`` the normalisation steps applied to it.
        raw_modality_features (dict[str, torch.FloatTensor]): ``name ->`` the matrix as read (aligned, purged rows
            zero) that ``modality_features[name]`` was normalised from.
    """

    def __init__(self, config):
        self.modality_features = {}
        self.modality_files = {}
        self.feature_norm = {}
        self.raw_modality_features = {}
        self._normalised = {}  # name -> the tensor normalised from raw_modality_features[name]
        super().__init__(config)

    @classmethod
    def handles(cls, config) -> bool:
        """True when ``modalities`` is set or the interactions are MMRec files."""
        return bool(config["modalities"]) or super().handles(config)

    def _from_scratch(self):
        super()._from_scratch()
        self._load_modalities()

    def _load_modalities(self):
        spec = self.config["modalities"]
        if not spec:
            return
        if not isinstance(spec, dict):
            raise InputError(f"config key modalities must map names to .npy files ({{text: t.npy}}), got {spec!r}")
        map_spec = self.config["modality_item_map"]
        map_path = resolve_data_file(map_spec, self.dataset_path) if map_spec else None
        row_tokens = read_item_map(map_path) if map_path else None
        item_tokens = self.field2id_token[self.iid_field][1:]
        plan = feature_norm_plan(self.config["feature_norm"], [str(name) for name in spec])
        for name, file in spec.items():
            if not isinstance(file, (str, os.PathLike)) or not str(file).strip():
                raise InputError(f"config key modalities: modality {name!r} needs a .npy file, got {file!r}")
            path = resolve_data_file(file, self.dataset_path)
            matrix = load_feature_matrix(path)
            name = str(name)
            self.raw_modality_features[name] = align_feature_rows(matrix, item_tokens, path, row_tokens, map_path)
            self.feature_norm[name] = plan[name]
            self.modality_features[name] = normalize_features(self.raw_modality_features[name], plan[name])
            self._normalised[name] = self.modality_features[name]
            self.modality_files[name] = str(path)
            self.logger.debug(f"modality [{name}] {tuple(matrix.shape)} loaded from [{path}], normalised {plan[name]}")

    # ------------------------------------------------------------------------------------------ modalities
    @property
    def modality_names(self) -> list:
        """Names of the loaded modalities, in config order."""
        return list(self.modality_features)

    def modality(self, name) -> torch.Tensor:
        """``modality_features[name]``, or an InputError naming the unknown modality and the available ones."""
        if name not in self.modality_features:
            available = ", ".join(self.modality_features) or "none (config key modalities is not set)"
            raise InputError(f"unknown modality {name!r}; available: {available}")
        return self.modality_features[name]

    def with_modality_rows_purged(self, name, item_ids):
        """A copy whose ``modality_features[name]`` rows ``item_ids`` (internal ids) are zero: the rows of the matrix
        as read are zeroed and the matrix normalised again (``feature_norm``), as if those rows had never been read.

        Other modalities are shared with this dataset, which is left unchanged. A matrix set by hand (not the one
        normalised from ``raw_modality_features``) has its rows zeroed as it is.
        """
        features = self.modality(name)
        try:
            ids = item_ids if isinstance(item_ids, torch.Tensor) else torch.as_tensor(np.asarray(item_ids))
        except (TypeError, ValueError, RuntimeError):
            raise InputError(f"modality {name!r}: item ids must be integer internal ids, got {item_ids!r}") from None
        if ids.numel() and (ids.is_floating_point() or ids.is_complex() or ids.dtype == torch.bool):
            raise InputError(f"modality {name!r}: item ids must be integer internal ids, got dtype {ids.dtype}")
        ids = ids.long().flatten()
        out_of_range = ids[(ids < 0) | (ids >= features.shape[0])]
        if len(out_of_range):
            shown = ", ".join(str(int(i)) for i in out_of_range[:5])
            raise InputError(f"modality {name!r}: item id(s) {shown} outside 0..{features.shape[0] - 1}")
        nxt = self.copy(self.inter_feat)
        if self._normalised.get(name) is features:  # read from its file: purge the raw rows, normalise again
            raw = self.raw_modality_features[name].clone()
            raw[ids] = 0
            purged = normalize_features(raw, self.feature_norm[name])
            nxt.raw_modality_features = {**self.raw_modality_features, name: raw}
            nxt._normalised = {**self._normalised, name: purged}
        else:  # set by hand: taken as it is
            purged = features.clone()
            purged[ids] = 0
        nxt.modality_features = {**self.modality_features, name: purged}
        return nxt

    def __str__(self):
        info = [super().__str__()]
        for name, features in self.modality_features.items():
            source = self.modality_files[name]
            info.append(set_color(f"Modality {name}", "blue") + f": {tuple(features.shape)} from {source}")
        return "\n".join(info)
