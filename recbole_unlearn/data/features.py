"""Item feature matrices: one ``.npy`` file per modality, one row per item, aligned to a dataset's internal item ids,
and their normalisation (``feature_norm``).

Paths in the config are relative to the dataset folder unless absolute; a leading ``{package_data}`` stands for
:data:`PACKAGE_DATA_DIR`, the data that ships inside this package. Matrices load with ``allow_pickle=False``. Every
problem is an :class:`~recbole_unlearn.errors.InputError` of one line naming the file or key.

**Normalisation.** Each step of :data:`FEATURE_NORMS` is a pure function of one ``(n_items, d)`` matrix in which an
all-zero row means "no features for this item" (padding, or purged): such rows stay zero and take no part in any
statistic, so normalising a matrix whose rows were purged gives what normalising the retained rows alone gives.
With :math:`V` the items whose row is not all zero:

- ``l2``: :math:`f_i / \\lVert f_i \\rVert_2` (row-wise: no item's row depends on another's);
- ``standardize``: :math:`(f_{ic} - \\mu_c) / \\sigma_c`, :math:`\\mu_c, \\sigma_c` the mean and (population)
  standard deviation of column :math:`c` over :math:`V` (a constant column gets :math:`\\sigma_c = 1`);
- ``none``: the matrix as read.

``feature_norm`` names one step or a list of steps applied in order (``[standardize, l2]``), for every modality, or
maps modality names to such values (a modality the map leaves out is not normalised).
"""

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from recbole_unlearn.data.readers import read_token_list
from recbole_unlearn.errors import InputError

PACKAGE_DATA_DIR = Path(__file__).resolve().parent.parent / "package_data"
"""Folder that ``{package_data}`` expands to in ``modalities`` / ``modality_item_map`` paths."""

PACKAGE_DATA_PREFIX = "{package_data}"
ITEM_MAP_HEADER = "item_id"


FEATURE_NORM_KEY = "feature_norm"


def _retained(features):
    return (features != 0).any(dim=1)


def l2_rows(features):
    """:math:`f_i / \\lVert f_i \\rVert_2` for every row that is not all zero (all-zero rows stay zero)."""
    return torch.nn.functional.normalize(features, dim=1)


def standardize_columns(features):
    """:math:`(f_{ic} - \\mu_c) / \\sigma_c` over the rows that are not all zero; all-zero rows stay zero."""
    keep = _retained(features)
    out = torch.zeros_like(features)
    if keep.any():
        rows = features[keep].double()
        std = rows.std(dim=0, unbiased=False)
        std = torch.where(std > 0, std, torch.ones_like(std))
        out[keep] = ((rows - rows.mean(dim=0)) / std).to(features.dtype)
    return out


#: ``feature_norm`` steps: each maps an ``(n_items, d)`` matrix to one of the same shape, keeping all-zero rows zero
FEATURE_NORMS = {"none": lambda features: features, "l2": l2_rows, "standardize": standardize_columns}


def _norm_steps(value, where) -> tuple:
    steps = [value] if value is None or isinstance(value, str) else value
    if not isinstance(steps, (list, tuple)):
        raise InputError(f"config key {FEATURE_NORM_KEY}{where}: expected a name or a list of names, got {value!r}")
    named = tuple("none" if step is None else str(step).strip().lower() for step in steps)
    unknown = [step for step in named if step not in FEATURE_NORMS]
    if unknown:
        raise InputError(
            f"config key {FEATURE_NORM_KEY}{where}: unknown normalisation {unknown[0]!r}; "
            f"one of {', '.join(FEATURE_NORMS)}"
        )
    return tuple(step for step in named if step != "none")


def feature_norm_plan(spec, modalities) -> dict:
    """``feature_norm`` resolved per modality: ``{name: (step, ...)}`` (an empty tuple: not normalised).

    Args:
        spec: the config value: ``None``, a step name, a list of step names, or ``{modality: name or list}``.
        modalities: the dataset's modality names.
    Raises:
        InputError: an unknown step, or a map naming a modality the dataset does not have.
    """
    if isinstance(spec, dict):
        unknown = sorted(set(map(str, spec)) - set(modalities))
        if unknown:
            raise InputError(
                f"config key {FEATURE_NORM_KEY} names modality {unknown[0]!r}; the dataset's modalities are "
                f"{', '.join(modalities) or 'none'}"
            )
        given = {str(name): value for name, value in spec.items()}
        return {name: _norm_steps(given.get(name), f" ({name})") for name in modalities}
    steps = _norm_steps(spec, "")
    return {name: steps for name in modalities}


def normalize_features(features, steps) -> torch.Tensor:
    """``features`` (``(n_items, d)``) through ``steps`` (names of :data:`FEATURE_NORMS`) in order; a new tensor."""
    out = features.clone()
    for step in steps:
        out = FEATURE_NORMS[step](out)
    return out


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
    """Row tokens of a modality item map: a token list
    (:func:`~recbole_unlearn.data.readers.read_token_list`) whose column ``item_id`` holds, on line *k* + 2, the
    item token of matrix row *k*.

    Raises:
        InputError: whatever :func:`~recbole_unlearn.data.readers.read_token_list` refuses (missing file, no column
            ``item_id``, an empty token, a token listed twice, a line with more or fewer fields than the header, ...).
    """
    return read_token_list(path, ITEM_MAP_HEADER)


def load_feature_matrix(path) -> np.ndarray:
    """One modality matrix as ``float32`` (rows x features), checked to be a finite 2-D numeric array.

    Raises:
        InputError: missing file, not a ``.npy`` array, not 2-D, not numeric, empty, NaN or inf (the first bad
            row is named, 0-based).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: modality feature file not found")
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, pickle.UnpicklingError) as exc:
        raise InputError(f"{path}: not a .npy numeric array ({_one_line(exc)})") from None
    if not isinstance(array, np.ndarray):
        if hasattr(array, "close"):
            array.close()
        raise InputError(f"{path}: an .npz archive; expected one 2-D numeric .npy array (items x features)")
    if array.ndim != 2:
        raise InputError(f"{path}: expected a 2-D numeric array (items x features), got shape {array.shape}")
    if array.dtype.kind not in "biuf":
        raise InputError(f"{path}: expected a 2-D numeric array, got dtype {array.dtype}")
    if 0 in array.shape:
        raise InputError(f"{path}: empty feature matrix of shape {array.shape}")
    with np.errstate(over="ignore", invalid="ignore"):
        array = array.astype(np.float32, copy=False)
    bad = np.flatnonzero(~np.isfinite(array).all(axis=1))
    if len(bad):
        more = f" (and {len(bad) - 1} more row(s))" if len(bad) > 1 else ""
        raise InputError(f"{path}: row {bad[0]} (0-based) has NaN or inf values{more}")
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
            raise InputError(f"{path}: {n_rows} rows, but the item map {map_path} lists {len(row_tokens)} items")
        source, hint = map_path, ""
    rows = pd.Index(row_tokens).get_indexer(np.asarray(item_tokens, dtype=object))
    missing = np.asarray(item_tokens)[rows < 0]
    if len(missing):
        shown = ", ".join(repr(str(t)) for t in missing[:5]) + (", ..." if len(missing) > 5 else "")
        raise InputError(f"{source}: no row for {len(missing)} item token(s) of the dataset: {shown}{hint}")
    features = torch.zeros(len(rows) + 1, matrix.shape[1], dtype=torch.float32)
    features[1:] = torch.from_numpy(np.ascontiguousarray(matrix[rows]))
    return features
