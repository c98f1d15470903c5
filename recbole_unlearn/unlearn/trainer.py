"""``UnlearningTrainer``: makes a trained model forget, through the model's ``predict`` only.

From a trained model rebound to the retain data, each step draws a batch of forgotten pairs :math:`(u, i)` with sampled
negatives :math:`j`, and a batch of retained pairs of the same size, and minimises

.. math::
    w_f \\, \\ell_f(u, i, j) + w_r \\, \\mathrm{BPR}(\\text{retained}) + w_a \\, \\mathrm{anchor}(\\text{retained}),

where :math:`\\ell_f` is reverse BPR (``log_sigmoid``), a hinge :math:`\\max(0, s_{ui} - t_{ui})` down to a target
derived from the same users' held-out scores (``hinge``; the target by ``unlearn_hinge_target``,
:mod:`~recbole_unlearn.unlearn.targets`) or negated BPR (``negated_bpr``, gradient ascent), and the anchor holds
retained scores near those of the model right after the rebind. Rows of the embedding tables that the forget set
touches learn at ``unlearn_lr_touched``, everything else at ``unlearn_lr_rest``
(:class:`~recbole_unlearn.unlearn.optim.RowwiseAdam`). One pass covers the forget set once; ``unlearn_passes`` of
them run.

Settle passes (``unlearn_settle_passes``) follow the passes: the targets are read again from the
model as the passes left it, and each forgotten score is pulled to its new target from either side,
:math:`\\ell_f = |s_{ui} - t'_{ui}|`, the anchor now holding the retained scores where the passes left them. The
targets of the first passes were read before any step, and the steps move a user's whole row (a light user's held-out
items with the forgotten one); the settle targets are read from the rows that moved.

The model stays in eval mode, with gradients on: the steps move the scores the model serves and the audit measures,
not those of a training-mode graph (FREEDOM, for one, prunes user-item edges in training mode, and steps on that graph
would move scores the served model never gives).

Several processes (``nproc``): data-parallel, as RecBole trains (:mod:`~recbole_unlearn.unlearn.parallel`). Every
rank holds the same model and runs the same passes.
"""

import contextlib
import copy
import math
from dataclasses import dataclass, field, replace
from logging import getLogger

import numpy as np
import torch
from tqdm import tqdm

from recbole_unlearn.data.pairs import pairs, same_user_pairs
from recbole_unlearn.errors import InputError
from recbole_unlearn.scoring import (
    clear_cached_embeddings,
    pair_interaction,
)
from recbole_unlearn.unlearn import losses
from recbole_unlearn.unlearn.calibration import calibrate, restore_rows, saved_rows
from recbole_unlearn.unlearn.optim import RowwiseAdam, row_group
from recbole_unlearn.unlearn.parallel import OneProcess
from recbole_unlearn.unlearn.rebind import embedding_tables
from recbole_unlearn.unlearn.stopping import StopReader
from recbole_unlearn.unlearn.targets import TARGET_FUNCTIONS

BACKOFFS = 3  # passes the gold-free stop may undo, each halving the touched rates, before it ends the passes


@dataclass
class UnlearnOutcome:
    """What a run of :meth:`UnlearningTrainer.unlearn` did: passes kept, the settle passes after them, the passes
    undone by the gold-free stop (each halving the rate), what ended it
    (``budget``: the passes ran out; ``reached_heldout`` or ``over_forgetting``: the gold-free stop of
    :mod:`~recbole_unlearn.unlearn.stopping`; ``none`` for methods without passes), the rate's
    :class:`~recbole_unlearn.unlearn.calibration.Calibration` (``None`` unless calibrated), the touched rows'
    learning rate of each embedding table (``{"user": [rate, ...], "item": [...]}``, as measured on the model and
    after any backoff), per-pass log."""

    passes: int = 0
    settle_passes: int = 0
    backoffs: int = 0
    stopped_by: str = "budget"
    touched_rates: dict = field(default_factory=dict)
    calibration: object = None
    log: list = field(default_factory=list)


