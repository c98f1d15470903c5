"""Sequential requests, lineage manifests and ``verify`` on the tiny fixture."""

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from recbole_unlearn.data.pairs import pairs
from recbole_unlearn.errors import InputError
from recbole_unlearn.quick_start import load_datasets, run
from recbole_unlearn.unlearn.lineage import manifest_path, read_manifest
from recbole_unlearn.verify import verify_checkpoint

FAST_UNLEARN = {"unlearn_passes": 3, "unlearn_batch_size": 128}


@pytest.fixture
def root(fast_config):
    """A trained checkpoint (the root of every chain below) and its config."""
    result = run("LightGCN", "tiny", config_dict=fast_config, argv=[])
    return result.checkpoint, fast_config


def write_csv(path, header, rows):
    path.write_text(",".join(header) + "\n" + "".join(",".join(r) + "\n" for r in rows))
    return str(path)


def train_pair_tokens(config_dict, count, offset=0):
    """``count`` (user, item) token pairs of the training split, from row ``offset`` on."""
    _, (ds, _, _) = load_datasets("LightGCN", "tiny", config_dict={**config_dict, "state": "ERROR"}, argv=[])
    users, items = pairs(ds)
    utok, itok = ds.field2id_token[ds.uid_field], ds.field2id_token[ds.iid_field]
    return [(str(utok[u]), str(itok[i])) for u, i in zip(users[offset : offset + count], items[offset : offset + count])]


def unlearn(config_dict, checkpoint, forget_type, forget_file, **extra):
    cfg = {**config_dict, **FAST_UNLEARN, "checkpoint": checkpoint, "forget_type": forget_type,
           "forget_file": forget_file, **extra}
    return run("LightGCN", "tiny", config_dict=cfg, argv=[])


def saved_files(config_dict):
    return sorted(os.listdir(config_dict["checkpoint_dir"]))


def test_stream_of_requests_chains_checkpoints_and_each_verifies(root, tmp_path):
    checkpoint, cfg = root
    users = write_csv(tmp_path / "a.csv", ["user_id"], [["u3"], ["u7"]])
    more_users = write_csv(tmp_path / "b.csv", ["user_id"], [["u11"]])
    result = unlearn(cfg, checkpoint, "user", [users, more_users], unlearn_method="reset")
    steps = result.steps
    assert [s.index for s in steps] == [1, 2]
    first, second = (read_manifest(s.checkpoint) for s in steps)
    assert first["parent"]["checkpoint"] == os.path.basename(checkpoint)
    assert second["parent"]["checkpoint"] == os.path.basename(steps[0].checkpoint)
    assert [r["source"] for r in second["requests"]] == [users, more_users]
    assert second["cumulative"]["users"] == 3 and second["cumulative"]["requests"] == 2
    removed = second["requests"][1]["interactions"]
    assert removed > 0 and second["retain_train_interactions"] == first["retain_train_interactions"] - removed
    assert {"recbole", "torch", "numpy"} <= set(second["versions"]) and second["config"]["model"] == "LightGCN"
    lineage = torch.load(steps[1].checkpoint, weights_only=True)["lineage"]
    assert [sorted(r["users"]) for r in lineage] == [["u3", "u7"], ["u11"]]  # raw tokens: replayable on fresh data
    for step in steps:
        summary = verify_checkpoint(step.checkpoint, config_dict=cfg)
        assert summary["audit"]["retain_recall@20"] >= 0
    assert len(verify_checkpoint(steps[1].checkpoint, config_dict=cfg)["chain"]) == 3  # root, #1, #2


