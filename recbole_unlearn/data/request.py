"""Unlearning requests: what to forget, read from a CSV of raw tokens or sampled, validated before any training.

Four request types (``forget_type``):

- ``user``: every interaction of the given users (CSV column ``user_id``);
- ``interaction``: the given user-item pairs (columns ``user_id`` and ``item_id``);
- ``item``: every interaction with the given items, their rows in every modality matrix, and they are never
  recommended again (column ``item_id``);
- ``modality``: one modality of the given items is revoked (columns ``item_id`` and ``modality``, or ``item_id`` and the
  config key ``forget_modality``).

Column names are the dataset's ``USER_ID_FIELD`` / ``ITEM_ID_FIELD`` (``user_id`` / ``item_id`` by default).
Sampled requests (``forget_ratio``, ``forget_seed``, ``forget_strategy``) pick users, training interactions or items at
random, from the most active (``core``) or from the least active (``edge``), as in CURE4Rec.
"""

import hashlib
from dataclasses import dataclass, field
from logging import getLogger

import numpy as np
import torch

from recbole_unlearn.data.pairs import concat_pairs, pair_keys
from recbole_unlearn.data.readers import read_table, row_names
from recbole_unlearn.data.request_type import REQUEST_TYPES, RequestType
from recbole_unlearn.errors import InputError

STRATEGIES = ("random", "core", "edge")
MODALITY_COLUMN = "modality"  # the request CSV's column naming a modality request's modality


@dataclass(frozen=True)
class ForgetRequest:
    """A validated request in internal ids.

    ``users`` and ``items`` are sorted unique ids, except for ``interaction`` requests where they are aligned pairs
    (``users[k]`` forgets ``items[k]``). ``modality`` is set for ``modality`` requests only. ``origin``: for a user or
    interaction request read from a table, the row each user or pair came from (messages name it); not hashed.
    """

    type: RequestType
    users: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    items: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    modality: str = None
    source: str = ""
    origin: "RowOrigin" = field(default=None, compare=False, repr=False)

    def __post_init__(self):
        object.__setattr__(self, "type", RequestType(self.type))  # a plain string names its member

    def sha256(self) -> str:
        """Content hash: the same forget set always hashes the same, whatever file or draw produced it."""
        users, items = np.asarray(self.users, dtype=np.int64), np.asarray(self.items, dtype=np.int64)
        if self.type == RequestType.INTERACTION:  # pairs in any order are the same forget set
            order = np.lexsort((items, users))
            users, items = users[order], items[order]
        h = hashlib.sha256(f"{self.type}|{self.modality}|".encode())
        h.update(np.ascontiguousarray(users).tobytes())
        h.update(b"|")
        h.update(np.ascontiguousarray(items).tobytes())
        return h.hexdigest()

    def summary(self) -> dict:
        return {
            "type": str(self.type),
            "users": len(np.unique(self.users)),
            "items": len(np.unique(self.items)),
            "modality": self.modality,
            "source": self.source,
            "sha256": self.sha256(),
        }


@dataclass(frozen=True)
class RowOrigin:
    """Where the entries of a request read from a table came from: ``label`` begins a message about the table
    (``forget_file a.csv``, ``request DataFrame``), ``numbers[k]`` is what a message calls the row of entry ``k`` (its
    line in a file, its 0-based position in a DataFrame: :meth:`~recbole_unlearn.data.readers.Table.number`), in
    ``numbering`` (``line`` or ``row``)."""

    label: str
    numbers: np.ndarray
    numbering: str = "line"

    def names(self, entries) -> str:
        """``lines 3, 7`` (or ``rows 1, 5 (0-based)``): the rows of the request's entries ``entries``."""
        return row_names(self.numbers[entries], self.numbering)


def forget_mask(request: ForgetRequest, inter, dataset) -> torch.Tensor:
    """Boolean mask over the rows of ``inter`` (an ``Interaction``) that ``request`` covers."""
    users = inter[dataset.uid_field].numpy()
    items = inter[dataset.iid_field].numpy()
    if request.type == RequestType.USER:
        covered = np.isin(users, request.users)
    elif request.type == RequestType.ITEM:
        covered = np.isin(items, request.items)
    elif request.type == RequestType.INTERACTION:
        covered = np.isin(pair_keys(users, items, dataset.item_num),
                          pair_keys(request.users, request.items, dataset.item_num))
    else:  # modality: no interaction is forgotten, only feature rows
        covered = np.zeros(len(users), dtype=bool)
    return torch.from_numpy(covered)


