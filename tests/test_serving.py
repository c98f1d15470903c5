"""Serving what was forgotten: the loader, the serving filter in the model, recommend / revoked, the Python API."""

import csv
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from recbole.utils.case_study import full_sort_topk

import recbole_unlearn
from recbole_unlearn.audit.attacker import LearnedAttacker
from recbole_unlearn.audit.audit import Audit
from recbole_unlearn.cli import main
from recbole_unlearn.data.split import split_datasets
from recbole_unlearn.model.serving import filtered_items, serve
from recbole_unlearn.quick_start import load_datasets, run
from recbole_unlearn.recommend import recommend, revoked
from recbole_unlearn.scoring import pair_interaction
from recbole_unlearn.unlearn.lineage import (
    pairs_sha256,
    read_manifest,
    replay,
    request_from_record,
    revoked_by,
)
from recbole_unlearn.verify import verify_checkpoint

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "requests" / "ml-100k"


def item_tokens(dataset, ids):
    return {str(t) for t in dataset.field2id_token[dataset.iid_field][np.asarray(ids)]}


@pytest.fixture(scope="module")
def item_runs(tmp_path_factory):
    """An item request unlearned on LightGCN (ours) and on RecBole's NGCF: ``{model: (checkpoint, run result)}``."""
    from tests.conftest import write_clustered_inter

    root = tmp_path_factory.mktemp("serving")
    write_clustered_inter(root / "data", "tiny")
    runs = {}
    for name in ("LightGCN", "NGCF"):
        cfg = {
            "data_path": str(root / "data"),
            "checkpoint_dir": str(root / name),
            "epochs": 2,
            "show_progress": False,
            "state": "ERROR",
            "forget_type": "item",
            "forget_ratio": 0.1,
            "report_file": str(root / f"{name}.json"),
        }
        result = run(name, "tiny", config_dict=cfg, argv=[])
        runs[name] = (result.checkpoint, result)
    return runs


@pytest.mark.parametrize("name", ["LightGCN", "NGCF"])
def test_no_revoked_item_from_the_loader_full_sort_topk_or_recommend(name, item_runs):
    checkpoint, _ = item_runs[name]
    config, model, dataset, train_data, valid_data, test_data = recbole_unlearn.load_data_and_model(checkpoint)
    revoked_tokens = set(revoked(checkpoint))
    assert len(revoked_tokens) == 6 and item_tokens(dataset, filtered_items(model)) == revoked_tokens
    users = test_data.uid_list.numpy()  # RecBole's full_sort_topk knows the users of its test data
    k = 30  # half the items
    # the trained model this one was unlearned from recommends the revoked items, until the filter is installed
    parent = Path(checkpoint).parent / read_manifest(checkpoint)["parent"]["checkpoint"]
    _, trained, _, _, _, trained_test = recbole_unlearn.load_data_and_model(parent)
    assert item_tokens(dataset, full_sort_topk(users, trained, trained_test, k)[1].flatten()) & revoked_tokens
    serve(trained, filtered_items(model))
    assert not item_tokens(dataset, full_sort_topk(users, trained, trained_test, k)[1].flatten()) & revoked_tokens
    # the model itself: every caller of predict / full_sort_predict sees revoked items at -inf
    revoked_ids = torch.as_tensor(filtered_items(model))
    pairs = pair_interaction(model, torch.ones(len(revoked_ids), dtype=torch.long), revoked_ids)
    assert torch.isneginf(model.predict(pairs)).all()
    assert not item_tokens(dataset, full_sort_topk(users, model, test_data, k)[1].flatten()) & revoked_tokens
    tokens = [str(t) for t in dataset.field2id_token[dataset.uid_field][users]]
    rows = recommend(checkpoint, users=tokens, k=k, show_progress=False)
    assert len(rows) == len(users) * k and not {item for _, _, item, _ in rows} & revoked_tokens
    everything = recommend(checkpoint, users=tokens, k=dataset.item_num, show_progress=False)  # more than there are
    assert not {item for _, _, item, _ in everything} & revoked_tokens
    assert all(np.isfinite(score) for *_, score in everything) and len(rows) < len(everything)


