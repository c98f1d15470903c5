"""``verify``: check an unlearned checkpoint against its chain, its data and its audit.

    python run_recbole_unlearn.py verify CHECKPOINT [--key=value ...]

Model and dataset come from the manifest unless given; the other keys the run that wrote it was given (``data_path``,
...) are replayed from the checkpoint unless given again.
Four checks, the first failure ends in one line naming the file at fault:

1. chain: each checkpoint from this one back to the root hashes to the sha256 its manifest, and its child's manifest,
   recorded; each manifest's requests are its parent's plus one;
2. lineage: the checkpoint's request records are the manifest's and still hash to their recorded sha256;
3. data: replaying the lineage on the data as loaded now gives exactly the retained training pairs recorded when the
   checkpoint was written, and none of them is a forgotten interaction;
4. audit: the model, rebound to that retain set and served with its filter, scores the last request's audit metrics
   as recorded.
"""

import math
from pathlib import Path

from recbole_unlearn.atomic import file_sha256
from recbole_unlearn.audit.audit import Audit
from recbole_unlearn.checkpoint import check_compatible, load_checkpoint, restore_model
from recbole_unlearn.config_keys import yaml_keys
from recbole_unlearn.data.request import forget_mask
from recbole_unlearn.data.split import split_datasets
from recbole_unlearn.errors import InputError
from recbole_unlearn.loading import replayed_config
from recbole_unlearn.model.serving import serve
from recbole_unlearn.quick_start import load_datasets
from recbole_unlearn.registry import build_model
from recbole_unlearn.unlearn.lineage import (
    manifest_path,
    pairs_sha256,
    read_manifest,
    replay,
    request_from_record,
    revoked_by,
)
from recbole_unlearn.unlearn.rebind import rebind_model

AUDIT_TOLERANCE = 1e-6  # scores are recomputed on the same CPU build; anything beyond float noise is a mismatch


def check_chain(checkpoint) -> list:
    """``[(path, manifest), ...]`` from ``checkpoint`` back to the root of its chain."""
    path, chain = Path(checkpoint), []
    while True:
        if not path.is_file():
            raise InputError(f"checkpoint {path}: no such file")
        manifest = read_manifest(path)
        if file_sha256(path) != manifest["checkpoint_sha256"]:
            raise InputError(f"checkpoint {path}: sha256 differs from its manifest's (modified after it was written)")
        chain.append((path, manifest))
        parent = manifest["parent"]
        if parent is None:
            return chain
        parent_path = path.parent / parent["checkpoint"]
        if not parent_path.is_file():
            raise InputError(
                f"manifest {manifest_path(path)}: parent checkpoint {parent_path} is missing (broken chain)"
            )
        if file_sha256(parent_path) != parent["sha256"]:
            raise InputError(
                f"checkpoint {parent_path}: sha256 differs from the one {path.name} recorded for its parent"
            )
        if not manifest_path(parent_path).is_file():  # trained elsewhere: a root, if it applied no request
            if manifest["requests"][:-1] or load_checkpoint(parent_path).get("lineage"):
                raise InputError(f"checkpoint {parent_path}: no manifest beside it, and it is not the chain's root")
            return chain
        parent_requests = read_manifest(parent_path)["requests"]
        if manifest["requests"][:-1] != parent_requests or len(manifest["requests"]) != len(parent_requests) + 1:
            raise InputError(f"manifest {manifest_path(path)}: its requests do not extend its parent's by one")
        path = parent_path


