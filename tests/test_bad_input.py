"""Every bad input of docs/bad-input.md, through the command line: one error line, exit status 2, nothing written.

The table of ``docs/bad-input.md`` and :data:`CASES` must list the same inputs, and each message there must hold the
fragment the test checks, so the table cannot drift from what the program does.
"""

import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import recbole
import torch

from recbole_unlearn.atomic import write_json
from recbole_unlearn.cli import main
from recbole_unlearn.config import Config
from recbole_unlearn.data import built_datasets, create_dataset
from recbole_unlearn.data.readers import Table
from recbole_unlearn.data.request import (
    ForgetRequest,
    read_request_csv,
    request_from_table,
    validate_request,
)
from recbole_unlearn.data.split import split_datasets
from recbole_unlearn.errors import InputError
from recbole_unlearn.quick_start import run
from recbole_unlearn.unlearn.lineage import manifest_path
from tests.conftest import write_clustered_inter
from tests.test_multimodal_data import N_ITEMS, encoded, write_mmrec

TABLE = Path(__file__).resolve().parent.parent / "docs" / "bad-input.md"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Two tiny datasets, an MMRec one with a feature file, and a checkpoint trained on ``tiny``."""
    root = tmp_path_factory.mktemp("world")
    write_clustered_inter(root / "data", "tiny")
    write_clustered_inter(root / "data", "tiny2", seed=1)
    write_mmrec(root / "data")
    config = {"data_path": str(root / "data"), "checkpoint_dir": str(root / "trained"), "epochs": 1,
              "show_progress": False, "state": "ERROR", "load_col": {"inter": ["user_id", "item_id"]}}
    checkpoint = run("LightGCN", "tiny", config_dict=config, argv=[]).checkpoint
    return root, checkpoint


def _file(name, content):
    def make(folder, world):
        path = folder / name
        path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
        return str(path)
    return make


def _truncated(folder, world):
    data = Path(world[1]).read_bytes()
    (folder / "half.pth").write_bytes(data[: len(data) // 2])
    return str(folder / "half.pth")


def _pickled(folder, world):
    torch.save({"format": "recbole_unlearn/1", "payload": np.random.default_rng(0)}, folder / "pickled.pth")
    return str(folder / "pickled.pth")


def _features(rows):
    def make(folder, world):
        np.save(world[0] / "data" / "mm" / "feat.npy", rows)
        return "feat.npy"
    return make


def _all_users(folder, world):
    tokens = [f"u{u}" for u in range(120)]
    return _file("all.csv", "user_id\n" + "\n".join(tokens) + "\n")(folder, world)


def _tampered_copy(folder, world):
    """A copy of the trained checkpoint and its manifest, with one byte appended to the checkpoint."""
    source = Path(world[1])
    manifest = manifest_path(source)
    (folder / manifest.name).write_bytes(manifest.read_bytes())
    (folder / source.name).write_bytes(source.read_bytes() + b"\0")
    return str(folder / source.name)


def _empty_folder(folder, world):
    (folder / "requests").mkdir()
    return str(folder / "requests")


def _partly_matching(folder, world):
    """An interaction request: line 2 an interaction of the data, line 3 a user and an item that never met."""
    lines = (world[0] / "data" / "tiny" / "tiny.inter").read_text().splitlines()[1:]
    pairs = [tuple(line.split("\t")[:2]) for line in lines]
    user, item = pairs[0]
    stranger = next(i for _, i in pairs if (user, i) not in set(pairs))
    return _file("partly.csv", f"user_id,item_id\n{user},{item}\n{user},{stranger}\n")(folder, world)


USER_REQUEST = ["--forget_type=user", "--forget_ratio=0.1"]
NAN_FEATURES = encoded(N_ITEMS)
NAN_FEATURES[4, 1] = np.nan

# name (as in the documented table): (make(folder, world) -> value for {}, argv with {} , fragment of the error line)
CASES = {
    "corrupt checkpoint": (_file("bad.pth", b"not a checkpoint at all"), ["--checkpoint={}", *USER_REQUEST],
                           "not a readable recbole_unlearn checkpoint"),
    "truncated checkpoint": (_truncated, ["--checkpoint={}", *USER_REQUEST], "not a readable recbole_unlearn checkpoint"),
    "checkpoint holding pickled objects": (_pickled, ["--checkpoint={}", *USER_REQUEST],
                                           "not a readable recbole_unlearn checkpoint"),
    "missing checkpoint": (lambda f, w: str(f / "nowhere.pth"), ["--checkpoint={}", *USER_REQUEST], "no such file"),
    "checkpoint of another model": (lambda f, w: w[1], ["--checkpoint={}", "--model=BPR", *USER_REQUEST],
                                    "trained for model LightGCN, this run uses BPR"),
    "checkpoint of another dataset": (lambda f, w: w[1], ["--checkpoint={}", "--dataset=tiny2", *USER_REQUEST],
                                      "trained on dataset tiny, this run uses tiny2"),
    "feature file with wrong rows": (_features(encoded(N_ITEMS - 1)), ["--dataset=mm", "--modalities={{'m': '{}'}}"],
                                     "feat.npy"),
    "NaN in a feature file": (_features(NAN_FEATURES), ["--dataset=mm", "--modalities={{'m': '{}'}}"], "row 4"),
    "request with unknown ids": (_file("ghost.csv", "user_id\nghost\nu1\n"), ["--forget_type=user", "--forget_file={}"],
                                 "unknown user_id tokens: ghost"),
    "empty request file": (_file("empty.csv", ""), ["--forget_type=user", "--forget_file={}"], "empty file"),
    "request without rows": (_file("header.csv", "user_id\n"), ["--forget_type=user", "--forget_file={}"],
                             "no rows, nothing to forget"),
    "request removing everything": (_all_users, ["--forget_type=user", "--forget_file={}"],
                                    "would remove every training interaction"),
    "request rows matching no interaction": (_partly_matching, ["--forget_type=interaction", "--forget_file={}",
                                                                 "--dry_run=True"],
                                             "line 3 matches no interaction (set forget_allow_unmatched: True"),
    "malformed CSV": (_file("bad.csv", "user_id,item_id\nu1\n"), ["--forget_type=interaction", "--forget_file={}"],
                      "line 2 has 1 fields, the header has 2"),
    "request naming a column twice": (_file("dup.csv", "user_id,user_id\nu1,u2\n"),
                                      ["--forget_type=user", "--forget_file={}"],
                                      "the header names column 'user_id' twice"),
    "folder without request files": (_empty_folder, ["--forget_type=user", "--forget_file={}"],
                                     "folder holds no .csv request file"),
    "unknown forget_type": (None, ["--forget_type=everything", "--forget_ratio=0.1"],
                            "forget_type 'everything' is not one of"),
    "unknown unlearn_method": (None, [*USER_REQUEST, "--unlearn_method=magic"], "unlearn_method 'magic' is not one of"),
    "argument that is not --key=value": (None, ["stray"], "argument 'stray': expected --key=value"),
    "key given twice with different values": (None, ["--epochs=2"], "argument --epochs given twice with different values"),
    "empty unlearn_method": (None, [*USER_REQUEST, "--unlearn_method=[]"], "unlearn_method is empty"),
    "unknown hinge target": (None, [*USER_REQUEST, "--unlearn_hinge_target=median"],
                             "unlearn_hinge_target 'median' is not one of rank_matched, rank_matched_neighbours"),
    "negative unlearn_refresh_every": (None, [*USER_REQUEST, "--unlearn_refresh_every=-1"],
                                       "unlearn_refresh_every must be 0 (off) or a positive integer, got -1"),
    "forget_ratio out of range": (None, ["--forget_type=user", "--forget_ratio=1.5"], "must be strictly between 0 and 1"),
    "forget_ratio that is no number": (None, ["--forget_type=user", "--forget_ratio=abc"],
                                       "forget_ratio 'abc' is not a number"),
    "missing config file": (lambda f, w: str(f / "nowhere.yaml"), ["--config_files={}"], "no such file"),
    "config file that does not parse": (_file("bad.yaml", "epochs: [1\n  stopping_step: 2\n"), ["--config_files={}"],
                                        "not valid YAML at line 2, column 16"),
    "data_path without the ml-100k folder": (None, ["--dataset=ml-100k"],
                                             "no ml-100k folder in it (leave data_path unset"),
    "modality the dataset lacks": (None, ["--forget_type=modality", "--forget_modality=image", "--forget_ratio=0.1"],
                                   "forget_modality 'image': dataset tiny has no modality features"),
    "request on a non-general model": (None, ["--model=Pop", *USER_REQUEST],
                                       "a traditional recommender; only general (user-item) recommenders"),
    "request on a sequential model": (None, ["--model=GRU4Rec", "--loss_type=BPR", *USER_REQUEST],
                                      "a sequential recommender; only general (user-item) recommenders can be unlearned"),
    "RecBole's own config checks": (None, ["--model=GRU4Rec"], "config: train_neg_sample_args"),
    "unknown model": (None, ["--model=LightGNC"], "unknown model 'LightGNC'"),
    "typo in an unlearning key": (None, ["--forget_tpye=user", "--forget_ratio=0.1"],
                                  "unknown config key 'forget_tpye'; did you mean 'forget_type'?"),
    "key close to one of this package's": (lambda f, w: w[1], ["--checkpont={}", *USER_REQUEST],
                                           "unknown config key 'checkpont'; did you mean 'checkpoint'?"),
    "verify: checkpoint modified after it was written": (_tampered_copy, ["verify", "{}"],
                                                          "sha256 differs from its manifest's"),
}


def documented_rows():
    """``{bad input: message}`` of the documented table."""
    return dict(re.findall(r"^\| ([^|]+?) \| `(error: [^`]*)` \|$", TABLE.read_text(), re.MULTILINE))


def opening(message):
    """The first two words of an error line, a path reduced to its file name (the table shortens paths)."""
    return [Path(word).name if "/" in word else word for word in message.split()[:2]]


def snapshot(root):
    """Every file under ``root`` but RecBole's run log, with its size and modification time."""
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in root.rglob("*") if p.is_file() and "log" not in p.relative_to(root).parts[:1]
    }


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_gives_one_line_exit_2_and_writes_nothing(name, world, tmp_path, capsys):
    root, _ = world
    make, args, fragment = CASES[name]
    value = make(tmp_path, world) if make else None
    argv = ["--model=LightGCN", "--dataset=tiny", f"--data_path={root / 'data'}", "--epochs=1", "--state=ERROR",
            "--show_progress=False", f"--checkpoint_dir={tmp_path / 'saved'}", f"--report_file={tmp_path / 'r.json'}"]
    argv = [a.format(value) for a in args[:2]] + argv + [a.format(value) for a in args[2:]] if args[0] == "verify" else (
        argv + [a.format(value) for a in args])
    before = snapshot(tmp_path), snapshot(root)
    capsys.readouterr()
    assert main(argv) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("error: ") and fragment in errors[0], errors
    assert opening(errors[0]) == opening(documented_rows()[name])  # begins as the table shows it
    assert (snapshot(tmp_path), snapshot(root)) == before


