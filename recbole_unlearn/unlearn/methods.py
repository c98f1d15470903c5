"""Unlearning methods (``unlearn_method``): one registry, :data:`METHODS`, of callables with one signature

    ``method(model, split, context) -> (unlearned_model, outcome)``

where ``model`` is the trained model (left unchanged), ``split`` a
:class:`~recbole_unlearn.data.split.ForgetSplit`, ``context`` the request's
:class:`~recbole_unlearn.unlearn.context.UnlearnContext` (config and settings, parsed once) and ``outcome`` an
:class:`~recbole_unlearn.unlearn.trainer.UnlearnOutcome` (``None`` for ``retrain``, which stops by early stopping).
Every method but ``retrain`` starts from a copy of ``model`` rebound to the retain set
(:func:`~recbole_unlearn.unlearn.rebind.rebind_model`).

=============  =====================================================================================================
method         what it does
=============  =====================================================================================================
reverse_bpr    :class:`~recbole_unlearn.unlearn.trainer.UnlearningTrainer` as configured (forget + retain terms)
finetune       the same trainer with ``forget_weight = 0``: BPR on retained pairs only
neggrad        the same trainer with negated BPR on the forget set and no retain term: gradient ascent
reset          re-initialise the embedding rows of forgotten users (user requests) or items (item / modality
               requests); item requests then push the revoked items down (``unlearn_revoked_steps``)
rebuild        the rebind alone: retain-side graph and features, trained weights untouched (a baseline)
retrain        gold: a new model trained from scratch on the retain set, same config and seed, early stopping
=============  =====================================================================================================
"""

import contextlib
import copy
import dataclasses
import math
import os

import torch
from recbole.utils import get_local_time, init_seed

from recbole_unlearn.atomic import unused_path
from recbole_unlearn.data.pairs import pairs
from recbole_unlearn.data.preparation import dataloaders
from recbole_unlearn.data.request_type import RequestType
from recbole_unlearn.errors import InputError
from recbole_unlearn.model.serving import base_class, unserve
from recbole_unlearn.registry import build_trainer
from recbole_unlearn.scoring import clear_cached_embeddings, pair_interaction
from recbole_unlearn.unlearn.losses import bpr
from recbole_unlearn.unlearn.optim import RowwiseAdam, row_group
from recbole_unlearn.unlearn.parallel import processes_for
from recbole_unlearn.unlearn.rebind import embedding_tables, rebind_model
from recbole_unlearn.unlearn.trainer import UnlearningTrainer, UnlearnOutcome


def rebound_copy(model, config, split):
    """A copy of ``model``, without serving filter (steps and resets work on raw scores), with every data-derived
    structure rebuilt from ``split.retain_train``."""
    return rebind_model(unserve(copy.deepcopy(model)), config, split.retain_train)


def gradient_method(**overrides):
    """A method running :class:`UnlearningTrainer` with the config's settings, ``overrides`` replacing some of them
    (field names of :class:`~recbole_unlearn.unlearn.settings.UnlearnSettings`)."""

    def method(model, split, context):
        settings = dataclasses.replace(context.settings, **overrides)
        model = rebound_copy(model, context.config, split)
        trainer = UnlearningTrainer(model, settings, processes_for(context.config))
        outcome = trainer.unlearn(split, context.show_progress)
        clear_cached_embeddings(model)
        return model, outcome

    return method


def reset(model, split, context):
    """Forgotten users' or items' embedding rows drawn afresh; for item requests, the revoked items then pushed down
    (:func:`push_down_revoked_items`, ``unlearn_revoked_steps`` steps)."""
    settings = context.settings
    model = rebound_copy(model, context.config, split)
    reset_forgotten_rows(model, split)
    if split.request.type == RequestType.ITEM and settings.revoked_steps:
        push_down_revoked_items(model, split, settings.revoked_steps, settings.touched_rate)
    return model, UnlearnOutcome(stopped_by="none")


def rebuild(model, split, context):
    """The rebind alone."""
    return rebound_copy(model, context.config, split), UnlearnOutcome(stopped_by="none")


