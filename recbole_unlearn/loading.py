"""Loading a checkpoint for serving: RecBole's ``load_data_and_model``, without ray and without unpickling.

The checkpoint is read with ``torch.load(weights_only=True)`` and checked against the data as loaded now (model,
dataset, token-map fingerprints). Its lineage is replayed, so the retain set is the one it was unlearned on; the model
is rebound to that retain set, and the serving filter of every item its lineage revoked is installed in the model
(:func:`recbole_unlearn.model.serving.serve`): ``predict``, ``full_sort_predict`` and RecBole's
``recbole.utils.case_study.full_sort_topk`` never return a revoked item, whoever calls them.
"""

from recbole_unlearn.checkpoint import check_compatible, load_checkpoint, restore_model
from recbole_unlearn.data import built_datasets, create_dataset, dataloaders
from recbole_unlearn.model.serving import serve
from recbole_unlearn.quick_start import load_config
from recbole_unlearn.registry import build_model
from recbole_unlearn.unlearn.lineage import replay, revoked_by
from recbole_unlearn.unlearn.rebind import rebind_model

# keys of the run that wrote a checkpoint that do not describe its data or model: a load does not replay them
RUN_ONLY_PREFIXES = ("forget_", "unlearn_")
RUN_ONLY_KEYS = {
    "checkpoint", "report_file", "dry_run", "retain_weight", "nproc", "world_size", "ip", "port", "offset",
    "group_offset", "local_rank", "gpu_id", "use_gpu", "device",
}


def replayed_config(meta) -> dict:
    """The keys the user set for the run that wrote a checkpoint, without those of the run itself (none for a
    checkpoint written before they were recorded: the caller passes them again)."""
    given = meta.get("given_config") or {}
    return {
        key: value for key, value in given.items()
        if key not in RUN_ONLY_KEYS and not key.startswith(RUN_ONLY_PREFIXES) and key not in ("model", "dataset")
    }


def load_datasets_and_model(checkpoint, model=None, **overrides):
    """``(config, model, dataset, [train, valid, test])``: :func:`load_data_and_model` with the retain set's datasets
    in place of dataloaders, for work that reads the data only (unlearning, recommending, verifying)."""
    state = load_checkpoint(checkpoint)
    meta = state["meta"]
    config_dict = {**replayed_config(meta), **overrides}
    config = load_config(model or meta["model"], meta["dataset"], config_dict=config_dict, argv=[])
    dataset = create_dataset(config)
    full = built_datasets(config, dataset)
    check_compatible(state, checkpoint, config["model"], full[0])
    lineage = state.get("lineage", [])
    retain = replay(lineage, *full)
    net = restore_model(build_model(config, full[0]), state)
    if lineage:
        net = rebind_model(net, config, retain[0])
    serve(net, revoked_by(lineage, full[0])).eval()
    return config, net, dataset, list(retain)


def load_data_and_model(checkpoint, model=None, **overrides):
    """``(config, model, dataset, train_data, valid_data, test_data)`` of ``checkpoint``, as RecBole's function of the
    same name returns them, ready to serve.

    Args:
        checkpoint: a checkpoint of this package (trained or unlearned, any model).
        model: the model class, for a class of your own project (the checkpoint names it, RecBole cannot find it).
        overrides: config keys that replace those the checkpoint was written with (e.g. ``data_path``).

    Returns:
        ``config``; ``model``: the checkpoint's weights, rebound to the retain set its lineage leaves, in eval mode,
        with the serving filter installed; ``dataset``: the dataset as loaded from the files; ``train_data``,
        ``valid_data``, ``test_data``: dataloaders of the retain set (evaluation masks retained history).
    """
    config, net, dataset, retain = load_datasets_and_model(checkpoint, model, **overrides)
    return (config, net, dataset, *dataloaders(config, retain))
