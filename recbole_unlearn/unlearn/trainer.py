"""``UnlearningTrainer``: makes a trained model forget, through RecBole's trainer and the model's ``predict`` only.

From a trained model rebound to the retain data, each step draws a batch of forgotten pairs :math:`(u, i)` with sampled
negatives :math:`j`, and a batch of retained pairs of the same size, and minimises

.. math::
    w_f \\, \\ell_f(u, i, j) + w_r \\, \\mathrm{BPR}(\\text{retained}) + w_a \\, \\mathrm{anchor}(\\text{retained}),

where :math:`\\ell_f` is reverse BPR (``log_sigmoid``), a hinge :math:`\\max(0, s_{ui} - t_{ui})` down to a target
derived from the same users' held-out scores (``hinge``; the target by ``unlearn_hinge_target``,
:mod:`~recbole_unlearn.unlearn.targets`) or negated BPR (``negated_bpr``, gradient ascent), and the anchor holds
retained scores near those of the model right after the rebind. Rows of the embedding tables that the forget set
touches learn at ``unlearn_lr_touched``, everything else at ``unlearn_lr_rest``
(:class:`~recbole_unlearn.unlearn.optim.RowwiseAdam`). One pass covers the forget set once; after each pass the
stopping rules (:mod:`~recbole_unlearn.unlearn.stopping`) are checked. The model stays in eval mode, with gradients
on: the steps move the scores the model serves and the audit measures, not those of a training-mode graph (FREEDOM
drops 80% of its user-item edges in training mode; stepping on that graph, with the anchor holding the full graph's
scores, kept 93.0% of gold's retain Recall@20 on an ml-100k draw, against 101.8% in eval mode).

Several processes (``nproc``, :mod:`recbole_unlearn.distributed`): data-parallel, as RecBole trains. Every rank walks
the same order of forgotten pairs (rank 0's permutation, broadcast each pass) and takes its share of each batch
(every ``world_size``-th pair), with its own retained pairs and negatives (a per-rank random stream); each rank's loss
is weighted by its share of the batch and the gradients are summed over the ranks in one all-reduce per step, so a
step equals one process's step on the whole batch up to the random draws. Every rank holds the same model, scores the
pass statistics itself, and follows rank 0's stopping decision; rank 0's parameters are broadcast at the end.
"""

import copy
import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.distributed as dist
from tqdm import tqdm

from recbole_unlearn import distributed
from recbole_unlearn.data.pairs import pairs, same_user_pairs
from recbole_unlearn.scoring import auc, pair_interaction, pair_scores
from recbole_unlearn.errors import InputError
from recbole_unlearn.trainer import Trainer
from recbole_unlearn.unlearn import losses
from recbole_unlearn.unlearn.optim import RowwiseAdam
from recbole_unlearn.unlearn.rebind import clear_cached_embeddings, embedding_tables
from recbole_unlearn.unlearn.stopping import first_rule_fired, parse_stop_rules
from recbole_unlearn.unlearn.targets import TARGET_FUNCTIONS

FORGET_LOSS_FORMS = ("log_sigmoid", "hinge", "negated_bpr")


@dataclass
class UnlearnOutcome:
    """What a run of :meth:`UnlearningTrainer.unlearn` did: passes, which rule stopped it and when, per-pass log."""

    passes: int = 0
    stopped_by: str = "budget"
    stop_value: float = None
    log: list = field(default_factory=list)


def check_unlearn_config(config):
    """Refuse unknown values of the trainer's keys, with one line naming the key (called before any training)."""
    if config["unlearn_forget_loss"] not in FORGET_LOSS_FORMS:
        raise InputError(
            f"unlearn_forget_loss '{config['unlearn_forget_loss']}' is not one of {', '.join(FORGET_LOSS_FORMS)}"
        )
    if config["unlearn_hinge_target"] not in TARGET_FUNCTIONS:
        raise InputError(
            f"unlearn_hinge_target '{config['unlearn_hinge_target']}' is not one of {', '.join(TARGET_FUNCTIONS)}"
        )
    if config["unlearn_neg_sampling"] not in ("uniform", "popularity"):
        raise InputError(f"unlearn_neg_sampling '{config['unlearn_neg_sampling']}' is not one of uniform, popularity")
    for key in ("unlearn_epochs", "unlearn_batch_size", "unlearn_refresh_epochs"):
        if not isinstance(config[key], int) or config[key] < 1:
            raise InputError(f"{key} must be a positive integer, got {config[key]!r}")
    for key in ("unlearn_refresh_every", "unlearn_revoked_steps"):
        if not isinstance(config[key], int) or config[key] < 0:
            raise InputError(f"{key} must be 0 (never) or a positive integer, got {config[key]!r}")
    parse_stop_rules(config["unlearn_stop"])
    check_branch_scale(config)


