"""The one reader of delimited text tables (request CSVs, item files, MMRec ``.inter`` files, token lists).

Every table is read by :func:`read_table`, under the same rules:

- the file is text in ``encoding`` (UTF-8 by default); a byte-order mark at its start is dropped (spreadsheets
  write one);
- line 1 is the header; no column name may appear twice in it;
- every name and field is stripped of surrounding whitespace;
- every other line is one row, with exactly as many fields as the header; blank lines at the end of the file are
  ignored, a blank line anywhere else is refused, and no field may run over a line break, so row ``k`` (0-based) is
  always on line ``k + 2`` (:meth:`Table.line`);
- ``literal=False`` reads CSV quoting (``"a, b"`` is one field); ``literal=True`` reads every character as it is
  (tab-separated data files, whose texts may hold quote marks).

Every refusal is one :class:`~recbole_unlearn.errors.InputError` line that begins with the file's source label (its
path unless the caller names it otherwise, e.g. ``forget_file req.csv``).
"""

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from recbole_unlearn.errors import InputError

BOM = "\ufeff"
FIRST_ROW_LINE = 2  # the header is line 1


@dataclass(frozen=True)
class Table:
    """A delimited file as :func:`read_table` read it.

    Attributes:
        source: the label that begins every message about the file.
        header: the column names, in file order.
        rows: one list of ``len(header)`` stripped strings per data line; ``rows[k]`` is on line :meth:`line` ``(k)``.
        numbering: how messages name a row (:meth:`number`): ``line`` (its line in the file, the header is line 1) or
            ``row`` (its 0-based position, for a table that is no file: :meth:`from_frame`).
    """

    source: str
    header: tuple
    rows: list
    numbering: str = "line"

    @staticmethod
    def line(k) -> int:
        """The line number of row ``k`` (0-based): the header is line 1."""
        return k + FIRST_ROW_LINE

    def number(self, k) -> int:
        """What messages call row ``k`` (0-based), in :attr:`numbering`: its line (:meth:`line`), or ``k`` itself."""
        return Table.line(k) if self.numbering == "line" else k

    @classmethod
    def from_frame(cls, frame, source="request DataFrame") -> "Table":
        """A ``pandas.DataFrame`` as a table of stripped strings (every value ``str(value).strip()``); messages name its
        rows by 0-based position (``row 0`` is the first, whatever the frame's index), as no file line holds them."""
        rows = [[str(value).strip() for value in row] for row in frame.itertuples(index=False)]
        return cls(source, tuple(str(c) for c in frame.columns), rows, numbering="row")

    def index(self, name) -> int:
        """Position of column ``name``: matched exactly, else by a header name without its RecBole ``:type`` suffix
        (``item_id`` finds ``item_id:token``) when only one matches.

        Raises:
            InputError: no column (or several) answers to ``name``.
        """
        if name in self.header:
            return self.header.index(name)
        matches = [i for i, h in enumerate(self.header) if h.split(":", 1)[0].strip() == name]
        if len(matches) == 1:
            return matches[0]
        raise InputError(f"{self.source}: no column {name!r} (columns: {', '.join(self.header)})")

    def column(self, name) -> list:
        """The values of column ``name`` (see :meth:`index`), one per row."""
        i = self.index(name)
        return [row[i] for row in self.rows]


def read_table(path, delimiter=",", literal=False, encoding="utf-8", source=None) -> Table:
    """Read a delimited file with a header line, under the rules of the module docstring.

    Args:
        path: the file.
        delimiter: the field separator (``","`` for CSV, ``"\\t"`` for TSV).
        literal: ``True`` reads quote marks as plain characters; ``False`` reads CSV quoting.
        encoding: the text encoding.
        source: the label that begins every message; default: ``path``.

    Raises:
        InputError: missing or unreadable file, text not in ``encoding``, no header line (empty file), a column named
            twice, a blank line before the last row, a row with more or fewer fields than the header, a field that runs
            over a line break or (CSV) broken quoting; each names the line.
    """
    source = str(path) if source is None else source
    records = _records(_read_text(path, encoding, source), delimiter, literal, source)
    while records and _is_blank(records[-1]):
        records.pop()
    if not records:
        raise InputError(f"{source}: empty file, expected a header line")
    header = _header(records[0], source)
    rows = records[1:]
    for k, row in enumerate(rows):
        if _is_blank(row):
            raise InputError(f"{source}: line {Table.line(k)} is blank")
        if len(row) != len(header):
            raise InputError(f"{source}: line {Table.line(k)} has {len(row)} fields, the header has {len(header)}")
    return Table(source, header, rows)


