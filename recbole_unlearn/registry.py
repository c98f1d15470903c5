"""Class look-up, plug-in first: this package's models, trainers and datasets shadow RecBole's of the same name.

RecBole resolves names only inside itself and ends an unknown model name in an ImportError for ``lightgbm``; here an
unknown name gives one line with the closest known names.
"""

import difflib
import importlib
from pathlib import Path

import recbole
from recbole.utils import get_model as recbole_get_model
from recbole.utils import get_trainer as recbole_get_trainer

from recbole_unlearn.errors import UnlearnError


def plugin_models() -> dict:
    """This package's models by class name."""
    from recbole_unlearn import model

    return dict(model.MODELS)


def recbole_model_names() -> list:
    """Every model RecBole ships (one YAML per model in its properties/model)."""
    folder = Path(recbole.__file__).parent / "properties" / "model"
    return sorted(p.stem for p in folder.glob("*.yaml"))


def known_model_names() -> list:
    return sorted(set(plugin_models()) | set(recbole_model_names()))


def get_model(name: str):
    """The model class called ``name``: this package's if it has one, else RecBole's."""
    ours = plugin_models()
    if name in ours:
        return ours[name]
    if name in recbole_model_names():
        return recbole_get_model(name)
    close = difflib.get_close_matches(name, known_model_names(), n=3, cutoff=0.5)
    hint = f"; closest known: {', '.join(close)}" if close else ""
    raise UnlearnError(f"unknown model '{name}'{hint}")


def get_trainer(model_type, model_name):
    """The trainer class for a model, with safe checkpoints.

    Looks for ``<model_name>Trainer`` in :mod:`recbole_unlearn.trainer`, then asks RecBole (which falls back to its
    generic trainers), and mixes :class:`~recbole_unlearn.trainer.SafeCheckpointMixin` into RecBole's class.
    """
    from recbole_unlearn import trainer

    ours = getattr(trainer, f"{model_name}Trainer", None)
    if ours is not None:
        return ours
    return trainer.with_safe_checkpoints(recbole_get_trainer(model_type, model_name))


def get_dataset_class(config):
    """The dataset class for a config: ``<model>Dataset`` of this package, then RecBole's choice by model type."""
    from recbole_unlearn import data

    ours = getattr(data, f"{config['model']}Dataset", None)
    if ours is not None:
        return ours
    for cls in data.DATASETS:
        if cls.handles(config):
            return cls
    recbole_datasets = importlib.import_module("recbole.data.dataset")
    if hasattr(recbole_datasets, f"{config['model']}Dataset"):
        return getattr(recbole_datasets, f"{config['model']}Dataset")
    from recbole.utils import ModelType

    by_type = {ModelType.SEQUENTIAL: "SequentialDataset", ModelType.KNOWLEDGE: "KnowledgeBasedDataset"}
    return getattr(recbole_datasets, by_type.get(config["MODEL_TYPE"], "Dataset"))
