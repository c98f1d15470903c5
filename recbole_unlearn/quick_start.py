"""Train, evaluate, and (with ``forget_type`` set) unlearn and audit, callable from Python.

This is the package's own run loop: RecBole's ``recbole.quick_start`` imports ray at import time (broken on today's
setuptools) and unpickles its checkpoints, so it is never imported here.
"""

import os
import time
from logging import getLogger

from recbole.utils import get_local_time, init_logger, init_seed, set_color

from recbole_unlearn.audit.audit import Audit, concat_pairs, top_overlap
from recbole_unlearn.audit.report import comparison_table, write_report
from recbole_unlearn.checkpoint import check_compatible, load_checkpoint, restore_model, save_checkpoint
from recbole_unlearn.config import Config
from recbole_unlearn.data import create_dataset, data_preparation, dataloaders
from recbole_unlearn.errors import UnlearnError
from recbole_unlearn.registry import get_trainer


def load_data(model=None, dataset=None, config_file_list=None, config_dict=None, argv=None):
    """Config and train / valid / test dataloaders."""
    config = Config(model, dataset, config_file_list, config_dict, argv=argv)
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
    """Request -> (train or load) original -> unlearn with each configured method -> audit -> report and checkpoint.

    Everything the user gave is validated before any training: the request, the method names and knobs, the
    starting checkpoint.
    """
    from recbole_unlearn.unlearn.methods import METHODS, unlearn_in_place
    from recbole_unlearn.unlearn.rebind import check_unlearnable
    from recbole_unlearn.unlearn.request import request_from_config
    from recbole_unlearn.unlearn.split import split_datasets
    from recbole_unlearn.unlearn.trainer import check_unlearn_config

    logger = getLogger()
    train_data, valid_data, test_data = loaders
    methods = config["unlearn_method"]
    methods = [methods] if isinstance(methods, str) else list(methods)
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise UnlearnError(f"unlearn_method '{unknown[0]}' is not one of {', '.join(METHODS)}")
    check_unlearn_config(config)
    request = request_from_config(config, train_data._dataset)
    split = split_datasets(request, train_data._dataset, valid_data._dataset, test_data._dataset)
    model = build_model(config, train_data)
    check_unlearnable(model)
    if config["checkpoint"]:  # read and check the starting checkpoint before anything is written
        state = load_checkpoint(config["checkpoint"], map_location=config["device"])
        check_compatible(state, config["checkpoint"], config["model"], train_data._dataset)
    trainer = build_trainer(config, model)
    show = config["show_progress"]
    if config["checkpoint"]:
        restore_model(model, state)
        original_time = state.get("train_time_s")  # training time up to the saved epoch
    else:
        start = time.perf_counter()
        trainer.fit(train_data, valid_data, saved=True, show_progress=show)
        original_time = time.perf_counter() - start
        trainer.load_checkpoint_file(trainer.saved_model_file, dataset=train_data._dataset)
    logger.info(set_color("request", "yellow") + f": {request.summary()}")

    audit = Audit(split, config["topk"])
    table = {"original": {**audit.evaluate(model), "time_s": original_time}}
    valid_heldout = concat_pairs(split.retain_valid, split.forget_valid)
    unlearned = {}
    for method in methods:
        start = time.perf_counter()
        if method == "retrain":
            result_model, outcome = retrain(config, split, config["seed"], show), None
        else:
            result_model, outcome = unlearn_in_place(method, config, model, split, valid_heldout, show)
        seconds = time.perf_counter() - start
        unlearned[method] = (result_model, outcome)
        table[method] = {**audit.evaluate(result_model), "time_s": seconds}
        if outcome is not None:
            table[method].update(stopped_by=outcome.stopped_by, passes=outcome.passes)

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
    checkpoint = os.path.join(config["checkpoint_dir"], f"{config['model']}-unlearned-{primary}-{get_local_time()}.pth")
    request_meta = {**request.summary(), "interactions": int(len(split.forget_train.inter_feat))}
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
    save_checkpoint(
        checkpoint, primary_model, config, train_data._dataset,
        unlearning={"method": primary, "request": request_meta, "revoked_items": split.revoked_items.tolist()},
    )
    report_file = config["report_file"] or os.path.join(
        config["checkpoint_dir"], f"unlearn-{config['model']}-{config['dataset']}-{request.type}-{get_local_time()}.json"
    )
    write_report(report, report_file)
    logger.info(set_color("unlearning audit", "yellow") + "\n" + comparison_table(table) + f"\nreport: {report_file}")
    return {"config": config, "model": primary_model, "report": report, "report_file": report_file, "checkpoint": checkpoint}


def retrain(config, split, seed, show_progress=False):
    """Gold: a new model of the same class trained from scratch on the retain set (same config, given seed)."""
    from recbole_unlearn.unlearn.methods import config_with

    config = config_with(config, seed=seed)
    init_seed(seed, config["reproducibility"])
    train, valid, _ = dataloaders(config, [split.retain_train, split.retain_valid, split.retain_test])
    model = config.model_class(config, split.retain_train).to(config["device"])
    trainer = build_trainer(config, model)
    trainer.saved_model_file = os.path.join(config["checkpoint_dir"], f"{config['model']}-gold-seed{seed}-{get_local_time()}.pth")
    trainer.fit(train, valid, saved=True, show_progress=show_progress)
    trainer.load_checkpoint_file(trainer.saved_model_file, dataset=split.retain_train)
    return model
