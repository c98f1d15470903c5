"""Item texts: read from an item file and put in a dataset's row order (the data half of
``python -m recbole_unlearn.text_features``; the embedding is in :mod:`recbole_unlearn.text_features`).

Two small option classes say what to read: :class:`ItemText` (how each item's text is made from its row of the item
file) and :class:`RowOrder` (which item each output row is for, and how its token finds the item file's id).
:func:`texts_in_order` combines them. Files are read by :mod:`recbole_unlearn.data.readers` (tab-separated, literally);
every problem is one :class:`~recbole_unlearn.errors.InputError` line.
"""

import string
from dataclasses import dataclass

from recbole_unlearn.data.readers import Table, read_table, read_token_list
from recbole_unlearn.errors import InputError

MISSING_POLICIES = ("error", "zero")
MISSING_SHOWN = 5


@dataclass(frozen=True)
class ItemText:
    """How each item's text is made from its row of an item file.

    Attributes:
        id_column: the column of the item ids.
        columns: the columns joined with ``column_joiner`` (blank values left out) into the text; or
        template: a ``str.format`` string over the row's columns by name (``"{movie_title} ({release_year})"``; a
            RecBole ``:type`` suffix is dropped from header names). Exactly one of ``columns`` and ``template``.
        list_columns: list-valued columns, each split on ``list_separator`` (default: whitespace, RecBole's
            ``token_seq``) and re-joined with ``list_joiner`` (``"Animation Comedy"`` -> ``"Animation, Comedy"``).

    Raises:
        InputError: both or neither of ``columns`` and ``template``, no column, a template field that is not a plain
            column name, a list column the text does not use.
    """

    id_column: str
    columns: tuple = None
    template: str = None
    list_columns: tuple = ()
    list_separator: str = None
    list_joiner: str = ", "
    column_joiner: str = ". "

    def __post_init__(self):
        if (self.columns is None) == (self.template is None):
            raise InputError("give either text columns or a template, not both")
        names = self.fields()
        if not names:
            raise InputError("no text column given")
        for name in self.list_columns:
            if name not in names:
                raise InputError(f"list column {name!r} is not used by the text (used: {', '.join(names)})")

    def fields(self) -> list:
        """The columns the text is made of, in order, each once."""
        if self.template is None:
            return list(dict.fromkeys(self.columns))
        try:
            names = [field for _, field, _, _ in string.Formatter().parse(self.template) if field is not None]
        except ValueError as exc:
            raise InputError(f"bad --template {self.template!r}: {exc}") from None
        for name in names:
            if not name.isidentifier():
                raise InputError(f"bad --template {self.template!r}: field {{{name}}} is not a plain column name")
        return list(dict.fromkeys(names))

    def make(self, values) -> str:
        """The text of one row from ``{column: value}`` of :meth:`fields`; ``None`` when every value is blank."""
        values = {name: self._listed(value) if name in self.list_columns else value for name, value in values.items()}
        if not any(values.values()):
            return None
        if self.template is not None:
            return self.template.format_map(values)
        return self.column_joiner.join(values[name] for name in self.fields() if values[name])

    def _listed(self, value) -> str:
        return self.list_joiner.join(part.strip() for part in value.split(self.list_separator) if part.strip())


@dataclass(frozen=True)
class RowOrder:
    """Which item each output row is for, and how an item of the order finds its text.

    Attributes:
        tokens: the item token of each row; or
        file: a token list (:func:`~recbole_unlearn.data.readers.read_token_list`): line k + 2 holds the token of row k,
            in its only column or in ``column``; or
        count: rows ``'0'``..``str(count - 1)``, MMRec's convention. Exactly one of ``tokens``, ``file``, ``count``.
        id_map: ``(dataset_file, source_file)``, two row-aligned files whose ``id_map_column`` translates the order's
            tokens into the item file's ids (:func:`read_id_map`); ``None``: the tokens are the item file's ids.
        missing: what a row whose item has no text gets: ``"error"`` (refused) or ``"zero"`` (an all-zero row).

    Raises:
        InputError: not exactly one order, ``id_map`` without ``id_map_column``.
    """

    tokens: tuple = None
    file: str = None
    column: str = None
    count: int = None
    id_map: tuple = None
    id_map_column: str = None
    missing: str = "error"

    def __post_init__(self):
        if sum(x is not None for x in (self.tokens, self.file, self.count)) != 1:
            raise InputError("give exactly one item order: --order-file or --rows-from-range")
        if self.id_map is not None and not self.id_map_column:
            raise InputError("--id-map needs --id-map-column (the item column of both files)")

    def item_tokens(self) -> list:
        """The item token of every row, in row order."""
        if self.file is not None:
            return read_token_list(self.file, self.column)
        if self.count is not None:
            return rows_from_range(self.count)
        return [str(t) for t in self.tokens]

    def id_mapping(self) -> dict:
        """``{order token: item file id}`` read from ``id_map``, or ``None`` without one."""
        if self.id_map is None:
            return None
        return read_id_map(*self.id_map, self.id_map_column)


