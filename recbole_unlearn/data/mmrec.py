"""Reader for MMRec-format interaction files.

Format (as published with MMRec and the datasets built for it)::

    userID<TAB>itemID[<TAB>rating][<TAB>timestamp]<TAB>x_label
    0<TAB>17<TAB>1<TAB>0
    ...

- one header line of plain column names, without RecBole's ``:type`` suffixes (that is how the format is told apart
  from RecBole's atomic files);
- ``userID`` and ``itemID`` are tokens (strings; MMRec uses ``0..n-1``), ``rating`` and ``timestamp`` are optional
  floats, ``x_label`` is the published split: ``0`` train, ``1`` valid, ``2`` test;
- columns may come in any order; any other column is ignored with a warning;
- the file is read by :func:`recbole_unlearn.data.readers.read_table` (tab-separated, literally), under its rules:
  a byte-order mark is dropped, no column may be named twice, every line has as many fields as the header.

The reader renames the columns to RecBole's field names (``USER_ID_FIELD``, ``ITEM_ID_FIELD``, ``RATING_FIELD``,
``TIME_FIELD``) and hands the split back *apart* from the frame, so no split label ever reaches a model's batches.
Every problem is an :class:`~recbole_unlearn.errors.InputError` of one line naming the file.
"""

import os
from dataclasses import dataclass
from logging import getLogger
from typing import NamedTuple

import numpy as np
import pandas as pd

from recbole_unlearn.data.readers import Table, read_header, read_table
from recbole_unlearn.errors import InputError

USER_COLUMN = "userID"
ITEM_COLUMN = "itemID"
RATING_COLUMN = "rating"
TIME_COLUMN = "timestamp"
SPLIT_COLUMN = "x_label"
REQUIRED_COLUMNS = (USER_COLUMN, ITEM_COLUMN, SPLIT_COLUMN)
OPTIONAL_COLUMNS = (RATING_COLUMN, TIME_COLUMN)
SPLIT_NAMES = ("train", "valid", "test")
SEPARATOR = "\t"
_FIELD_OF_COLUMN = {USER_COLUMN: "user", ITEM_COLUMN: "item", RATING_COLUMN: "rating", TIME_COLUMN: "timestamp"}


class MMRecInteractions(NamedTuple):
    """What :func:`read_mmrec_inter` returns.

    Attributes:
        frame: one row per line of the file, columns renamed to RecBole field names (ids as ``str``, rating and
            timestamp as ``float64``; an empty rating or timestamp is NaN).
        x_label: ``int8`` array, ``x_label[k]`` is the split (0/1/2) of ``frame`` row ``k``.
    """

    frame: pd.DataFrame
    x_label: np.ndarray


def is_mmrec_header(columns) -> bool:
    """True for an MMRec header: at least one column and no RecBole ``name:type`` column."""
    return bool(columns) and any(columns) and not any(":" in c for c in columns)


def is_mmrec_file(path, encoding="utf-8") -> bool:
    """True when ``path`` is a file whose header is an MMRec header (False for a missing or unreadable file)."""
    if not os.path.isfile(path):
        return False
    try:
        return is_mmrec_header(read_header(path, SEPARATOR, literal=True, encoding=encoding))
    except InputError:
        return False


def _check_header(path, columns):
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise InputError(
            f"{path}: MMRec header {SEPARATOR.join(columns)!r} lacks column(s) {', '.join(missing)} "
            f"(expected {USER_COLUMN}, {ITEM_COLUMN}[, {RATING_COLUMN}][, {TIME_COLUMN}], {SPLIT_COLUMN})"
        )


def _first_bad(path, values, bad_mask, what):
    """Raise for the first ``True`` of ``bad_mask``: its line number (the header is line 1) and its value."""
    k = int(np.flatnonzero(bad_mask)[0])
    more = int(bad_mask.sum()) - 1
    tail = f" (and {more} more line(s))" if more else ""
    raise InputError(f"{path}: {what}; line {Table.line(k)} has {values[k]!r}{tail}")


