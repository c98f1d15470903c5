"""Unlearning end to end on the tiny fixture: requests, split, rebuilt structures, methods, report."""

import json

import numpy as np
import pytest
import torch

from recbole_unlearn.config import config_with
from recbole_unlearn.data.pairs import pairs
from recbole_unlearn.model import LightGCN
from recbole_unlearn.quick_start import run
from recbole_unlearn.scoring import pair_scores
from recbole_unlearn.unlearn.methods import get_method
from tests.unlearn_helpers import context, split_for, trained

UNLEARN = {"unlearn_passes": 3, "unlearn_batch_size": 128}


@pytest.mark.parametrize("kind", ["user", "interaction", "item"])
def test_each_request_type_end_to_end_writes_report_checkpoint_and_forgets(kind, fast_config, tmp_path):
    report_file = tmp_path / "out" / "report.json"
    cfg = {
        **fast_config,
        **UNLEARN,
        "forget_type": kind,
        "forget_ratio": 0.1,
        "report_file": str(report_file),
        "unlearn_gold": True,
    }
    result = run("LightGCN", "tiny", config_dict=cfg, argv=[])
    report = json.loads(report_file.read_text())
    assert {"model", "dataset", "method", "request", "results", "speedup_vs_gold"} <= set(report)
    assert {"type", "users", "items", "interactions", "sha256"} <= set(report["request"])
    for name in ("original", "unlearned", "gold"):
        row = report["results"][name]
        assert {"retain_recall@20", "retain_ndcg@20", "forget_recall@20", "mia_auc", "time_s"} <= set(row)
        low, high = row["mia_learned_ci"]
        assert low <= row["mia_learned_auc"] <= high
        assert set(row["mia_groups"]) == {"active_users", "inactive_users", "head_items", "tail_items"}
        groups = row["mia_groups"]
        users_side = groups["active_users"]["pairs"] + groups["inactive_users"]["pairs"]
        assert users_side == groups["head_items"]["pairs"] + groups["tail_items"]["pairs"] > 0
    assert report["request"]["type"] == kind and report["request"]["interactions"] > 0
    original, unlearned, gold = (report["results"][name] for name in ("original", "unlearned", "gold"))
    # it forgot: the forgotten interactions are reproduced and told apart less than by the original model
    assert unlearned["forget_recall@20"] < original["forget_recall@20"]
    assert unlearned["mia_auc"] < original["mia_auc"]
    assert report["speedup_vs_gold"] == pytest.approx(gold["time_s"] / unlearned["time_s"])
    assert (tmp_path / "out" / "report.md").read_text().startswith("# Unlearning audit")
    assert (tmp_path / "out" / "report.png").read_bytes()[:4] == b"\x89PNG"
    state = torch.load(result.checkpoint, weights_only=True)
    assert state["unlearning"]["request"]["sha256"] == report["request"]["sha256"]
    if kind == "item":  # the original served revoked items; unlearning pushed them out even before the filter
        assert original["revoked_in_top20_before_filter"] > 0.5
        assert unlearned["revoked_in_top20_before_filter"] < original["revoked_in_top20_before_filter"] / 2
        assert unlearned["revoked_in_top20_after_filter"] == 0.0


def test_retain_graph_equals_graph_built_on_retain_set_and_holds_no_forgotten_edge(fast_config):
    config, loaders, model = trained(
        "LightGCN", {**fast_config, **UNLEARN, "forget_type": "interaction", "forget_ratio": 0.2}
    )
    split = split_for(config, loaders)
    unlearned, _ = get_method("reverse_bpr")(model, split, context(config, split))
    fresh = LightGCN(config, split.retain_train)
    assert torch.equal(unlearned.norm_adj.to_dense(), fresh.norm_adj.to_dense())
    users, items = pairs(split.forget_train)
    adjacency = unlearned.norm_adj.to_dense()
    assert adjacency[users, items + model.n_users].abs().sum() == 0  # no forgotten edge is reachable
    assert adjacency[items + model.n_users, users].abs().sum() == 0
    retained_u, retained_i = pairs(split.retain_train)
    assert (adjacency[retained_u, retained_i + model.n_users] > 0).all()
    # the original model object is untouched: it still has the forgotten edges
    assert (model.norm_adj.to_dense()[users, items + model.n_users] > 0).all()


def test_reverse_bpr_lowers_forgotten_scores_and_changes_weights(fast_config):
    config, loaders, model = trained(
        "LightGCN", {**fast_config, **UNLEARN, "forget_type": "user", "forget_ratio": 0.1}, epochs=5
    )
    split = split_for(config, loaders)
    users, items = pairs(split.forget_train)
    before = pair_scores(model, users, items)
    unlearned, outcome = get_method("reverse_bpr")(model, split, context(config, split))
    after = pair_scores(unlearned, users, items)
    assert outcome.passes == 3 and outcome.stopped_by == "budget"
    assert (after < before).float().mean() > 0.9 and after.mean() < before.mean()
    assert not torch.equal(unlearned.user_embedding.weight, model.user_embedding.weight)


@pytest.mark.parametrize("method", ["finetune", "neggrad", "reset"])
def test_reference_methods_run_and_change_the_model(method, fast_config):
    config, loaders, model = trained("LightGCN", {**fast_config, **UNLEARN, "forget_type": "user", "forget_ratio": 0.1})
    split = split_for(config, loaders)
    users, items = pairs(split.forget_train)
    before = pair_scores(model, users, items)
    unlearned, outcome = get_method(method)(model, split, context(config, split))
    after = pair_scores(unlearned, users, items)
    assert not torch.equal(unlearned.user_embedding.weight, model.user_embedding.weight)
    # each lowers the forgotten users' scores of their forgotten items (finetune through the rebind and the retain
    # steps, neggrad by ascent, reset by re-drawing the rows)
    assert after.mean() < before.mean() and (after < before).float().mean() > 0.8
    if method == "reset":  # only the forgotten users' rows were redrawn
        kept = np.setdiff1d(np.arange(model.n_users), split.request.users)
        assert torch.equal(unlearned.user_embedding.weight[kept], model.user_embedding.weight[kept])
        assert not torch.equal(
            unlearned.user_embedding.weight[split.request.users], model.user_embedding.weight[split.request.users]
        )


def test_revoked_items_pushed_down_after_reset_and_nothing_else_moves(fast_config):
    config, loaders, model = trained("LightGCN", {**fast_config, **UNLEARN, "forget_type": "item", "forget_ratio": 0.1})
    split = split_for(config, loaders)
    torch.manual_seed(0)
    plain, _ = get_method("reset")(model, split, context(config_with(config, unlearn_revoked_steps=0), split))
    torch.manual_seed(0)
    pushed, _ = get_method("reset")(model, split, context(config_with(config, unlearn_revoked_steps=20), split))
    revoked = torch.as_tensor(split.request.items)
    users, items = (torch.from_numpy(a) for a in pairs(split.retain_test))
    grid_u = users.repeat_interleave(len(revoked))
    grid_i = revoked.repeat(len(users))
    before, after = pair_scores(plain, grid_u, grid_i).mean(), pair_scores(pushed, grid_u, grid_i).mean()
    assert after < before and after < pair_scores(pushed, users, items).mean()  # now below the held-out positives
    moved = (pushed.item_embedding.weight != plain.item_embedding.weight).any(dim=1)
    assert moved[revoked].all() and moved.sum() == len(revoked)
    assert torch.equal(pushed.user_embedding.weight, plain.user_embedding.weight)