def test_repeated_request_changes_nothing_and_later_methods_use_the_cumulative_retain_set(root, tmp_path):
    checkpoint, cfg = root
    users = write_csv(tmp_path / "a.csv", ["user_id"], [["u3"], ["u7"]])
    first = unlearn(cfg, checkpoint, "user", users, unlearn_method="reset")
    before = saved_files(cfg)
    # the same forget set in another file, rows reordered: same sha256, nothing to do
    again = unlearn(cfg, first.checkpoint, "user", write_csv(tmp_path / "c.csv", ["user_id"], [["u7"], ["u3"]]),
                    unlearn_method="reset")
    assert [(step.index, step.already_applied, step.checkpoint) for step in again.steps] == [(1, True, None)]
    assert again.checkpoint is None and saved_files(cfg) == before
    # a fine-tune and a gold retrain from the unlearned checkpoint: both on the retain set without u3 and u7
    inters = write_csv(tmp_path / "b.csv", ["user_id", "item_id"], train_pair_tokens(cfg, 4, offset=100))
    later = unlearn(cfg, first.checkpoint, "interaction", inters, unlearn_method=["finetune", "retrain"])
    assert read_manifest(later.checkpoint)["retain_train_interactions"] == read_manifest(first.checkpoint)[
        "retain_train_interactions"] - 4
    forgotten_users = first.report["request"]["users"]
    assert forgotten_users == 2
    gold_graph = later.model.norm_adj  # finetune is the primary: its graph is the cumulative retain graph
    _, (train, _, _) = load_datasets("LightGCN", "tiny", config_dict={**cfg, "state": "ERROR"}, argv=[])
    token_to_id = train.field2token_id["user_id"]
    rows = torch.tensor([token_to_id["u3"], token_to_id["u7"]])
    assert gold_graph.to_dense()[rows].abs().sum() == 0


def test_folder_of_requests_runs_in_name_order(root, tmp_path):
    checkpoint, cfg = root
    folder = tmp_path / "requests"
    folder.mkdir()
    write_csv(folder / "02.csv", ["user_id"], [["u9"]])
    write_csv(folder / "01.csv", ["user_id"], [["u4"]])
    result = unlearn(cfg, checkpoint, "user", str(folder), unlearn_method="reset")
    assert [os.path.basename(s.request["source"]) for s in result.steps] == ["01.csv", "02.csv"]


def test_same_seed_checkpoint_and_request_give_bit_identical_weights(root, tmp_path):
    checkpoint, cfg = root
    inters = write_csv(tmp_path / "b.csv", ["user_id", "item_id"], train_pair_tokens(cfg, 12))
    # an absolute rate: the calibrated one is zero where, as here, no forgotten pair scores above its target
    runs = [unlearn(cfg, checkpoint, "interaction", inters, unlearn_method="reverse_bpr", unlearn_lr_unit="absolute")
            for _ in range(2)]
    first, second = (torch.load(r.checkpoint, weights_only=True)["state_dict"] for r in runs)
    assert runs[0].checkpoint != runs[1].checkpoint
    original = torch.load(checkpoint, weights_only=True)["state_dict"]
    assert any(not torch.equal(first[k], original[k]) for k in first)  # it did change the model
    assert all(torch.equal(first[k], second[k]) for k in first)


# ---- verify refuses tampered or broken chains ------------------------------------------------------------------------
@pytest.fixture
def chain(root, tmp_path):
    checkpoint, cfg = root
    steps = unlearn(cfg, checkpoint, "user", [write_csv(tmp_path / "a.csv", ["user_id"], [["u3"]]),
                                              write_csv(tmp_path / "b.csv", ["user_id"], [["u5"]])],
                    unlearn_method="reset").steps
    return checkpoint, steps[0].checkpoint, steps[1].checkpoint, cfg


def append_a_byte(path):
    with open(path, "ab") as f:
        f.write(b"\0")


def test_verify_fails_on_a_modified_checkpoint(chain):
    _, _, last, cfg = chain
    append_a_byte(last)
    with pytest.raises(InputError, match="sha256 differs from its manifest"):
        verify_checkpoint(last, config_dict=cfg)


def test_verify_fails_on_a_missing_or_replaced_parent(chain):
    _, middle, last, cfg = chain
    append_a_byte(middle)
    with pytest.raises(InputError, match="sha256 differs"):
        verify_checkpoint(last, config_dict=cfg)
    os.remove(middle)
    with pytest.raises(InputError, match="missing \\(broken chain\\)"):
        verify_checkpoint(last, config_dict=cfg)