@dataclass
class StepData:
    """What every step draws from: the forgotten pairs and their hinge targets, the retained pairs, a negative
    sampler, the frozen reference model of the anchor term (``None`` without one) and the forgotten pairs' loss
    (``unlearn_forget_loss``, or ``absolute`` in the settle passes)."""

    forget_u: torch.Tensor
    forget_i: torch.Tensor
    targets: torch.Tensor
    retain_u: torch.Tensor
    retain_i: torch.Tensor
    negatives: object
    reference: torch.nn.Module
    forget_loss: str


class UnlearningTrainer:
    """Runs :meth:`unlearn` on ``model`` with :class:`~recbole_unlearn.unlearn.settings.UnlearnSettings`, in one
    process or as one rank of several (``processes``: :func:`~recbole_unlearn.unlearn.parallel.processes_for`)."""

    def __init__(self, model, settings, processes=None):
        self.model = model
        self.settings = settings
        self.processes = processes or OneProcess()
        self.logger = getLogger()
        self.calibration = None
        self.rate_scale = 1.0  # halved by each backoff of the gold-free stop
        self.touched_rates = {}

    # ----------------------------------------------------------------------------------------------------------------
    def unlearn(self, split, show_progress=False) -> UnlearnOutcome:
        """``unlearn_passes`` passes over ``split.forget_train``, then the settle passes.

        The held-out side of the hinge targets and of each pass's statistics is ``split.valid_heldout``
        (validation pairs, retained and forgotten) of the same users.
        """
        model, settings, processes = self.model, self.settings, self.processes
        forget_u, forget_i = (torch.from_numpy(a) for a in pairs(split.forget_train))
        history = pairs(split.retain_train)
        retain_u, retain_i = (torch.from_numpy(a) for a in history)
        if len(forget_u) == 0:
            raise InputError("the forget set holds no training interaction: nothing for gradient steps to forget")
        members = pairs(split.forget_train)
        heldout = tuple(torch.from_numpy(np.asarray(a)) for a in same_user_pairs(members, split.valid_heldout))
        negatives = self._negative_sampler(retain_i, model.n_items, processes.draws)
        progress = tqdm(range(settings.passes), desc="Unlearn", ncols=100, disable=not show_progress)
        model.eval()  # steps differentiate the served scores (no edge or message dropout), gradients on
        # the hinge's per-pair targets, from the rebound model before any step (the anchor holds the rest there)
        targets = None
        if settings.forget_loss == "hinge" or settings.lr_unit == "calibrated":
            targets = TARGET_FUNCTIONS[settings.hinge_target](model, (forget_u, forget_i), heldout, history)
        # the anchor's frozen copy, taken after the targets so that it keeps the embeddings they cached
        reference = copy.deepcopy(model) if settings.anchor_weight and settings.retain_weight else None
        data = StepData(forget_u, forget_i, targets, retain_u, retain_i, negatives, reference, settings.forget_loss)
        with self._moving_rows(split):
            self.calibration = self._calibrated(split, data)
            outcome = UnlearnOutcome(calibration=self.calibration)
            acts = settings.lr_unit == "calibrated"  # the stop goes with the probe's rate
            reader = StopReader(model, (forget_u, forget_i), heldout, processes.draws, acts)
            self._passes(progress, data, split, reader, outcome)
            outcome.touched_rates = self.touched_rates  # those of the last passes' optimizer
            if settings.settle_passes:
                data, optimizer = self._settle_data(data, heldout, history), self._rowwise_optimizer(split)
            for settle in range(settings.settle_passes):
                outcome.log.append({"settle_pass": settle + 1, "loss": self._pass(data, optimizer)})
                outcome.settle_passes = settle + 1
        processes.finish(model)
        self.logger.info(f"unlearning ran {outcome.passes} passes and {outcome.settle_passes} settle passes")
        return outcome

    def _calibrated(self, split, data):
        """The probe of :mod:`~recbole_unlearn.unlearn.calibration` under ``unlearn_lr_unit: calibrated`` (its
        :class:`~recbole_unlearn.unlearn.calibration.Calibration`), else ``None``."""
        if self.settings.lr_unit != "calibrated":
            return None
        tables = self._touched_tables(split)
        return calibrate(self.model, tables, data.forget_u, data.forget_i, data.targets, self.settings.lr_touched)

    def _touched_tables(self, split):
        """``(table, touched rows)`` of every embedding table: the forget set's users or items, by its side."""
        touched = {"user": split.touched_users, "item": split.touched_items}
        return [(param, torch.as_tensor(touched[side], dtype=torch.long))
                for side, params in embedding_tables(self.model).items() for param in params]

    def _moving_state(self, split):
        """``(parameter, rows)`` of everything a pass moves: the touched rows, or every parameter where the rest
        learns too (``unlearn_lr_rest`` above zero)."""
        if self.settings.lr_rest:
            return [(param, slice(None)) for param in self.model.parameters() if param.requires_grad]
        return self._touched_tables(split)

    def _moving_rows(self, split):
        """With ``lr_rest`` zero only the touched rows move: a model that can score such a block locally
        (:meth:`~recbole_unlearn.model.base.GraphRecommender.moving_rows`) is told so."""
        if self.settings.lr_rest == 0 and hasattr(self.model, "moving_rows"):
            return self.model.moving_rows(split.touched_users, split.touched_items)
        return contextlib.nullcontext()

    def _settle_data(self, data, heldout, history):
        """The settle passes' step data (module docstring): targets read from the model as it is now, the anchor's
        frozen copy taken after them, the forgotten pairs pulled to their targets from either side."""
        targets = TARGET_FUNCTIONS[self.settings.hinge_target](self.model, (data.forget_u, data.forget_i), heldout,
                                                               history)
        reference = copy.deepcopy(self.model) if data.reference is not None else None
        return replace(data, targets=targets, reference=reference, forget_loss="absolute")

    def _pass(self, data, optimizer) -> float:
        """One pass over the forget set in random order; the mean loss of its steps."""
        batch_size = self.settings.step_pairs(len(data.forget_u))
        steps = math.ceil(len(data.forget_u) / batch_size)
        order = self.processes.same_order(torch.randperm(len(data.forget_u)))
        batches = (order[k * batch_size : (k + 1) * batch_size] for k in range(steps))
        return sum(self._step(batch, optimizer, data) for batch in batches) / steps

    def _passes(self, progress, data, split, reader, outcome):
        """At most ``unlearn_passes`` passes over the forget set (``outcome`` filled). Under a calibrated rate each is
        followed by its ``reader``'s reading (:class:`~recbole_unlearn.unlearn.stopping.StopReader`): the passes end
        after the first that brings the forgotten pairs down to the held-out ones (``reached_heldout``), and a pass
        after which it says the request is over-forgotten is undone and the touched rates halved
        (``outcome.backoffs``); after :data:`BACKOFFS` of those the passes end (``outcome.stopped_by``: the last
        reason). Otherwise the last pass alone is read, for the log."""
        optimizer = self._rowwise_optimizer(split)
        for pass_idx in progress:
            saved = saved_rows(self._moving_state(split)) if reader.acts else None
            entry = {"pass": pass_idx + 1, "loss": self._pass(data, optimizer)}
            if reader.acts or pass_idx + 1 == self.settings.passes:
                entry.update(reader.reading(data.targets))
            outcome.log.append(entry)
            progress.set_postfix(loss=f"{entry['loss']:.4f}")
            if not entry.get("stop"):
                outcome.passes += 1
                if entry.get("reached"):
                    outcome.stopped_by = "reached_heldout"
                    break
                continue
            restore_rows(saved)
            if outcome.backoffs == BACKOFFS:
                outcome.stopped_by = entry["stop"]
                break
            outcome.backoffs += 1
            self.rate_scale /= 2
            optimizer = self._rowwise_optimizer(split)

    # ----------------------------------------------------------------------------------------------------------------
    def _step(self, idx, optimizer, data):
        """One gradient step on the forgotten pairs ``idx`` (and as many retained pairs): this process's share of
        them, its loss weighted by that share, gradients summed over the processes; returns the whole batch's loss."""
        share = self.processes.my_share(idx)
        optimizer.zero_grad()
        loss_part = 0.0
        if len(share):
            loss = self._step_loss(share, data) * (len(share) / len(idx))
            loss.backward()
            loss_part = loss.item()
        total = self.processes.sum_gradients(self.model.parameters(), loss_part)
        optimizer.step()
        return total

    def _step_loss(self, idx, data):
        model, settings = self.model, self.settings
        clear_cached_embeddings(model)  # some models (SGL) serve predict() from a cache filled without gradients
        fu, fi = data.forget_u[idx], data.forget_i[idx]
        n = len(fu)
        pick = torch.randint(len(data.retain_u), (n,), generator=self.processes.draws)
        ru, ri = data.retain_u[pick], data.retain_i[pick]
        fj, rj = data.negatives(n), data.negatives(n)  # both drawn always: one random stream, whatever is scored
        to_target = losses.TARGET_LOSSES.get(data.forget_loss)  # a loss to a target scores no forgotten negative
        users = torch.cat([fu, ru, ru] + ([] if to_target else [fu]))
        items = torch.cat([fi, ri, rj] + ([] if to_target else [fj]))
        scores = model.predict(pair_interaction(model, users, items))
        s_fi, s_ri, s_rj, *s_fj = scores.split(n)
        if to_target:
            forget_term = to_target(s_fi, data.targets[idx].to(s_fi.device))
        else:
            forget_term = losses.FORGET_LOSSES[data.forget_loss](s_fi, s_fj[0])
        loss = settings.forget_weight * forget_term
        if settings.retain_weight:
            loss = loss + settings.retain_weight * losses.bpr(s_ri, s_rj)
        if data.reference is not None:
            with torch.no_grad():
                ref = data.reference.predict(pair_interaction(data.reference, users[n : 3 * n], items[n : 3 * n]))
            loss = loss + settings.anchor_weight * losses.anchor(scores[n : 3 * n], ref)
        return loss

    def _negative_sampler(self, retain_items, n_items, draws=None):
        """Draws negatives uniformly over real items, or by their popularity in the retain set (random stream
        ``draws``, the global one if ``None``)."""
        if self.settings.neg_sampling == "uniform":
            return lambda n: torch.randint(1, n_items, (n,), generator=draws)
        weights = torch.bincount(retain_items, minlength=n_items).double()
        weights[0] = 0.0
        return lambda n: torch.multinomial(weights, n, replacement=True, generator=draws)

    def _rowwise_optimizer(self, split):
        """The touched rate (:meth:`~recbole_unlearn.unlearn.settings.UnlearnSettings.touched_rate`) for rows the
        forget set touches, ``lr_rest`` for everything else."""
        lr_rest = self.settings.lr_rest
        tables = self._touched_tables(split)
        self.touched_rates = self._touched_rates()
        rates = [rate for side in self.touched_rates.values() for rate in side]
        groups = [row_group(param, rows, rate, lr_rest) for (param, rows), rate in zip(tables, rates)]
        in_tables = {id(param) for param, _ in tables}
        rest = [p for p in self.model.parameters() if p.requires_grad and id(p) not in in_tables]
        if rest:
            groups.append({"params": rest, "lr": lr_rest})
        return RowwiseAdam(groups)

    def _touched_rates(self) -> dict:
        """The touched rows' rate of each embedding table, by side, as the model's tables give it
        (:meth:`~recbole_unlearn.unlearn.settings.UnlearnSettings.touched_rate`)."""
        share = self.calibration.share if self.calibration is not None else None
        return {side: [self.rate_scale * self.settings.touched_rate(param, share) for param in params]
                for side, params in embedding_tables(self.model).items()}
