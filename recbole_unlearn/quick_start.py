"""Train, evaluate, and (with ``forget_type`` set) unlearn and audit, callable from Python.

This is the package's own run loop: RecBole's ``recbole.quick_start`` imports ray at import time (broken on today's
setuptools) and unpickles its checkpoints, so it is never imported here. It only orchestrates: the requests come from
:mod:`~recbole_unlearn.unlearn.stream`, the methods from :mod:`~recbole_unlearn.unlearn.methods`, the audit and its
report from :mod:`recbole_unlearn.audit`, checkpoints and manifests from :mod:`~recbole_unlearn.unlearn.lineage`.
"""

import copy
import os
import time
from dataclasses import dataclass
from logging import getLogger
from pathlib import Path

import numpy as np
from recbole.utils import get_local_time, init_logger, init_seed, set_color

from recbole_unlearn.atomic import unused_path
from recbole_unlearn.audit.attacker import LearnedAttacker
from recbole_unlearn.audit.audit import Audit, add_gold_overlaps
from recbole_unlearn.audit.report import build_report, comparison_table, summary_line, write_report
from recbole_unlearn.checkpoint import check_compatible, load_checkpoint, restore_model
from recbole_unlearn.config import Config, config_with
from recbole_unlearn.data import built_datasets, create_dataset, dataloaders
from recbole_unlearn.distributed import is_main_process
from recbole_unlearn.model.serving import revoked_items as served_items
from recbole_unlearn.model.serving import serve
from recbole_unlearn.registry import build_model, build_trainer
from recbole_unlearn.tables import format_table
from recbole_unlearn.unlearn.lineage import replay, request_record, save_unlearned, write_manifest
from recbole_unlearn.unlearn.methods import get_method, method_names, retrain
from recbole_unlearn.unlearn.rebind import check_unlearnable, check_unlearnable_type, rebind_model
from recbole_unlearn.unlearn.refresh import refresh_on_retain
from recbole_unlearn.unlearn.settings import UnlearnSettings
from recbole_unlearn.unlearn.stream import plan_requests


def load_config(model=None, dataset=None, config_file_list=None, config_dict=None, argv=None):
    """The run's config (a request's model type checked before any data is read), seeded, with RecBole's logger."""
    return prepared(Config(model, dataset, config_file_list, config_dict, argv=argv))


def prepared(config):
    """``config`` ready for a run: a request's model type checked before any data is read, seeds set, RecBole's
    logger started."""
    if config["forget_type"]:
        check_unlearnable_type(config)
    init_seed(config["seed"], config["reproducibility"])
    init_logger(config)
    getLogger().info(config)
    return config


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
    """Train with early stopping, evaluate on valid and test, log the results table.

    With ``forget_type`` set in the config, goes on to unlearn and audit (:func:`run_unlearning`).
    Returns a dict with ``config``, ``model``, ``trainer``, ``checkpoint`` (the saved file, or ``None``),
    ``best_valid_result`` and ``test_result`` (plus ``report`` when unlearning).
    """
    return run_config(load_config(model, dataset, config_file_list, config_dict, argv), saved)


def run_config(config, saved=True):
    """:func:`run` for a :func:`prepared` config."""
    datasets = built_datasets(config, create_dataset(config))
    if config["forget_type"]:
        return run_unlearning(config, datasets)
    return train_and_evaluate(config, dataloaders(config, datasets), saved)


def train_and_evaluate(config, loaders, saved=True):
    """:func:`run` without a request."""
    train_data, valid_data, test_data = loaders
    model = build_model(config, train_data._dataset)
    trainer = build_trainer(config, model)
    show = config["show_progress"]
    _, best_valid = trainer.fit(train_data, valid_data, saved=saved, show_progress=show)
    if saved and is_main_process(config):  # the root of any unlearning chain that starts from this checkpoint
        write_manifest(trainer.saved_model_file, None, [], config, train_data._dataset, method="train")
    test_result = trainer.evaluate(test_data, load_best_model=saved, show_progress=show)
    results = {"valid": best_valid, "test": test_result}
    getLogger().info(set_color("results", "yellow") + "\n" + format_table(results, first="split"))
    return {
        "config": config,
        "model": model,
        "trainer": trainer,
        "checkpoint": trainer.saved_model_file if saved else None,
        "best_valid_result": dict(best_valid),
        "test_result": dict(test_result),
    }


