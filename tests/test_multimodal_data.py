"""MultimodalDataset: MMRec files read as is, modality matrices aligned to internal item ids, bad input refused."""

from pathlib import Path

import numpy as np
import pytest
import torch
from recbole.data.dataset import Dataset

from recbole_unlearn import Config, InputError
from recbole_unlearn.data import MultimodalDataset, create_dataset, data_preparation
from recbole_unlearn.data.features import (
    PACKAGE_DATA_DIR,
    normalize_features,
    resolve_data_file,
)
from recbole_unlearn.data.lookup import get_dataset_class

SHARED_DATA = Path("/work/shared/data")
N_USERS, N_ITEMS, PER_USER = 30, 20, 6


def write_mmrec(folder, name="mm", header="userID\titemID\trating\tx_label", seed=0):
    """An MMRec ``.inter`` file: each user has 4 train, 1 valid, 1 test rows; rows shuffled so that items first
    appear in an order unrelated to their token values. Returns the rows as ``(user, item, rating, x_label)``."""
    rows = []
    for u in range(N_USERS):
        for j in range(PER_USER):
            label = 0 if j < 4 else j - 3
            rows.append((u, (u + 7 * j) % N_ITEMS, 1 + (u + j) % 5, label))
    rows = [rows[k] for k in np.random.default_rng(seed).permutation(len(rows))]
    folder = Path(folder) / name
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"{name}.inter", "w") as f:
        f.write(header + "\n")
        f.writelines(f"{u}\t{i}\t{r}\t{x}\n" for u, i, r, x in rows)
    return rows


def encoded(n_rows, d=3):
    """Feature rows that say which row they are: row i is ``[i, -i, i + 0.5, ...]``."""
    i = np.arange(n_rows, dtype=np.float64)[:, None]
    return np.concatenate([i, -i, i + 0.5 + np.zeros((1, d - 2))], axis=1)


def make_config(data_path, name="mm", **extra):
    values = {"data_path": str(data_path), "state": "ERROR", "show_progress": False, "epochs": 1}
    values.update(extra)
    return Config("LightGCN", name, config_dict=values, argv=[])


@pytest.fixture
def mm_data(tmp_path):
    """``(data_path, folder, rows)`` of an MMRec dataset ``mm`` with one modality file ``feat.npy`` (row i = item i)."""
    rows = write_mmrec(tmp_path / "data")
    folder = tmp_path / "data" / "mm"
    np.save(folder / "feat.npy", encoded(N_ITEMS))
    return tmp_path / "data", folder, rows


def row_of(dataset, features, token):
    """The feature row of item ``token`` (looked up through RecBole's internal id)."""
    return features[dataset.token2id(dataset.iid_field, token)]


def as_f32(array):
    return torch.tensor(array, dtype=torch.float32)


def pairs(dataset):
    """(user token, item token) of every interaction of a built dataset."""
    users = dataset.id2token(dataset.uid_field, dataset.inter_feat[dataset.uid_field].numpy())
    items = dataset.id2token(dataset.iid_field, dataset.inter_feat[dataset.iid_field].numpy())
    return sorted(zip(users.tolist(), items.tolist()))


# --------------------------------------------------------------------------------------------- MMRec format
def test_mmrec_file_keeps_its_published_split(mm_data):
    data_path, _, rows = mm_data
    config = make_config(data_path)
    dataset = create_dataset(config)
    assert isinstance(dataset, MultimodalDataset) and dataset.data_format == "mmrec"
    assert dataset.user_num == N_USERS + 1 and dataset.item_num == N_ITEMS + 1 and dataset.inter_num == len(rows)
    assert np.bincount(dataset.split_labels).tolist() == [4 * N_USERS, N_USERS, N_USERS]
    half = dataset.copy(dataset.inter_feat.iloc[::2])  # a sub-frame keeps its rows' labels
    assert half.split_labels.tolist() == dataset.split_labels[::2].tolist()
    assert "x_label" not in dataset.inter_feat.columns  # never on the per-batch path
    train, valid, test = data_preparation(config, dataset)
    for part, label in zip((train, valid, test), (0, 1, 2)):
        expected = sorted((str(u), str(i)) for u, i, _, x in rows if x == label)
        assert pairs(part._dataset) == expected
        assert set(part._dataset.split_labels.tolist()) == {label}


