"""Unlearning from Python: ``unlearn(model_or_checkpoint, request)`` and ``audit(model, split)``.

    model, report = recbole_unlearn.unlearn("saved/LightGCN-....pth", "examples/requests/ml-100k/user.csv")

Nothing is written unless asked (``save_to`` for the unlearned checkpoint and its manifest, the ``report_file`` key
for the report); RecBole's run log aside. The per-type defaults (``unlearn_defaults`` in ``properties/overall.yaml``)
apply to every key the caller does not set, as on the command line.
"""

import os

import pandas as pd

from recbole_unlearn.audit.attacker import LearnedAttacker
from recbole_unlearn.audit.audit import Audit
from recbole_unlearn.audit.report import write_report
from recbole_unlearn.checkpoint import load_checkpoint
from recbole_unlearn.config import config_with, with_request_defaults
from recbole_unlearn.config_keys import check_keys
from recbole_unlearn.data import built_datasets, create_dataset
from recbole_unlearn.data.readers import Table, read_table
from recbole_unlearn.data.request import (
    ForgetRequest,
    request_from_table,
    request_type_of,
    sample_request,
    validate_request,
)
from recbole_unlearn.data.split import split_datasets
from recbole_unlearn.errors import InputError
from recbole_unlearn.loading import load_datasets_and_model
from recbole_unlearn.model.serving import revoked_items
from recbole_unlearn.quick_start import unlearn_and_audit
from recbole_unlearn.unlearn.lineage import request_record, save_unlearned
from recbole_unlearn.unlearn.methods import method_names
from recbole_unlearn.unlearn.settings import UnlearnSettings


def unlearn(model_or_checkpoint, request, config_dict=None, config=None, save_to=None):
    """Make a model forget one request; returns ``(model, report)``.

    Args:
        model_or_checkpoint: a checkpoint of this package (its lineage is replayed first, as in serving), or a trained
            model object, with the ``config`` it was built with.
        request: a CSV path of raw tokens, a ``pandas.DataFrame`` of raw tokens (columns as in a request CSV), or a
            :class:`~recbole_unlearn.data.request.ForgetRequest` (internal ids). The request type is ``forget_type``
            in ``config_dict`` or, for a table, what its columns name (``user_id``: user; with ``item_id``:
            interaction; ``item_id``: item; ``item_id`` + ``modality``: modality).
        config_dict: config keys for this request (method, settings, ``unlearn_gold``, ``report_file``, ...), and
            for a checkpoint the keys to load it with (e.g. ``data_path``).
        config: the model's config, for a model object.
        save_to: where to write the unlearned checkpoint and its manifest (nothing is saved without it).

    Returns:
        The unlearned model (rebound to the retain set, serving filter installed) and the report dict of the audit
        (``results`` for ``original``, ``unlearned`` and, with ``unlearn_gold``, ``gold``).
    """
    config_dict = dict(config_dict or {})
    check_keys(config_dict)  # a typo refused before anything is read
    state, parent = None, None
    if isinstance(model_or_checkpoint, (str, os.PathLike)):
        parent = str(model_or_checkpoint)
        state = load_checkpoint(parent)
        config, model, _, base = load_datasets_and_model(parent, **config_dict)
    elif config is None:
        raise InputError("unlearn: a model object needs the config it was built with (config=...)")
    else:
        model, base = model_or_checkpoint, built_datasets(config, create_dataset(config))
    given = request if request is None or isinstance(request, ForgetRequest) else _table(request)
    kind = config_dict.get("forget_type") or _request_type(given, base[0])
    config = with_request_defaults(config_with(config, **config_dict), kind, given=config_dict)
    settings, methods = UnlearnSettings.from_config(config), method_names(config)
    path = str(request) if isinstance(request, (str, os.PathLike)) else None
    forget = to_request(given, kind, base[0], config, source=path)
    validate_request(forget, base[0])
    lineage = state.get("lineage", []) if state else []
    split = split_datasets(forget, *base, revoked_before=revoked_items(model))
    done = unlearn_and_audit(config, settings, methods, model, split, state.get("train_time_s") if state else None,
                             index=len(lineage) + 1)
    report = {**done.report, "checkpoint": str(save_to) if save_to else None}
    if save_to:
        lineage = [*lineage, request_record(forget, base[0], len(lineage) + 1, done.request["interactions"])]
        save_unlearned(save_to, done.model, config, base[0], split, lineage, parent, report["method"], done.request,
                       done.table[report["method"]])
    if config["report_file"]:
        write_report(report, str(config["report_file"]))
    return done.model, report


def audit(model, split, topk=(10, 20), attacker=LearnedAttacker()) -> dict:
    """The audit row of ``model`` (as served) on a :class:`~recbole_unlearn.data.split.ForgetSplit`, with the learned
    attacker (``attacker=None``: the threshold attack alone)."""
    return Audit(split, topk, attacker).evaluate(model)


def to_request(request, kind, dataset, config, source=None) -> ForgetRequest:
    """``request`` (a :class:`~recbole_unlearn.data.readers.Table` of raw tokens, a :class:`ForgetRequest`, or
    ``None`` for the config's sampled request) as a :class:`ForgetRequest` of ``kind`` in ``dataset``'s ids;
    ``source`` names a table's origin in the lineage (default: its label)."""
    if isinstance(request, ForgetRequest):
        if request.type != kind:
            raise InputError(f"unlearn: the request is a {request.type} request, forget_type says {kind}")
        return request
    if request is None:
        return sample_request(dataset, kind, config["forget_ratio"], config["forget_seed"], config["forget_strategy"],
                              config["forget_modality"])
    return request_from_table(request, kind, dataset, config["forget_modality"], source or request.source)


def _table(request) -> Table:
    """A request given as a CSV path or a DataFrame, as a table of raw tokens."""
    if isinstance(request, pd.DataFrame):
        rows = [[str(value).strip() for value in row] for row in request.itertuples(index=False)]
        return Table("request DataFrame", tuple(str(c) for c in request.columns), rows)
    if isinstance(request, (str, os.PathLike)):
        return read_table(request, source=f"forget_file {request}")
    raise InputError(f"unlearn: a request is a CSV path, a DataFrame or a ForgetRequest, got {type(request).__name__}")


def _request_type(request, dataset) -> str:
    if isinstance(request, ForgetRequest):
        return request.type
    if request is None:
        raise InputError("unlearn: no request given: pass one, or forget_type and forget_ratio in config_dict")
    return request_type_of(request.header, dataset)
