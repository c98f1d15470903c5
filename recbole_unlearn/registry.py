"""Class look-up, plug-in first: this package's models and trainers shadow RecBole's of the same name.

RecBole resolves names only inside itself and ends an unknown model name in an ImportError for ``lightgbm``; here an
unknown name gives one line with the closest known names.
"""

import difflib
from logging import getLogger
from pathlib import Path

import recbole
from recbole.utils import get_model as recbole_get_model
from recbole.utils import get_trainer as recbole_get_trainer
from recbole.utils import init_seed

from recbole_unlearn import trainer
from recbole_unlearn.errors import InputError
from recbole_unlearn.model import MODELS


def recbole_model_names() -> list:
    """Every model RecBole ships (one YAML per model in its properties/model)."""
    folder = Path(recbole.__file__).parent / "properties" / "model"
    return sorted(p.stem for p in folder.glob("*.yaml"))


def known_model_names() -> list:
    return sorted(set(MODELS) | set(recbole_model_names()))


def get_model(name: str):
    """The model class called ``name``: this package's if it has one, else RecBole's."""
    if name in MODELS:
        return MODELS[name]
    if name in recbole_model_names():
        return recbole_get_model(name)
    close = difflib.get_close_matches(name, known_model_names(), n=3, cutoff=0.5)
    hint = f"; closest known: {', '.join(close)}" if close else ""
    raise InputError(f"unknown model '{name}'{hint}")


def get_trainer(model_type, model_name):
    """The trainer class for a model, with safe checkpoints.

    Looks for ``<model_name>Trainer`` in :mod:`recbole_unlearn.trainer`, then asks RecBole (which falls back to its
    generic trainers), and mixes :class:`~recbole_unlearn.trainer.SafeCheckpointMixin` into RecBole's class.
    """
    ours = getattr(trainer, f"{model_name}Trainer", None)
    if ours is not None:
        return ours
    return trainer.with_safe_checkpoints(recbole_get_trainer(model_type, model_name))


def build_model(config, dataset):
    """A freshly initialised model of the config's class on ``dataset`` (seeded per rank, as RecBole does)."""
    init_seed(config["seed"] + config["local_rank"], config["reproducibility"])
    model = config.model_class(config, dataset).to(config["device"])
    getLogger().info(model)
    return model


def build_trainer(config, model):
    """The config's trainer (:func:`get_trainer`) around ``model``."""
    return get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