def test_mmrec_file_saved_with_a_byte_order_mark_reads_the_same(mm_data):
    data_path, folder, rows = mm_data
    inter = folder / "mm.inter"
    plain = create_dataset(make_config(data_path))
    inter.write_bytes("\ufeff".encode("utf-8") + inter.read_bytes())
    marked = create_dataset(make_config(data_path))
    assert marked.data_format == "mmrec" and marked.inter_num == len(rows)
    assert [pairs(part) for part in marked.build()] == [pairs(part) for part in plain.build()]


def test_filters_and_normalisation_keep_the_split_aligned(mm_data):
    data_path, _, rows = mm_data
    config = make_config(
        data_path,
        load_col={"inter": ["user_id", "item_id", "rating"]},
        val_interval={"rating": "[2,inf)"},
        normalize_all=True,
    )
    dataset = create_dataset(config)
    kept = [r for r in rows if r[2] >= 2]
    assert dataset.inter_num == len(kept) and dataset.inter_feat["rating"].between(0, 1).all()
    built = dataset.build()
    for part, label in zip(built, (0, 1, 2)):
        assert pairs(part) == sorted((str(u), str(i)) for u, i, _, x in kept if x == label)


# ------------------------------------------------------------------------------------------------- features
def test_features_are_aligned_to_internal_item_ids(mm_data):
    data_path, folder, _ = mm_data
    matrix = encoded(N_ITEMS)
    dataset = create_dataset(make_config(data_path, modalities={"m": "feat.npy"}))
    order = [int(t) for t in dataset.field2id_token[dataset.iid_field][1:]]
    assert order != sorted(order)  # first appearance differs from the token order
    features = dataset.modality_features["m"]
    assert features.dtype == torch.float32 and features.shape == (dataset.item_num, 3)
    assert torch.all(features[0] == 0)
    for i in range(N_ITEMS):
        assert torch.equal(row_of(dataset, features, str(i)), as_f32(matrix[i]))
    train, valid, test = dataset.build()
    for part in (train, valid, test, dataset.copy(dataset.inter_feat[torch.arange(5)])):
        assert part.modality_features["m"] is features


def test_item_map_route_with_atomic_files(tiny_data, fast_config, tmp_path):
    data_path, name = tiny_data
    tokens = [f"i{k}" for k in np.random.default_rng(1).permutation(60)] + ["not-in-the-data"]
    map_file = tmp_path / "items.tsv"
    map_file.write_text("item_id\n" + "\n".join(tokens) + "\n")
    matrix = encoded(len(tokens), d=4)
    np.save(tmp_path / "f.npy", matrix)  # an absolute path, outside the dataset folder
    config = Config(
        "LightGCN",
        name,
        config_dict={**fast_config, "modalities": {"img": str(tmp_path / "f.npy")}, "modality_item_map": str(map_file)},
        argv=[],
    )
    dataset = create_dataset(config)
    assert isinstance(dataset, MultimodalDataset) and dataset.data_format == "atomic" and dataset.split_labels is None
    features = dataset.modality_features["img"]
    for k, token in enumerate(tokens[:-1]):
        assert torch.equal(row_of(dataset, features, token), as_f32(matrix[k]))
    assert sum(len(p) for p in dataset.build()) == dataset.inter_num  # RecBole's own split for atomic files


def test_paths_resolve_against_dataset_folder_package_data_or_absolute(tmp_path):
    assert resolve_data_file("a.npy", tmp_path) == tmp_path / "a.npy"
    assert resolve_data_file("{package_data}/x/a.npy", tmp_path) == PACKAGE_DATA_DIR / "x" / "a.npy"
    assert PACKAGE_DATA_DIR.parent.name == "recbole_unlearn"
    assert resolve_data_file(str(tmp_path / "b.npy"), "/elsewhere") == tmp_path / "b.npy"


# ------------------------------------------------------------------------------------------------ bad input
def _save(name, array, **kw):
    return lambda folder: np.save(folder / name, array, **kw)


def _write(name, text):
    return lambda folder: (folder / name).write_text(text)


def _both(*steps):
    return lambda folder: [step(folder) for step in steps]


def _inter(header, x_label="0"):
    def make(folder):
        (folder / "mm.inter").write_text(f"{header}\n0\t0\t1\t0\n1\t1\t1\t{x_label}\n")

    return make


def _nan_at(row, value):
    matrix = encoded(N_ITEMS)
    matrix[row, 1] = value
    return _save("bad.npy", matrix)


