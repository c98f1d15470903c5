"""Re-binding a trained model to the retain data: every structure derived from data is rebuilt, weights are kept.

- This package's models (:class:`~recbole_unlearn.model.base.GraphRecommender`) rebuild in place through
  ``rebuild_graph(dataset)``: user-item adjacency, modality kNN graphs, cached embeddings.
- Any other RecBole model (LightGCN, NGCF, SGL, NCL, SimpleX, DGCF, ... or a model class from the user's own project)
  is built again on the retain dataset, which re-derives whatever its ``__init__`` takes from data (adjacency, history
  matrices, caches), and the trained weights are loaded into it. No per-model code is needed for a model that follows
  RecBole's contract (data-derived structures built in ``__init__``, learned state in ``state_dict``).
"""

import torch
from recbole.model.abstract_recommender import AbstractRecommender, GeneralRecommender
from recbole.utils import ModelType

from recbole_unlearn.errors import InputError
from recbole_unlearn.model.base import GraphRecommender


def check_unlearnable_type(config):
    """Refuse, before any data is read, model types unlearning does not cover (sequential, context-aware, ...)."""
    if config["MODEL_TYPE"] != ModelType.GENERAL:
        raise InputError(
            f"model {config['model']}: a {config['MODEL_TYPE'].name.lower()} recommender; only general (user-item) "
            "recommenders can be unlearned"
        )


def check_unlearnable(model):
    """Refuse models gradient-based unlearning cannot handle, with one line saying why."""
    name = type(model).__name__
    if not isinstance(model, GeneralRecommender):
        raise InputError(f"model {name}: only general (user-item) recommenders can be unlearned")
    if type(model).predict is AbstractRecommender.predict:
        raise InputError(f"model {name}: does not implement predict(), which unlearning scores pairs with")
    if not embedding_tables(model):
        raise InputError(
            f"model {name}: has no user or item embedding table to unlearn from; use unlearn_method=retrain"
        )


def rebind_model(model, config, dataset):
    """``model`` with every data-derived structure rebuilt from ``dataset``; returns the (possibly new) model."""
    if isinstance(model, GraphRecommender):
        model.rebuild_graph(dataset)
        return model
    with torch.random.fork_rng():  # building re-initialises weights: keep the caller's random stream untouched
        fresh = type(model)(config, dataset).to(config["device"])
    fresh.load_state_dict(model.state_dict())
    return fresh


def embedding_tables(model):
    """The user and item embedding tables: ``{"user": [Parameter, ...], "item": [...]}``, a side only where it has
    one. Every 2-D parameter with ``n_users`` (``n_items``) rows is a table of that side: VBPR and MMLightGCN hold
    two per user (the ID embedding and the visual-preference / content half), and a forgotten user's memory is in
    both. When ``n_users == n_items``, names containing 'user' / 'item' decide.
    """
    tables = {}
    for name, param in model.named_parameters():
        if param.dim() != 2:
            continue
        for side, rows in (("user", model.n_users), ("item", model.n_items)):
            if param.size(0) == rows and (model.n_users != model.n_items or side in name.lower()):
                tables.setdefault(side, []).append(param)
                break
    return tables
