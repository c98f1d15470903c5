"""Adam with a learning rate per row, so the rows a forget set touches can move faster than the rest of the model.

For a parameter :math:`\\theta` with rows :math:`r` and per-row rates :math:`\\eta_r`:

.. math::
    m \\leftarrow \\beta_1 m + (1-\\beta_1) g, \\quad v \\leftarrow \\beta_2 v + (1-\\beta_2) g^2, \\quad
    \\theta_r \\leftarrow \\theta_r - \\eta_r \\frac{m_r / (1-\\beta_1^t)}{\\sqrt{v_r / (1-\\beta_2^t)} + \\epsilon}.

A learning rate per parameter group cannot express this (the touched rows share a table with the others), and
scaling gradients would not either (Adam normalises the scale away). Rows whose rate is zero never move, so their
moments are not kept: a step costs the moving rows, not the table.
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
            lr = group["lr"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    # the rows that move: all of them, or those of a per-row rate above zero
                    state["rows"] = (lr > 0).view(-1).nonzero().view(-1) if torch.is_tensor(lr) else None
                    rows = p if state["rows"] is None else p[state["rows"]]
                    state["step"] = 0
                    state["m"] = torch.zeros_like(rows)
                    state["v"] = torch.zeros_like(rows)
                rows = state["rows"]
                grad = p.grad if rows is None else p.grad[rows]
                state["step"] += 1
                state["m"].mul_(beta1).add_(grad, alpha=1 - beta1)
                state["v"].mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                m_hat = state["m"] / (1 - beta1 ** state["step"])
                v_hat = state["v"] / (1 - beta2 ** state["step"])
                update = (lr if rows is None else lr[rows]) * m_hat / (v_hat.sqrt() + group["eps"])
                if rows is None:
                    p.sub_(update)
                else:
                    p.index_add_(0, rows, update, alpha=-1)


def row_group(param, rows, rate, rest=0.0):
    """A :class:`RowwiseAdam` parameter group for a 2-D ``param`` whose ``rows`` learn at ``rate`` and every other
    row at ``rest``."""
    row_lr = torch.full((param.size(0), 1), rest, device=param.device)
    row_lr[torch.as_tensor(rows, dtype=torch.long, device=param.device)] = rate
    return {"params": [param], "lr": row_lr}