ITEM_MAP = "item_id\n" + "\n".join(str(k) for k in range(N_ITEMS)) + "\n"
BAD_INPUTS = {
    "missing feature file": ({"modalities": {"m": "nope.npy"}}, None, "nope.npy", "not found"),
    "3-D array": ({"modalities": {"m": "bad.npy"}}, _save("bad.npy", np.zeros((N_ITEMS, 2, 2))), "bad.npy", "2-D"),
    "text array": (
        {"modalities": {"m": "bad.npy"}},
        _save("bad.npy", np.full((N_ITEMS, 2), "x")),
        "bad.npy",
        "numeric",
    ),
    "object array": (
        {"modalities": {"m": "bad.npy"}},
        _save("bad.npy", np.array([[1, "a"]] * N_ITEMS, dtype=object), allow_pickle=True),
        "bad.npy",
        "not a .npy",
    ),
    "not a .npy file": ({"modalities": {"m": "bad.npy"}}, _write("bad.npy", "1 2 3\n"), "bad.npy", "not a .npy"),
    "npz archive": (
        {"modalities": {"m": "bad.npz"}},
        lambda folder: np.savez(folder / "bad.npz", a=encoded(N_ITEMS)),
        "bad.npz",
        ".npz",
    ),
    "NaN row": ({"modalities": {"m": "bad.npy"}}, _nan_at(5, np.nan), "bad.npy", "row 5"),
    "inf row": ({"modalities": {"m": "bad.npy"}}, _nan_at(7, np.inf), "bad.npy", "row 7"),
    "row count vs item map": (
        {"modalities": {"m": "bad.npy"}, "modality_item_map": "items.tsv"},
        _both(_write("items.tsv", ITEM_MAP), _save("bad.npy", encoded(N_ITEMS - 1))),
        "bad.npy",
        "items.tsv",
    ),
    "token missing from item map": (
        {"modalities": {"m": "bad.npy"}, "modality_item_map": "items.tsv"},
        _both(_write("items.tsv", ITEM_MAP.replace("\n3\n", "\n99\n")), _save("bad.npy", encoded(N_ITEMS))),
        "items.tsv",
        "'3'",
    ),
    "token without a row": (
        {"modalities": {"m": "bad.npy"}},
        _save("bad.npy", encoded(N_ITEMS - 2)),
        "bad.npy",
        "'18'",
    ),
    "item map header": (
        {"modalities": {"m": "feat.npy"}, "modality_item_map": "items.tsv"},
        _write("items.tsv", ITEM_MAP.replace("item_id", "token")),
        "items.tsv",
        "item_id",
    ),
    "item map token listed twice": (
        {"modalities": {"m": "feat.npy"}, "modality_item_map": "items.tsv"},
        _write("items.tsv", ITEM_MAP.replace("\n3\n", "\n2\n")),
        "items.tsv",
        "token '2' is listed twice (lines 4 and 5)",
    ),
    "header without itemID": ({}, _inter("userID\titem\trating\tx_label"), "mm.inter", "itemID"),
    "header naming a column twice": (
        {},
        _inter("userID\titemID\titemID\tx_label"),
        "mm.inter",
        "the header names column 'itemID' twice",
    ),
    "short MMRec line": ({}, _write("mm.inter", "userID\titemID\trating\tx_label\n0\t0\t1\t0\n1\t1\t1\n"),
                         "mm.inter", "line 3 has 3 fields, the header has 4"),
    "header without x_label": ({}, _inter("userID\titemID\trating\tsplit"), "mm.inter", "x_label"),
    "x_label out of range": ({}, _inter("userID\titemID\trating\tx_label", x_label="3"), "mm.inter", "line 3"),
    "atomic file named mmrec": (
        {"data_format": "mmrec"},
        _inter("user_id:token\titem_id:token\trating:float\tx_label:float"),
        "mm.inter",
        "userID",
    ),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_one_line_naming_the_file(mm_data, case):
    data_path, folder, _ = mm_data
    extra, make, file_name, problem = BAD_INPUTS[case]
    if make is not None:
        make(folder)
    with pytest.raises(InputError) as caught:
        create_dataset(make_config(data_path, **extra))
    message = str(caught.value)
    assert file_name in message and problem in message and "\n" not in message, message


def test_cli_refuses_bad_features_before_training(mm_data, capsys):
    from recbole_unlearn.cli import main

    data_path, folder, _ = mm_data
    np.save(folder / "feat.npy", encoded(N_ITEMS - 1))
    argv = ["--model=LightGCN", "--dataset=mm", f"--data_path={data_path}", "--modalities={'m': 'feat.npy'}"]
    assert main(argv + ["--state=ERROR"]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "feat.npy" in errors[0] and "'19'" in errors[0]
    assert not Path("saved").exists()  # nothing trained, no checkpoint


# ---------------------------------------------------------------------------------------------------- purge
def test_purging_rows_copies_one_modality_and_leaves_the_original(mm_data):
    data_path, folder, _ = mm_data
    np.save(folder / "other.npy", encoded(N_ITEMS, d=5))
    dataset = create_dataset(make_config(data_path, modalities={"a": "feat.npy", "b": "other.npy"}))
    assert dataset.modality_names == ["a", "b"]
    before = {name: t.clone() for name, t in dataset.modality_features.items()}
    ids = torch.LongTensor(dataset.token2id(dataset.iid_field, ["3", "4"]))
    purged = dataset.with_modality_rows_purged("a", ids)
    assert torch.all(purged.modality_features["a"][ids] == 0)
    keep = torch.ones(dataset.item_num, dtype=torch.bool)
    keep[ids] = False
    assert torch.equal(purged.modality_features["a"][keep], before["a"][keep])
    assert purged.modality_features["b"] is dataset.modality_features["b"]
    for name in before:
        assert torch.equal(dataset.modality_features[name], before[name])
    assert purged.inter_feat is dataset.inter_feat and purged.split_labels.tolist() == dataset.split_labels.tolist()
    with pytest.raises(InputError, match=r"unknown modality 'c'; available: a, b"):
        dataset.with_modality_rows_purged("c", ids)
    with pytest.raises(InputError, match="outside"):
        dataset.with_modality_rows_purged("a", torch.LongTensor([dataset.item_num]))
    train = dataset.build()[0]
    assert torch.all(train.with_modality_rows_purged("b", ids).modality_features["b"][ids] == 0)


# ---------------------------------------------------------------------------------------------- dispatching
def test_which_configs_the_dataset_handles(mm_data, tiny_data, fast_config):
    data_path, _, _ = mm_data
    assert get_dataset_class(make_config(data_path)) is MultimodalDataset  # MMRec header
    _, name = tiny_data
    atomic = dict(fast_config)

    def chosen(**extra):
        return get_dataset_class(Config("LightGCN", name, config_dict={**atomic, **extra}, argv=[]))

    assert chosen() is Dataset  # RecBole's own for atomic files without features
    assert chosen(data_format="mmrec") is MultimodalDataset
    assert chosen(modalities={"m": "f.npy"}) is MultimodalDataset
    with pytest.raises(InputError, match="data_format"):
        chosen(data_format="csv")


def test_training_runs_on_mmrec_data_with_features(mm_data):
    from recbole_unlearn.quick_start import run

    data_path, _, _ = mm_data
    result = run("LightGCN", "mm", config_dict={"data_path": str(data_path), "state": "ERROR", "show_progress": False,
                                                "epochs": 1, "modalities": {"m": "feat.npy"}}, argv=[], saved=False)
    assert "recall@20" in result.test_result


# ------------------------------------------------------------------------------------------------ real data
@pytest.mark.parametrize(
    "name, counts, users, items, dims",
    [
        ("lfm2k", [44327, 4799, 7219], 1858, 1425, {"text": 384, "audio": 128}),
        ("baby", [119674, 20559, 20559], 19445, 7050, {}),
    ],
)
def test_shared_datasets_load_with_their_published_split(name, counts, users, items, dims):
    folder = SHARED_DATA / name
    if not (folder / f"{name}.inter").is_file():
        pytest.skip(f"{folder} not available")
    config = make_config(SHARED_DATA, name)
    dataset = create_dataset(config)
    assert dataset.user_num == users + 1 and dataset.item_num == items + 1
    assert [len(part) for part in dataset.build()] == counts
    assert {m: t.shape for m, t in dataset.modality_features.items()} == {m: (items + 1, d) for m, d in dims.items()}
    for m, t in dataset.raw_modality_features.items():
        matrix = np.load(dataset.modality_files[m])
        for token in ("0", "5", str(items - 1)):
            assert torch.equal(row_of(dataset, t, token), as_f32(matrix[int(token)]))
        assert torch.equal(dataset.modality_features[m], normalize_features(t, dataset.feature_norm[m]))
    if dims:  # lfm2k: VGGish rows (norm ~1480) and text rows (~1) are brought to unit norm by its dataset YAML
        assert dataset.feature_norm == {m: ("l2",) for m in dims}
        for t in dataset.modality_features.values():
            assert torch.allclose(t[1:].norm(dim=1), torch.ones(items), atol=1e-5)
