"""Model scores through the RecBole contract only: ``predict`` for pairs, ``full_sort_predict`` for all items."""

import torch
from recbole.data.interaction import Interaction


def pair_interaction(model, users, items):
    return Interaction({model.USER_ID: torch.as_tensor(users), model.ITEM_ID: torch.as_tensor(items)}).to(model.device)


def pair_scores(model, users, items, batch_size=65536) -> torch.Tensor:
    """:math:`s(u_k, i_k)` for aligned id arrays, without gradients, in eval mode, on the CPU."""
    model.eval()
    users, items = torch.as_tensor(users, dtype=torch.long), torch.as_tensor(items, dtype=torch.long)
    out = []
    with torch.no_grad():
        for start in range(0, len(users), batch_size):
            sl = slice(start, start + batch_size)
            out.append(model.predict(pair_interaction(model, users[sl], items[sl])).float().cpu())
    return torch.cat(out) if out else torch.zeros(0)


def full_scores(model, users) -> torch.Tensor:
    """Scores of every item for each user in ``users``: shape ``(len(users), n_items)``; padding item 0 is -inf."""
    model.eval()
    users = torch.as_tensor(users, dtype=torch.long)
    with torch.no_grad():
        scores = model.full_sort_predict(Interaction({model.USER_ID: users}).to(model.device))
    scores = scores.view(len(users), -1).float().cpu()
    scores[:, 0] = -torch.inf
    return scores
