"""Unlearning methods (``unlearn_method``), each a composition of the same parts:

=============  =====================================================================================================
method         what it does, after every data-derived structure is rebuilt from the retain set
=============  =====================================================================================================
reverse_bpr    :class:`~recbole_unlearn.unlearn.trainer.UnlearningTrainer` as configured (forget + retain terms)
finetune       the same trainer with ``forget_weight = 0``: BPR on retained pairs only
neggrad        the same trainer with negated BPR on the forget set and no retain term: gradient ascent
reset          re-initialise the embedding rows of forgotten users (user requests) or items (item / modality
               requests); no gradient step
rebuild        the rebind alone: retain-side graph and features, trained weights untouched (a baseline)
retrain        gold: a new model trained from scratch on the retain set, same config and seed, early stopping
               (:func:`recbole_unlearn.quick_start.retrain`)
=============  =====================================================================================================
"""

import copy
import math

import torch

from recbole_unlearn.data.pairs import pairs
from recbole_unlearn.scoring import pair_interaction
from recbole_unlearn.errors import InputError
from recbole_unlearn.unlearn.losses import bpr
from recbole_unlearn.unlearn.optim import RowwiseAdam
from recbole_unlearn.unlearn.rebind import clear_cached_embeddings, embedding_tables, rebind_model
from recbole_unlearn.unlearn.trainer import UnlearnOutcome, UnlearningTrainer

TRAINER_OVERRIDES = {
    "reverse_bpr": {},
    "finetune": {"forget_weight": 0.0},
    "neggrad": {"unlearn_forget_loss": "negated_bpr", "retain_weight": 0.0},
}
METHODS = (*TRAINER_OVERRIDES, "reset", "rebuild", "retrain")


def config_with(config, **overrides):
    """A shallow copy of a RecBole ``Config`` with some values replaced; the original is unchanged."""
    new = copy.copy(config)
    new.final_config_dict = {**config.final_config_dict, **overrides}
    return new


def unlearn_in_place(method, config, model, split, valid_heldout, show_progress=False):
    """Apply ``method`` (any of :data:`METHODS` but ``retrain``) to a copy of ``model``: ``(model, outcome)``."""
    if method not in METHODS or method == "retrain":
        raise InputError(f"unlearn_method '{method}' is not one of {', '.join(METHODS)}")
    model = rebind_model(copy.deepcopy(model), config, split.retain_train)
    if method in ("reset", "rebuild"):
        if method == "reset":
            reset_forgotten_rows(model, split)
            if split.request.type == "item" and config["unlearn_revoked_steps"]:
                push_down_revoked_items(model, split, int(config["unlearn_revoked_steps"]), float(config["unlearn_lr_touched"]))
        return model, UnlearnOutcome(stopped_by="none")
    trainer = UnlearningTrainer(config_with(config, **TRAINER_OVERRIDES[method]), model)
    outcome = trainer.unlearn(split, valid_heldout, show_progress=show_progress)
    clear_cached_embeddings(trainer.model)
    return trainer.model, outcome


def push_down_revoked_items(model, split, steps, lr, batch_size=2048):
    """Item requests, after the reset: ``steps`` BPR steps :math:`-\log\sigma(s_{ui} - s_{uj})` with retained pairs
    :math:`(u, i)` as positives and revoked items :math:`j` as the negatives, moving only the revoked items' rows (at
    ``lr``).

    A retrain never sees a revoked item but as a sampled negative, which pushes it below everything; a re-drawn row
    scores mid-range instead, which a membership test on the revoked items tells apart from gold.
    """
    table = embedding_tables(model)["item"]
    revoked = torch.as_tensor(split.request.items, dtype=torch.long)
    row_lr = torch.zeros(table.size(0), 1, device=table.device)
    row_lr[revoked] = lr
    optimizer = RowwiseAdam([{"params": [table], "lr": row_lr}])
    users, items = (torch.from_numpy(a) for a in pairs(split.retain_train))
    model.eval()  # the served scores, with gradients on (as in UnlearningTrainer)
    for _ in range(steps):
        pick = torch.randint(len(users), (batch_size,))
        negatives = revoked[torch.randint(len(revoked), (batch_size,))]
        u = torch.cat([users[pick], users[pick]])
        scores = model.predict(pair_interaction(model, u, torch.cat([items[pick], negatives])))
        loss = bpr(*scores.split(batch_size))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        clear_cached_embeddings(model)


def refresh_due(config, request_index) -> bool:
    """Whether request number ``request_index`` of a stream gets the retain-set refresh (``unlearn_refresh_every``)."""
    every = int(config["unlearn_refresh_every"] or 0)
    return every > 0 and request_index % every == 0


def refresh_on_retain(config, model, split, show_progress=False):
    """The correction for long streams: ``unlearn_refresh_epochs`` epochs of the model's own training loss on the
    cumulative retain set (RecBole's trainer, the model's learning rate), from the unlearned weights."""
    from recbole_unlearn.data import dataloaders
    from recbole_unlearn.registry import get_trainer

    train, _, _ = dataloaders(config, [split.retain_train, split.retain_valid, split.retain_test])
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
    for epoch in range(int(config["unlearn_refresh_epochs"])):
        trainer._train_epoch(train, epoch, show_progress=show_progress)
    model.eval()
    clear_cached_embeddings(model)
    return model


def reset_forgotten_rows(model, split):
    """Draw the forgotten users' or items' embedding rows afresh, as Xavier-uniform initialisation would."""
    side, rows = {"user": ("user", split.request.users), "item": ("item", split.request.items),
                  "modality": ("item", split.request.items)}.get(split.request.type, (None, None))
    tables = embedding_tables(model)
    if side is None or side not in tables:
        raise InputError(
            f"unlearn_method 'reset' applies to user, item and modality requests on models with ID embedding tables, "
            f"not to a {split.request.type} request on {type(model).__name__}"
        )
    table = tables[side]
    bound = math.sqrt(6.0 / (table.size(0) + table.size(1)))
    with torch.no_grad():
        idx = torch.as_tensor(rows, dtype=torch.long, device=table.device)
        table[idx] = torch.empty(len(idx), table.size(1), device=table.device).uniform_(-bound, bound)
    clear_cached_embeddings(model)
