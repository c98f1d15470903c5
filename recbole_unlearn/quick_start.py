"""Train, evaluate, and (with ``forget_type`` set) unlearn and audit, callable from Python.

The package's own run loop: RecBole's ``recbole.quick_start`` imports ray at import time and unpickles its
checkpoints, so it is never imported here. This module only wires config, data, training and the request pipeline
(:mod:`recbole_unlearn.pipeline`); the requests come from :mod:`~recbole_unlearn.unlearn.stream`.

The run's log goes where RecBole's quick start says it goes: standard output and the log file; warnings and errors
go to standard error.
"""

import sys
import time
from dataclasses import dataclass, field
from logging import WARNING, StreamHandler, getLogger

from recbole.utils import init_logger, init_seed, set_color

from recbole_unlearn.checkpoint import check_compatible, load_checkpoint, restore_model
from recbole_unlearn.config import Config
from recbole_unlearn.data import built_datasets, create_dataset, dataloaders
from recbole_unlearn.distributed import is_main_process
from recbole_unlearn.pipeline import Chain, RequestJob, RunOutputs, apply_stream
from recbole_unlearn.registry import build_model, build_trainer
from recbole_unlearn.tables import format_table
from recbole_unlearn.unlearn.lineage import Provenance, replay, write_manifest
from recbole_unlearn.unlearn.rebind import (
    check_unlearnable,
    check_unlearnable_type,
    rebind_model,
)
from recbole_unlearn.unlearn.stream import plan_requests


def load_config(model=None, dataset=None, config_file_list=None, config_dict=None, argv=None):
    """The run's config (a request's model type checked before any data is read), seeded, with RecBole's logger."""
    return prepared(Config(model, dataset, config_file_list, config_dict, argv=argv))


def prepared(config):
    """``config`` ready for a run: a request's model type checked before any data is read, seeds set, RecBole's
    logger started (:func:`log_to_stdout`)."""
    if config["forget_type"]:
        check_unlearnable_type(config)
    init_seed(config["seed"], config["reproducibility"])
    init_logger(config)
    log_to_stdout()
    getLogger().info(config)
    return config


class ConsoleHandler(StreamHandler):
    """A console handler writing records below ``WARNING`` to standard output, the others to standard error (both
    looked up when a record is written)."""

    def emit(self, record):
        self.stream = sys.stdout if record.levelno < WARNING else sys.stderr
        super().emit(record)


def log_to_stdout():
    """Replace RecBole's console handler (standard error for every record) by a :class:`ConsoleHandler` of the same
    level and format."""
    root = getLogger()
    for handler in [h for h in root.handlers if type(h) is StreamHandler]:
        console = ConsoleHandler()
        console.setLevel(handler.level)
        console.setFormatter(handler.formatter)
        root.removeHandler(handler)
        root.addHandler(console)


def load_datasets(model=None, dataset=None, config_file_list=None, config_dict=None, argv=None):
    """Config and train / valid / test datasets (:func:`~recbole_unlearn.data.preparation.built_datasets`)."""
    config = load_config(model, dataset, config_file_list, config_dict, argv)
    return config, built_datasets(config, create_dataset(config))


def load_data(model=None, dataset=None, config_file_list=None, config_dict=None, argv=None):
    """Config and train / valid / test dataloaders."""
    config, datasets = load_datasets(model, dataset, config_file_list, config_dict, argv)
    return config, dataloaders(config, datasets)


def load_run(model=None, dataset=None, config_file_list=None, config_dict=None, argv=None):
    """Config, dataloaders, a freshly initialised model and its trainer, ready to ``fit``."""
    config, loaders = load_data(model, dataset, config_file_list, config_dict, argv)
    model = build_model(config, loaders[0]._dataset)
    return config, loaders, model, build_trainer(config, model)


def run(model=None, dataset=None, config_file_list=None, config_dict=None, argv=None, saved=True):
    """Train with early stopping, evaluate on valid and test, log the results table: a :class:`TrainedRun`.

    With ``forget_type`` set in the config, goes on to unlearn and audit: an :class:`UnlearningRun`
    (:func:`run_unlearning`).
    """
    return run_config(load_config(model, dataset, config_file_list, config_dict, argv), saved)


def run_config(config, saved=True):
    """:func:`run` for a :func:`prepared` config."""
    datasets = built_datasets(config, create_dataset(config))
    if config["forget_type"]:
        return run_unlearning(config, datasets)
    return train_and_evaluate(config, dataloaders(config, datasets), saved)


@dataclass
class TrainedRun:
    """What :func:`train_and_evaluate` gives: the trained model and its trainer, the saved checkpoint (``None``
    unless ``saved``) and the best validation and the test results."""

    config: object
    model: object
    trainer: object
    checkpoint: str
    best_valid_result: dict
    test_result: dict


