"""Train, evaluate, and (with ``forget_type`` set) unlearn and audit, callable from Python.

This is the package's own run loop: RecBole's ``recbole.quick_start`` imports ray at import time (broken on today's
setuptools) and unpickles its checkpoints, so it is never imported here.
"""

import os
import time
from pathlib import Path
from logging import getLogger

from recbole.utils import get_local_time, init_logger, init_seed, set_color

from recbole_unlearn.audit.audit import Audit, top_overlap
from recbole_unlearn.data.pairs import concat_pairs
from recbole_unlearn.audit.report import comparison_table, write_report
from recbole_unlearn.checkpoint import check_compatible, load_checkpoint, restore_model, save_checkpoint
from recbole_unlearn.config import Config
from recbole_unlearn.data import create_dataset, data_preparation, dataloaders
from recbole_unlearn.distributed import is_main_process
from recbole_unlearn.errors import InputError
from recbole_unlearn.registry import get_trainer


def load_data(model=None, dataset=None, config_file_list=None, config_dict=None, argv=None):
    """Config and train / valid / test dataloaders."""
    config = Config(model, dataset, config_file_list, config_dict, argv=argv)
    if config["forget_type"]:
        from recbole_unlearn.unlearn.rebind import check_unlearnable_type

        check_unlearnable_type(config)
    init_seed(config["seed"], config["reproducibility"])
    init_logger(config)
    getLogger().info(config)
    dataset = create_dataset(config)
    return config, data_preparation(config, dataset)


def build_model(config, train_data):
    """A freshly initialised model on the training data (seeded as RecBole does)."""
    init_seed(config["seed"] + config["local_rank"], config["reproducibility"])
    model = config.model_class(config, train_data._dataset).to(config["device"])
    getLogger().info(model)
    return model


def build_trainer(config, model):
    return get_trainer(config["MODEL_TYPE"], config["model"])(config, model)


def load_run(model=None, dataset=None, config_file_list=None, config_dict=None, argv=None):
    """Config, dataloaders, a freshly initialised model and its trainer, ready to ``fit``."""
    config, loaders = load_data(model, dataset, config_file_list, config_dict, argv)
    model = build_model(config, loaders[0])
    return config, loaders, model, build_trainer(config, model)


def run(model=None, dataset=None, config_file_list=None, config_dict=None, argv=None, saved=True):
    """Train with early stopping, evaluate on valid and test, log the results table.

    With ``forget_type`` set in the config, goes on to unlearn and audit (:func:`run_unlearning`).
    Returns a dict with ``config``, ``model``, ``trainer``, ``checkpoint`` (the saved file, or ``None``),
    ``best_valid_result`` and ``test_result`` (plus ``report`` when unlearning).
    """
    config, loaders = load_data(model, dataset, config_file_list, config_dict, argv)
    if config["forget_type"]:
        return run_unlearning(config, loaders)
    train_data, valid_data, test_data = loaders
    model = build_model(config, train_data)
    trainer = build_trainer(config, model)
    show = config["show_progress"]
    _, best_valid = trainer.fit(train_data, valid_data, saved=saved, show_progress=show)
    if saved and is_main_process(config):  # the root of any unlearning chain that starts from this checkpoint
        from recbole_unlearn.unlearn.lineage import write_manifest

        write_manifest(trainer.saved_model_file, None, [], config, train_data._dataset, method="train")
    test_result = trainer.evaluate(test_data, load_best_model=saved, show_progress=show)
    getLogger().info(set_color("results", "yellow") + "\n" + results_table({"valid": best_valid, "test": test_result}))
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


