"""Membership inference: can model scores tell forgotten training interactions from held-out ones?

The score-threshold attack's power is the AUC

.. math::
    \\mathrm{AUC} = P\\big(s(u, i) > s(u', j)\\big) + \\tfrac12 P\\big(s(u, i) = s(u', j)\\big),

with :math:`(u, i)` a forgotten training interaction and :math:`(u', j)` a held-out (never trained on) interaction of
the same users. A model that never saw the forgotten data sits near 0.5 (gold's value is the target); the original
model is above it; an over-forgetting model falls below it, which the test flags as surely as remembering.
"""

import numpy as np
from scipy.stats import rankdata

from recbole_unlearn.audit.scores import pair_scores


def auc(positive_scores, negative_scores) -> float:
    """Mann-Whitney AUC of positives over negatives (ties count one half); NaN if either side is empty."""
    pos, neg = np.asarray(positive_scores, float), np.asarray(negative_scores, float)
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    ranks = rankdata(np.concatenate([pos, neg]))
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def same_user_heldout(members, heldout):
    """The held-out pairs of the users that appear in ``members`` (both ``(users, items)`` arrays)."""
    keep = np.isin(heldout[0], np.unique(members[0]))
    return heldout[0][keep], heldout[1][keep]


def membership_auc(model, members, heldout) -> float:
    """AUC separating ``members`` from the same users' pairs in ``heldout``, by the model's scores."""
    nonmembers = same_user_heldout(members, heldout)
    return auc(pair_scores(model, *members), pair_scores(model, *nonmembers))
