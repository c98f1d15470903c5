"""Full-ranking metrics over explicit target and history sets, RecBole's definitions.

For a user :math:`u` with targets :math:`T_u` and top-:math:`K` list :math:`L_u` (history items excluded):

.. math::
    \\mathrm{Recall@K} = \\frac{|L_u \\cap T_u|}{|T_u|}, \\qquad
    \\mathrm{NDCG@K} = \\frac{\\sum_{r=1}^{K} [L_{u,r} \\in T_u] / \\log_2(r+1)}
                             {\\sum_{r=1}^{\\min(|T_u|, K)} 1 / \\log_2(r+1)},

averaged over users with at least one target. Working on explicit sets (rather than RecBole's dataloaders) lets the
audit rank *forgotten* items as targets while masking only the retained history.
"""

import numpy as np
import torch

from recbole_unlearn.audit.scores import full_scores


def pairs(dataset):
    """``(users, items)`` numpy arrays of a dataset's interactions."""
    inter = dataset.inter_feat
    return inter[dataset.uid_field].numpy(), inter[dataset.iid_field].numpy()


def pair_mask(rows_users, users, items, n_items):
    """Boolean ``(len(rows_users), n_items)`` matrix marking (user, item) pairs, rows in the order of rows_users."""
    order = np.argsort(rows_users)
    position = np.clip(np.searchsorted(rows_users[order], users), 0, max(len(rows_users) - 1, 0))
    keep = rows_users[order][position] == users
    mask = torch.zeros(len(rows_users), n_items, dtype=torch.bool)
    mask[torch.from_numpy(order[position[keep]]), torch.from_numpy(items[keep])] = True
    return mask


def candidate_scores(model, users, history):
    """Scores of every item for ``users``, their ``history`` pairs and the padding item at :math:`-\\infty`."""
    scores = full_scores(model, users)
    scores[pair_mask(users, *history, scores.size(1))] = -torch.inf
    return scores


def top_k(model, users, history, k, banned_items=None, batch_users=512):
    """Top-``k`` items per user, history pairs excluded, ``banned_items`` (serving filter) excluded if given."""
    out = []
    for start in range(0, len(users), batch_users):
        batch = users[start : start + batch_users]
        scores = candidate_scores(model, batch, history)
        if banned_items is not None and len(banned_items):
            scores[:, torch.as_tensor(banned_items)] = -torch.inf
        out.append(scores.topk(k, dim=1).indices)
    return torch.cat(out) if out else torch.zeros(0, k, dtype=torch.long)


def ranking_metrics(model, targets, history, ks=(10, 20), batch_users=512) -> dict:
    """Recall@K and NDCG@K of ``model`` for target pairs ``(users, items)``, history pairs masked."""
    t_users, t_items = targets
    users = np.unique(t_users)
    if len(users) == 0:
        return {f"{m}@{k}": float("nan") for m in ("recall", "ndcg") for k in ks}
    k_max = max(ks)
    discounts = 1.0 / torch.log2(torch.arange(2, k_max + 2, dtype=torch.float64))
    recall = {k: [] for k in ks}
    ndcg = {k: [] for k in ks}
    for start in range(0, len(users), batch_users):
        batch = users[start : start + batch_users]
        top = top_k(model, batch, history, k_max, batch_users=batch_users)
        target_mask = pair_mask(batch, t_users, t_items, model.n_items)
        hits = target_mask.gather(1, top).double()
        n_targets = target_mask.sum(1).double()
        for k in ks:
            recall[k].append(hits[:, :k].sum(1) / n_targets)
            ideal = torch.cumsum(discounts[:k], 0)[(n_targets.clamp(max=k) - 1).long()]
            ndcg[k].append((hits[:, :k] * discounts[:k]).sum(1) / ideal)
    result = {}
    for k in ks:
        result[f"recall@{k}"] = float(torch.cat(recall[k]).mean())
        result[f"ndcg@{k}"] = float(torch.cat(ndcg[k]).mean())
    return result