def request_from_config(config, train_dataset) -> ForgetRequest:
    """The request a config describes (``forget_file`` or ``forget_ratio``), validated against the training split."""
    request = resolve_request(config, train_dataset)
    validate_request(request, train_dataset)
    return request


def resolve_request(config, train_dataset) -> ForgetRequest:
    """The request a config describes, read from ``forget_file`` or sampled from ``train_dataset``, not yet checked
    against what the training data still holds."""
    kind = config["forget_type"]
    if kind not in REQUEST_TYPES:
        raise InputError(f"forget_type '{kind}' is not one of {', '.join(REQUEST_TYPES)}")
    if config["forget_file"]:
        request = read_request_csv(config["forget_file"], kind, train_dataset, config["forget_modality"])
    elif config["forget_ratio"]:
        request = sample_request(
            train_dataset, kind, config["forget_ratio"], config["forget_seed"], config["forget_strategy"],
            config["forget_modality"],
        )
    else:
        raise InputError(f"forget_type '{kind}' needs forget_file=PATH.csv or forget_ratio=FRACTION")
    return request


def read_request_csv(path, kind, dataset, default_modality=None) -> ForgetRequest:
    """Read a request CSV of raw tokens (:func:`~recbole_unlearn.data.readers.read_table`, messages labelled
    ``forget_file PATH``): a header naming the columns ``kind`` needs, then one row per user, item or pair.

    Refuses, in one line: whatever :func:`~recbole_unlearn.data.readers.read_table` refuses (missing file, empty file,
    a column named twice, a row with the wrong number of fields, ...) and whatever :func:`request_from_table`
    refuses.
    """
    table = read_table(path, source=f"forget_file {path}")
    return request_from_table(table, kind, dataset, default_modality, str(path))


def request_from_table(table, kind, dataset, default_modality=None, source="") -> ForgetRequest:
    """The request a table of raw tokens describes (a :class:`~recbole_unlearn.data.readers.Table`: a CSV as read,
    or a DataFrame's columns and rows).

    Refuses, in one line naming ``table.source``: a missing column, no rows, unknown tokens, and a modality request
    that does not name exactly one modality. Repeated rows are dropped with a warning. A user or interaction request
    keeps the row of each user or pair (the first, of repeated rows) as its ``origin``: whether each matches an
    interaction is :func:`check_matched`'s to say, which names the rows that do not.
    """
    uid, iid = dataset.uid_field, dataset.iid_field
    needed = {RequestType.USER: [uid], RequestType.INTERACTION: [uid, iid], RequestType.ITEM: [iid],
              RequestType.MODALITY: [iid]}[RequestType(kind)]
    header = list(table.header)
    missing = [c for c in needed if c not in header]
    if missing:
        raise InputError(
            f"{table.source}: missing column {', '.join(missing)} for a {kind} request (header: {','.join(header)})"
        )
    if not table.rows:
        raise InputError(f"{table.source}: no rows, nothing to forget")
    keys = needed + ([MODALITY_COLUMN] if MODALITY_COLUMN in header else [])
    unique_rows, first = _unique_rows(table, [header.index(c) for c in keys])
    column = {name: [row[keys.index(name)] for row in unique_rows] for name in needed}
    users = token_ids(dataset, uid, column[uid], table.source) if uid in needed else None
    items = token_ids(dataset, iid, column[iid], table.source) if iid in needed else None
    numbers = np.array([table.number(k) for k in first], dtype=np.int64)
    if kind == RequestType.INTERACTION:
        origin = RowOrigin(table.source, numbers, table.numbering)
        return ForgetRequest(kind, users, items, source=source, origin=origin)
    if kind == RequestType.USER:
        users, at = np.unique(users, return_index=True)
        return ForgetRequest(kind, users, source=source, origin=RowOrigin(table.source, numbers[at], table.numbering))
    modality = _table_modality(table, unique_rows, default_modality) if kind == RequestType.MODALITY else None
    return ForgetRequest(kind, items=np.unique(items), modality=modality, source=source)


