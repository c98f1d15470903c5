"""Loss terms of unlearning, on model scores :math:`s(u, i)`. Each returns a mean over the batch.

For a forgotten pair :math:`(u, i)` and a sampled negative :math:`j`:

- :func:`bpr` :math:`= -\\log\\sigma(s_{ui} - s_{uj})` (ordinary BPR, used on retained pairs);
- :func:`reverse_bpr` :math:`= -\\log\\sigma(s_{uj} - s_{ui})`: the swapped, bounded form (its gradient vanishes once
  the forgotten item ranks well below the negative), not the negated BPR of gradient ascent;
- :func:`negated_bpr` :math:`= \\log\\sigma(s_{ui} - s_{uj})`: gradient ascent on BPR (``neggrad``), unbounded below;
- :func:`hinge_to_target` :math:`= \\max(0, s_{ui} - t_{ui})`: pushes a forgotten score down to its target
  :math:`t_{ui}` (:mod:`~recbole_unlearn.unlearn.targets`) and no further, so it stops by itself;
- :func:`absolute_to_target` :math:`= |s_{ui} - t_{ui}|`: pulls a forgotten score to its target from either side
  (the settle passes, :mod:`~recbole_unlearn.unlearn.trainer`);
- :func:`anchor` :math:`= (s - s^{(0)})^2`: holds scores near reference values :math:`s^{(0)}`.
"""

import torch
import torch.nn.functional as F


def bpr(pos_scores, neg_scores):
    return -F.logsigmoid(pos_scores - neg_scores).mean()


def reverse_bpr(pos_scores, neg_scores):
    return -F.logsigmoid(neg_scores - pos_scores).mean()


def negated_bpr(pos_scores, neg_scores):
    return F.logsigmoid(pos_scores - neg_scores).mean()


def hinge_to_target(pos_scores, targets):
    return torch.relu(pos_scores - targets).mean()


def absolute_to_target(pos_scores, targets):
    return (pos_scores - targets).abs().mean()


def anchor(scores, reference):
    return (scores - reference).pow(2).mean()


FORGET_LOSSES = {"log_sigmoid": reverse_bpr, "negated_bpr": negated_bpr}  # a forgotten pair against a negative
TARGET_LOSSES = {"hinge": hinge_to_target, "absolute": absolute_to_target}  # a forgotten pair against its target