# ---------------------------------------------------------------------------------------------------------------------
def run_unlearning(config, loaders):
    """Requests -> (train or load) original -> for each request in order: unlearn with each configured method ->
    audit -> checkpoint, manifest and report.

    Everything the user gave is validated before any training: every request of the stream, the method names and
    knobs, the starting checkpoint. A starting checkpoint's lineage is replayed on the loaded data first, so what it
    forgot stays forgotten; a request already applied is skipped with a message and writes nothing.
    Returns the last applied request's result (``model``, ``report``, ``report_file``, ``checkpoint``) and ``steps``,
    one entry per request.
    """
    from recbole_unlearn.unlearn.lineage import replay, write_manifest
    from recbole_unlearn.unlearn.rebind import check_unlearnable, rebind_model
    from recbole_unlearn.unlearn.stream import plan_requests
    from recbole_unlearn.unlearn.trainer import check_unlearn_config

    logger = getLogger()
    train_data, valid_data, _ = loaders
    datasets = [loader._dataset for loader in loaders]
    methods = checked_methods(config)
    check_unlearn_config(config)
    model = build_model(config, train_data)
    check_unlearnable(model)
    state, lineage = None, []
    if config["checkpoint"]:  # read and check the starting checkpoint before anything is written
        state = load_checkpoint(config["checkpoint"], map_location=config["device"])
        check_compatible(state, config["checkpoint"], config["model"], datasets[0])
        lineage = state.get("lineage", [])
    base = replay(lineage, *datasets)
    plan = plan_requests(config, base, lineage)
    trainer = build_trainer(config, model)
    show = config["show_progress"]
    if state is not None:
        restore_model(model, state)
        original_time, parent = state.get("train_time_s"), config["checkpoint"]  # training time up to the saved epoch
        if lineage:
            model = rebind_model(model, config, base[0])
    else:
        start = time.perf_counter()
        trainer.fit(train_data, valid_data, saved=True, show_progress=show)
        original_time, parent = time.perf_counter() - start, trainer.saved_model_file
        trainer.load_checkpoint_file(parent, dataset=datasets[0])
        if is_main_process(config):
            write_manifest(parent, None, [], config, datasets[0], method="train")

    steps, last = [], {"config": config, "model": model, "report": None, "report_file": None, "checkpoint": None}
    for planned in plan:
        if planned.already_applied:
            logger.warning(
                f"request {planned.request.source} (sha256 {planned.request.sha256()[:12]}...) is already applied as "
                f"request #{planned.index}: nothing changed, nothing written"
            )
            steps.append({"request": planned.request.summary(), "already_applied_as": planned.index})
            continue
        last = unlearn_request(config, methods, model, planned, lineage, parent, datasets[0], original_time,
                               several=len(plan) > 1)
        model, parent, lineage = last["model"], last["checkpoint"], last["lineage"]
        steps.append({"request": planned.request.summary(), "index": planned.index, "checkpoint": parent,
                      "report_file": last["report_file"]})
    return {**last, "steps": steps}


def checked_methods(config):
    """``unlearn_method`` as a list, every name known."""
    from recbole_unlearn.unlearn.methods import METHODS

    methods = config["unlearn_method"]
    methods = [methods] if isinstance(methods, str) else list(methods)
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise InputError(f"unlearn_method '{unknown[0]}' is not one of {', '.join(METHODS)}")
    return methods


