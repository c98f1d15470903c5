"""The serving filter: items revoked by item requests score :math:`-\\infty` for every caller of a model.

:func:`serve` installs the filter in a model *instance*, of any class (this package's, RecBole's, a user's own): the
instance's class becomes a subclass of its own with :class:`ServingFilter` in front, and a non-persistent buffer
``revoked_mask`` (``n_items`` booleans, moved with the model, never in a ``state_dict``) marks the revoked items. Then

.. math::
    \\tilde{s}(u, i) = \\begin{cases} -\\infty & i \\text{ revoked} \\\\ s(u, i) & \\text{otherwise} \\end{cases}

in ``predict`` and ``full_sort_predict``, so RecBole's evaluation, ``recbole.utils.case_study.full_sort_topk`` and any
serving code that ranks by these calls never return a revoked item. ``raw_predict`` and ``raw_full_sort_predict``
give the scores before the filter (the audit measures what the model itself still knows). :func:`unserve` takes the
filter off again (unlearning steps on raw scores).
"""

import functools

import numpy as np
import torch


class ServingFilter:
    """Mixin put in front of a model's class by :func:`serve` (see the module docstring)."""

    def predict(self, interaction):
        scores = super().predict(interaction)
        return scores.masked_fill(self.revoked_mask[interaction[self.ITEM_ID]], -torch.inf)

    def full_sort_predict(self, interaction):
        scores = super().full_sort_predict(interaction)
        return scores.view(-1, self.n_items).masked_fill(self.revoked_mask, -torch.inf).view(scores.shape)

    def raw_predict(self, interaction):
        """``predict`` before the filter."""
        return super().predict(interaction)

    def raw_full_sort_predict(self, interaction):
        """``full_sort_predict`` before the filter."""
        return super().full_sort_predict(interaction)


@functools.cache
def served_class(model_class):
    """``model_class`` with :class:`ServingFilter` in front (one subclass per class)."""
    return type(model_class.__name__, (ServingFilter, model_class), {"__module__": model_class.__module__})


def base_class(model):
    """The class a model had before :func:`serve`."""
    cls = type(model)
    return cls.__mro__[2] if issubclass(cls, ServingFilter) else cls


def serve(model, blocked_items):
    """Install (or replace) the filter of ``blocked_items`` (internal item ids) in ``model``; returns the model.

    With no blocked item the model is left (or made) unfiltered.
    """
    revoked = np.asarray(blocked_items, dtype=np.int64)
    unserve(model)
    if len(revoked) == 0:
        return model
    mask = torch.zeros(model.n_items, dtype=torch.bool)
    mask[torch.from_numpy(revoked)] = True
    model.__class__ = served_class(type(model))
    model.register_buffer("revoked_mask", mask.to(model.device), persistent=False)
    return model


def unserve(model):
    """Take the filter off ``model`` (a no-op on an unfiltered model); returns the model."""
    if isinstance(model, ServingFilter):
        model.__class__ = base_class(model)
        del model._buffers["revoked_mask"]
    return model


def scorers(model, raw=False):
    """``(predict, full_sort_predict)`` of ``model``: as served, or with ``raw`` before the filter."""
    if raw and isinstance(model, ServingFilter):
        return model.raw_predict, model.raw_full_sort_predict
    return model.predict, model.full_sort_predict


def filtered_items(model) -> np.ndarray:
    """The item ids ``model``'s serving filter hides (empty for an unfiltered model)."""
    if not isinstance(model, ServingFilter):
        return np.zeros(0, dtype=np.int64)
    return model.revoked_mask.nonzero().view(-1).cpu().numpy()