def test_recommend_equals_the_audits_top20(item_runs, tmp_path, capsys):
    checkpoint, result = item_runs["LightGCN"]
    _, _, dataset, *_ = recbole_unlearn.load_data_and_model(checkpoint)
    lineage = torch.load(checkpoint, weights_only=True)["lineage"]
    _, full = load_datasets(
        "LightGCN",
        "tiny",
        config_dict={"data_path": str(Path(result.config["data_path"]).parent), "state": "ERROR"},
        argv=[],
    )
    split = split_datasets(request_from_record(lineage[-1], full[0]), *replay(lineage[:-1], *full))
    audit = Audit(split)
    expected = audit.top20(result.model).numpy()
    tokens = [str(t) for t in dataset.field2id_token[dataset.uid_field][audit.overlap_users]]
    out = tmp_path / "recs.csv"
    capsys.readouterr()
    assert main(["recommend", checkpoint, "--users", *tokens, "--k", "20", "--output", str(out)]) == 0
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    items = dataset.field2id_token[dataset.iid_field]
    served = [[items[i] for i in row] for row in expected]
    got = {}
    for row in rows:
        got.setdefault(row["user_id"], []).append(row["item_id"])
    assert [got[t] for t in tokens] == [[str(i) for i in row] for row in served]
    assert [int(r["rank"]) for r in rows[:20]] == list(range(1, 21))