def unlearn_request(config, methods, model, planned, lineage, parent, full_train, original_time, several=False):
    """One request: each method from ``model`` (left unchanged), the audit, golds if asked; the first method's model
    is saved with the lineage grown by this request, its manifest and the report."""
    from recbole_unlearn.unlearn.lineage import request_record, write_manifest
    from recbole_unlearn.unlearn.methods import refresh_due, refresh_on_retain, unlearn_in_place

    logger = getLogger()
    split, request, show = planned.split, planned.request, config["show_progress"]
    logger.info(set_color(f"request #{planned.index}", "yellow") + f": {request.summary()}")
    refresh = refresh_due(config, planned.index)
    audit = Audit(split, config["topk"])
    table = {"original": {**audit.evaluate(model), "time_s": original_time}}
    valid_heldout = concat_pairs(split.retain_valid, split.forget_valid)
    unlearned = {}
    for method in methods:
        init_seed(config["seed"], config["reproducibility"])  # each method's draws depend on the seed alone
        start = time.perf_counter()
        if method == "retrain":
            result_model, outcome = retrain(config, split, config["seed"], show), None
        else:
            result_model, outcome = unlearn_in_place(method, config, model, split, valid_heldout, show)
            if refresh:
                result_model = refresh_on_retain(config, result_model, split, show)
        seconds = time.perf_counter() - start
        unlearned[method] = (result_model, outcome)
        table[method] = {**audit.evaluate(result_model), "time_s": seconds}
        if outcome is not None:
            table[method].update(stopped_by=outcome.stopped_by, passes=outcome.passes, refreshed=refresh)

    gold_models = []
    for extra_seed in range(int(config["unlearn_gold_seeds"]) if config["unlearn_gold"] else 0):
        start = time.perf_counter()
        gold = retrain(config, split, config["seed"] + extra_seed, show)
        name = "gold" if extra_seed == 0 else f"gold_seed{extra_seed + 1}"
        table[name] = {**audit.evaluate(gold), "time_s": time.perf_counter() - start}
        gold_models.append(gold)
    noise_floor = None
    if gold_models:
        gold_top = audit.top20(gold_models[0])
        for name, m in [("original", model), *((k, v[0]) for k, v in unlearned.items()), *(
            (f"gold_seed{k + 1}", g) for k, g in enumerate(gold_models) if k
        )]:
            table[name]["overlap_with_gold"] = top_overlap(audit.top20(m), gold_top)
        if len(gold_models) > 1:
            noise_floor = table["gold_seed2"]["overlap_with_gold"]

    primary = methods[0]
    primary_model, primary_outcome = unlearned[primary]
    stamp = f"{planned.index:03d}-{get_local_time()}"
    checkpoint = unused_path(os.path.join(config["checkpoint_dir"], f"{config['model']}-unlearned-{primary}-{stamp}.pth"))
    request_meta = {**request.summary(), "index": planned.index, "interactions": int(len(split.forget_train.inter_feat))}
    report = {
        "model": config["model"],
        "dataset": config["dataset"],
        "method": primary,
        "request": request_meta,
        "results": {"original": table["original"], "unlearned": table[primary], **({"gold": table["gold"]} if gold_models else {})},
        "speedup_vs_gold": (table["gold"]["time_s"] / table[primary]["time_s"]) if gold_models else None,
        "gold_noise_floor_overlap": noise_floor,
        "stopping": {
            "rule": primary_outcome.stopped_by if primary_outcome else "early_stopping",
            "passes": primary_outcome.passes if primary_outcome else None,
            "log": primary_outcome.log if primary_outcome else [],
        },
        "table": table,
        "checkpoint": checkpoint,
    }
    lineage = [*lineage, request_record(request, full_train, planned.index, request_meta["interactions"])]
    if is_main_process(config):  # the one process of a multi-process run that writes files
        save_checkpoint(
            checkpoint, primary_model, config, full_train, lineage=lineage,
            unlearning={"method": primary, "request": request_meta, "revoked_items": split.revoked_items.tolist()},
        )
        write_manifest(checkpoint, parent, lineage, config, split.retain_train, method=primary, audit=table[primary])
    report_file = config["report_file"] or unused_path(os.path.join(
        config["checkpoint_dir"], f"unlearn-{config['model']}-{config['dataset']}-{request.type}-{stamp}.json"
    ))
    if config["report_file"] and several:  # one report per request of a stream
        report_file = str(Path(report_file).with_stem(f"{Path(report_file).stem}-{planned.index:03d}"))
    if is_main_process(config):
        write_report(report, report_file)
    logger.info(set_color("unlearning audit", "yellow") + "\n" + comparison_table(table) + f"\nreport: {report_file}")
    return {"config": config, "model": primary_model, "report": report, "report_file": report_file,
            "checkpoint": checkpoint, "lineage": lineage}


def retrain(config, split, seed, show_progress=False):
    """Gold: a new model of the same class trained from scratch on the retain set (same config, given seed)."""
    from recbole_unlearn.unlearn.methods import config_with

    config = config_with(config, seed=seed)
    init_seed(seed, config["reproducibility"])
    train, valid, _ = dataloaders(config, [split.retain_train, split.retain_valid, split.retain_test])
    model = config.model_class(config, split.retain_train).to(config["device"])
    trainer = build_trainer(config, model)
    trainer.saved_model_file = unused_path(
        os.path.join(config["checkpoint_dir"], f"{config['model']}-gold-seed{seed}-{get_local_time()}.pth")
    )
    trainer.fit(train, valid, saved=True, show_progress=show_progress)
    trainer.load_checkpoint_file(trainer.saved_model_file, dataset=split.retain_train)
    return model


def unused_path(path) -> str:
    """``path``, or ``<stem>-2<suffix>``, ``-3``, ... if taken (time stamps have a one-second resolution)."""
    candidate, n = Path(path), 1
    while candidate.exists():
        n += 1
        candidate = Path(path).with_stem(f"{Path(path).stem}-{n}")
    return str(candidate)
