"""Serving from a checkpoint: top-k recommendations in raw tokens, and the revoked items a serving stack must filter.

    python run_recbole_unlearn.py recommend CHECKPOINT (--users U [U ...] | --users_file F.csv) [--k 20]
                                            [--output recs.csv|recs.json] [--key=value ...]
    python run_recbole_unlearn.py revoked CHECKPOINT [--output revoked.csv]

Recommendations come from :func:`~recbole_unlearn.loading.load_datasets_and_model`: the checkpoint's lineage replayed,
the model rebound to its retain set, each user's retained history masked, and the serving filter on, so no revoked
item is ever returned. Users are scored in batches, with a progress bar.
"""

import csv
import io
import json
import math
from logging import getLogger

from tqdm import tqdm

from recbole_unlearn.atomic import atomic_write
from recbole_unlearn.checkpoint import load_checkpoint
from recbole_unlearn.data.pairs import concat_pairs
from recbole_unlearn.data.readers import read_table
from recbole_unlearn.data.request import token_ids
from recbole_unlearn.data.request_type import RequestType
from recbole_unlearn.errors import InputError
from recbole_unlearn.loading import load_datasets_and_model
from recbole_unlearn.scoring import top_k_with_scores

USERS_PER_BATCH = 1024


def read_users(path, uid_field) -> list:
    """The user tokens of a CSV with a ``uid_field`` column (``user_id`` by default)."""
    return read_table(path, source=f"users_file {path}").column(uid_field)


def recommend(checkpoint, users=None, users_file=None, k=20, show_progress=True, **overrides) -> list:
    """Top-``k`` recommendations for raw user tokens: ``[(user, rank, item, score), ...]``, ranks from 1; a user
    with fewer than ``k`` candidate items (neither in their history nor revoked) gets fewer.

    Args:
        checkpoint: a checkpoint of this package.
        users / users_file: the user tokens, or a CSV holding them (column ``USER_ID_FIELD``, ``user_id`` by default).
        k: recommendations per user.
        overrides: config keys for loading (:func:`~recbole_unlearn.loading.load_datasets_and_model`).
    """
    if (users is None) == (users_file is None):
        raise InputError("recommend: give the users with --users U [U ...] or --users_file F.csv (one of them)")
    if int(k) < 1:
        raise InputError(f"recommend: --k must be a positive number of items, got {k}")
    config, model, dataset, (train, valid, _) = load_datasets_and_model(checkpoint, **overrides)
    tokens = [str(t) for t in users] if users is not None else read_users(users_file, dataset.uid_field)
    source = "recommend" if users is not None else f"users_file {users_file}"
    ids = token_ids(dataset, dataset.uid_field, tokens, source)
    k = min(int(k), dataset.item_num - 1)
    history = concat_pairs(train, valid)
    user_tokens, item_tokens = dataset.field2id_token[dataset.uid_field], dataset.field2id_token[dataset.iid_field]
    rows = []
    batches = range(0, len(ids), USERS_PER_BATCH)
    for start in tqdm(batches, desc="recommend", unit="batch", disable=not show_progress):
        batch = ids[start : start + USERS_PER_BATCH]
        scores, items = top_k_with_scores(model, batch, history, k, batch_users=USERS_PER_BATCH)
        for user, user_items, user_scores in zip(batch, items.tolist(), scores.tolist()):
            kept = [(item, score) for item, score in zip(user_items, user_scores) if score != -math.inf]
            rows += [(str(user_tokens[user]), rank + 1, str(item_tokens[item]), score)
                     for rank, (item, score) in enumerate(kept)]
    getLogger().info(f"recommended {k} items to each of {len(ids)} users from {checkpoint}")
    return rows


def revoked(checkpoint) -> list:
    """The raw tokens of every item the checkpoint's lineage revoked, in request order (no data needed)."""
    lineage = load_checkpoint(checkpoint).get("lineage", [])
    items = (record["items"] for record in lineage if record["type"] == RequestType.ITEM)
    return list(dict.fromkeys(token for tokens in items for token in tokens))


def recommendations_text(rows, fmt) -> str:
    """``rows`` of :func:`recommend` as CSV (``user_id,rank,item_id,score``) or JSON (``{user: [items...]}``)."""
    if fmt == "json":
        by_user = {}
        for user, _, item, score in rows:
            by_user.setdefault(user, []).append({"item_id": item, "score": score})
        return json.dumps(by_user, indent=1) + "\n"
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["user_id", "rank", "item_id", "score"])
    writer.writerows((user, rank, item, f"{score:.6g}") for user, rank, item, score in rows)
    return out.getvalue()


def revoked_text(tokens) -> str:
    """Revoked item tokens as a one-column CSV with header ``item_id``."""
    return "\n".join(["item_id", *tokens]) + "\n"


def write_output(text, output=None):
    """``text`` to ``output`` (written atomically), or to standard output."""
    if output is None:
        print(text, end="")
    else:
        atomic_write(output, lambda f: f.write(text))
