"""Unlearning from Python: ``unlearn(model_or_checkpoint, request)`` and ``audit_model(model, split)``.

    model, report = recbole_unlearn.unlearn("saved/LightGCN-....pth", "examples/requests/ml-100k/user.csv")

Nothing is written unless asked (``save_to`` for the unlearned checkpoint and its manifest, the ``report_file`` key
for the report); RecBole's run log aside. One request goes through the same pipeline as on the command line
(:func:`recbole_unlearn.pipeline.apply_request`), its type's recipe (``unlearn_defaults``) filling every key the
caller does not set.
"""

import os

import pandas as pd

from recbole_unlearn.audit.attacker import LearnedAttacker
from recbole_unlearn.audit.audit import Audit
from recbole_unlearn.checkpoint import load_checkpoint
from recbole_unlearn.config import config_with
from recbole_unlearn.config_keys import check_keys, resolve_aliases
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
from recbole_unlearn.model.serving import filtered_items
from recbole_unlearn.pipeline import Chain, ChosenOutputs, RequestJob, apply_request
from recbole_unlearn.unlearn.stream import PlannedRequest


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
    config_dict = resolve_aliases(config_dict)
    model, config, base, state = _starting_point(model_or_checkpoint, config, config_dict)
    given = request if request is None or isinstance(request, ForgetRequest) else _table(request)
    kind = config_dict.get("forget_type") or _request_type(given, base[0])
    job = RequestJob.for_request(config_with(config, **config_dict), kind)  # the caller's keys win over the recipe
    path = str(request) if isinstance(request, (str, os.PathLike)) else None
    forget = to_request(given, kind, base[0], job.config, source=path)
    validate_request(forget, base[0], base[1:], job.config["forget_allow_unmatched"])
    lineage = state.get("lineage", []) if state else []
    split = split_datasets(forget, *base, revoked_before=filtered_items(model))
    parent = str(model_or_checkpoint) if state else None
    chain = Chain(lineage, parent, base[0])
    outputs = ChosenOutputs(str(save_to) if save_to else None, job.config["report_file"])
    job = job.with_original_time(state.get("train_time_s") if state else None)
    applied = apply_request(job, model, PlannedRequest(len(lineage) + 1, forget, split), chain, outputs)
    return applied.model, applied.report


def _starting_point(model_or_checkpoint, config, config_dict) -> tuple:
    """``(model, config, [train, valid, test], checkpoint state or None)`` for a checkpoint (its lineage replayed)
    or a model object with its config."""
    if isinstance(model_or_checkpoint, (str, os.PathLike)):
        state = load_checkpoint(str(model_or_checkpoint))
        config, model, _, base = load_datasets_and_model(str(model_or_checkpoint), **config_dict)
        return model, config, base, state
    if config is None:
        raise InputError("unlearn: a model object needs the config it was built with (config=...)")
    return model_or_checkpoint, config, built_datasets(config, create_dataset(config)), None


def audit_model(model, split, topk=(10, 20), attacker=LearnedAttacker()) -> dict:
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
        return Table.from_frame(request, "request DataFrame")
    if isinstance(request, (str, os.PathLike)):
        return read_table(request, source=f"forget_file {request}")
    raise InputError(f"unlearn: a request is a CSV path, a DataFrame or a ForgetRequest, got {type(request).__name__}")


def _request_type(request, dataset) -> str:
    if isinstance(request, ForgetRequest):
        return request.type
    if request is None:
        raise InputError("unlearn: no request given: pass one, or forget_type and forget_ratio in config_dict")
    return request_type_of(request.header, dataset)
