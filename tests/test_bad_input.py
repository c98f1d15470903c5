"""Every bad input of docs/bad-input.md, through the command line: one error line, exit status 2, nothing written.

The table of ``docs/bad-input.md`` and :data:`CASES` must list the same inputs, and each message there must hold the
fragment the test checks, so the table cannot drift from what the program does.
"""

import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from recbole_unlearn.cli import main
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
    checkpoint = run("LightGCN", "tiny", config_dict=config, argv=[])["checkpoint"]
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
    "unknown stopping rule": (None, [*USER_REQUEST, "--unlearn_stop=['patience']"], "unlearn_stop: unknown rule patience"),
    "unknown hinge target": (None, [*USER_REQUEST, "--unlearn_hinge_target=median"],
                             "unlearn_hinge_target 'median' is not one of user_mean, rank_matched"),
    "branch scale on a model without branches": (None, [*USER_REQUEST, "--unlearn_branch_scale={{'modality': 0.1}}"],
                                                 "model LightGCN has no branch modality (its branches: none)"),
    "negative unlearn_refresh_every": (None, [*USER_REQUEST, "--unlearn_refresh_every=-1"],
                                       "unlearn_refresh_every must be 0 (off) or a positive integer, got -1"),
    "forget_ratio out of range": (None, ["--forget_type=user", "--forget_ratio=1.5"], "must be strictly between 0 and 1"),
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
    return dict(re.findall(r"^\| ([^|]+?) \| `(error: [^`]*)` \|$", TABLE.read_text(), re.M))


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