def check_branch_scale(config):
    """``unlearn_branch_scale``: empty, or ``{branch: scale >= 0}`` over the model class's ``SCORE_BRANCHES``."""
    scales = config["unlearn_branch_scale"]
    if not scales:
        return
    branches = getattr(config.model_class, "SCORE_BRANCHES", ())
    if not isinstance(scales, dict):
        raise InputError(f"unlearn_branch_scale must map branch names to scales, got {scales!r}")
    unknown = sorted(set(scales) - set(branches))
    if unknown:
        known = ", ".join(branches) if branches else "none"
        raise InputError(
            f"unlearn_branch_scale: model {config['model']} has no branch {', '.join(unknown)} (its branches: {known})"
        )
    bad = {k: v for k, v in scales.items() if not isinstance(v, (int, float)) or v < 0}
    if bad:
        raise InputError(f"unlearn_branch_scale: scales must be non-negative numbers, got {bad}")


class UnlearningTrainer(Trainer):
    """A RecBole trainer (with safe checkpoints) that adds :meth:`unlearn`; ``fit`` / ``evaluate`` work as usual."""

    def __init__(self, config, model):
        super().__init__(config, model)
        check_unlearn_config(config)
        self.forget_loss = config["unlearn_forget_loss"]
        self.forget_weight = float(config["forget_weight"])
        self.retain_weight = float(config["retain_weight"])
        self.anchor_weight = float(config["unlearn_anchor_weight"] or 0.0)
        self.passes = int(config["unlearn_epochs"])
        self.batch_size = int(config["unlearn_batch_size"])
        self.neg_sampling = config["unlearn_neg_sampling"]
        self.stop_rules = parse_stop_rules(config["unlearn_stop"])
        self.stop_auc = float(config["unlearn_stop_auc"])
        self.stop_share = float(config["unlearn_stop_share"] or 0.0)
        self.hinge_target = TARGET_FUNCTIONS[config["unlearn_hinge_target"]]

    # ----------------------------------------------------------------------------------------------------------------
    def unlearn(self, split, valid_heldout, show_progress=False) -> UnlearnOutcome:
        """Run passes over ``split.forget_train`` until a stopping rule fires.

        Args:
            split: a :class:`~recbole_unlearn.data.split.ForgetSplit`.
            valid_heldout: ``(users, items)`` validation pairs of the original data (retained and forgotten), the
                held-out side for the hinge targets and the ``mia_auc`` rule.
        """
        model = self.model
        forget_u, forget_i = (torch.from_numpy(a) for a in pairs(split.forget_train))
        history = pairs(split.retain_train)
        retain_u, retain_i = (torch.from_numpy(a) for a in history)
        if len(forget_u) == 0:
            raise InputError("the forget set holds no training interaction: nothing for gradient steps to forget")
        heldout = tuple(torch.from_numpy(np.asarray(a)) for a in same_user_pairs(pairs(split.forget_train), valid_heldout))
        several = not self.config["single_spec"]
        # one process draws from the global stream as always; each rank of several from its own
        draws = torch.Generator().manual_seed(int(torch.randint(2**62, (1,))) + dist.get_rank()) if several else None
        negatives = self._negative_sampler(retain_i, model.n_items, draws)
        optimizer = self._rowwise_optimizer(split)
        reference = copy.deepcopy(model).eval() if self.anchor_weight and self.retain_weight else None
        model.branch_gradient_scale = dict(self.config["unlearn_branch_scale"] or {})  # validated for this model class
        outcome = UnlearnOutcome()
        steps = math.ceil(len(forget_u) / self.batch_size)
        progress = tqdm(range(self.passes), desc="Unlearn", ncols=100, disable=not show_progress)
        # the hinge's per-pair targets, from the rebound model before any step (the anchor holds the rest of it there)
        targets = None
        if self.forget_loss == "hinge" or "hinge" in self.stop_rules:
            targets = self.hinge_target(model, (forget_u, forget_i), heldout, history)
        model.eval()  # steps differentiate the served scores (no edge or message dropout), gradients on
        for pass_idx in progress:
            order = torch.randperm(len(forget_u))
            if several:
                distributed.broadcast_(order)
            total = 0.0
            for step in range(steps):
                idx = order[step * self.batch_size : (step + 1) * self.batch_size]
                batch = (forget_u, forget_i, targets, retain_u, retain_i, negatives, reference)
                if several:
                    total += self._distributed_step(idx, optimizer, batch, draws)
                else:
                    total += self._step(idx, optimizer, batch)
            outcome.passes = pass_idx + 1
            stats = self._pass_stats(forget_u, forget_i, heldout, targets)
            outcome.log.append({"pass": outcome.passes, "loss": total / steps, **stats})
            progress.set_postfix(loss=f"{total / steps:.4f}", auc=f"{stats['forget_vs_valid_auc']:.3f}")

            def stop(stats=stats):
                return first_rule_fired(
                    self.stop_rules, stats["forget_vs_valid_auc"], stats["above_target_share"], self.stop_auc,
                    self.stop_share,
                )

            rule, value = distributed.from_rank0(stop) if several else stop()
            if rule is not None:
                outcome.stopped_by, outcome.stop_value = rule, value
                break
        if several:
            distributed.broadcast_parameters(model)
        model.branch_gradient_scale = {}
        self.logger.info(f"unlearning stopped by rule '{outcome.stopped_by}' after pass {outcome.passes}")
        return outcome

    # ----------------------------------------------------------------------------------------------------------------
    def _step(self, idx, optimizer, batch):
        """One gradient step on the forgotten pairs ``idx`` (and as many retained pairs); returns the loss."""
        forget_u, forget_i, targets, *rest = batch
        loss = self._step_loss(forget_u[idx], forget_i[idx], None if targets is None else targets[idx], *rest)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss.item()

    def _distributed_step(self, idx, optimizer, batch, draws):
        """This rank's share of the step on ``idx``: its loss weighted by its share of the batch, gradients summed
        over the ranks (one all-reduce), then the same optimizer step in every rank; returns the whole batch's loss."""
        forget_u, forget_i, targets, *rest = batch
        share = idx[dist.get_rank() :: dist.get_world_size()]
        optimizer.zero_grad()
        loss_part = 0.0
        if len(share):
            share_targets = None if targets is None else targets[share]
            loss = self._step_loss(forget_u[share], forget_i[share], share_targets, *rest, draws=draws)
            loss = loss * (len(share) / len(idx))
            loss.backward()
            loss_part = loss.item()
        (total,) = distributed.sum_gradients(self.model.parameters(), [loss_part])
        optimizer.step()
        return total

    def _step_loss(self, fu, fi, ft, retain_u, retain_i, negatives, reference, draws=None):
        model = self.model
        clear_cached_embeddings(model)  # some models (SGL) serve predict() from a cache filled without gradients
        n = len(fu)
        pick = torch.randint(len(retain_u), (n,), generator=draws)
        ru, ri = retain_u[pick], retain_i[pick]
        fj, rj = negatives(n), negatives(n)
        users = torch.cat([fu, fu, ru, ru])
        items = torch.cat([fi, fj, ri, rj])
        scores = model.predict(pair_interaction(model, users, items))
        s_fi, s_fj, s_ri, s_rj = scores.split(n)
        if self.forget_loss == "hinge":
            forget_term = losses.hinge_to_target(s_fi, ft.to(s_fi.device))
        else:
            forget_term = losses.FORGET_LOSSES[self.forget_loss](s_fi, s_fj)
        loss = self.forget_weight * forget_term
        if self.retain_weight:
            loss = loss + self.retain_weight * losses.bpr(s_ri, s_rj)
        if reference is not None:
            with torch.no_grad():
                ref = reference.predict(pair_interaction(reference, users[2 * n :], items[2 * n :]))
            loss = loss + self.anchor_weight * losses.anchor(scores[2 * n :], ref)
        return loss

    def _negative_sampler(self, retain_items, n_items, draws=None):
        """Draws negatives uniformly over real items, or by their popularity in the retain set (random stream
        ``draws``, the global one if ``None``)."""
        if self.neg_sampling == "uniform":
            return lambda n: torch.randint(1, n_items, (n,), generator=draws)
        weights = torch.bincount(retain_items, minlength=n_items).double()
        weights[0] = 0.0
        return lambda n: torch.multinomial(weights, n, replacement=True, generator=draws)

    def _rowwise_optimizer(self, split):
        """``unlearn_lr_touched`` for rows the forget set touches, ``unlearn_lr_rest`` for everything else."""
        lr_touched = float(self.config["unlearn_lr_touched"])
        lr_rest = float(self.config["unlearn_lr_rest"])
        touched = {"user": split.touched_users, "item": split.touched_items}
        groups = []
        tables = embedding_tables(self.model)
        for side, param in tables.items():
            row_lr = torch.full((param.size(0), 1), lr_rest, device=param.device)
            row_lr[torch.as_tensor(touched[side], dtype=torch.long)] = lr_touched
            groups.append({"params": [param], "lr": row_lr})
        in_tables = {id(p) for p in tables.values()}
        rest = [p for p in self.model.parameters() if p.requires_grad and id(p) not in in_tables]
        if rest:
            groups.append({"params": rest, "lr": lr_rest})
        return RowwiseAdam(groups)

    def _pass_stats(self, forget_u, forget_i, heldout, targets):
        """What the stopping rules look at: the AUC separating forgotten from held-out validation scores, and the share
        of forgotten scores above their hinge target (NaN without targets)."""
        clear_cached_embeddings(self.model)
        forget_scores = pair_scores(self.model, forget_u, forget_i)
        above = float((forget_scores > targets).float().mean()) if targets is not None else float("nan")
        return {
            "forget_vs_valid_auc": auc(forget_scores.numpy(), pair_scores(self.model, *heldout).numpy()),
            "above_target_share": above,
        }