def test_documented_table_lists_exactly_the_tested_inputs():
    rows = documented_rows()
    assert sorted(rows) == sorted(CASES)
    for name, (_, _, fragment) in CASES.items():
        assert fragment in rows[name], name
    assert os.path.basename(__file__) in TABLE.read_text()


# ---------------------------------------------------------------------------------------------------------------------
# The rules behind some rows, checked where they live (no training).

@pytest.fixture(scope="module")
def tiny_splits(tmp_path_factory):
    """``(config, [train, valid, test])`` of a generated ``tiny``, built from its file (nothing trained)."""
    root = tmp_path_factory.mktemp("splits")
    write_clustered_inter(root, "tiny")
    config = Config("LightGCN", "tiny", config_dict={"data_path": str(root), "state": "ERROR",
                                                     "load_col": {"inter": ["user_id", "item_id"]}}, argv=[])
    return config, built_datasets(config, create_dataset(config))


def tokens(dataset, k=0):
    """``(user, item)`` tokens of interaction ``k`` of ``dataset``."""
    inter = dataset.inter_feat
    return (dataset.id2token("user_id", int(inter["user_id"][k])), dataset.id2token("item_id", int(inter["item_id"][k])))


def strangers(datasets, n):
    """``n`` ``(user, item)`` token pairs of known users and items that are no interaction of any of ``datasets``."""
    met = {tokens(ds, k) for ds in datasets for k in range(len(ds.inter_feat))}
    users, items = datasets[0].field2id_token["user_id"][1:], datasets[0].field2id_token["item_id"][1:]
    return [(u, i) for u in users for i in items if (u, i) not in met][:n]


