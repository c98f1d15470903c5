"""Checkpoints that never need unpickling: tensors in a state_dict plus plain metadata.

A checkpoint is a dict of tensors, numbers, strings, lists and dicts only, so it loads with
``torch.load(weights_only=True)``. Its ``meta`` names the model and dataset and carries a sha256 of the user and item
token maps, so a checkpoint from another dataset, another model or another id space is refused before any weight is
touched. For a dataset with modality features it also records the normalisation applied to them (``feature_norm``,
``{modality: [step, ...]}``), among the keys replayed on load too: a loaded model sees the features it was trained on,
whatever the defaults are by then, and one loaded on features normalised otherwise is refused. Files are written
atomically (temporary file in the same folder, then rename).
"""

import enum
import hashlib
import os

import torch

from recbole_unlearn.atomic import atomic_write
from recbole_unlearn.errors import InputError
from recbole_unlearn.scoring import clear_cached_embeddings

FORMAT = "recbole_unlearn/1"


def plain(value):
    """``value`` reduced to what ``weights_only`` loading accepts: JSON-like containers, numbers, strings, tensors."""
    if isinstance(value, str):
        return str(value)  # a string enum's value, as a plain string
    if isinstance(value, (int, float, bool)) or value is None or isinstance(value, torch.Tensor):
        return value
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [plain(v) for v in value]
    return str(value)


def token_map_sha256(dataset, field) -> str:
    """sha256 of a field's id -> token map (the order matters: it fixes which embedding row is which token)."""
    tokens = dataset.field2id_token[field]
    return hashlib.sha256("\x1f".join(map(str, tokens)).encode()).hexdigest()


def dataset_fingerprint(dataset) -> dict:
    """What a checkpoint must agree with to be loaded into a model built on ``dataset``."""
    return {
        "dataset": dataset.dataset_name,
        "n_users": int(dataset.user_num),
        "n_items": int(dataset.item_num),
        "user_tokens_sha256": token_map_sha256(dataset, dataset.uid_field),
        "item_tokens_sha256": token_map_sha256(dataset, dataset.iid_field),
    }


def applied_feature_norm(dataset):
    """``{modality: [step, ...]}``: the normalisation of ``dataset``'s modality features as loaded (``None`` for a
    dataset without them, or whose features were not read from files)."""
    plan = getattr(dataset, "feature_norm", None)
    return {name: list(steps) for name, steps in plan.items()} if plan else None


def model_payload(model) -> dict:
    """A model's weights and its tensor-valued extra state (RecBole's ``other_parameter``)."""
    other = {k: v for k, v in model.other_parameter().items() if v is None or isinstance(v, torch.Tensor)}
    return {"state_dict": model.state_dict(), "other_parameter": other}


def save_checkpoint(path, model, config, dataset, **extra):
    """Write ``model`` to ``path`` atomically, with metadata describing where it came from.

    ``extra`` holds training state (epoch, optimizer state, ...): tensors, numbers, strings and containers of them.
    """
    given = plain(config.external_config_dict)  # what the user set: replayed to load it again
    feature_norm = applied_feature_norm(dataset)
    if feature_norm is not None:  # the features the weights were trained on, whatever the defaults are at load time
        given["feature_norm"] = feature_norm
    state = {
        "format": FORMAT,
        **model_payload(model),
        "meta": {
            "model": config["model"],
            **dataset_fingerprint(dataset),
            "feature_norm": feature_norm,
            "config": plain(config.final_config_dict),
            "given_config": given,
        },
        **extra,
    }
    atomic_write(path, lambda f: torch.save(state, f), mode="wb")
    return path


def load_checkpoint(path, map_location="cpu") -> dict:
    """Read a checkpoint with ``weights_only=True``; a missing, corrupt or foreign file gives one clear line."""
    if not os.path.isfile(path):
        raise InputError(f"checkpoint {path}: no such file")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many types for truncated or foreign files
        text = str(exc).strip()
        if "Weights only load failed" in text:
            why = "not a zip of tensors, or it holds pickled objects, which are never unpickled"
        else:
            why = text.splitlines()[0].split(". ")[0][:160] if text else type(exc).__name__
        raise InputError(f"checkpoint {path}: not a readable recbole_unlearn checkpoint ({why})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise InputError(f"checkpoint {path}: not a recbole_unlearn checkpoint (format {FORMAT} expected)")
    return state


def check_compatible(state, path, model_name, dataset):
    """Refuse a checkpoint whose model, dataset or token maps differ from the run's."""
    meta = state["meta"]
    if meta["model"] != model_name:
        raise InputError(f"checkpoint {path}: trained for model {meta['model']}, this run uses {model_name}")
    here = dataset_fingerprint(dataset)
    if meta["dataset"] != here["dataset"]:
        raise InputError(f"checkpoint {path}: trained on dataset {meta['dataset']}, this run uses {here['dataset']}")
    for key in ("n_users", "n_items", "user_tokens_sha256", "item_tokens_sha256"):
        if meta[key] != here[key]:
            raise InputError(
                f"checkpoint {path}: {key} differs from dataset {here['dataset']} as loaded now "
                "(filtering or files changed since it was trained)"
            )
    trained_on, now = meta.get("feature_norm"), applied_feature_norm(dataset)
    if trained_on is not None and now is not None and trained_on != now:
        raise InputError(
            f"checkpoint {path}: trained on features normalised {trained_on}, the data as loaded now is normalised "
            f"{now} (set feature_norm as the checkpoint has it)"
        )


def restore_model(model, state):
    """Load weights and extra tensors from a checkpoint state into ``model``, and drop full-ranking embeddings it
    cached from the weights it had (a trainer's last evaluation leaves them behind when the best epoch is loaded)."""
    model.load_state_dict(state["state_dict"])
    model.load_other_parameter(state.get("other_parameter"))
    clear_cached_embeddings(model)
    return model