def read_header(path, delimiter=",", literal=False, encoding="utf-8", source=None) -> tuple:
    """The column names on line 1 of ``path``, read as :func:`read_table` reads them (byte-order mark dropped, names
    stripped); ``()`` for an empty file. Only line 1 is read, and its names are not checked: this tells file formats
    apart, :func:`read_table` then refuses a bad header.

    Raises:
        InputError: missing or unreadable file, text not in ``encoding``.
    """
    source = str(path) if source is None else source
    records = _records(_read_text(path, encoding, source, first_line_only=True), delimiter, literal, source)
    return tuple(records[0]) if records else ()


def read_token_list(path, column=None, source=None) -> list:
    """The tokens of a token list: a tab-separated file, read literally, whose line ``k + 2`` holds the token of row
    ``k`` (line 1 is the header).

    Args:
        path: the file.
        column: the column holding the tokens (see :meth:`Table.index`); ``None``: the file must have one column.
        source: the label that begins every message; default: ``path``.

    Raises:
        InputError: whatever :func:`read_table` refuses, several columns and no ``column``, no column ``column``, an
            empty token, a token listed twice (both lines named).
    """
    table = read_table(path, delimiter="\t", literal=True, source=source)
    if column is None and len(table.header) != 1:
        raise InputError(
            f"{table.source}: {len(table.header)} columns ({', '.join(table.header)}); name the column of tokens"
        )
    column = table.header[0] if column is None else column
    tokens = table.column(column)
    first_line = {}
    for k, token in enumerate(tokens):
        line = Table.line(k)
        if not token:
            raise InputError(f"{table.source}: line {line} has no token in column {column!r}")
        if token in first_line:
            raise InputError(f"{table.source}: token {token!r} is listed twice (lines {first_line[token]} and {line})")
        first_line[token] = line
    return tokens


def row_names(numbers, numbering="line", limit=10) -> str:
    """How a message names some rows, by their :meth:`Table.number` s in ``numbering``: ``line 3``, ``lines 3, 7``,
    ``rows 0, 4 (0-based)``; past ``limit`` numbers, the count of the others (``(+5 more)``)."""
    numbers = [int(n) for n in numbers]
    shown = ", ".join(str(n) for n in numbers[:limit])
    notes = ([f"+{len(numbers) - limit} more"] if len(numbers) > limit else []) + (
        [] if numbering == "line" else ["0-based"])
    word = numbering if len(numbers) == 1 else f"{numbering}s"
    return f"{word} {shown}" + (f" ({'; '.join(notes)})" if notes else "")


def read_text(path, encoding="utf-8", source=None) -> str:
    """The text of ``path`` without a leading byte-order mark, for a file that is no table (a YAML config file).

    Raises:
        InputError: missing or unreadable file, a folder, text not in ``encoding`` (with the byte offset); each line
            begins with ``source`` (default: ``path``).
    """
    return _read_text(path, encoding, str(path) if source is None else source)


def _read_text(path, encoding, source, first_line_only=False) -> str:
    """The text of ``path`` (or its first line), without a leading byte-order mark; a decoding error names its byte
    offset in the file."""
    try:
        if first_line_only:
            with open(path, newline="", encoding=encoding) as f:  # decodes from the start: offsets are the file's
                text = f.readline()
        else:
            text = Path(path).read_bytes().decode(encoding)
    except FileNotFoundError:
        raise InputError(f"{source}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{source}: a folder, not a file") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{source}: not {encoding} text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise InputError(f"{source}: cannot be read ({exc.strerror})") from None
    return text.removeprefix(BOM)


def _records(text, delimiter, literal, source) -> list:
    """Every line of ``text`` as a list of stripped fields; a field may not run over a line break."""
    options = {"quoting": csv.QUOTE_NONE} if literal else {"strict": True}
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, **options)
    records = []
    try:
        for fields in reader:
            line = len(records) + 1
            if reader.line_num != line:
                raise InputError(f"{source}: line {line} has a quoted field that runs over the end of the line")
            records.append([field.strip() for field in fields])
    except csv.Error as exc:
        raise InputError(f"{source}: line {len(records) + 1} is not valid CSV ({exc})") from None
    return records


def _is_blank(fields) -> bool:
    return not any(fields)


def _header(names, source) -> tuple:
    """The header line's names; refuses a blank header and a name given twice."""
    if _is_blank(names):
        raise InputError(f"{source}: line 1 is blank, expected the header")
    seen = set()
    for name in names:
        if name in seen:
            raise InputError(f"{source}: the header names column {name!r} twice")
        seen.add(name)
    return tuple(names)
