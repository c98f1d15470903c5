"""Hinge targets: rank-matched (pooled and among context neighbours), the user-mean fallback, settle passes."""

import importlib

import numpy as np
import pytest
import torch

from recbole_unlearn.config import config_with
from recbole_unlearn.data.pairs import pairs, same_user_pairs
from recbole_unlearn.errors import InputError
from recbole_unlearn.scoring import candidate_scores, pair_scores
from recbole_unlearn.unlearn.methods import get_method, rebound_copy
from recbole_unlearn.unlearn.settings import UnlearnSettings
from recbole_unlearn.unlearn.targets import (
    CandidateRows,
    candidate_ranks,
    matched_ranks,
    neighbour_matched_ranks,
    neighbour_matching,
    pair_contexts,
    rank_matched_targets,
    scores_at_ranks,
    sorted_rows,
    top_scores,
    user_curves,
    user_mean_targets,
)
from tests.unlearn_helpers import context, split_for, trained

# the hinge's mechanics at a fixed rate and pass count (the calibrated rate and its stop: tests/test_calibration.py)
RECIPE = {"unlearn_batch_size": 128, "forget_type": "interaction", "forget_ratio": 0.1, "unlearn_forget_loss": "hinge",
          "unlearn_hinge_target": "rank_matched", "unlearn_neg_sampling": "popularity", "unlearn_anchor_weight": 10.0,
          "unlearn_lr_unit": "absolute", "unlearn_lr_touched": 0.0225}


@pytest.fixture
def case(fast_config):
    config, loaders, model = trained("LightGCN", {**fast_config, **RECIPE}, epochs=5)
    split = split_for(config, loaders)
    forget = pairs(split.forget_train)
    heldout = same_user_pairs(forget, split.valid_heldout)
    return config, model, split, forget, heldout, pairs(split.retain_train)


def test_candidate_ranks_count_the_higher_scored_non_history_items(case):
    _, model, _, forget, _, history = case
    ranks = candidate_ranks(CandidateRows(model, forget[0], history, batch_users=7), forget)  # several batches
    users = np.unique(forget[0])
    scores = candidate_scores(model, users, history)
    for k in range(0, len(forget[0]), 5):
        row = scores[np.searchsorted(users, forget[0][k])]
        assert ranks[k] == int((row > row[forget[1][k]]).sum())


def test_rank_matched_targets_give_the_held_out_rank_at_each_pair_s_quantile(case):
    _, model, _, forget, heldout, history = case
    targets = rank_matched_targets(model, forget, heldout, history, batch_users=7)
    forget_ranks = candidate_ranks(CandidateRows(model, forget[0], history), forget)
    heldout_ranks = np.sort(candidate_ranks(CandidateRows(model, heldout[0], history), heldout))
    users = np.unique(forget[0])
    ordered = candidate_scores(model, users, history).sort(dim=1, descending=True).values
    tolerance = 1e-6  # rows scored in other batches differ by float rounding (~1e-9), far below the scores' gaps
    target_ranks = [int(np.searchsorted(ordered[np.searchsorted(users, u)].neg().numpy(), -t.item() - tolerance))
                    for u, t in zip(forget[0], targets)]
    assert set(target_ranks) <= set(heldout_ranks)  # every target sits at a rank some held-out pair has
    order = np.argsort(forget_ranks, kind="stable")
    assert np.all(np.diff(np.asarray(target_ranks)[order]) >= 0)  # quantile matching keeps the forgotten pairs' order
    # a model that memorised the forget set ranks it above held-out pairs: the targets lie below the current scores
    assert (targets <= pair_scores(model, *forget)).float().mean() > 0.8


def test_scores_at_ranks_read_the_sorted_candidate_scores(case):
    _, model, _, forget, _, history = case
    users = np.unique(forget[0])[:9]
    ranks = np.array([0, 1, 5, 17, 10**6, 3, 0, 2, 40])  # 10**6: past the last candidate, which it then takes
    rows = CandidateRows(model, users, history, batch_users=4, budget=0)  # scored afresh on every pass
    assert list(rows)[0][1] is not list(rows)[0][1]
    got = scores_at_ranks(rows, users, ranks)
    for user, rank, value in zip(users, ranks, got):
        row = candidate_scores(model, np.array([user]), history)[0]
        ordered = row[torch.isfinite(row)].sort(descending=True).values
        assert value == pytest.approx(ordered[min(rank, len(ordered) - 1)].item(), rel=1e-5)


