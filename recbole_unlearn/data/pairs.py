"""Interactions as ``(users, items)`` id arrays: the form every score, split and audit works on."""

import numpy as np


def pairs(dataset):
    """``(users, items)`` numpy arrays of a dataset's interactions."""
    inter = dataset.inter_feat
    return inter[dataset.uid_field].numpy(), inter[dataset.iid_field].numpy()


def concat_pairs(*datasets):
    """The interactions of several datasets, one after another, as ``(users, items)``."""
    parts = [pairs(ds) for ds in datasets]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def pair_keys(users, items, n_items) -> np.ndarray:
    """One int64 key per (user, item) pair, :math:`u \\cdot n_{items} + i`: equal keys are equal pairs."""
    return np.asarray(users, dtype=np.int64) * int(n_items) + np.asarray(items, dtype=np.int64)


def interaction_counts(ids, n) -> np.ndarray:
    """Interactions per id among ``ids`` (the user or item column of some pairs): a float array of length ``n``."""
    return np.bincount(np.asarray(ids, dtype=np.int64), minlength=n).astype(np.float64)


def same_user_pairs(members, others):
    """The pairs of ``others`` whose user appears in ``members`` (both ``(users, items)`` arrays)."""
    keep = np.isin(others[0], np.unique(members[0]))
    return others[0][keep], others[1][keep]