def test_rows_matching_no_interaction_are_refused_by_line_or_applied_with_a_warning(tiny_splits, tmp_path, caplog):
    config, (train, valid, test) = tiny_splits
    assert config["forget_allow_unmatched"] is False
    (a, b), trained, tested = strangers((train, valid, test), 2), tokens(train), tokens(test)
    rows = [trained, a, tested, a, b]  # lines 2..6: line 5 repeats line 3, a matched test interaction is matched
    path = tmp_path / "partly.csv"
    path.write_text("user_id,item_id\n" + "".join(f"{u},{i}\n" for u, i in rows))
    request = read_request_csv(str(path), "interaction", train)
    with pytest.raises(InputError) as refused:
        validate_request(request, train, (valid, test))
    assert str(refused.value) == (f"forget_file {path}: lines 3, 6 match no interaction "
                                  "(set forget_allow_unmatched: True to apply the rest)")
    validate_request(request, train, (valid, test), allow_unmatched=True)
    assert f"forget_file {path}: lines 3, 6 match no interaction; the rest is applied" in caplog.text
    removed = split_datasets(request, train, valid, test).removed()
    assert (removed["train"], removed["test"]) == (1, 1)


def test_a_dataframe_request_names_its_rows_by_position(tiny_splits):
    _, (train, valid, test) = tiny_splits
    (stranger,) = strangers((train, valid, test), 1)
    frame = pd.DataFrame([tokens(train), stranger], columns=["user_id", "item_id"], index=[10, 11])
    request = request_from_table(Table.from_frame(frame), "interaction", train)
    with pytest.raises(InputError, match=r"^request DataFrame: row 1 \(0-based\) matches no interaction \(set "):
        validate_request(request, train, (valid, test))


