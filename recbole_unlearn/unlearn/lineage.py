"""Lineage: which requests a checkpoint has applied, in order, and the manifest that proves it.

An unlearned checkpoint carries ``lineage``, the list of every request applied since training, oldest first. Each
record holds the forget set itself in raw tokens (so a later run can replay it on freshly loaded data and the
forgotten data never comes back) and its sha256 (:meth:`ForgetRequest.sha256`, over internal ids)::

    {"index": 2, "type": "user", "modality": None, "source": "b.csv", "sha256": "...",
     "users": ["196", "305"], "items": [], "interactions": 41}

Beside each checkpoint ``X.pth`` a manifest ``X.manifest.json`` records the sha256 of the checkpoint file, its parent
checkpoint (path relative to the manifest and sha256), the requests, cumulative counts by type, the sha256 of the
retained training pairs, the method, seed, full config, package versions and the audit row of the unlearned model.
:mod:`recbole_unlearn.verify` checks a checkpoint against this chain.
"""

import hashlib
import json
import platform
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np

from recbole_unlearn.atomic import file_sha256, write_json
from recbole_unlearn.checkpoint import plain, save_checkpoint
from recbole_unlearn.data.pairs import pair_keys, pairs
from recbole_unlearn.data.request import ForgetRequest
from recbole_unlearn.data.request_type import RequestType
from recbole_unlearn.data.split import split_datasets
from recbole_unlearn.errors import InputError

MANIFEST_FORMAT = "recbole_unlearn-manifest/1"
RECORD_KEYS = ("index", "type", "modality", "source", "sha256", "interactions")


# ---- request records ------------------------------------------------------------------------------------------------
def request_record(request: ForgetRequest, dataset, index: int, interactions: int) -> dict:
    """The lineage record of ``request`` (ids of ``dataset`` written as raw tokens)."""
    user_tokens = dataset.field2id_token[dataset.uid_field]
    item_tokens = dataset.field2id_token[dataset.iid_field]
    return {
        "index": int(index),
        "type": str(request.type),
        "modality": request.modality,
        "source": request.source,
        "sha256": request.sha256(),
        "users": [str(t) for t in user_tokens[request.users]],
        "items": [str(t) for t in item_tokens[request.items]],
        "interactions": int(interactions),
    }


def request_from_record(record: dict, dataset) -> ForgetRequest:
    """The request a lineage record describes, in ``dataset``'s ids; refused if its forget set no longer hashes to
    the recorded sha256 (an edited record)."""
    ids = []
    for field, key in ((dataset.uid_field, "users"), (dataset.iid_field, "items")):
        token_to_id = dataset.field2token_id[field]
        unknown = [t for t in record[key] if t not in token_to_id]
        if unknown:
            raise InputError(
                f"lineage request #{record['index']}: unknown {field} token {unknown[0]} in its forget set"
            )
        ids.append(np.array([token_to_id[t] for t in record[key]], dtype=np.int64))
    request = ForgetRequest(record["type"], ids[0], ids[1], record["modality"], record["source"])
    if request.sha256() != record["sha256"]:
        raise InputError(
            f"lineage request #{record['index']} ({record['source']}): its forget set does not hash to the recorded "
            f"sha256 {record['sha256'][:12]}... (edited?)"
        )
    return request


def replay(records, train, valid, test):
    """``(train, valid, test)`` with every recorded request applied in order: the cumulative retain set."""
    for record in records:
        split = split_datasets(request_from_record(record, train), train, valid, test)
        train, valid, test = split.retain_train, split.retain_valid, split.retain_test
    return train, valid, test


def revoked_by(records, dataset) -> np.ndarray:
    """Every item an item request in ``records`` revoked (never to be recommended again), as ids of ``dataset``."""
    token_to_id = dataset.field2token_id[dataset.iid_field]
    revoked = [token_to_id[t] for r in records if r["type"] == RequestType.ITEM for t in r["items"]]
    return np.unique(np.array(revoked, dtype=np.int64))