# ---------------------------------------------------------------------------------------------------------------------
def run_unlearning(config, datasets):
    """Requests -> (train or load) original -> for each request in order: unlearn with each configured method ->
    audit -> checkpoint, manifest and report.

    Everything the user gave is validated before any training: every request of the stream, the method names and
    settings, the starting checkpoint. A starting checkpoint's lineage is replayed on the loaded data first, so what it
    forgot stays forgotten; a request already applied is skipped with a message and writes nothing. With ``dry_run``
    the plan is printed (:func:`removal_lines`) and nothing is trained or written.
    Returns the last applied request's result (``model``, ``report``, ``report_file``, ``checkpoint``) and ``steps``,
    one entry per request.
    """
    settings = UnlearnSettings.from_config(config)
    methods = method_names(config)
    LearnedAttacker.from_config(config)  # its keys checked before any training
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
        lines = [line for planned in plan for line in removal_lines(planned)]
        print("\n".join(["dry run: nothing trained or written", *lines]))
        return {"config": config, "dry_run": lines, "steps": []}
    if state is not None:
        model, original_time, parent = restored_original(config, model, state, lineage, base[0])
    else:
        model, original_time, parent = trained_original(config, model, dataloaders(config, datasets))

    steps, last = [], {"config": config, "model": model, "report": None, "report_file": None, "checkpoint": None}
    for planned in plan:
        if planned.already_applied:
            getLogger().warning(
                f"request {planned.request.source} (sha256 {planned.request.sha256()[:12]}...) is already applied as "
                f"request #{planned.index}: nothing changed, nothing written"
            )
            steps.append({"request": planned.request.summary(), "already_applied_as": planned.index})
            continue
        last = unlearn_request(config, settings, methods, model, planned, lineage, parent, datasets[0], original_time,
                               several=len(plan) > 1)
        model, parent, lineage = last["model"], last["checkpoint"], last["lineage"]
        steps.append({"request": planned.request.summary(), "index": planned.index, "checkpoint": parent,
                      "report_file": last["report_file"], "summary": last["summary"]})
    return {**last, "steps": steps}


def removal_lines(planned) -> list:
    """What a planned request removes, in a few lines (the dry run's output)."""
    if planned.already_applied:
        return [f"request {planned.request.source}: already applied as request #{planned.index}, nothing to remove"]
    removed = planned.split.removed()
    rows = ", ".join(f"{name} {n}" for name, n in removed["feature_rows"].items()) or "none"
    return [
        f"request #{planned.index} ({planned.request.type}, {planned.request.source}): {removed['users']} users, "
        f"{removed['items']} items; interactions removed: train {removed['train']}, valid {removed['valid']}, "
        f"test {removed['test']}; feature rows purged: {rows}"
    ]


def restored_original(config, model, state, lineage, retain_train):
    """The starting checkpoint's model, rebound to the retain set its lineage leaves: ``(model, training time up to
    the saved epoch, checkpoint)``."""
    restore_model(model, state)
    if lineage:
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
        write_manifest(checkpoint, None, [], config, loaders[0]._dataset, method="train")
    return model, seconds, checkpoint


@dataclass
class Unlearned:
    """What :func:`unlearn_and_audit` gives: the first method's model (served) and outcome, the audit table (one row
    per model), the report (its ``checkpoint`` still ``None``) and the request's summary."""

    model: object
    outcome: object
    table: dict
    report: dict
    request: dict