def texts_in_order(item_file, text: ItemText, order: RowOrder) -> list:
    """The text of every row of ``order`` (``None`` for a zero row), read from ``item_file`` as ``text`` says.

    The order and the id map are read before the item file, and everything is read and checked before returning.
    """
    tokens = order.item_tokens()
    id_map = order.id_mapping()
    texts = read_item_texts(item_file, text)
    return align_texts(tokens, texts, id_map=id_map, missing=order.missing, source=str(item_file))


def read_item_texts(path, text: ItemText) -> dict:
    """``{item id: text}`` from a tab-separated item file with a header (read literally), ``text`` saying how each
    row's text is made; a row whose used columns are all blank has no text (``None``).

    Raises:
        InputError: whatever :func:`~recbole_unlearn.data.readers.read_table` refuses, a column the text needs is
            missing, an id given twice with different texts.
    """
    table = read_table(path, "\t", literal=True)
    id_index = table.index(text.id_column)
    indexes = {name: table.index(name) for name in text.fields()}
    texts = {}
    for k, row in enumerate(table.rows):
        item, value = row[id_index], text.make({name: row[i] for name, i in indexes.items()})
        if item in texts and texts[item] != value:
            raise InputError(
                f"{table.source}: item {item!r} appears twice with different text (second at line {Table.line(k)})"
            )
        texts[item] = value
    return texts


def rows_from_range(n) -> list:
    """MMRec's convention: row i is item ``str(i)`` for i in 0..n-1."""
    if n <= 0:
        raise InputError(f"--rows-from-range needs a positive number of rows, got {n}")
    return [str(i) for i in range(n)]


def read_id_map(dataset_file, source_file, column) -> dict:
    """``{dataset id: source id}`` from two row-aligned files: row k of one and row k of the other are the same record.

    E.g. ``lfm2k.inter`` (itemIDs 0..1424) and ``lfm2k_og_ids.inter`` (the same interactions with the original Last.fm
    artistIDs), both with column ``itemID``; both are tab-separated and read literally.

    Raises:
        InputError: whatever :func:`~recbole_unlearn.data.readers.read_table` refuses, no column ``column``, files of
            different lengths, a pairing that is not one-to-one (the line named).
    """
    a = read_table(dataset_file, "\t", literal=True)
    b = read_table(source_file, "\t", literal=True)
    if len(a.rows) != len(b.rows):
        raise InputError(
            f"--id-map: {dataset_file} has {len(a.rows)} rows and {source_file} {len(b.rows)}; they must be row-aligned"
        )
    forward, backward = {}, {}
    for k, (x, y) in enumerate(zip(a.column(column), b.column(column))):
        if forward.setdefault(x, y) != y:
            raise InputError(
                f"--id-map: {column} {x!r} pairs with both {forward[x]!r} and {y!r} (line {Table.line(k)}); "
                f"{dataset_file} and {source_file} are not row-aligned"
            )
        if backward.setdefault(y, x) != x:
            raise InputError(
                f"--id-map: {column} {backward[y]!r} and {x!r} both pair with {y!r} in {source_file} "
                f"(line {Table.line(k)})"
            )
    return forward


def align_texts(order, texts, id_map=None, missing="error", source="the item file") -> list:
    """The texts in row order: ``order[k]`` (through ``id_map`` when given) looked up in ``texts``.

    Items with no text raise one :class:`InputError` naming the first few, unless ``missing="zero"``, where their
    slot is ``None`` (a zero row in the output). A token listed twice in ``order`` is refused.
    """
    if missing not in MISSING_POLICIES:
        raise InputError(f"missing must be 'error' or 'zero', not {missing!r}")
    _check_unique(order)
    aligned, absent = [], []
    for token in order:
        key = token
        if id_map is not None:
            if token not in id_map:
                absent.append(f"{token!r} (not in --id-map)")
                aligned.append(None)
                continue
            key = id_map[token]
        text = texts.get(key)
        if text is None:
            absent.append(repr(token) if key == token else f"{token!r} (= {key!r})")
        aligned.append(text)
    if absent and missing == "error":
        shown = ", ".join(absent[:MISSING_SHOWN]) + (", ..." if len(absent) > MISSING_SHOWN else "")
        raise InputError(
            f"{len(absent)} of {len(order)} items have no text in {source}: {shown}; "
            "pass --missing zero to give them all-zero rows"
        )
    return aligned


def _check_unique(order):
    seen, dupes = set(), []
    for token in order:
        if token in seen:
            dupes.append(token)
        seen.add(token)
    if dupes:
        shown = ", ".join(repr(t) for t in dupes[:MISSING_SHOWN])
        raise InputError(f"the item order: {len(dupes)} item tokens are listed twice (first: {shown})")
