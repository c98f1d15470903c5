"""Item feature matrices: one ``.npy`` file per modality, one row per item, aligned to a dataset's internal item ids.

Paths in the config are relative to the dataset folder unless absolute; a leading ``{package_data}`` stands for
:data:`PACKAGE_DATA_DIR`, the data that ships inside this package. Matrices load with ``allow_pickle=False``. Every
problem is an :class:`~recbole_unlearn.errors.InputError` of one line naming the file.
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
