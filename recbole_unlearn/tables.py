"""Results as an aligned table: one row per name (a split, a model), one column per metric (tabulate, with RecBole)."""

import math

from tabulate import tabulate


def cell(value):
    """A number with 4 decimals, ``-`` for a missing or NaN value, anything else as text."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def format_table(rows: dict, columns=None, first="") -> str:
    """A GitHub-Markdown table of ``rows`` (``{name: {key: value}}``).

    ``columns``: ``[(key, title), ...]``, or ``None`` for every key of the first row under its own name; ``first``
    is the title of the names' column.
    """
    if columns is None:
        columns = [(key, key) for key in next(iter(rows.values()), {})]
    body = [[name, *(cell(values.get(key)) for key, _ in columns)] for name, values in rows.items()]
    headers = [first, *(title for _, title in columns)]
    align = ("left", *("right" for _ in columns))
    return tabulate(body, headers=headers, tablefmt="github", disable_numparse=True, colalign=align)
