"""The user-item graph of a recommender, built vectorised from an interaction set, and propagation over it.

Nodes are users ``0 .. n_users-1`` followed by items ``n_users .. n_users+n_items-1``. The normalised adjacency is

.. math::
    \\hat{A} = D^{-1/2} A D^{-1/2}, \\qquad
    A = \\begin{pmatrix} 0 & R \\\\ R^\\top & 0 \\end{pmatrix},

with :math:`R` the binary user-item interaction matrix (duplicates counted once) and :math:`D` its degree matrix.
Isolated nodes (users or items with no interaction) get an all-zero row, so nothing flows to or from them.
"""

import math
import warnings

import torch
from torch_geometric.nn import LGConv


def normalized_adjacency(users, items, n_users, n_items, dtype=torch.float32):
    """:math:`D^{-1/2} A D^{-1/2}` of the user-item graph as a sparse CSR tensor of shape ``(N, N)``.

    Built directly in CSR order: the distinct pairs sorted by (user, item) are the user rows; a stable sort of them by
    item gives the item rows. Two sorts of the pairs, whatever the graph's size, and no edge list of twice its length.

    Args:
        users, items: 1-D integer tensors of equal length, internal ids (items counted from 0).
    """
    users = torch.as_tensor(users, dtype=torch.long)
    items = torch.as_tensor(items, dtype=torch.long)
    pairs = torch.unique(users * n_items + items)  # sorted by (user, item), each pair once
    users, items = pairs // n_items, pairs % n_items
    degree = torch.cat([torch.bincount(users, minlength=n_users), torch.bincount(items, minlength=n_items)])
    inv_sqrt = torch.where(degree > 0, degree.to(dtype).pow(-0.5), torch.zeros((), dtype=dtype))
    weight = inv_sqrt[users] * inv_sqrt[items + n_users]
    by_item = torch.argsort(items, stable=True)
    crow = torch.cat([degree.new_zeros(1), degree.cumsum(0)])
    col = torch.cat([items + n_users, users[by_item]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch's "sparse CSR is beta" notice
        return torch.sparse_csr_tensor(crow, col, torch.cat([weight, weight[by_item]]), size=(len(degree),) * 2)


class SparseMM(torch.autograd.Function):
    """:math:`Y = S X` for a sparse :math:`S` given with its transpose; the backward pass is :math:`S^\\top G`.

    torch's own backward of a CSR product transposes the matrix on every call; a matrix used many times is better
    transposed once (a symmetric one is its own transpose).
    """

    @staticmethod
    def forward(ctx, matrix, transpose, x):
        ctx.transpose = transpose
        return matrix @ x

    @staticmethod
    def backward(ctx, grad_output):
        return None, None, ctx.transpose @ grad_output


class SymmetricLGConv(LGConv):
    """PyG's :class:`~torch_geometric.nn.conv.LGConv` on a pre-normalised symmetric adjacency:

    .. math::
        \\mathbf{X}' = \\hat{A} \\mathbf{X}

    Call it as ``conv(x, adjacency)`` with ``adjacency`` from :func:`normalized_adjacency`. The product runs through
    :class:`SparseMM`, whose backward pass reuses the matrix (its own transpose) instead of transposing it.
    """

    def __init__(self):
        super().__init__(normalize=False)

    def message_and_aggregate(self, adj_t, x):
        return SparseMM.apply(adj_t, adj_t, x)


def csr_rows(matrix, rows):
    """Rows ``rows`` of a CSR matrix as ``(row_position, column, value)`` triples (row positions index ``rows``)."""
    crow, col, values = matrix.crow_indices(), matrix.col_indices(), matrix.values()
    start = crow[rows]
    counts = crow[rows + 1] - start
    row_ptr = torch.cat([counts.new_zeros(1), counts.cumsum(0)])
    entry = torch.arange(int(row_ptr[-1]), device=crow.device) + torch.repeat_interleave(start - row_ptr[:-1], counts)
    return torch.repeat_interleave(torch.arange(len(rows), device=crow.device), counts), col[entry], values[entry]


def csr_from_triples(rows, cols, values, size):
    """A CSR matrix of shape ``size`` from ``(row, column, value)`` triples already in row order (as
    :func:`csr_rows` gives them)."""
    counts = torch.bincount(rows, minlength=size[0])
    return torch.sparse_csr_tensor(torch.cat([counts.new_zeros(1), counts.cumsum(0)]), cols, values, size)


def csr_row_block(matrix, rows):
    """Rows ``rows`` of a CSR matrix, in that order (repeats allowed), as a CSR matrix of ``len(rows)`` rows."""
    return csr_from_triples(*csr_rows(matrix, rows), (len(rows), matrix.size(1)))


class RowsToBall(torch.autograd.Function):
    """:math:`Y = \\hat{A}_{S,\\,B} X` for seed rows :math:`S` (``rows``, CSR, one row per entry of ``seeds``) and the
    ball's columns :math:`B`, with the backward pass

    .. math::
        \\frac{\\partial \\ell}{\\partial X} = \\hat{A}_{B,\\,:}\\, G, \\qquad
        G_n = \\sum_{j:\\, S_j = n} \\frac{\\partial \\ell}{\\partial Y_j},

    one product over the ball's rows (``from_ball``, built once) instead of transposing the batch's rows on every
    call, which for a batch holding popular items costs several times the product itself.
    """

    @staticmethod
    def forward(ctx, rows, from_ball, seeds, x):
        ctx.from_ball, ctx.seeds = from_ball, seeds
        return rows @ x

    @staticmethod
    def backward(ctx, grad_output):
        spread = grad_output.new_zeros(ctx.from_ball.size(1), grad_output.size(1))
        spread.index_add_(0, ctx.seeds, grad_output)
        return None, None, None, ctx.from_ball @ spread


class ReceptiveField:
    """The nodes within ``n_layers`` hops of some seed nodes, level by level, and the rows of :math:`\\hat{A}`
    between the levels.

    For seeds :math:`T_0`, :math:`T_{j+1} = T_j \\cup N(T_j)`: layer :math:`k` of a propagation
    :math:`E^{(k)} = \\hat{A} E^{(k-1)}` on :math:`T_{L-k}` needs :math:`E^{(k-1)}` on :math:`T_{L-k+1}` only. The
    entries are the full graph's (its normalisation is global); only rows are taken.

    Attributes:
        nodes: :math:`T_L`, ordered so that every :math:`T_j` is a prefix (the seeds first, in the order given).
        sizes: :math:`|T_0|, \\dots, |T_L|`.
        blocks: ``blocks[j]`` is :math:`\\hat{A}_{T_j, T_{j+1}}`, sparse COO, columns numbered by position in
            ``nodes``.
    """

    def __init__(self, adjacency, seeds, n_layers):
        position = torch.full((adjacency.size(0),), -1, dtype=torch.long, device=seeds.device)
        position[seeds] = torch.arange(len(seeds), device=seeds.device)
        nodes, self.sizes, self.blocks = seeds, [len(seeds)], []
        for _ in range(n_layers):
            rows, cols, entries = csr_rows(adjacency, nodes)
            new = torch.unique(cols[position[cols] < 0])
            position[new] = torch.arange(len(nodes), len(nodes) + len(new), device=seeds.device)
            nodes = torch.cat([nodes, new])
            self.sizes.append(len(nodes))
            size = (self.sizes[-2], len(nodes))
            self.blocks.append(torch.sparse_coo_tensor(torch.stack([rows, position[cols]]), entries, size).coalesce())
        self.nodes = nodes


class MovingRowsPropagation:
    """How a propagation's output changes when only some layer-0 rows change, computed from both ends.

    With :math:`M = \\frac{1}{L+1}\\sum_{k=0}^{L} \\hat{A}^k` the propagation (linear in the layer-0 rows
    :math:`E^{(0)}`), a change :math:`\\Delta` confined to the rows of nodes :math:`P` changes the output rows of
    nodes :math:`S` by

    .. math::
        (M\\Delta)_S = \\frac{1}{L+1}\\Big(\\Delta_S + \\hat{A}_{S,\\,B}\\, \\sum_{k=0}^{L-1} h_k\\Big), \\qquad
        h_0 = \\Delta_P, \\quad h_k = \\hat{A}_{Q_k,\\,Q_{k-1}} h_{k-1},

    where :math:`Q_0 = P \\subseteq Q_1 \\subseteq \\dots` are the balls around :math:`P` (:class:`ReceptiveField`),
    :math:`B = Q_{L-1}`, and each :math:`h_k` (the rows of :math:`\\hat{A}^k\\Delta`, zero outside :math:`Q_k`) is
    padded with zeros to :math:`B` (every ball holds the one before as its first rows). The ball is built once, from
    :math:`P`'s side; a batch then costs the entries of :math:`\\hat{A}` between its own rows and :math:`B`, never its
    own neighbours' neighbours, so a popular item in a batch does not pull in the users of its users; its backward
    pass costs the ball's entries (:class:`RowsToBall`), which :meth:`build` bounds. Exact, values and gradients, as
    long as no row outside :math:`P` changes.
    """

    def __init__(self, adjacency, ball, n_layers):
        self.n_layers = n_layers
        self.moving = ball.nodes[: ball.sizes[0]]
        # (A[Q_k, Q_{k-1}], its transpose), both CSR
        self.inward = [(block.t().coalesce().to_sparse_csr(), block.to_sparse_csr()) for block in ball.blocks]
        self.ball_size = len(ball.nodes)
        self.moving_position = torch.full((adjacency.size(0),), -1, dtype=torch.long, device=ball.nodes.device)
        self.moving_position[self.moving] = torch.arange(len(self.moving), device=ball.nodes.device)
        # A[B, :] and A[:, B] (its transpose, A being symmetric), built once: a batch reads its rows of A[:, B]
        rows, cols, values = csr_rows(adjacency, ball.nodes)
        self.from_ball = csr_from_triples(rows, cols, values, (len(ball.nodes), adjacency.size(0)))
        self.to_ball = torch.sparse_coo_tensor(
            torch.stack([cols, rows]), values, (adjacency.size(0), len(ball.nodes))
        ).coalesce().to_sparse_csr()

    @classmethod
    def build(cls, adjacency, moving, n_layers, max_edges=math.inf):
        """The propagation for layer-0 rows ``moving``, or ``None`` when it would hold more than ``max_edges``
        entries of :math:`\\hat{A}` (counted from the ball before anything else is built)."""
        ball = ReceptiveField(adjacency, moving, n_layers - 1)
        crow = adjacency.crow_indices()
        edges = int((crow[ball.nodes + 1] - crow[ball.nodes]).sum()) + sum(int(b._nnz()) for b in ball.blocks)
        return cls(adjacency, ball, n_layers) if edges <= max_edges else None

    def change(self, seeds, delta):
        """:math:`(M\\Delta)_S` for seed nodes ``seeds``, given ``delta``: the change of the moving rows (in the
        order of ``moving``)."""
        h, total = delta, delta
        for block, transpose in self.inward:
            h = SparseMM.apply(block, transpose, h)
            total = torch.cat([total + h[: len(total)], h[len(total) :]])
        hop = csr_row_block(self.to_ball, seeds)
        own = self.moving_position[seeds]
        direct = torch.where((own >= 0)[:, None], delta[own.clamp(min=0)], delta.new_zeros(()))
        return (direct + RowsToBall.apply(hop, self.from_ball, seeds, total)) / (self.n_layers + 1)