@dataclass(frozen=True)
class FieldNames:
    """The RecBole field names :func:`read_mmrec_inter` gives the MMRec columns ``userID``, ``itemID``, ``rating``
    and ``timestamp`` (RecBole's ``USER_ID_FIELD``, ``ITEM_ID_FIELD``, ``RATING_FIELD``, ``TIME_FIELD``)."""

    user: str = "user_id"
    item: str = "item_id"
    rating: str = "rating"
    timestamp: str = "timestamp"

    def of(self, column) -> str:
        """The field name of MMRec column ``column``."""
        return getattr(self, _FIELD_OF_COLUMN[column])


def read_mmrec_inter(path, fields=FieldNames(), load=None, encoding="utf-8") -> MMRecInteractions:
    """Read an MMRec ``.inter`` file as it is (see the module docstring for the format).

    Args:
        path: the file.
        fields: the :class:`FieldNames` given to ``userID``, ``itemID``, ``rating``, ``timestamp``.
        load: which optional columns (``"rating"``, ``"timestamp"``) to keep; ``None`` keeps every one present.
            ``userID``, ``itemID`` and ``x_label`` are always read.
        encoding: text encoding of the file.

    Raises:
        InputError: whatever :func:`~recbole_unlearn.data.readers.read_table` refuses (missing file, a column named
            twice, a line with more or fewer fields than the header, ...), a required column missing, no rows, an
            empty id, a non-numeric rating or timestamp, an ``x_label`` other than 0, 1 or 2.
    """
    path = str(path)
    raw, optional = _read_columns(path, load, encoding)
    for column in (USER_COLUMN, ITEM_COLUMN):
        empty = (raw[column] == "").to_numpy()
        if empty.any():
            _first_bad(path, raw[column].to_numpy(), empty, f"empty {column}")
    split = pd.to_numeric(raw[SPLIT_COLUMN], errors="coerce").to_numpy()
    bad = ~np.isin(split, (0, 1, 2))
    if bad.any():
        _first_bad(path, raw[SPLIT_COLUMN].to_numpy(), bad, f"{SPLIT_COLUMN} must be 0, 1 or 2 (train/valid/test)")

    frame = pd.DataFrame({fields.of(USER_COLUMN): raw[USER_COLUMN], fields.of(ITEM_COLUMN): raw[ITEM_COLUMN]})
    for column in optional:
        text = raw[column]
        numbers = pd.to_numeric(text, errors="coerce")
        bad = (numbers.isna() & (text != "")).to_numpy()
        if bad.any():
            _first_bad(path, raw[column].to_numpy(), bad, f"{column} must be numeric")
        frame[fields.of(column)] = numbers.astype(np.float64)
    return MMRecInteractions(frame, split.astype(np.int8))


def _read_columns(path, load, encoding):
    """The file's wanted columns as text (required ones and the optional ones ``load`` keeps) and those optional
    ones; other columns are ignored with a warning."""
    table = read_table(path, SEPARATOR, literal=True, encoding=encoding)
    columns = list(table.header)
    _check_header(path, columns)
    optional = [c for c in OPTIONAL_COLUMNS if c in columns and (load is None or c in load)]
    ignored = [c for c in columns if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    if ignored:
        getLogger().warning(f"{path}: MMRec column(s) {', '.join(ignored)} ignored")
    if not table.rows:
        raise InputError(f"{path}: MMRec file has a header but no interactions")
    wanted = [USER_COLUMN, ITEM_COLUMN, *optional, SPLIT_COLUMN]
    return pd.DataFrame(table.rows, columns=columns)[wanted], optional


def split_counts(x_label) -> dict:
    """``{"train": n0, "valid": n1, "test": n2}`` for an ``x_label`` array."""
    counts = np.bincount(np.asarray(x_label, dtype=np.int64), minlength=3)
    return {name: int(counts[k]) for k, name in enumerate(SPLIT_NAMES)}
