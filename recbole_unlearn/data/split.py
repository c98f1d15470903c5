"""Forget / retain split of the data built for a model, from a validated request.

- forget set: the training interactions the request covers;
- retain set: every other training interaction;
- the valid / test interactions the request covers leave the retain evaluation (``forget_valid`` / ``forget_test``);
- item and modality requests also purge feature rows: the retain datasets carry features with those rows zeroed.

Everything a model derives from data must then be rebuilt from ``retain_train``.
"""

from dataclasses import dataclass, field

import numpy as np
import torch

from recbole_unlearn.data.pairs import concat_pairs
from recbole_unlearn.data.request import ForgetRequest, forget_mask
from recbole_unlearn.data.request_type import RequestType


@dataclass
class ForgetSplit:
    request: ForgetRequest
    retain_train: object
    forget_train: object
    retain_valid: object
    retain_test: object
    forget_valid: object
    forget_test: object
    revoked_before: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @property
    def blocked_items(self) -> np.ndarray:
        """The items the served model must never return: revoked by this item request or by earlier ones."""
        now = self.request.items if self.request.type == RequestType.ITEM else np.zeros(0, dtype=np.int64)
        return np.union1d(self.revoked_before, now).astype(np.int64)

    @property
    def valid_heldout(self):
        """``(users, items)`` of every validation interaction, retained and forgotten: the held-out side that
        gold-free rules compare forgotten scores with (the audit keeps the test side for itself)."""
        return concat_pairs(self.retain_valid, self.forget_valid)

    def summary(self, index) -> dict:
        """The request's summary with ``index``, its position in the lineage, and ``interactions``, the training
        interactions it removes (the report's and the unlearned checkpoint's ``request``)."""
        return {**self.request.summary(), "index": index, "interactions": int(len(self.forget_train.inter_feat))}

    def removed(self) -> dict:
        """What the request removes: ``users`` and ``items`` it names, the ``train`` / ``valid`` / ``test``
        interactions it takes out, and ``feature_rows`` (``{modality: rows purged}``, rows that had features)."""
        request = self.request
        rows = {}
        if request.type.purges_features:
            features = getattr(self.forget_train, "modality_features", None) or {}
            names = list(features) if request.type == RequestType.ITEM else [request.modality]
            items = torch.as_tensor(request.items, dtype=torch.long)
            rows = {name: int((features[name][items] != 0).any(dim=1).sum()) for name in names if name in features}
        return {
            "users": len(np.unique(request.users)),
            "items": len(np.unique(request.items)),
            "train": len(self.forget_train.inter_feat),
            "valid": len(self.forget_valid.inter_feat),
            "test": len(self.forget_test.inter_feat),
            "feature_rows": rows,
        }

    @property
    def touched_users(self) -> np.ndarray:
        return np.unique(self.forget_train.inter_feat[self.forget_train.uid_field].numpy())

    @property
    def touched_items(self) -> np.ndarray:
        if self.request.type.purges_features:
            return np.asarray(self.request.items)
        return np.unique(self.forget_train.inter_feat[self.forget_train.iid_field].numpy())


def split_datasets(request: ForgetRequest, train, valid, test, revoked_before=None) -> ForgetSplit:
    """Split the built ``train`` / ``valid`` / ``test`` datasets by ``request``; inputs are left unchanged.

    ``revoked_before``: items revoked by earlier requests, still blocked from every recommendation.
    """
    parts = {}
    for name, ds in (("train", train), ("valid", valid), ("test", test)):
        mask = forget_mask(request, ds.inter_feat, ds)
        retained = purge_features(request, ds.copy(ds.inter_feat[~mask]))
        parts[f"retain_{name}"] = retained
        parts[f"forget_{name}"] = ds.copy(ds.inter_feat[mask])
    if revoked_before is not None:
        parts["revoked_before"] = np.asarray(revoked_before, dtype=np.int64)
    return ForgetSplit(request=request, **parts)


def purge_features(request: ForgetRequest, dataset):
    """``dataset`` with the request's feature rows zeroed: every modality for items, one for modality requests."""
    if not request.type.purges_features or not getattr(dataset, "modality_features", None):
        return dataset
    names = list(dataset.modality_features) if request.type == RequestType.ITEM else [request.modality]
    rows = torch.as_tensor(request.items, dtype=torch.long)
    for name in names:
        dataset = dataset.with_modality_rows_purged(name, rows)
    return dataset
