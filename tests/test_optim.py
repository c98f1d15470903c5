"""RowwiseAdam: Adam with a learning rate per row; rows at rate zero never move."""

import torch

from recbole_unlearn.unlearn.optim import RowwiseAdam


def test_rowwise_adam_moves_rows_as_adam_at_their_rate_and_leaves_rate_zero_rows_alone():
    torch.manual_seed(0)
    table = torch.nn.Parameter(torch.randn(6, 3))
    reference = torch.nn.Parameter(table.detach().clone())
    row_lr = torch.tensor([0.0, 0.1, 0.0, 0.1, 0.1, 0.0])[:, None]
    ours = RowwiseAdam([{"params": [table], "lr": row_lr}])
    adam = torch.optim.Adam([reference], lr=0.1)
    start = table.detach().clone()
    for _ in range(5):
        weights = torch.randn(6, 3)
        for param, opt in ((table, ours), (reference, adam)):
            opt.zero_grad()
            (param * weights).pow(2).sum().backward()
            opt.step()
    moving = row_lr.view(-1) > 0
    assert torch.equal(table[~moving], start[~moving])
    assert torch.allclose(table[moving], reference[moving], atol=1e-6)
    assert not torch.allclose(table[moving], start[moving])
