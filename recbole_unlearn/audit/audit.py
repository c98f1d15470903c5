"""The audit: how close an unlearned model is to gold, on numbers that can be checked.

For each model (original, unlearned, gold), as it is served (with the serving filter of the split's blocked items
installed, :func:`recbole_unlearn.model.serving.serve`):

- ``retain_recall@K`` / ``retain_ndcg@K``: retained test interactions as targets, retained train + valid history
  masked, on the served scores;
- ``forget_recall@20`` / ``forget_ndcg@20``: the forgotten *training* interactions as targets on raw scores (all
  items ranked, only retained history masked, no serving filter): how much of the forgotten data the model still
  reproduces (gold's value is the target);
- ``mia_auc``: membership inference on raw scores, forgotten training interactions vs the same users' *test*
  interactions;
- ``mia_learned_auc`` / ``mia_learned_ci`` / ``mia_groups``: the learned attacker on the same pairs, and both attacks
  per group of users and items (:mod:`~recbole_unlearn.audit.attacker`), when the audit is given one;
- item requests: ``revoked_in_top20`` (share of users with a revoked item in their top-20) on the raw scores
  (``before_filter``) and as served (``after_filter``: 0 unless the model is served without its filter);
- ``overlap_with_gold``: mean share of top-20 items in common with gold, for users whose data was not forgotten.
"""

import numpy as np

from recbole_unlearn.audit.attacker import PairContext, attack
from recbole_unlearn.audit.mia import membership_auc
from recbole_unlearn.audit.ranking import ranking_metrics
from recbole_unlearn.data.pairs import concat_pairs, pairs, same_user_pairs
from recbole_unlearn.data.request_type import RequestType
from recbole_unlearn.scoring import top_k


class Audit:
    """The fixed evaluation sets of one request, applied to any number of models; ``attacker``: a
    :class:`~recbole_unlearn.audit.attacker.LearnedAttacker`, or ``None`` for the threshold attack alone."""

    def __init__(self, split, topk=(10, 20), attacker=None):
        self.split = split
        self.topk = tuple(topk)
        self.attacker = attacker
        self.context = PairContext.from_split(split)
        self.history = self.context.history
        self.retain_targets = pairs(split.retain_test)
        self.forget_targets = pairs(split.forget_train)
        self.test_heldout = concat_pairs(split.retain_test, split.forget_test)
        self.blocked = split.blocked_items
        forgotten_users = split.request.users if split.request.type == RequestType.USER else np.zeros(0, dtype=np.int64)
        eval_users = np.unique(self.retain_targets[0])
        self.overlap_users = eval_users[~np.isin(eval_users, forgotten_users)]

    def evaluate(self, model) -> dict:
        retain = ranking_metrics(model, self.retain_targets, self.history, self.topk)
        result = {f"retain_{k}": v for k, v in retain.items()}
        if self.split.request.type != RequestType.MODALITY:
            forget = ranking_metrics(model, self.forget_targets, self.history, (20,), raw=True)
            result.update({f"forget_{k}": v for k, v in forget.items()})
            result["mia_auc"] = membership_auc(model, self.forget_targets, self.test_heldout)
            if self.attacker is not None:
                nonmembers = same_user_pairs(self.forget_targets, self.test_heldout)
                result.update(attack(model, self.forget_targets, nonmembers, self.context, self.attacker))
        else:
            result.update({"forget_recall@20": None, "forget_ndcg@20": None, "mia_auc": None})
        if len(self.blocked):
            users = np.unique(self.retain_targets[0])
            for when, raw in (("before_filter", True), ("after_filter", False)):
                top = top_k(model, users, self.history, 20, raw=raw).numpy()
                result[f"revoked_in_top20_{when}"] = float(np.isin(top, self.blocked).any(axis=1).mean())
        return result

    def top20(self, model):
        """Served top-20 lists of the users whose data stays, for agreement between models."""
        return top_k(model, self.overlap_users, self.history, 20)


def top_overlap(top_a, top_b) -> float:
    """Mean share of common items between two sets of top-K lists (rows aligned by user)."""
    a, b = top_a.numpy(), top_b.numpy()
    if len(a) == 0:
        return float("nan")
    return float(np.mean([len(np.intersect1d(x, y)) / a.shape[1] for x, y in zip(a, b)]))


def add_gold_overlaps(audit, table, models, golds) -> float:
    """Add ``overlap_with_gold`` (top-20 agreement with the first gold) to the rows of ``models`` and of the other
    golds in ``table``; returns the second gold's overlap, the gold-vs-gold noise floor (``None`` with one gold).

    ``models``: ``{row name: model}``; ``golds``: ``{row name: model}``, the first being the reference.
    """
    if not golds:
        return None
    names = list(golds)
    reference = audit.top20(golds[names[0]])
    for name, model in {**models, **{n: golds[n] for n in names[1:]}}.items():
        table[name]["overlap_with_gold"] = top_overlap(audit.top20(model), reference)
    return table[names[1]]["overlap_with_gold"] if len(names) > 1 else None
