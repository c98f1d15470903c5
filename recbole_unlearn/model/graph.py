"""The user-item graph of a recommender, built vectorised from an interaction set with PyTorch Geometric.

Nodes are users ``0 .. n_users-1`` followed by items ``n_users .. n_users+n_items-1``. The normalised adjacency is

.. math::
    \\hat{A} = D^{-1/2} A D^{-1/2}, \\qquad
    A = \\begin{pmatrix} 0 & R \\\\ R^\\top & 0 \\end{pmatrix},

with :math:`R` the binary user-item interaction matrix (duplicates counted once) and :math:`D` its degree matrix.
Isolated nodes (users or items with no interaction) get an all-zero row, so nothing flows to or from them.
"""

import warnings

import torch
from torch_geometric.nn import LGConv
from torch_geometric.nn.conv.gcn_conv import gcn_norm
from torch_geometric.utils import coalesce, to_torch_csr_tensor


def bipartite_edge_index(users, items, n_users, n_items):
    """Symmetric ``edge_index`` of the user-item graph, sorted and without duplicate edges.

    Args:
        users, items: 1-D integer tensors of equal length, internal ids (items counted from 0).
    Returns:
        LongTensor of shape ``(2, 2 * n_unique_pairs)``.
    """
    users = torch.as_tensor(users, dtype=torch.long)
    items = torch.as_tensor(items, dtype=torch.long) + n_users
    edge_index = torch.stack([torch.cat([users, items]), torch.cat([items, users])])
    return coalesce(edge_index, num_nodes=n_users + n_items)


def normalized_adjacency(users, items, n_users, n_items, dtype=torch.float32):
    """:math:`D^{-1/2} A D^{-1/2}` of the user-item graph as a sparse CSR tensor of shape ``(N, N)``."""
    num_nodes = n_users + n_items
    edge_index = bipartite_edge_index(users, items, n_users, n_items)
    edge_index, edge_weight = gcn_norm(edge_index, None, num_nodes, add_self_loops=False, dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch's "sparse CSR is beta" / "invariant checks" notices
        return to_torch_csr_tensor(edge_index, edge_weight, size=(num_nodes, num_nodes))


class SymmetricSpMM(torch.autograd.Function):
    """:math:`Y = \\hat{A} X` for a symmetric sparse :math:`\\hat{A}`; the backward pass is :math:`\\hat{A} G` too.

    torch's own backward of a CSR product transposes the matrix on every call; symmetry makes that needless.
    """

    @staticmethod
    def forward(ctx, adjacency, x):
        ctx.adjacency = adjacency
        return adjacency @ x

    @staticmethod
    def backward(ctx, grad_output):
        return None, ctx.adjacency @ grad_output


class SymmetricLGConv(LGConv):
    """PyG's :class:`~torch_geometric.nn.conv.LGConv` on a pre-normalised symmetric adjacency:

    .. math::
        \\mathbf{X}' = \\hat{A} \\mathbf{X}

    Call it as ``conv(x, adjacency)`` with ``adjacency`` from :func:`normalized_adjacency`. The product runs through
    :class:`SymmetricSpMM`, whose backward pass reuses the matrix instead of transposing it.
    """

    def __init__(self):
        super().__init__(normalize=False)

    def message_and_aggregate(self, adj_t, x):
        return SymmetricSpMM.apply(adj_t, x)
