"""Model scores through the RecBole contract only: ``predict`` for pairs, ``full_sort_predict`` for all items.

Neutral ground for whoever needs scores: unlearning steps on them, the audit judges them, serving ranks by them.
Scores are those the model serves (revoked items at :math:`-\\infty` when a serving filter is installed,
:mod:`recbole_unlearn.model.serving`); ``raw=True`` asks for the scores before that filter.
"""

import numpy as np
import torch
from recbole.data.interaction import Interaction
from scipy.stats import rankdata

from recbole_unlearn.model.serving import scorers


def pair_interaction(model, users, items):
    """An ``Interaction`` of aligned user and item ids on the model's device."""
    return Interaction({model.USER_ID: torch.as_tensor(users), model.ITEM_ID: torch.as_tensor(items)}).to(model.device)


def pair_scores(model, users, items, batch_size=65536, raw=False) -> torch.Tensor:
    """:math:`s(u_k, i_k)` for aligned id arrays, without gradients, in eval mode, on the CPU."""
    if model.training:  # eval() would drop a cache of full-ranking embeddings
        model.eval()
    predict, _ = scorers(model, raw)
    users, items = torch.as_tensor(users, dtype=torch.long), torch.as_tensor(items, dtype=torch.long)
    out = []
    with torch.no_grad():
        for start in range(0, len(users), batch_size):
            sl = slice(start, start + batch_size)
            out.append(predict(pair_interaction(model, users[sl], items[sl])).float().cpu())
    return torch.cat(out) if out else torch.zeros(0)


def full_scores(model, users, raw=False) -> torch.Tensor:
    """Scores of every item for each user in ``users``: shape ``(len(users), n_items)``; padding item 0 is -inf."""
    if model.training:  # eval() would drop a cache of full-ranking embeddings
        model.eval()
    _, full_sort_predict = scorers(model, raw)
    users = torch.as_tensor(users, dtype=torch.long)
    with torch.no_grad():
        scores = full_sort_predict(Interaction({model.USER_ID: users}).to(model.device))
    scores = scores.view(len(users), -1).float().cpu()
    scores[:, 0] = -torch.inf
    return scores


def pair_mask(rows_users, users, items, n_items):
    """Boolean ``(len(rows_users), n_items)`` matrix marking (user, item) pairs, rows in the order of rows_users."""
    order = np.argsort(rows_users)
    position = np.clip(np.searchsorted(rows_users[order], users), 0, max(len(rows_users) - 1, 0))
    keep = rows_users[order][position] == users
    mask = torch.zeros(len(rows_users), n_items, dtype=torch.bool)
    mask[torch.from_numpy(order[position[keep]]), torch.from_numpy(items[keep])] = True
    return mask


def candidate_scores(model, users, history, raw=False):
    """Scores of every item for ``users``, their ``history`` pairs and the padding item at :math:`-\\infty`."""
    scores = full_scores(model, users, raw)
    scores[pair_mask(users, *history, scores.size(1))] = -torch.inf
    return scores


def candidate_moments(scores) -> tuple:
    """``(count, mean, std)`` per row of candidate scores (:math:`-\\infty` outside the candidates), as float64:
    :math:`\\mu_u = \\frac{1}{n_u}\\sum_j s_{uj}`, :math:`\\sigma_u = \\sqrt{\\frac{1}{n_u}\\sum_j (s_{uj} - \\mu_u)^2}`
    over the :math:`n_u` candidates (a row without any counts one). Two passes in the scores' own precision (a
    float32 row of 10^4 scores keeps the spread to about 1e-7)."""
    outside = scores == -torch.inf
    count = (~outside).sum(1).clamp(min=1)
    mean = scores.masked_fill(outside, 0.0).sum(1) / count
    centred = (scores - mean[:, None]).masked_fill_(outside, 0.0)
    return count.double(), mean.double(), centred.pow_(2).sum(1).div(count).sqrt().double()


def top_k(model, users, history, k, batch_users=512, raw=False) -> torch.Tensor:
    """Top-``k`` items per user (``(len(users), k)`` ids, best first), history pairs excluded."""
    return top_k_with_scores(model, users, history, k, batch_users, raw)[1]


def top_k_with_scores(model, users, history, k, batch_users=512, raw=False) -> tuple:
    """``(scores, ids)`` of the top-``k`` items per user (each ``(len(users), k)``, best first), history pairs
    excluded."""
    ids, values = [], []
    for start in range(0, len(users), batch_users):
        batch = users[start : start + batch_users]
        top = candidate_scores(model, batch, history, raw).topk(k, dim=1)
        ids.append(top.indices)
        values.append(top.values)
    if not ids:
        ids, values = [torch.zeros(0, k, dtype=torch.long)], [torch.zeros(0, k)]
    return torch.cat(values), torch.cat(ids)


def auc(positive_scores, negative_scores) -> float:
    """Mann-Whitney AUC of positives over negatives (ties count one half); NaN if either side is empty:

    .. math::
        \\mathrm{AUC} = P(s^+ > s^-) + \\tfrac12 P(s^+ = s^-).
    """
    pos, neg = np.asarray(positive_scores, float), np.asarray(negative_scores, float)
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    ranks = rankdata(np.concatenate([pos, neg]))
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def clear_cached_embeddings(model):
    """Drop full-ranking caches (ours: ``clear_cache``; RecBole's graph models: ``restore_user_e``,
    ``restore_item_e``)."""
    if hasattr(model, "clear_cache"):
        model.clear_cache()
    for name in ("restore_user_e", "restore_item_e"):
        if hasattr(model, name):
            setattr(model, name, None)
