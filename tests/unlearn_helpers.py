"""Helpers shared by the unlearning tests: a trained tiny model and its split, built once per call."""

from recbole_unlearn.data.request import request_from_config
from recbole_unlearn.data.split import split_datasets
from recbole_unlearn.quick_start import load_run
from recbole_unlearn.unlearn.context import UnlearnContext


def trained(model, config_dict, epochs=3):
    """``(config, loaders, model)`` after ``epochs`` of training on the tiny fixture, without saving."""
    config, loaders, net, trainer = load_run(model, "tiny", config_dict={**config_dict, "epochs": epochs}, argv=[])
    trainer.fit(loaders[0], loaders[1], saved=False)
    return config, loaders, net


def split_for(config, loaders):
    train, valid, test = (loader._dataset for loader in loaders)
    return split_datasets(request_from_config(config, train), train, valid, test)


def context(config, split):
    """The unlearning context of ``split``'s request under ``config`` (its type's recipe merged, as in a run)."""
    return UnlearnContext.for_request(config, split.request.type)