def test_a_user_without_interactions_left_is_named_too(tiny_splits, tmp_path):
    _, datasets = tiny_splits
    user, _ = tokens(datasets[0])
    gone = split_datasets(ForgetRequest("user", users=np.array([datasets[0].token2id("user_id", user)])), *datasets)
    kept = next(u for u, _ in (tokens(gone.retain_train, k) for k in range(9)) if u != user)
    (tmp_path / "users.csv").write_text(f"user_id\n{kept}\n{user}\n")
    request = read_request_csv(str(tmp_path / "users.csv"), "user", gone.retain_train)
    with pytest.raises(InputError, match=r"users\.csv: line 3 matches no interaction"):
        validate_request(request, gone.retain_train, (gone.retain_valid, gone.retain_test))
    by_hand = ForgetRequest("user", users=np.array([datasets[0].token2id("user_id", kept), 10**6]), source="by hand")
    with pytest.raises(InputError, match=r"^request by hand: position 1 \(0-based\) matches no interaction"):
        validate_request(by_hand, gone.retain_train, (gone.retain_valid, gone.retain_test))


def copied_ml100k(folder, users):
    """RecBole's ml-100k copied to ``folder/ml-100k``, its interactions cut to those of user tokens ``users``."""
    source, target = Path(recbole.__file__).parent / "dataset_example" / "ml-100k", folder / "ml-100k"
    shutil.copytree(source, target)
    header, *lines = (source / "ml-100k.inter").read_text().splitlines(keepends=True)
    (target / "ml-100k.inter").write_text(header + "".join(line for line in lines if line.split("\t")[0] in users))
    return target


def test_a_given_data_path_is_read_for_ml100k_too(tmp_path):
    target = copied_ml100k(tmp_path, {str(u) for u in range(1, 31)})
    config = Config("LightGCN", "ml-100k", config_dict={"data_path": str(tmp_path), "state": "ERROR"}, argv=[])
    assert Path(config["data_path"]) == target
    assert create_dataset(config).user_num == 31  # 30 users and the padding id: the copy, not RecBole's 943
    assert Path(Config("LightGCN", "ml-100k", argv=[])["data_path"]).parent.name == "dataset_example"  # not given


def strict_json(text):
    """``text`` parsed as RFC 8259 JSON: a bare NaN or Infinity is an error."""
    def refuse(constant):
        raise ValueError(f"not JSON: {constant}")
    return json.loads(text, parse_constant=refuse)