def test_rank_matching_a_set_to_itself_gives_its_own_scores(case):
    _, model, _, forget, _, history = case
    targets = rank_matched_targets(model, forget, forget, history)
    assert torch.allclose(targets, pair_scores(model, *forget))


def test_user_mean_targets_are_the_users_mean_held_out_score(case):
    _, model, _, forget, heldout, _ = case
    targets = user_mean_targets(model, forget, heldout)
    scores = pair_scores(model, *heldout)
    for k in range(0, len(forget[0]), 7):
        mine = heldout[0] == forget[0][k]
        if mine.any():
            assert targets[k].item() == pytest.approx(scores[torch.from_numpy(mine)].mean().item(), rel=1e-5)


def test_rank_matched_hinge_lowers_forgotten_scores_for_its_passes_and_logs_the_last(case):
    config, model, split, forget, _, _ = case
    run_config = config_with(config, forget_weight=20.0, unlearn_passes=5, unlearn_settle_passes=0)
    unlearned, outcome = get_method("reverse_bpr")(model, split, context(run_config, split))
    assert outcome.stopped_by == "budget" and outcome.passes == 5 and len(outcome.log) == 5
    assert "above_target_share" in outcome.log[-1] and "above_target_share" not in outcome.log[0]
    assert pair_scores(unlearned, *forget).mean() < pair_scores(model, *forget).mean()


def test_an_unknown_hinge_target_is_refused(fast_config):
    config, _, _ = trained("LightGCN", {**fast_config, **RECIPE}, epochs=1)
    for removed in ("median", "user_mean", "rank_matched_strata"):
        with pytest.raises(InputError, match=f"unlearn_hinge_target '{removed}' is not one of rank_matched, "):
            UnlearnSettings.from_config(config_with(config, unlearn_hinge_target=removed))


def test_matched_ranks_keep_the_forgotten_pairs_order():
    assert np.array_equal(matched_ranks(np.array([5, 1, 9]), np.array([10, 20, 30])), [20, 10, 30])


def test_neighbour_matched_targets_stay_below_memorised_scores(case):
    _, model, _, forget, heldout, history = case
    pooled = rank_matched_targets(model, forget, heldout, history)
    matched = rank_matched_targets(model, forget, heldout, history, matching=neighbour_matching)
    assert matched.shape == pooled.shape and torch.isfinite(matched).all()
    assert (matched <= pair_scores(model, *forget)).float().mean() > 0.8


def test_neighbour_matching_with_every_pair_a_neighbour_is_the_pooled_matching():
    rng = np.random.default_rng(0)
    forget_ranks, heldout_ranks = rng.integers(0, 500, 40), rng.integers(0, 500, 25)
    same = np.zeros((40, 4)), np.zeros((25, 4))  # one context: every pair is every pair's neighbour
    assert np.array_equal(neighbour_matched_ranks(forget_ranks, heldout_ranks, *same, k=100),
                          matched_ranks(forget_ranks, heldout_ranks))


def test_neighbour_matching_draws_each_pair_s_target_from_its_own_context():
    rng = np.random.default_rng(1)
    side = np.repeat([0.0, 100.0], 30)  # two contexts far apart; held-out ranks low in the first, high in the second
    heldout_ranks = np.concatenate([rng.integers(0, 10, 30), rng.integers(1000, 1010, 30)])
    forget_ranks = rng.integers(0, 2000, 60)
    targets = neighbour_matched_ranks(forget_ranks, heldout_ranks, side[:, None], side[:, None], k=30)
    assert (targets[:30] < 10).all() and (targets[30:] >= 1000).all()
    # within a context the forgotten pairs' order is kept
    for part in (slice(0, 30), slice(30, 60)):
        order = np.argsort(forget_ranks[part], kind="stable")
        assert np.all(np.diff(targets[part][order]) >= 0)


def test_pair_contexts_read_degree_popularity_and_the_user_s_score_curve(case):
    _, model, _, forget, heldout, history = case
    rows = CandidateRows(model, forget[0], history, batch_users=7)
    users, top, level = user_curves(rows)
    scores = candidate_scores(model, users[:3], history)
    for k in range(3):
        ordered = scores[k][torch.isfinite(scores[k])].sort(descending=True).values
        assert top[k] == pytest.approx(ordered[0].item(), rel=1e-6)
        assert level[k] == pytest.approx(ordered[19].item(), rel=1e-6)
    context = pair_contexts(rows, *(np.concatenate([f, h]) for f, h in zip(forget, heldout)), history)
    assert context.shape == (len(forget[0]) + len(heldout[0]), 4)
    assert np.allclose(context.mean(0), 0, atol=1e-9) and np.allclose(context.std(0), 1)


