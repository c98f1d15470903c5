"""Scaling the gradient through a model's score branches for the length of a ``with`` block.

A model that splits its item representation into additive branches names them in ``SCORE_BRANCHES`` and reads
``branch_gradient_scale`` (``{branch: beta}``) in its forward pass (FREEDOM: ``interaction`` and ``modality``). Scores
are unchanged; only the gradient through each branch is multiplied by its beta.
"""

from contextlib import contextmanager


@contextmanager
def scaled_branch_gradients(model, scales):
    """``model.branch_gradient_scale = scales`` inside the block, restored on the way out, exceptions included.

    Models without branches are left untouched (``scales`` is then empty: the settings refuse branch names a model
    class does not have).
    """
    if not scales:
        yield model
        return
    previous = model.branch_gradient_scale
    model.branch_gradient_scale = dict(scales)
    try:
        yield model
    finally:
        model.branch_gradient_scale = previous