def _unique_rows(table, columns):
    """``(rows, first)``: the distinct rows of ``table`` over ``columns`` (tuples, in order of first appearance) and
    the 0-based index of each one's first appearance; repeated rows are dropped with a warning."""
    first = {}
    for k, row in enumerate(table.rows):
        first.setdefault(tuple(row[c] for c in columns), k)
    if len(first) < len(table.rows):
        getLogger().warning(f"{table.source}: dropped {len(table.rows) - len(first)} duplicate rows")
    return list(first), list(first.values())


def _table_modality(table, unique_rows, default_modality) -> str:
    """The one modality a modality request names: its ``modality`` column (the last of each row) or
    ``default_modality``."""
    modalities = sorted({r[-1] for r in unique_rows}) if MODALITY_COLUMN in table.header else [default_modality]
    if len(modalities) != 1 or not modalities[0]:
        raise InputError(
            f"{table.source}: a modality request names exactly one modality (column modality or "
            f"forget_modality), got {modalities}"
        )
    return modalities[0]


def request_type_of(header, dataset) -> str:
    """The request type a table's columns describe: ``user_id`` alone (the dataset's field names) is a user
    request, with ``item_id`` an interaction request, ``item_id`` alone an item request, with ``modality`` a
    modality request."""
    columns = set(header)
    uid, iid = dataset.uid_field, dataset.iid_field
    if iid in columns and MODALITY_COLUMN in columns:
        return RequestType.MODALITY
    if uid in columns:
        return RequestType.INTERACTION if iid in columns else RequestType.USER
    if iid in columns:
        return RequestType.ITEM
    raise InputError(f"request columns {', '.join(header)}: name {uid}, {iid} or both (or set forget_type)")


def token_ids(dataset, field_name, tokens, source) -> np.ndarray:
    """Internal ids of raw ``tokens`` of ``field_name``; one line, labelled ``source``, naming the unknown ones."""
    token_to_id = dataset.field2token_id[field_name]
    unknown = [t for t in dict.fromkeys(tokens) if t not in token_to_id]
    if unknown:
        shown = ", ".join(unknown[:5]) + (f" (+{len(unknown) - 5} more)" if len(unknown) > 5 else "")
        raise InputError(f"{source}: unknown {field_name} tokens: {shown}")
    return np.array([token_to_id[t] for t in tokens], dtype=np.int64)


def check_forget_ratio(value) -> float:
    """``forget_ratio`` as a float; one line naming the key unless it is a number strictly between 0 and 1."""
    try:
        ratio = float(value)
    except (TypeError, ValueError):
        raise InputError(f"forget_ratio {value!r} is not a number (a share strictly between 0 and 1)") from None
    if not 0 < ratio < 1:  # NaN too
        raise InputError(f"forget_ratio {value} must be strictly between 0 and 1")
    return ratio


def sample_request(dataset, kind, ratio, seed=2020, strategy="random", modality=None) -> ForgetRequest:
    """Draw a request over the training interactions of ``dataset``.

    ``ratio`` is the share of users (``user``), of training interactions (``interaction``) or of items (``item``,
    ``modality``). ``random`` draws uniformly; ``core`` takes the most active users / items (interactions: those of
    the most active users), ``edge`` the least active, ties broken by the seeded draw.
    """
    if strategy not in STRATEGIES:
        raise InputError(f"forget_strategy '{strategy}' is not one of {', '.join(STRATEGIES)}")
    ratio = check_forget_ratio(ratio)
    rng = np.random.default_rng(seed)
    users = dataset.inter_feat[dataset.uid_field].numpy()
    items = dataset.inter_feat[dataset.iid_field].numpy()
    source = f"sampled ratio={ratio} seed={seed} strategy={strategy}"
    if kind == RequestType.INTERACTION:
        activity = np.bincount(users, minlength=dataset.user_num)[users]
        picked = _pick(np.arange(len(users)), activity, ratio, strategy, rng)
        picked.sort()
        return ForgetRequest(kind, users[picked], items[picked], source=source)
    if kind == RequestType.USER:
        candidates = np.unique(users)
        activity = np.bincount(users, minlength=dataset.user_num)[candidates]
        return ForgetRequest(kind, users=np.sort(_pick(candidates, activity, ratio, strategy, rng)), source=source)
    candidates = np.unique(items)
    if kind == RequestType.MODALITY:
        _check_modality(dataset, modality)
        present = dataset.modality_features[modality][candidates].abs().sum(dim=1).numpy() > 0
        candidates = candidates[present]
    activity = np.bincount(items, minlength=dataset.item_num)[candidates]
    picked = np.sort(_pick(candidates, activity, ratio, strategy, rng))
    return ForgetRequest(kind, items=picked, modality=modality, source=source)