def test_forgotten_scores_do_not_pile_up_at_their_hinge_targets(case):
    """The hinge stops pushing at the target, but the retain and anchor terms keep moving every score: after the
    recipe, few forgotten scores sit at their targets (measured on Baby: none within 0.01 sd)."""
    config, model, split, forget, heldout, history = case
    rebound = rebound_copy(model, config, split)
    targets = rank_matched_targets(rebound, forget, heldout, pairs(split.retain_train))
    unlearned, _ = get_method("reverse_bpr")(model, split, context(config, split))
    scores = pair_scores(unlearned, *forget)
    spread = pair_scores(unlearned, *heldout).std()
    assert ((scores - targets).abs() < 0.01 * spread).float().mean() < 0.1


def test_user_curves_are_kept_from_the_first_scoring_when_the_rows_are_not(case, monkeypatch):
    _, model, _, forget, _, history = case
    rows = CandidateRows(model, forget[0], history, batch_users=5, budget=0)  # rows scored afresh on every pass
    kept = user_curves(rows)
    calls = []
    monkeypatch.setattr(importlib.import_module("recbole_unlearn.unlearn.targets"), "candidate_scores",
                        lambda *a: calls.append(a))
    again = user_curves(rows)  # from the kept curves: nothing scored
    assert not calls and all(np.array_equal(a, b) for a, b in zip(kept, again))


def test_settle_passes_pull_forgotten_scores_to_targets_read_where_the_passes_stopped(case):
    """Settle passes start from the model the passes left, read their targets from it, and bring the forgotten
    scores nearer those targets from either side (the hinge only ever pushes down)."""
    config, model, split, forget, heldout, _ = case
    torch.manual_seed(0)
    passed, _ = get_method("reverse_bpr")(model, split, context(config_with(config, unlearn_settle_passes=0), split))
    torch.manual_seed(0)
    settled, outcome = get_method("reverse_bpr")(model, split, context(config_with(config, unlearn_settle_passes=2), split))
    assert [entry.get("settle_pass") for entry in outcome.log[-3:]] == [None, 1, 2] and outcome.settle_passes == 2
    targets = rank_matched_targets(passed, forget, heldout, pairs(split.retain_train))
    before = pair_scores(passed, *forget) - targets
    after = pair_scores(settled, *forget) - targets
    assert (before < 0).float().mean() > 0.5  # over-forgotten where the passes stopped: the hinge cannot lift them
    assert after.abs().mean() < 0.5 * before.abs().mean()  # measured: 0.32x (a hinge settle pass: 0.92x)
    spread = pair_scores(settled, *heldout).std()
    assert (after.abs() < 0.01 * spread).float().mean() < 0.1  # pulled near the targets, not piled up at them


def test_rows_too_large_to_keep_read_the_same_ranks_targets_and_curves(case):
    """Kept rows are sorted once and searched; rows scored afresh are compared and partitioned pair by pair."""
    _, model, _, forget, _, history = case
    kept = CandidateRows(model, forget[0], history, batch_users=7)
    afresh = CandidateRows(model, forget[0], history, batch_users=7, budget=0)
    assert np.array_equal(candidate_ranks(kept, forget), candidate_ranks(afresh, forget))
    target_ranks = np.arange(len(forget[0])) % 40
    assert np.array_equal(scores_at_ranks(kept, forget[0], target_ranks), scores_at_ranks(afresh, forget[0], target_ranks))
    assert all(np.array_equal(a, b) for a, b in zip(user_curves(kept), user_curves(afresh)))


def test_rows_sort_the_same_whichever_library_sorts_them():
    rows = torch.randn(7, 50)
    rows[:, :3] = -torch.inf  # retained history
    threads = torch.get_num_threads()
    try:
        for n in (1, 2):
            torch.set_num_threads(n)
            assert np.array_equal(sorted_rows(rows), np.sort(rows.numpy(), axis=1))
    finally:
        torch.set_num_threads(threads)
    assert np.array_equal(top_scores(rows.numpy(), 5), np.sort(rows.numpy(), axis=1)[:, -5:])
