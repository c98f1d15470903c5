"""Base class of the package's multimodal recommenders: item modality features held beside a rebuildable graph."""

import torch

from recbole_unlearn.errors import InputError
from recbole_unlearn.model.base import GraphRecommender


def require_modality_features(dataset, model_name):
    """``dataset.modality_features`` (``{name: (item_num, d_m) tensor}``), or a one-line :class:`InputError`."""
    features = getattr(dataset, "modality_features", None)
    if not features:
        name = getattr(dataset, "dataset_name", type(dataset).__name__)
        raise InputError(
            f"model {model_name} needs item modality features: set `modalities` in the config (dataset {name} has none)"
        )
    return features


class MultimodalRecommender(GraphRecommender):
    """A :class:`GraphRecommender` that also reads item modality features from its dataset.

    Each modality's ``(n_items, d_m)`` matrix is a non-persistent buffer (moved with the model, never in a state_dict or
    checkpoint), taken from ``dataset.modality_features`` in ``__init__`` and replaced by :meth:`rebuild_graph` when it
    is given a dataset that has ``modality_features``. Modalities are kept in sorted name order; a rebuild must bring
    the same modalities with the same widths. Subclasses derive their feature-dependent structures in
    :meth:`build_modality_graph`, which runs on every feature change.
    """

    def __init__(self, config, dataset):
        features = require_modality_features(dataset, type(self).__name__)
        super().__init__(config, dataset)  # builds the user-item graph; the features are not read yet
        self.modalities = sorted(features)
        self.modality_dims = {}
        for index, name in enumerate(self.modalities):
            rows = self._checked_rows(name, features[name], check_width=False)
            self.modality_dims[name] = rows.size(1)
            self.register_buffer(f"modality_feature_{index}", rows, persistent=False)

    def _checked_rows(self, name, rows, check_width=True):
        # an own copy: an in-place edit of the dataset's tensor must not change the model without a rebuild
        rows = torch.as_tensor(rows, dtype=torch.float32).detach().clone()
        if rows.dim() != 2 or rows.size(0) != self.n_items:
            raise InputError(
                f"model {type(self).__name__}: modality '{name}' has shape {tuple(rows.shape)}, "
                f"expected ({self.n_items}, d)"
            )
        if check_width and rows.size(1) != self.modality_dims[name]:
            raise InputError(
                f"model {type(self).__name__}: modality '{name}' has width {rows.size(1)}, "
                f"the model was built for {self.modality_dims[name]}"
            )
        return rows

    def modality_feature(self, name):
        """The ``(n_items, d_m)`` feature buffer of modality ``name``."""
        return getattr(self, f"modality_feature_{self.modalities.index(name)}")

    def modality_features_dict(self):
        return {name: self.modality_feature(name) for name in self.modalities}

    def rebuild_graph(self, interactions):
        """The user-item graph from ``interactions``; with a dataset that has ``modality_features``, also the feature
        buffers and everything :meth:`build_modality_graph` derives from them."""
        super().rebuild_graph(interactions)
        features = getattr(interactions, "modality_features", None)
        if features is not None and getattr(self, "modalities", None) is not None:
            self.set_modality_features(features)

    def set_modality_features(self, features):
        """Replace the feature buffers with ``features`` (same modalities and widths); rebuild what depends on them
        (:meth:`build_modality_graph`) if any row changed, so a rebuild on a retain set with untouched features does
        not recompute the item-item graph."""
        if sorted(features) != self.modalities:
            raise InputError(
                f"model {type(self).__name__}: modalities {sorted(features)} differ from the model's {self.modalities}"
            )
        changed = False
        for index, name in enumerate(self.modalities):
            rows = self._checked_rows(name, features[name]).to(self.device)
            changed = changed or not torch.equal(rows, self.modality_feature(name).to(rows.device))
            setattr(self, f"modality_feature_{index}", rows)
        if changed:  # the derived structures are pure functions of the features: unchanged features, nothing to redo
            self.build_modality_graph()
        self.clear_cache()

    def build_modality_graph(self):
        """Derive feature-dependent structures (e.g. an item-item graph) from the feature buffers; none by default."""
