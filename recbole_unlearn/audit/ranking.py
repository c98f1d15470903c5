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

from recbole_unlearn.scoring import pair_mask, top_k


def ranking_metrics(model, targets, history, ks=(10, 20), batch_users=512, raw=False) -> dict:
    """Recall@K and NDCG@K of ``model`` for target pairs ``(users, items)``, history pairs masked; on the served
    scores, or with ``raw`` on the scores before the serving filter."""
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
        top = top_k(model, batch, history, k_max, batch_users=batch_users, raw=raw)
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
