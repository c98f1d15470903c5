"""The learned membership-inference attacker, on cases with a known answer, and in the audit."""

import numpy as np
import pytest
import torch

from recbole_unlearn.audit.attacker import (
    LearnedAttacker,
    balanced,
    bootstrap_interval,
    learned_auc,
    user_folds,
)
from recbole_unlearn.scoring import candidate_moments

ATTACKER = LearnedAttacker(folds=5, pairs=10000, bootstrap=100, seed=0)


def synthetic(n_users=300, per_user=8, shift=0.0, seed=0):
    """Pairs of ``n_users`` users, half members; members' first feature is shifted by ``shift``."""
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(n_users), per_user)
    labels = np.tile(np.arange(per_user) % 2, n_users)
    features = rng.normal(size=(len(groups), 5))
    features[:, 0] += shift * labels
    return features, labels, groups


def test_planted_members_are_found():
    features, labels, groups = synthetic(shift=3.0)
    value, (low, high), _ = learned_auc(features, labels, groups, ATTACKER)
    assert value > 0.95 and low > 0.93 and low <= value <= high


def test_identically_distributed_sets_are_not_separated():
    features, labels, groups = synthetic(shift=0.0, seed=1)
    value, (low, high), _ = learned_auc(features, labels, groups, ATTACKER)
    assert abs(value - 0.5) < 0.05 and low < 0.5 < high


def test_a_pattern_only_a_learned_attacker_sees():
    """Members sit at the middle of the score range, non-members at both ends: one threshold cannot tell them
    apart, the classifier can (the pile-up at hinge targets is of this kind)."""
    rng = np.random.default_rng(2)
    features, labels, groups = synthetic(seed=2)
    features[:, 0] = np.where(labels == 1, rng.normal(0, 0.2, len(labels)), rng.choice([-2.0, 2.0], len(labels)))
    from recbole_unlearn.scoring import auc

    assert abs(auc(features[labels == 1, 0], features[labels == 0, 0]) - 0.5) < 0.05
    assert learned_auc(features, labels, groups, ATTACKER)[0] > 0.9


def test_folds_never_share_a_user_and_cover_every_pair():
    _, labels, groups = synthetic(n_users=50, per_user=6)
    seen = []
    for train, test in user_folds(labels, groups, 5, seed=3):
        assert not set(groups[train]) & set(groups[test])
        seen.append(test)
    assert sorted(np.concatenate(seen)) == list(range(len(labels)))


def test_balanced_sides_and_user_bootstrap():
    rng = np.random.default_rng(0)
    members = (np.arange(30), np.arange(30))
    others = (np.arange(100), np.arange(100))
    small, large = balanced(members, others, limit=1000, rng=rng)
    assert len(small[0]) == len(large[0]) == 30
    assert len(balanced(members, others, limit=10, rng=rng)[0][0]) == 10
    predictions = np.array([0.9, 0.8, 0.1, 0.2])
    assert np.isnan(bootstrap_interval(predictions, np.array([1, 1, 0, 0]), np.array([0, 1, 2, 3]), 0, 0)).all()
    low, high = bootstrap_interval(predictions, np.array([1, 1, 0, 0]), np.array([0, 1, 2, 3]), 200, 0)
    assert low <= high <= 1.0


def test_the_attackers_keys_are_checked():
    from recbole_unlearn.errors import InputError

    config = {"audit_learned_mia": True, "audit_mia_folds": 1, "audit_mia_pairs": 100, "audit_mia_bootstrap": 10,
              "seed": 3}
    with pytest.raises(InputError, match="audit_mia_folds must be an integer of at least 2, got 1"):
        LearnedAttacker.from_config(config)
    assert LearnedAttacker.from_config({**config, "audit_mia_folds": 3}) == LearnedAttacker(3, 100, 10, 3)
    assert LearnedAttacker.from_config({**config, "audit_learned_mia": False}) is None


def test_candidate_moments_are_the_mean_and_spread_over_candidates_only():
    scores = torch.tensor([[-torch.inf, 1.0, 3.0, -torch.inf], [2.0, 2.0, 2.0, 2.0], [-torch.inf] * 4])
    count, mean, std = candidate_moments(scores)
    assert count.tolist() == [2, 4, 1]  # a row without candidates counts one
    assert mean.tolist() == [2.0, 2.0, 0.0] and std.tolist() == [1.0, 0.0, 0.0]
    assert count.dtype == mean.dtype == std.dtype == torch.float64