def verify_checkpoint(checkpoint, model=None, dataset=None, config_file_list=None, config_dict=None, argv=None) -> dict:
    """Run the four checks; returns a summary (``chain``, ``requests``, ``retain_train_interactions``, ``audit``)."""
    chain = check_chain(checkpoint)
    manifest = chain[0][1]
    state = load_checkpoint(checkpoint)
    lineage = state.get("lineage", [])
    if [r["sha256"] for r in lineage] != [r["sha256"] for r in manifest["requests"]]:
        raise InputError(f"checkpoint {checkpoint}: its lineage differs from the requests its manifest lists")
    # the keys the checkpoint was written with, unless given again (in a file, the dict or the command line)
    in_files = yaml_keys([path for path in config_file_list or [] if Path(path).is_file()])
    replayed = {k: v for k, v in replayed_config(state["meta"]).items() if k not in in_files}
    config, datasets = load_datasets(
        model or manifest["model"],
        dataset or manifest["dataset"],
        config_file_list,
        {**replayed, **(config_dict or {})},
        argv if argv is not None else [],
    )
    check_compatible(state, checkpoint, config["model"], datasets[0])
    split = last_split(lineage, datasets)
    retain_train = split.retain_train if split else datasets[0]
    check_retain_set(checkpoint, manifest, lineage, retain_train)
    audit = {}
    if split is not None:
        net = restore_model(build_model(config, datasets[0]), state)
        served = serve(rebind_model(net, config, retain_train), split.blocked_items)
        audit = Audit(split, config["topk"]).evaluate(served)
        check_audit(checkpoint, audit, manifest["audit"] or {})
    return {
        "checkpoint": str(checkpoint),
        "chain": [str(path) for path, _ in chain],
        "requests": [{k: r[k] for k in ("index", "type", "source", "sha256", "interactions")} for r in lineage],
        "retain_train_interactions": int(len(retain_train.inter_feat)),
        "audit": audit,
    }


def last_split(lineage, datasets):
    """The forget / retain split of the lineage's last request, from the retain set the earlier ones leave
    (``None`` for an empty lineage)."""
    if not lineage:
        return None
    before = replay(lineage[:-1], *datasets)
    request = request_from_record(lineage[-1], datasets[0])
    return split_datasets(request, *before, revoked_before=revoked_by(lineage[:-1], datasets[0]))


def check_retain_set(checkpoint, manifest, lineage, retain_train):
    """The replayed retain set is the one recorded, and holds no interaction of any request of the lineage."""
    if pairs_sha256(retain_train) != manifest["retain_train_sha256"]:
        raise InputError(
            f"checkpoint {checkpoint}: the retain set replayed from its lineage differs from the one recorded "
            "(data files or filtering changed since)"
        )
    for record in lineage:
        request = request_from_record(record, retain_train)
        leaked = int(forget_mask(request, retain_train.inter_feat, retain_train).sum())
        if leaked:
            raise InputError(
                f"checkpoint {checkpoint}: {leaked} interactions of request #{record['index']} are in its training data"
            )


def check_audit(checkpoint, audit, recorded_audit):
    """Every recorded audit number (floats; both NaN, or a missing value recorded as null, agree) is reproduced."""
    for key, recorded in recorded_audit.items():
        recorded = math.nan if recorded is None else recorded  # strict JSON writes a NaN as null
        now = audit.get(key)
        if not (isinstance(recorded, float) and isinstance(now, float)) or (math.isnan(now) and math.isnan(recorded)):
            continue
        if not math.isclose(now, recorded, abs_tol=AUDIT_TOLERANCE):
            raise InputError(
                f"checkpoint {checkpoint}: audit does not reproduce: {key} {now:.6f}, recorded {recorded:.6f}"
            )


def summary_line(result: dict) -> str:
    audit = result["audit"]
    shown = ", ".join(
        f"{k} {audit[k]:.4f}"
        for k in ("retain_recall@20", "forget_recall@20", "mia_auc")
        if isinstance(audit.get(k), float)
    )
    return (
        f"verified {result['checkpoint']}: chain of {len(result['chain'])} checkpoint(s), "
        f"{len(result['requests'])} request(s), retain set of {result['retain_train_interactions']} interactions "
        f"matches the manifest" + (f"; audit reproduced ({shown})" if shown else "")
    )
