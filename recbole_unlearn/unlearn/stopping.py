"""The gold-free stop: after each pass, have the forgotten pairs come down to the held-out ones, or gone past them?

The readings compare pairs with the same sampled negatives :math:`n` (:data:`NEGATIVES` items per pair, drawn once
before the passes) and need no gold. A pair's *sampled AUC* is the share of its negatives it scores above,
:math:`a(u, i) = \\frac{1}{m} \\sum_{n} [s_{ui} > s_{un}]`; :math:`A_p` is its mean over the forgetting users'
held-out validation pairs after pass :math:`p`, :math:`F_p` its mean over the
forgotten pairs, and :math:`\\sigma_p` the standard error of :math:`F_p - A_p`. A model that never saw a pair ranks
it as it ranks the user's held-out pairs, so:

- the passes end once :math:`F_p \\le A_p - \\sigma_p` (:data:`REACHED_Z` standard errors, :func:`reached_heldout`):
  the forgotten pairs no longer rank above the held-out ones by anything the sample could show;
- a pass after which the forgotten pairs rank below the held-out ones by more than :data:`PAST_Z` standard errors
  went past, and the trainer undoes it and halves the rate (:class:`~recbole_unlearn.unlearn.trainer.UnlearningTrainer`,
  :func:`over_forgotten`), so that the passes end with :math:`F_p` between :math:`A_p - 2\\sigma_p` and
  :math:`A_p - \\sigma_p`.

The held-out pairs are read as they are now, not held to their level before the passes: a retrain ranks a user's
held-out pairs lower too once the user's forgotten interactions are gone (a light user keeps few to learn from).

The settle pass then pulls each forgotten score to a target read from the model as the passes left it.
"""

import math

import numpy as np
import torch

from recbole_unlearn.scoring import clear_cached_embeddings, pair_scores

NEGATIVES = 20  # sampled negatives per pair
REACHED_Z = 1.0  # standard errors the forgotten pairs must fall below the held-out ones by to end the passes
PAST_Z = 2.0  # standard errors below the held-out ones past which a pass is undone


def sampled_negatives(n_pairs, n_items, generator=None) -> torch.Tensor:
    """``(n_pairs, NEGATIVES)`` item ids drawn uniformly over real items (id 0 is padding)."""
    return torch.randint(1, n_items, (n_pairs, NEGATIVES), generator=generator)


def sampled_aucs(pair_scores, negative_scores) -> np.ndarray:
    """Each pair's sampled AUC :math:`a`: the share of its row of ``negative_scores`` below its score (ties
    half)."""
    pair_scores, negative_scores = np.asarray(pair_scores)[:, None], np.asarray(negative_scores)
    return ((pair_scores > negative_scores) + 0.5 * (pair_scores == negative_scores)).mean(axis=1)


def mean_error(values) -> float:
    """The standard error of a mean, :math:`\\sigma / \\sqrt{n}`."""
    return float(np.std(values) / math.sqrt(len(values))) if len(values) > 1 else math.inf


def heldout_lead(heldout_now, forget_now):
    """``(gap, error)``: :math:`A_p - F_p`, how far the forgotten pairs rank below the held-out ones (sampled AUCs
    now), and :math:`\\sigma_p`, the standard error of that difference (independent samples); ``None`` with fewer
    than two of either."""
    if len(heldout_now) < 2 or len(forget_now) < 2:
        return None
    gap = float(np.mean(heldout_now)) - float(np.mean(forget_now))
    return gap, math.hypot(mean_error(heldout_now), mean_error(forget_now))


def over_forgotten(heldout_now, forget_now) -> str:
    """``"over_forgetting"`` where the forgotten pairs rank below the held-out ones by more than :data:`PAST_Z`
    standard errors (:func:`heldout_lead`), else ``""``."""
    lead = heldout_lead(heldout_now, forget_now)
    return "over_forgetting" if lead is not None and lead[0] > PAST_Z * lead[1] else ""


def reached_heldout(heldout_now, forget_now) -> bool:
    """Whether the forgotten pairs have come down to the held-out ones, :math:`F_p \\le A_p - \\sigma_p`
    (:func:`heldout_lead`, :data:`REACHED_Z`)."""
    lead = heldout_lead(heldout_now, forget_now)
    return lead is not None and lead[0] >= REACHED_Z * lead[1]


class StopReader:
    """Reads the stop's sampled AUCs of a model's forgotten and held-out pairs (aligned id tensors), with negatives
    drawn once from ``generator``. Where the stop ``acts``, each reading says whether to stop; otherwise readings are
    for the log only."""

    def __init__(self, model, forget, heldout, generator=None, acts=True):
        self.model, self.n_forget, self.acts = model, len(forget[0]), acts
        self.users, self.items = (torch.cat([f, h]) for f, h in zip(forget, heldout))
        self.negatives = sampled_negatives(len(self.users), model.n_items, generator)

    def aucs(self) -> tuple:
        """``(forgotten pairs' scores, their sampled AUCs, the held-out pairs' sampled AUCs)``, as the model is now."""
        clear_cached_embeddings(self.model)
        users = torch.cat([self.users, self.users.repeat_interleave(NEGATIVES)])
        scores = pair_scores(self.model, users, torch.cat([self.items, self.negatives.reshape(-1)])).numpy()
        n = len(self.users)
        aucs = sampled_aucs(scores[:n], scores[n:].reshape(n, NEGATIVES))
        return scores[: self.n_forget], aucs[: self.n_forget], aucs[self.n_forget :]

    def reading(self, targets=None) -> dict:
        """After a pass: ``forget_auc`` (:math:`F_p`), ``heldout_auc`` (:math:`A_p`), ``above_target_share`` (the
        forgotten scores above their hinge ``targets``; NaN without), ``stop`` (:func:`over_forgotten`) and ``reached``
        (:func:`reached_heldout`); ``""`` and false unless the stop acts."""
        scores, forget, heldout = self.aucs()
        above = float(np.mean(scores > targets.numpy())) if targets is not None else float("nan")
        return {"forget_auc": float(np.mean(forget)) if len(forget) else float("nan"),
                "heldout_auc": float(np.mean(heldout)) if len(heldout) else float("nan"),
                "above_target_share": above, "stop": over_forgotten(heldout, forget) if self.acts else "",
                "reached": self.acts and reached_heldout(heldout, forget)}