def cumulative_counts(records) -> dict:
    """What the chain has forgotten so far, by request type."""
    counts = {
        "requests": len(records),
        "users": 0,
        "interactions_requested": 0,
        "items": 0,
        "modality_rows": 0,
        "interactions_removed": 0,
    }
    counted = {RequestType.USER: ("users", "users"), RequestType.INTERACTION: ("interactions_requested", "users"),
               RequestType.ITEM: ("items", "items"), RequestType.MODALITY: ("modality_rows", "items")}
    for r in records:
        counts["interactions_removed"] += r["interactions"]
        key, ids = counted[RequestType(r["type"])]
        counts[key] += len(r[ids])
    return counts


# ---- hashes ---------------------------------------------------------------------------------------------------------
def pairs_sha256(dataset) -> str:
    """sha256 of the set of (user, item) id pairs of ``dataset``'s interactions (order-free)."""
    keys = np.sort(pair_keys(*pairs(dataset), dataset.item_num))
    return hashlib.sha256(keys.tobytes()).hexdigest()


# ---- manifests ------------------------------------------------------------------------------------------------------
def manifest_path(checkpoint) -> Path:
    return Path(checkpoint).with_suffix(".manifest.json")


def package_versions() -> dict:
    versions = {"python": platform.python_version()}
    for name in ("recbole_unlearn", "recbole", "torch", "torch_geometric", "numpy"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


@dataclass(frozen=True)
class Provenance:
    """Where a checkpoint comes from: the training dataset as loaded (its token maps fingerprint the checkpoint),
    the lineage (every request applied, the newest last; empty for a trained model), the parent checkpoint (``None``
    for a root) and the method that made it (``train`` for a root)."""

    full_train: object
    lineage: list
    parent: str = None
    method: str = "train"


def write_manifest(checkpoint, config, provenance, retain_train, audit=None) -> Path:
    """Write the manifest of ``checkpoint`` (already on disk) atomically beside it; returns its path."""
    checkpoint, records = Path(checkpoint), provenance.lineage
    parent_entry = None
    if provenance.parent is not None:
        parent = Path(provenance.parent)
        try:
            shown = str(parent.resolve().relative_to(checkpoint.parent.resolve()))
        except ValueError:
            shown = str(parent.resolve())
        parent_entry = {"checkpoint": shown, "sha256": file_sha256(parent)}
    manifest = {
        "format": MANIFEST_FORMAT,
        "checkpoint": checkpoint.name,
        "checkpoint_sha256": file_sha256(checkpoint),
        "parent": parent_entry,
        "requests": [{k: r[k] for k in RECORD_KEYS} for r in records],
        "cumulative": cumulative_counts(records),
        "retain_train_sha256": pairs_sha256(retain_train),
        "retain_train_interactions": len(retain_train.inter_feat),
        "model": config["model"],
        "dataset": config["dataset"],
        "method": provenance.method,
        "seed": config["seed"],
        "audit": plain(audit),
        "versions": package_versions(),
        "config": plain(config.final_config_dict),
    }
    path = manifest_path(checkpoint)
    write_json(path, manifest, indent=1)
    return path


def read_manifest(checkpoint) -> dict:
    """The manifest beside ``checkpoint``; a missing or unreadable one gives one clear line."""
    path = manifest_path(checkpoint)
    if not path.is_file():
        raise InputError(f"checkpoint {checkpoint}: no manifest {path.name} beside it")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"manifest {path}: not readable JSON ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise InputError(f"manifest {path}: not a recbole_unlearn manifest (format {MANIFEST_FORMAT} expected)")
    return manifest


# ---- unlearned checkpoints ------------------------------------------------------------------------------------------
def save_unlearned(path, model, config, provenance, split, audit) -> Path:
    """Write an unlearned checkpoint (its lineage, method, request and the items its serving filter blocks inside)
    and its manifest beside it; ``provenance.lineage`` ends with this request's record, ``audit`` is the unlearned
    model's audit row."""
    request = split.summary(provenance.lineage[-1]["index"])
    unlearning = {"method": provenance.method, "request": request, "revoked_items": split.blocked_items.tolist()}
    save_checkpoint(path, model, config, provenance.full_train, lineage=provenance.lineage, unlearning=unlearning)
    return write_manifest(path, config, provenance, split.retain_train, audit=audit)