def test_verify_fails_on_an_edited_manifest_or_missing_manifest(chain):
    _, _, last, cfg = chain
    path = manifest_path(last)
    manifest = json.loads(path.read_text())
    manifest["requests"][0]["sha256"] = "0" * 64
    path.write_text(json.dumps(manifest))
    with pytest.raises(InputError, match="do not extend its parent's"):
        verify_checkpoint(last, config_dict=cfg)
    path.unlink()
    with pytest.raises(InputError, match="no manifest"):
        verify_checkpoint(last, config_dict=cfg)


def test_verify_fails_when_the_data_no_longer_matches(chain):
    _, _, last, cfg = chain
    with pytest.raises(InputError, match="n_items differs from dataset tiny"):  # other id space
        verify_checkpoint(last, config_dict={**cfg, "item_inter_num_interval": "[30,inf)"})
    other_split = {"split": {"RS": [0.7, 0.2, 0.1]}, "group_by": "user", "order": "RO", "mode": "full"}
    with pytest.raises(InputError, match="retain set replayed from its lineage differs"):  # same ids, other data
        verify_checkpoint(last, config_dict={**cfg, "eval_args": other_split})


def test_verify_fails_when_the_audit_does_not_reproduce(chain):
    _, _, last, cfg = chain
    path = manifest_path(last)
    manifest = json.loads(path.read_text())
    manifest["audit"]["retain_recall@20"] += 0.1
    path.write_text(json.dumps(manifest))
    with pytest.raises(InputError, match="audit does not reproduce: retain_recall@20"):
        verify_checkpoint(last, config_dict=cfg)


def test_manifest_of_a_trained_checkpoint_is_a_root(root):
    checkpoint, cfg = root
    manifest = read_manifest(checkpoint)
    assert manifest["parent"] is None and manifest["requests"] == [] and manifest["method"] == "train"
    summary = verify_checkpoint(checkpoint, config_dict=cfg)
    assert summary["requests"] == [] and len(summary["chain"]) == 1
    assert np.isclose(summary["retain_train_interactions"], manifest["retain_train_interactions"])


def test_refresh_runs_on_every_kth_request_of_a_stream_and_changes_the_model(root, tmp_path):
    checkpoint, cfg = root
    files = [write_csv(tmp_path / f"{k}.csv", ["user_id", "item_id"], train_pair_tokens(cfg, 5, offset=50 * k))
             for k in range(2)]
    plain = unlearn(cfg, checkpoint, "interaction", files)
    refreshed = unlearn(cfg, checkpoint, "interaction", files, unlearn_refresh_every=2)
    reports = [json.loads(open(step.report_file).read()) for step in refreshed.steps]
    assert [r["results"]["unlearned"]["refreshed"] for r in reports] == [False, True]
    first = [torch.load(r.steps[0].checkpoint, weights_only=True)["state_dict"] for r in (plain, refreshed)]
    assert all(torch.equal(first[0][k], first[1][k]) for k in first[0])  # request 1: no refresh, same weights
    last = [torch.load(r.checkpoint, weights_only=True)["state_dict"] for r in (plain, refreshed)]
    assert any(not torch.equal(last[0][k], last[1][k]) for k in last[0])


def test_command_line_stream_and_verify(root, tmp_path, capsys):
    from recbole_unlearn.cli import main

    checkpoint, cfg = root
    a = write_csv(tmp_path / "a.csv", ["user_id"], [["u3"]])
    b = write_csv(tmp_path / "b.csv", ["user_id"], [["u8"]])
    common = ["--model=LightGCN", "--dataset=tiny", f"--data_path={cfg['data_path']}", "--state=ERROR",
              "--load_col={'inter': ['user_id', 'item_id', 'rating', 'timestamp']}"]
    argv = [*common, "--show_progress=False", f"--checkpoint_dir={cfg['checkpoint_dir']}", f"--checkpoint={checkpoint}",
            "--forget_type=user", "--unlearn_method=reset", "--forget_file", a, b]
    assert main(argv) == 0
    unlearned = sorted(Path(cfg["checkpoint_dir"]).glob("LightGCN-unlearned-user-reset-002-*.pth"))
    assert len(unlearned) == 1
    capsys.readouterr()
    assert main(["verify", str(unlearned[0]), *common]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"verified {unlearned[0]}: chain of 3 checkpoint(s), 2 request(s)") and "audit reproduced" in out
