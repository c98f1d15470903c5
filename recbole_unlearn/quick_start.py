"""Train and evaluate a model from config, callable from Python; the command-line runner is a thin wrapper.

This is the package's own run loop: RecBole's ``recbole.quick_start`` imports ray at import time (broken on today's
setuptools) and unpickles its checkpoints, so it is never imported here.
"""

from logging import getLogger

from recbole.utils import init_logger, init_seed, set_color

from recbole_unlearn.config import Config
from recbole_unlearn.data import create_dataset, data_preparation
from recbole_unlearn.registry import get_trainer


def load_run(model=None, dataset=None, config_file_list=None, config_dict=None, argv=None):
    """Config, dataset, dataloaders, a freshly initialised model and its trainer, ready to ``fit``."""
    config = Config(model, dataset, config_file_list, config_dict, argv=argv)
    init_seed(config["seed"], config["reproducibility"])
    init_logger(config)
    logger = getLogger()
    logger.info(config)
    dataset = create_dataset(config)
    train_data, valid_data, test_data = data_preparation(config, dataset)
    init_seed(config["seed"] + config["local_rank"], config["reproducibility"])
    model = config.model_class(config, train_data._dataset).to(config["device"])
    logger.info(model)
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
    return config, (train_data, valid_data, test_data), model, trainer


def run(model=None, dataset=None, config_file_list=None, config_dict=None, argv=None, saved=True):
    """Train with early stopping, evaluate on valid and test, print the results table.

    Returns a dict with ``config``, ``model``, ``trainer``, ``checkpoint`` (the saved file, or ``None``),
    ``best_valid_result`` and ``test_result``.
    """
    config, (train_data, valid_data, test_data), model, trainer = load_run(
        model, dataset, config_file_list, config_dict, argv
    )
    show = config["show_progress"]
    _, best_valid = trainer.fit(train_data, valid_data, saved=saved, show_progress=show)
    test_result = trainer.evaluate(test_data, load_best_model=saved, show_progress=show)
    table = results_table({"valid": best_valid, "test": test_result})
    getLogger().info(set_color("results", "yellow") + "\n" + table)
    return {
        "config": config,
        "model": model,
        "trainer": trainer,
        "checkpoint": trainer.saved_model_file if saved else None,
        "best_valid_result": dict(best_valid),
        "test_result": dict(test_result),
    }


def results_table(results: dict) -> str:
    """A plain-text table: one row per split, one column per metric."""
    metrics = list(next(iter(results.values())).keys())
    width = max(10, *(len(m) for m in metrics))
    header = "split".ljust(8) + "".join(m.rjust(width + 2) for m in metrics)
    rows = [name.ljust(8) + "".join(f"{values[m]:.4f}".rjust(width + 2) for m in metrics) for name, values in results.items()]
    return "\n".join([header, "-" * len(header), *rows])