def train_and_evaluate(config, loaders, saved=True) -> TrainedRun:
    """:func:`run` without a request."""
    train_data, valid_data, test_data = loaders
    model = build_model(config, train_data._dataset)
    trainer = build_trainer(config, model)
    show = config["show_progress"]
    _, best_valid = trainer.fit(train_data, valid_data, saved=saved, show_progress=show)
    if saved and is_main_process(config):  # the root of any unlearning chain that starts from this checkpoint
        write_manifest(trainer.saved_model_file, config, Provenance(train_data._dataset, []), train_data._dataset)
    test_result = trainer.evaluate(test_data, load_best_model=saved, show_progress=show)
    results = {"valid": best_valid, "test": test_result}
    getLogger().info(set_color("results", "yellow") + "\n" + format_table(results, first="split"))
    checkpoint = trainer.saved_model_file if saved else None
    return TrainedRun(config, model, trainer, checkpoint, dict(best_valid), dict(test_result))


# ---------------------------------------------------------------------------------------------------------------------
@dataclass
class UnlearningRun:
    """What :func:`run_unlearning` gives: the last applied request's model (served), report and files (``None``
    where no request was applied), one :class:`~recbole_unlearn.pipeline.StreamStep` per request, and for a dry run
    the lines it printed."""

    config: object
    model: object = None
    report: dict = None
    checkpoint: str = None
    report_file: str = None
    steps: list = field(default_factory=list)
    dry_run: list = None


def run_unlearning(config, datasets) -> UnlearningRun:
    """Requests -> (train or load) original -> each request in order through the pipeline
    (:func:`~recbole_unlearn.pipeline.apply_stream`).

    Everything the user gave is validated before any training: the unlearning keys and methods
    (:meth:`~recbole_unlearn.pipeline.RequestJob.for_request`), every request of the stream, the starting checkpoint.
    A starting checkpoint's lineage is replayed on the loaded data first, so what it forgot stays forgotten; a request
    already applied is skipped with a message and writes nothing. With ``dry_run`` the plan is printed
    (:meth:`~recbole_unlearn.unlearn.stream.PlannedRequest.removal_line`) and nothing is trained or written.
    """
    job = RequestJob.for_request(config, config["forget_type"])
    model = build_model(config, datasets[0])
    check_unlearnable(model)
    state, lineage = None, []
    if config["checkpoint"]:  # read and check the starting checkpoint before anything is written
        state = load_checkpoint(config["checkpoint"], map_location=config["device"])
        check_compatible(state, config["checkpoint"], config["model"], datasets[0])
        lineage = state.get("lineage", [])
    base = replay(lineage, *datasets)
    plan = plan_requests(config, base, lineage)
    if config["dry_run"]:
        lines = [planned.removal_line() for planned in plan]
        print("\n".join(["dry run: nothing trained or written", *lines]))
        return UnlearningRun(config, dry_run=lines)
    outputs = RunOutputs(config, plan)  # before training: a report file another run writes meanwhile is refused
    if state is not None:
        model, original_time, parent = restored_original(config, model, state, base[0] if lineage else None)
    else:
        model, original_time, parent = trained_original(config, model, dataloaders(config, datasets))
    chain = Chain(lineage, parent, datasets[0])
    last, steps = apply_stream(job.with_original_time(original_time), model, plan, chain, outputs)
    if last is None:
        return UnlearningRun(config, model, steps=steps)
    return UnlearningRun(config, last.model, last.report, last.checkpoint, last.report_file, steps)


def restored_original(config, model, state, retain_train=None):
    """The starting checkpoint's model, rebound to ``retain_train`` (the retain set its lineage leaves, ``None``
    without lineage): ``(model, training time up to the saved epoch, checkpoint)``."""
    restore_model(model, state)
    if retain_train is not None:
        model = rebind_model(model, config, retain_train)
    return model, state.get("train_time_s"), config["checkpoint"]


def trained_original(config, model, loaders):
    """``model`` trained on the full data with early stopping, its best epoch saved (with a root manifest) and loaded
    back: ``(model, training time, checkpoint)``."""
    trainer = build_trainer(config, model)
    start = time.perf_counter()
    trainer.fit(loaders[0], loaders[1], saved=True, show_progress=config["show_progress"])
    seconds, checkpoint = time.perf_counter() - start, trainer.saved_model_file
    trainer.load_checkpoint_file(checkpoint, dataset=loaders[0]._dataset)
    if is_main_process(config):
        write_manifest(checkpoint, config, Provenance(loaders[0]._dataset, []), loaders[0]._dataset)
    return model, seconds, checkpoint
