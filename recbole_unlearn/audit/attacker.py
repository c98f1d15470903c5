"""A learned membership-inference attacker: can a classifier tell forgotten training pairs from held-out ones?

The threshold test (:mod:`~recbole_unlearn.audit.mia`) ranks pairs by their raw score alone. This attacker learns
from five features of each pair :math:`(u, i)`, all computed from the model's own scores (before the serving filter)
and from the retain set, never from gold:

- ``score``: :math:`s(u, i)`;
- ``rank_percentile``: the share of the user's candidate items (retained history masked) scoring above :math:`i`;
- ``user_z``: :math:`(s(u, i) - \\mu_u) / \\sigma_u`, the score's standing in the user's candidate scores;
- ``item_popularity``: :math:`\\log(1 + \\text{interactions of } i \\text{ in the retain set})`;
- ``user_degree``: :math:`\\log(1 + \\text{interactions of } u \\text{ in the retain set})`.

Members are the forgotten training pairs, non-members the same users' held-out test pairs; both sides are cut to the
same size (at most ``pairs`` each, seeded). scikit-learn's ``HistGradientBoostingClassifier`` is trained and scored
with k-fold cross-validation grouped by user (``StratifiedGroupKFold``: no user on both sides of a fold), and the AUC of
its out-of-fold probabilities is reported with a 95% bootstrap interval that resamples users (pairs of one user are
not independent). A model that never saw the forgotten pairs sits near 0.5, as gold does; a gap to gold's AUC is
something a better attacker than the threshold one sees.

The same out-of-fold probabilities, and the raw scores for the threshold attack, are also scored per group of pairs:
``active`` / ``inactive`` users (the 5% of users with the most retained interactions, as CURE4Rec groups them after
Li et al., WWW 2021) and ``head`` / ``tail`` items (the 20% most popular items in the retain set).
"""

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.model_selection import StratifiedGroupKFold

from recbole_unlearn.data.pairs import concat_pairs, interaction_counts, pairs
from recbole_unlearn.errors import InputError
from recbole_unlearn.scoring import auc, candidate_moments, full_scores, pair_mask

FEATURES = ("score", "rank_percentile", "user_z", "item_popularity", "user_degree")
ACTIVE_USER_SHARE = 0.05
HEAD_ITEM_SHARE = 0.2


@dataclass(frozen=True)
class LearnedAttacker:
    """How the attacker is sized (config keys ``audit_mia_folds``, ``audit_mia_pairs``, ``audit_mia_bootstrap``)."""

    folds: int = 5
    pairs: int = 20000
    bootstrap: int = 200
    seed: int = 0

    @classmethod
    def from_config(cls, config):
        """The attacker a config asks for, or ``None`` with ``audit_learned_mia: False``."""
        if not config["audit_learned_mia"]:
            return None
        values = {}
        for field, key, minimum in (("folds", "audit_mia_folds", 2), ("pairs", "audit_mia_pairs", 10),
                                    ("bootstrap", "audit_mia_bootstrap", 0)):
            value = config[key]
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise InputError(f"{key} must be an integer of at least {minimum}, got {value!r}")
            values[field] = value
        return cls(**values, seed=int(config["seed"] or 0))


@dataclass(frozen=True)
class PairContext:
    """The retain side a pair's features are read against.

    Attributes:
        history: ``(users, items)`` of the retained train + valid pairs, masked from the candidates.
        popularity: retained training interactions per item (indexed by internal item id).
        degree: retained training interactions per user (indexed by internal user id).
    """

    history: tuple
    popularity: np.ndarray
    degree: np.ndarray

    @classmethod
    def from_split(cls, split):
        """The context of a forget / retain split: its retained train + valid history, popularity and degree counted
        on its retained training interactions."""
        users, items = pairs(split.retain_train)
        return cls(
            history=concat_pairs(split.retain_train, split.retain_valid),
            popularity=interaction_counts(items, split.retain_train.item_num),
            degree=interaction_counts(users, split.retain_train.user_num),
        )


def pair_features(model, users, items, context, batch_users=512) -> np.ndarray:
    """The :data:`FEATURES` of each pair ``(users[k], items[k])`` against a :class:`PairContext`: an ``(n, 5)`` float
    array."""
    users, items = np.asarray(users), np.asarray(items)
    out = np.zeros((len(users), len(FEATURES)), dtype=np.float64)
    rows = np.unique(users)
    for start in range(0, len(rows), batch_users):
        batch = rows[start : start + batch_users]
        full = full_scores(model, batch, raw=True)
        scores = full.masked_fill(pair_mask(batch, *context.history, full.size(1)), -torch.inf)
        candidate = torch.isfinite(scores)
        count, mean, std = candidate_moments(scores)
        std = std.clamp(min=1e-12)
        take = np.flatnonzero(np.isin(users, batch))
        row = torch.from_numpy(np.searchsorted(batch, users[take]))
        raw = full[row, torch.from_numpy(items[take])]  # the pair's own score (its item may be in the history)
        above = ((scores[row] > raw[:, None]) & candidate[row]).sum(1).double()
        out[take, 0] = raw.numpy()
        out[take, 1] = (above / count[row]).numpy()
        out[take, 2] = ((raw.double() - mean[row]) / std[row]).numpy()
    out[:, 3] = np.log1p(context.popularity[items])
    out[:, 4] = np.log1p(context.degree[users])
    return out