def retrain(model, split, context):
    """Gold: a new model of ``model``'s class trained from scratch on the retain set (the config's seed), its best
    epoch saved under ``checkpoint_dir`` and loaded back."""
    config = context.config
    seed = config["seed"]
    init_seed(seed, config["reproducibility"])
    train, valid, _ = dataloaders(config, [split.retain_train, split.retain_valid, split.retain_test])
    gold = base_class(model)(config, split.retain_train).to(config["device"])
    trainer = build_trainer(config, gold)
    trainer.saved_model_file = unused_path(
        os.path.join(config["checkpoint_dir"], f"{config['model']}-gold-seed{seed}-{get_local_time()}.pth")
    )
    trainer.fit(train, valid, saved=True, show_progress=context.show_progress)
    trainer.load_checkpoint_file(trainer.saved_model_file, dataset=split.retain_train)
    return gold, None


METHODS = {
    "reverse_bpr": gradient_method(),
    "finetune": gradient_method(forget_weight=0.0),
    "neggrad": gradient_method(forget_loss="negated_bpr", retain_weight=0.0),
    "reset": reset,
    "rebuild": rebuild,
    "retrain": retrain,
}


def get_method(name):
    """The registered method called ``name`` (one line naming an unknown one)."""
    if name not in METHODS:
        raise InputError(f"unlearn_method '{name}' is not one of {', '.join(METHODS)}")
    return METHODS[name]


def method_names(config) -> tuple:
    """``unlearn_method`` as registered names, the first being the one whose model is kept; one line for an empty
    list or an unknown name."""
    names = config["unlearn_method"]
    names = [names] if isinstance(names, str) and names else list(names or [])
    if not names:
        raise InputError(f"unlearn_method is empty: name at least one of {', '.join(METHODS)}")
    for name in names:
        get_method(name)
    return tuple(names)


# ---- the parts of reset ---------------------------------------------------------------------------------------------
def reset_forgotten_rows(model, split):
    """Draw the forgotten users' or items' rows of every embedding table of their side afresh, as Xavier-uniform
    initialisation would."""
    side, rows = {RequestType.USER: ("user", split.request.users), RequestType.ITEM: ("item", split.request.items),
                  RequestType.MODALITY: ("item", split.request.items)}.get(split.request.type, (None, None))
    tables = embedding_tables(model)
    if side is None or side not in tables:
        raise InputError(
            f"unlearn_method 'reset' applies to user, item and modality requests on models with ID embedding tables, "
            f"not to a {split.request.type} request on {type(model).__name__}"
        )
    for table in tables[side]:
        bound = math.sqrt(6.0 / (table.size(0) + table.size(1)))
        with torch.no_grad():
            idx = torch.as_tensor(rows, dtype=torch.long, device=table.device)
            table[idx] = torch.empty(len(idx), table.size(1), device=table.device).uniform_(-bound, bound)
    clear_cached_embeddings(model)


def push_down_revoked_items(model, split, steps, rate, batch_size=2048):
    """Item requests, after the reset: ``steps`` BPR steps :math:`-\\log\\sigma(s_{ui} - s_{uj})` with retained pairs
    :math:`(u, i)` as positives and revoked items :math:`j` as the negatives, moving only the revoked items' rows of
    each item table (at ``rate(table)``).

    A retrain never sees a revoked item but as a sampled negative, which pushes it below everything; a re-drawn row
    scores mid-range instead, which a membership test on the revoked items tells apart from gold.
    """
    revoked = torch.as_tensor(split.request.items, dtype=torch.long)
    optimizer = RowwiseAdam([row_group(table, revoked, rate(table)) for table in embedding_tables(model)["item"]])
    users, items = (torch.from_numpy(a) for a in pairs(split.retain_train))
    model.eval()  # the served scores, with gradients on (as in UnlearningTrainer)
    moving = model.moving_rows([], revoked) if hasattr(model, "moving_rows") else contextlib.nullcontext()
    with moving:  # only the revoked items' rows change: a model that can, scores the steps locally
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