def unlearn_and_audit(config, settings, methods, model, split, original_time, index=1, refresh=False) -> Unlearned:
    """One request, nothing written: each method from ``model`` (left unchanged), golds if asked, every model audited
    as served (the serving filter of ``split.revoked_items`` installed, :func:`~recbole_unlearn.model.serving.serve`).
    """
    show = config["show_progress"]
    audit = Audit(split, config["topk"], LearnedAttacker.from_config(config))
    original = served_as(model, split.revoked_items)
    table = {"original": {**audit.evaluate(original), "time_s": original_time}}
    unlearned = {}
    for name in methods:
        result, outcome, seconds = timed_method(name, model, split, config, settings, refresh, show)
        unlearned[name] = (serve(result, split.revoked_items), outcome)
        table[name] = {**audit.evaluate(result), "time_s": seconds}
        if outcome is not None:
            table[name].update(stopped_by=outcome.stopped_by, passes=outcome.passes, refreshed=refresh)
    golds = {}
    for k in range(settings.gold_seeds if settings.gold else 0):
        start = time.perf_counter()
        name = "gold" if k == 0 else f"gold_seed{k + 1}"
        golds[name] = serve(retrain(model, split, config_with(config, seed=config["seed"] + k), show)[0],
                            split.revoked_items)
        table[name] = {**audit.evaluate(golds[name]), "time_s": time.perf_counter() - start}
    others = {"original": original, **{name: result for name, (result, _) in unlearned.items()}}
    noise_floor = add_gold_overlaps(audit, table, others, golds)
    primary = methods[0]
    primary_model, outcome = unlearned[primary]
    request = {**split.request.summary(), "index": index, "interactions": int(len(split.forget_train.inter_feat))}
    stopping = {
        "rule": outcome.stopped_by if outcome else "early_stopping",
        "passes": outcome.passes if outcome else None,
        "settle_passes": outcome.settle_passes if outcome else 0,
        "log": outcome.log if outcome else [],
    }
    report = build_report(config["model"], config["dataset"], primary, request, table, stopping, None, noise_floor)
    return Unlearned(primary_model, outcome, table, report, request)


def served_as(model, revoked_items):
    """``model`` itself if it already filters exactly ``revoked_items``, else a served copy (the caller's model is
    left as it is)."""
    if np.array_equal(served_items(model), np.asarray(revoked_items, dtype=np.int64)):
        return model
    return serve(copy.deepcopy(model), revoked_items)


def unlearn_request(config, settings, methods, model, planned, lineage, parent, full_train, original_time,
                    several=False):
    """One request of a run: :func:`unlearn_and_audit`, then the first method's model saved with the lineage grown
    by this request, its manifest and the report; the table logged, the summary line returned (the CLI prints it)."""
    split, request = planned.split, planned.request
    getLogger().info(set_color(f"request #{planned.index}", "yellow") + f": {request.summary()}")
    done = unlearn_and_audit(config, settings, methods, model, split, original_time, planned.index,
                             refresh=settings.refresh_due(planned.index))
    stamp = f"{planned.index:03d}-{get_local_time()}"
    method = done.report["method"]
    name = f"{config['model']}-unlearned-{request.type}-{method}-{stamp}.pth"
    checkpoint = unused_path(os.path.join(config["checkpoint_dir"], name))
    report = {**done.report, "checkpoint": checkpoint}
    lineage = [*lineage, request_record(request, full_train, planned.index, done.request["interactions"])]
    report_file = report_path(config, request.type, stamp, planned.index if several else None)
    if is_main_process(config):  # the one process of a multi-process run that writes files
        save_unlearned(checkpoint, done.model, config, full_train, split, lineage, parent, method, done.request,
                       done.table[method])
        write_report(report, report_file)
    summary = summary_line(report, report_file)
    getLogger().info(set_color("unlearning audit", "yellow") + "\n" + comparison_table(done.table))
    return {"config": config, "model": done.model, "report": report, "report_file": report_file,
            "checkpoint": checkpoint, "lineage": lineage, "summary": summary}


def timed_method(name, model, split, config, settings, refresh, show_progress):
    """``(model, outcome, seconds)`` of one method, seeded from ``seed`` alone, with the stream's refresh if due."""
    init_seed(config["seed"], config["reproducibility"])  # each method's draws depend on the seed alone
    start = time.perf_counter()
    result, outcome = get_method(name)(model, split, config, show_progress)
    if refresh and outcome is not None:
        result = refresh_on_retain(result, split, config, settings.refresh_epochs, show_progress)
    return result, outcome, time.perf_counter() - start


def report_path(config, request_type, stamp, stream_index=None) -> str:
    """``report_file`` (with ``-<index>`` for each request of a stream), or a fresh name in ``checkpoint_dir``."""
    if not config["report_file"]:
        name = f"unlearn-{config['model']}-{config['dataset']}-{request_type}-{stamp}.json"
        return unused_path(os.path.join(config["checkpoint_dir"], name))
    path = Path(config["report_file"])
    return str(path.with_stem(f"{path.stem}-{stream_index:03d}")) if stream_index is not None else str(path)
