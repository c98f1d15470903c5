"""Membership inference: can model scores tell forgotten training interactions from held-out ones?

The score-threshold attack's power is the AUC

.. math::
    \\mathrm{AUC} = P\\big(s(u, i) > s(u', j)\\big) + \\tfrac12 P\\big(s(u, i) = s(u', j)\\big),

with :math:`(u, i)` a forgotten training interaction and :math:`(u', j)` a held-out (never trained on) interaction of
the same users. A model that never saw the forgotten data sits near 0.5 (gold's value is the target); the original
model is above it; an over-forgetting model falls below it, which the test flags as surely as remembering.
"""

from recbole_unlearn.data.pairs import same_user_pairs
from recbole_unlearn.scoring import auc, pair_scores


def membership_auc(model, members, heldout) -> float:
    """AUC separating ``members`` from the same users' pairs in ``heldout``, by the model's scores before any serving
    filter (what the model itself still holds)."""
    nonmembers = same_user_pairs(members, heldout)
    return auc(pair_scores(model, *members, raw=True), pair_scores(model, *nonmembers, raw=True))