def _pick(candidates, activity, ratio, strategy, rng):
    n = max(1, round(len(candidates) * float(ratio)))
    if strategy == "random":
        return rng.choice(candidates, n, replace=False)
    tie_break = rng.random(len(candidates))
    order = np.lexsort((tie_break, -activity if strategy == "core" else activity))
    return candidates[order[:n]]


def _check_modality(dataset, modality):
    available = sorted(getattr(dataset, "modality_features", {}) or {})
    if modality not in available:
        raise InputError(
            f"forget_modality '{modality}': dataset {dataset.dataset_name} has "
            + (f"modalities {', '.join(available)}" if available else "no modality features")
        )


def validate_request(request, train_dataset, heldout=None, allow_unmatched=False):
    """Refuse requests that cover nothing, or everything, of the training data.

    With ``heldout`` (the valid and test datasets of the same data), also the entries of a user or interaction
    request that match no interaction of train, valid or test (:func:`check_matched`; ``allow_unmatched``, the key
    ``forget_allow_unmatched``, applies the rest with a warning instead).
    """
    if request.type == RequestType.MODALITY:
        _check_modality(train_dataset, request.modality)
        if len(request.items) == 0:
            raise InputError(f"request {request.source}: no items, nothing to forget")
        return
    if heldout is not None:
        check_matched(request, [train_dataset, *heldout], allow_unmatched)
    covered = int(forget_mask(request, train_dataset.inter_feat, train_dataset).sum())
    if covered == 0:
        raise InputError(f"request {request.source}: covers no training interaction, nothing to forget")
    if covered == len(train_dataset.inter_feat):
        raise InputError(f"request {request.source}: would remove every training interaction")


def unmatched_entries(request, datasets) -> np.ndarray:
    """Positions of the users (user request) or pairs (interaction request) of ``request`` that match no interaction
    of any of ``datasets``; none for item and modality requests, which revoke items and features whatever their
    interactions."""
    if request.type not in (RequestType.USER, RequestType.INTERACTION):
        return np.zeros(0, dtype=np.int64)
    users, items = concat_pairs(*datasets)
    if request.type == RequestType.USER:
        return np.flatnonzero(~np.isin(request.users, users))
    n_items = datasets[0].item_num
    return np.flatnonzero(~np.isin(pair_keys(request.users, request.items, n_items), pair_keys(users, items, n_items)))


def check_matched(request, datasets, allow_unmatched=False):
    """Refuse a request with entries that match no interaction of ``datasets`` (train, valid and test: an entry that
    matches a held-out interaction only is matched), naming their rows (:attr:`ForgetRequest.origin`: file lines,
    DataFrame rows) or, without an origin, their 0-based positions in the request. ``allow_unmatched``: log a warning
    naming them instead, and the rest is applied (the unmatched entries remove nothing)."""
    missing = unmatched_entries(request, datasets)
    if not len(missing):
        return
    if request.origin is not None:
        where = f"{request.origin.label}: {request.origin.names(missing)}"
    else:
        where = f"request {request.source}: {row_names(missing, 'position')}"
    what = f"{where} {'matches' if len(missing) == 1 else 'match'} no interaction"
    if not allow_unmatched:
        raise InputError(f"{what} (set forget_allow_unmatched: True to apply the rest)")
    getLogger().warning(f"{what}; the rest is applied (forget_allow_unmatched: True)")