def test_recommend_as_json_and_revoked_on_standard_output(item_runs, tmp_path, capsys):
    checkpoint, _ = item_runs["NGCF"]
    out = tmp_path / "recs.json"
    assert main(["recommend", checkpoint, "--users", "u1", "u2", "--k", "5", "--output", str(out)]) == 0
    recs = json.loads(out.read_text())
    assert sorted(recs) == ["u1", "u2"] and all(
        len(v) == 5 and {"item_id", "score"} <= set(v[0]) for v in recs.values()
    )
    capsys.readouterr()
    assert main(["revoked", checkpoint]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "item_id" and set(lines[1:]) == set(revoked(checkpoint)) and len(lines) == 7


def test_unlearn_recommend_and_verify_build_no_dataloader(item_runs, monkeypatch):
    """They read the data only: RecBole's samplers and full-sort loaders (gigabytes for a million users) are never
    built (gold, which trains, is the exception)."""
    from recbole_unlearn.data import preparation

    def refused(*args, **kwargs):
        raise AssertionError("a RecBole dataloader was built")

    monkeypatch.setattr(preparation, "create_samplers", refused)
    checkpoint, _ = item_runs["LightGCN"]
    assert len(recommend(checkpoint, users=["u1"], k=3)) == 3
    assert len(verify_checkpoint(checkpoint)["requests"]) == 1
    _, report = recbole_unlearn.unlearn(checkpoint, pd.DataFrame({"user_id": ["u2"]}),
                                        config_dict={"unlearn_gold": False})
    assert report["request"]["users"] == 1


def test_recommend_refuses_an_unknown_user_in_one_line(item_runs, tmp_path, capsys):
    checkpoint, _ = item_runs["LightGCN"]
    users = tmp_path / "users.csv"
    users.write_text("user_id\nu1\nghost\nu2\n")
    capsys.readouterr()
    assert main(["recommend", checkpoint, "--users_file", str(users), "--output", str(tmp_path / "r.csv")]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert errors == [f"error: users_file {users}: unknown user_id tokens: ghost"]
    assert not (tmp_path / "r.csv").exists()


def test_loader_replays_a_chain_of_three_requests(tmp_path, fast_config):
    requests = tmp_path / "requests"
    requests.mkdir()
    (requests / "a.csv").write_text("item_id\ni3\ni7\n")
    (requests / "b.csv").write_text("item_id\ni11\n")
    (requests / "c.csv").write_text("item_id\ni20\ni21\n")
    cfg = {**fast_config, "forget_type": "item", "forget_file": str(requests), "unlearn_revoked_steps": 5}
    result = run("LightGCN", "tiny", config_dict=cfg, argv=[])
    assert [step.index for step in result.steps] == [1, 2, 3]
    _, model, dataset, train_data, _, _ = recbole_unlearn.load_data_and_model(result.checkpoint)
    manifest = read_manifest(result.checkpoint)
    assert pairs_sha256(train_data._dataset) == manifest["retain_train_sha256"]
    assert len(train_data._dataset.inter_feat) == manifest["retain_train_interactions"]
    assert item_tokens(dataset, filtered_items(model)) == {"i3", "i7", "i11", "i20", "i21"}
    lineage = torch.load(result.checkpoint, weights_only=True)["lineage"]
    assert np.array_equal(revoked_by(lineage, dataset), np.sort(filtered_items(model)))
    assert verify_checkpoint(result.checkpoint)["audit"]["revoked_in_top20_after_filter"] == 0.0


def test_dry_run_prints_what_it_would_remove_and_writes_nothing(tmp_path, fast_config, capsys):
    before = sorted(p.name for p in tmp_path.rglob("*") if "log" not in p.parts)
    argv = [
        "--model=LightGCN",
        "--dataset=tiny",
        f"--data_path={fast_config['data_path']}",
        "--forget_type=item",
        "--forget_ratio=0.1",
        "--dry_run=True",
        f"--checkpoint_dir={tmp_path / 'saved'}",
        "--state=ERROR",
    ]
    capsys.readouterr()
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.startswith("dry run: nothing trained or written")
    assert "request #1 (item, sampled ratio=0.1" in out and "6 items" in out and "interactions removed: train" in out
    assert sorted(p.name for p in tmp_path.rglob("*") if "log" not in p.parts) == before


@pytest.mark.parametrize("kind", ["user", "interaction", "item", "modality"])
def test_example_requests_resolve_on_ml100k(kind, tmp_path, capsys):
    argv = [
        "--model=LightGCN",
        "--dataset=ml-100k",
        f"--forget_type={kind}",
        "--dry_run=True",
        "--state=ERROR",
        f"--forget_file={EXAMPLES / f'{kind}.csv'}",
        f"--checkpoint_dir={tmp_path / 'saved'}",
    ]
    capsys.readouterr()
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert f"request #1 ({kind}, {EXAMPLES / f'{kind}.csv'})" in out
    if kind == "modality":
        assert "feature rows purged: text 10" in out
    else:
        assert "interactions removed: train 0," not in out


def test_python_api_gives_the_cli_weights(tmp_path, fast_config):
    trained = run("LightGCN", "tiny", config_dict=fast_config, argv=[]).checkpoint
    request = tmp_path / "req.csv"
    request.write_text("user_id\nu1\nu5\nu9\n")
    keys = {"unlearn_method": "reverse_bpr", "unlearn_passes": 2, "unlearn_batch_size": 64}
    cli = run(
        "LightGCN",
        "tiny",
        argv=[],
        config_dict={
            **fast_config,
            **keys,
            "checkpoint": trained,
            "forget_type": "user",
            "forget_file": str(request),
            "report_file": str(tmp_path / "cli.json"),
        },
    )
    cli_weights = torch.load(cli.checkpoint, weights_only=True)["state_dict"]
    written = sorted(p for p in tmp_path.rglob("*") if p.is_file() and "log" not in p.parts)
    model, report = recbole_unlearn.unlearn(trained, str(request), config_dict=keys)
    assert sorted(p for p in tmp_path.rglob("*") if p.is_file() and "log" not in p.parts) == written  # nothing written
    assert report["request"]["users"] == 3 and report["method"] == "reverse_bpr" and report["checkpoint"] is None
    for key, value in model.state_dict().items():
        assert torch.equal(value, cli_weights[key]), key
    # the same request as a DataFrame of raw tokens, the per-type default (reset) when no method is given
    frame = pd.DataFrame({"user_id": ["u1", "u5", "u9"]})
    reset, reset_report = recbole_unlearn.unlearn(trained, frame, config_dict={"unlearn_gold": False})
    assert reset_report["method"] == "reset" and reset_report["request"]["type"] == "user"
    audited = recbole_unlearn.audit_model(reset, split_for_report(trained, frame), attacker=LearnedAttacker(seed=2020))
    reported = {key: reset_report["results"]["unlearned"][key] for key in audited}
    assert json.dumps(audited, sort_keys=True) == json.dumps(reported, sort_keys=True)  # NaN-aware equality


def split_for_report(checkpoint, frame):
    """The split the API made for ``frame`` on ``checkpoint`` (rebuilt the way a caller would)."""
    from recbole_unlearn.api import _table, to_request

    config, _, _, train, valid, test = recbole_unlearn.load_data_and_model(checkpoint)
    request = to_request(_table(frame), "user", train._dataset, config)
    return split_datasets(request, train._dataset, valid._dataset, test._dataset)


def test_python_api_refuses_a_typo_before_reading_anything(tmp_path):
    refused = "unknown config key 'unlearn_methd'; did you mean 'unlearn_method'"
    with pytest.raises(recbole_unlearn.InputError, match=refused):
        recbole_unlearn.unlearn(tmp_path / "missing.pth", "r.csv", config_dict={"unlearn_methd": "reset"})
