"""Adam with a learning rate per row, so the rows a forget set touches can move faster than the rest of the model.

For a parameter :math:`\\theta` with rows :math:`r` and per-row rates :math:`\\eta_r`:

.. math::
    m \\leftarrow \\beta_1 m + (1-\\beta_1) g, \\quad v \\leftarrow \\beta_2 v + (1-\\beta_2) g^2, \\quad
    \\theta_r \\leftarrow \\theta_r - \\eta_r \\frac{m_r / (1-\\beta_1^t)}{\\sqrt{v_r / (1-\\beta_2^t)} + \\epsilon}.

A learning rate per parameter group cannot express this (the touched rows share a table with the others), and
scaling gradients would not either (Adam normalises the scale away).
"""

import torch


class RowwiseAdam(torch.optim.Optimizer):
    """Adam whose ``lr`` may be a column tensor of shape ``(rows, 1)`` for 2-D parameters (see module docstring)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps})

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["m"] = torch.zeros_like(p)
                    state["v"] = torch.zeros_like(p)
                state["step"] += 1
                state["m"].mul_(beta1).add_(p.grad, alpha=1 - beta1)
                state["v"].mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
                m_hat = state["m"] / (1 - beta1 ** state["step"])
                v_hat = state["v"] / (1 - beta2 ** state["step"])
                p.sub_(group["lr"] * m_hat / (v_hat.sqrt() + group["eps"]))
        return None