def test_write_json_writes_strict_json_with_null_for_nan_and_inf(tmp_path):
    values = {"nan": float("nan"), "inf": float("inf"), "numpy": np.float32("nan"), "tensor": torch.tensor(float("-inf")),
              "nested": [{"auc": np.float64("nan")}, (1, np.int64(2), 0.5)], "array": np.array([np.nan, 1.0]),
              "kept": {"flag": True, "none": None, "text": "NaN"}}
    write_json(tmp_path / "r.json", values)
    assert strict_json((tmp_path / "r.json").read_text()) == {
        "nan": None, "inf": None, "numpy": None, "tensor": None, "nested": [{"auc": None}, [1, 2, 0.5]],
        "array": [None, 1.0], "kept": {"flag": True, "none": None, "text": "NaN"},
    }
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]  # atomic: no temporary file left
    with pytest.raises(ValueError, match="not JSON: NaN"):  # the check itself: json.dump's default is not strict
        strict_json(json.dumps(values["nested"][0], default=float))


def run_argv(root, tmp_path, *extra):
    """A run from the trained checkpoint of ``world`` (nothing trained), with RecBole's default log level."""
    return ["--model=LightGCN", "--dataset=tiny", f"--data_path={root / 'data'}", "--show_progress=False",
            f"--checkpoint_dir={tmp_path / 'saved'}", f"--report_file={tmp_path / 'r.json'}", *extra]


def test_an_error_found_after_the_data_is_loaded_is_alone_on_stderr(world, tmp_path):
    from tests.test_cli import cli

    root, checkpoint = world
    request = _partly_matching(tmp_path, world)
    out = cli(*run_argv(root, tmp_path, f"--checkpoint={checkpoint}", "--forget_type=interaction",
                        f"--forget_file={request}"), cwd=tmp_path)
    assert out.returncode == 2
    errors = [line for line in out.stderr.splitlines() if line.strip()]
    assert errors[-1] == (f"error: forget_file {request}: line 3 matches no interaction (set forget_allow_unmatched: "
                          "True to apply the rest)")
    assert not [line for line in errors if " INFO " in line]  # warnings may stand there, RecBole's log does not
    assert "INFO" in out.stdout and "The number of users" in out.stdout  # RecBole's log, on standard output


@pytest.mark.parametrize("when", ["while the original is loaded", "while the method runs"])
def test_a_report_file_written_by_another_run_meanwhile_is_refused_and_nothing_is_written(when, world, tmp_path,
                                                                                          capsys, monkeypatch):
    from recbole_unlearn import quick_start
    from recbole_unlearn.unlearn import methods

    root, checkpoint = world
    report = tmp_path / "r.json"

    def while_another_run_writes(step):
        def step_and_write(*args):
            report.write_text('{"from": "the other run"}')
            return step(*args)
        return step_and_write

    if when == "while the method runs":
        monkeypatch.setitem(methods.METHODS, "reset", while_another_run_writes(methods.METHODS["reset"]))
    else:
        monkeypatch.setattr(quick_start, "restored_original", while_another_run_writes(quick_start.restored_original))
    assert main(run_argv(root, tmp_path, f"--checkpoint={checkpoint}", "--state=ERROR", *USER_REQUEST)) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert errors == [f"error: report_file {report}: written by another run after this one started; nothing written "
                      "(give each run its own report_file)"]
    assert json.loads(report.read_text()) == {"from": "the other run"}
    assert not (tmp_path / "saved").exists() and not (tmp_path / "r.md").exists()


def test_reports_and_manifests_are_strict_json_with_null_for_what_is_no_number(world, tmp_path, capsys):
    root, checkpoint = world
    argv = run_argv(root, tmp_path, f"--checkpoint={checkpoint}", "--state=ERROR", *USER_REQUEST,
                    "--unlearn_method=reset", "--audit_mia_bootstrap=0")
    assert main(argv) == 0
    report = strict_json((tmp_path / "r.json").read_text())
    assert report["results"]["unlearned"]["mia_learned_ci"] == [None, None]  # no bootstrap rounds: no interval
    (saved,) = (tmp_path / "saved").glob("*.pth")
    assert strict_json(manifest_path(saved).read_text())["audit"]["mia_learned_ci"] == [None, None]