def balanced(members, nonmembers, limit, rng):
    """Both sides cut to the size of the smaller one, at most ``limit`` each (a seeded draw without replacement)."""
    n = min(len(members[0]), len(nonmembers[0]), limit)
    pick = [np.sort(rng.choice(len(side[0]), n, replace=False)) for side in (members, nonmembers)]
    return tuple((side[0][p], side[1][p]) for side, p in zip((members, nonmembers), pick))


def user_folds(labels, groups, folds, seed):
    """``(train, test)`` index pairs of a k-fold split stratified by label and grouped by user (``groups``)."""
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    return splitter.split(np.zeros(len(labels)), labels, groups)


def out_of_fold_probabilities(features, labels, groups, folds, seed) -> np.ndarray:
    """Member probabilities of every pair, each from a classifier that saw none of its user's pairs."""
    probabilities = np.zeros(len(labels))
    for train, test in user_folds(labels, groups, folds, seed):
        classifier = HistGradientBoostingClassifier(random_state=seed)
        classifier.fit(features[train], labels[train])
        probabilities[test] = classifier.predict_proba(features[test])[:, 1]
    return probabilities


def bootstrap_interval(predictions, labels, groups, rounds, seed, level=0.95):
    """A ``level`` interval of the AUC by resampling users (all pairs of a drawn user) ``rounds`` times."""
    if rounds == 0:
        return [float("nan"), float("nan")]
    rng = np.random.default_rng(seed)
    users, index = np.unique(groups, return_inverse=True)
    by_user = [np.flatnonzero(index == k) for k in range(len(users))]
    values = []
    for _ in range(rounds):
        drawn = np.concatenate([by_user[k] for k in rng.integers(0, len(users), len(users))])
        values.append(auc(predictions[drawn][labels[drawn] == 1], predictions[drawn][labels[drawn] == 0]))
    tail = (1 - level) / 2
    return [float(np.nanquantile(values, tail)), float(np.nanquantile(values, 1 - tail))]


def learned_auc(features, labels, groups, attacker) -> tuple:
    """``(AUC, [low, high], out-of-fold probabilities)`` of the attacker on labelled pairs (1: member)."""
    folds = min(attacker.folds, len(np.unique(groups)))
    if folds < 2 or labels.min() == labels.max():
        return float("nan"), [float("nan"), float("nan")], np.full(len(labels), np.nan)
    probabilities = out_of_fold_probabilities(features, labels, groups, folds, attacker.seed)
    value = auc(probabilities[labels == 1], probabilities[labels == 0])
    return value, bootstrap_interval(probabilities, labels, groups, attacker.bootstrap, attacker.seed), probabilities


def pair_groups(users, items, popularity, degree) -> dict:
    """Boolean masks of the groups of :func:`attack`: active / inactive users, head / tail items."""
    present_users = np.flatnonzero(degree > 0)
    active_cut = np.quantile(degree[present_users], 1 - ACTIVE_USER_SHARE) if len(present_users) else np.inf
    present_items = np.flatnonzero(popularity > 0)
    head_cut = np.quantile(popularity[present_items], 1 - HEAD_ITEM_SHARE) if len(present_items) else np.inf
    active, head = degree[users] >= active_cut, popularity[items] >= head_cut
    return {"active_users": active, "inactive_users": ~active, "head_items": head, "tail_items": ~head}


def attack(model, members, nonmembers, context, attacker) -> dict:
    """The learned attack of ``attacker`` (a :class:`LearnedAttacker`) on ``model`` (see the module docstring), its
    features read against ``context`` (a :class:`PairContext`): ``mia_learned_auc``, ``mia_learned_ci`` and
    ``mia_groups`` (per group: pairs, threshold AUC on raw scores, learned AUC)."""
    rng = np.random.default_rng(attacker.seed)
    members, nonmembers = balanced(members, nonmembers, attacker.pairs, rng)
    users = np.concatenate([members[0], nonmembers[0]])
    items = np.concatenate([members[1], nonmembers[1]])
    labels = np.concatenate([np.ones(len(members[0]), int), np.zeros(len(nonmembers[0]), int)])
    features = pair_features(model, users, items, context)
    value, interval, probabilities = learned_auc(features, labels, users, attacker)
    groups = {}
    for name, mask in pair_groups(users, items, context.popularity, context.degree).items():
        member, other = mask & (labels == 1), mask & (labels == 0)
        groups[name] = {
            "pairs": int(mask.sum()),
            "threshold_auc": auc(features[member, 0], features[other, 0]),
            "learned_auc": auc(probabilities[member], probabilities[other]),
        }
    return {"mia_learned_auc": value, "mia_learned_ci": interval, "mia_groups": groups}

