"""The touched rows' learning rate, measured on the model at request time (``unlearn_lr_unit: calibrated``).

How far one step moves a forgotten score depends on the model: how many tables hold a user, how large their entries
are, how much a row change is spread or amplified by the layers above it. The rate is therefore set from a probe of
the model itself, on the request's own forgotten pairs and their hinge targets :math:`t_k`
(:mod:`~recbole_unlearn.unlearn.targets`), never from gold or test pairs.

Adam's first step moves every entry of a row by its rate times the sign of its gradient. Let :math:`d` be that
step's direction for the forget term, :math:`d = -\\operatorname{sign}(\\nabla \\ell_f)`, on each touched row of each
embedding table scaled by the table's root-mean-square entry :math:`\\rho_T` (so that tables of different scales move
by the same share). The probe moves the rows by :math:`\\epsilon d` and reads each forgotten score's response
:math:`r_k = (s_k - s_k(\\epsilon d)) / \\epsilon`. Over the pairs above their target, :math:`A = \\{k : s_k > t_k\\}`,
the share is

.. math::
    \\eta = c \\, \\frac{\\operatorname{mean}_{k \\in A} (s_k - t_k)}{\\operatorname{mean}_{k \\in A} r_k},

so that one step closes the share :math:`c` (``unlearn_lr_touched``) of the forgotten pairs' mean distance to their
targets, and each table's touched rows learn at :math:`\\eta \\rho_T`. A model whose scores barely move gets a larger
rate, one whose two user tables move the same score twice gets half, and a request already at its targets gets none.
"""

from dataclasses import dataclass

import torch

from recbole_unlearn.scoring import clear_cached_embeddings, pair_interaction
from recbole_unlearn.unlearn.losses import hinge_to_target

PROBE = 1e-3  # epsilon: the probe's move, as a share of each table's root-mean-square entry


@dataclass(frozen=True)
class Calibration:
    """What the probe measured: the share :math:`\\eta` (``share``), the forgotten pairs above their target
    (``above``, a share of them), their mean distance to it (``gap``) and their mean response per unit share
    (``response``)."""

    share: float
    above: float
    gap: float
    response: float


def table_rms(table) -> float:
    """:math:`\\rho_T = \\sqrt{\\operatorname{mean}(T^2)}`, a table's root-mean-square entry."""
    return float(table.detach().float().pow(2).mean().sqrt())


def saved_rows(tables) -> list:
    """``(parameter, rows, copy of those rows)`` for each ``(parameter, rows)`` of ``tables``, to give back with
    :func:`restore_rows`."""
    return [(table, rows, table.detach()[rows].clone()) for table, rows in tables]


def restore_rows(saved):
    """Each parameter of ``saved`` (:func:`saved_rows`) given back its saved rows, exactly."""
    with torch.no_grad():
        for table, rows, values in saved:
            table[rows] = values


def forgotten_scores(model, users, items) -> torch.Tensor:
    """The served scores of the forgotten pairs, with gradients (the model in eval mode, as the steps score)."""
    clear_cached_embeddings(model)
    return model.predict(pair_interaction(model, users, items)).float()


def probe_direction(model, tables, users, items, targets):
    """``(scores, direction)``: the forgotten pairs' scores and, per table, the forget term's first Adam step on the
    touched rows of its side (``tables``: ``(parameter, rows)`` pairs),
    :math:`-\\operatorname{sign}(\\nabla \\ell_f) \\rho_T` (zero elsewhere)."""
    params = [table for table, _ in tables]
    scores = forgotten_scores(model, users, items)
    grads = torch.autograd.grad(hinge_to_target(scores, targets), params, allow_unused=True)
    directions = []
    for (table, side_rows), grad in zip(tables, grads):
        step = torch.zeros_like(table)
        if grad is not None:
            step[side_rows] = -grad[side_rows].sign() * table_rms(table)
        directions.append(step)
    return scores.detach(), directions


def calibrate(model, tables, users, items, targets, share) -> Calibration:
    """The measured share :math:`\\eta` of the module docstring; ``tables``: ``(parameter, touched rows)`` pairs,
    ``users`` / ``items`` the forgotten pairs, ``share`` :math:`c`. The tables are left as they were."""
    targets = targets.to(model.device)
    scores, directions = probe_direction(model, tables, users, items, targets)
    above = scores > targets
    if not above.any():
        return Calibration(0.0, 0.0, 0.0, 0.0)
    saved = saved_rows(tables)
    with torch.no_grad():
        for (table, _), step in zip(tables, directions):
            table.add_(step, alpha=PROBE)
        moved = forgotten_scores(model, users, items).detach()
    restore_rows(saved)
    clear_cached_embeddings(model)
    response = float(((scores - moved)[above]).mean()) / PROBE
    gap = float((scores - targets)[above].mean())
    measured = share * gap / response if response > 0 else 0.0
    return Calibration(measured, float(above.float().mean()), gap, response)
