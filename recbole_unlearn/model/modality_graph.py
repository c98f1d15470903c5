"""Item-item graphs from item modality features: pure functions of the feature matrices.

**kNN graph of one modality** (LATTICE, Zhang et al. MM 2021; frozen as in FREEDOM, Zhou & Shen MM 2023). With
:math:`f_i` item :math:`i`'s feature row and :math:`V` the items whose row is not all zero,

.. math::
    s_{ij} = \\frac{f_i^\\top f_j}{\\lVert f_i \\rVert \\, \\lVert f_j \\rVert}, \\qquad
    \\hat{S}_{ij} = \\begin{cases} 1 \\; (\\text{or } s_{ij} \\text{ if weighted}) &
        i, j \\in V,\\ j \\neq i,\\ j \\in \\operatorname{top-}k_{l \\in V \\setminus \\{i\\}}\\, s_{il} \\\\
        0 & \\text{otherwise} \\end{cases}

    \\tilde{S} = D^{-1/2} \\hat{S} D^{-1/2}, \\qquad D_{ii} = \\textstyle\\sum_j \\hat{S}_{ij},

so an item with an all-zero row (the padding item 0, or an item whose features were purged) has no edges and is no
one's neighbour. :math:`k` is ``min(k, |V| - 1)``. FREEDOM's graph is the unweighted one (the default); LATTICE keeps
the similarities (``weighted=True``, where edges of non-positive similarity are dropped).

**Mixed graph** (FREEDOM's frozen item-item graph): :math:`S = \\sum_m \\alpha_m \\tilde{S}^m`.

**Learned graph** (LATTICE): the weighted graph of the same construction on learned projections of the features,
over the items that have the modality (:func:`learned_knn_edges`); its neighbours are picked without gradient
(:func:`knn_neighbours`), its weights carry the gradient back to the projections, and :func:`edge_propagate`
multiplies by it.

The kNN and mixed graphs are pure functions of the feature matrices: rebuilding them after rows are zeroed gives the
graph built from scratch on the remaining items (same edges; the same weights, up to float rounding when weighted).
Similarities are computed in row chunks, so memory is ``chunk x |V|``, never ``|V| x |V|``.
"""

import warnings

import torch
import torch.nn.functional as F
from torch_geometric.utils import coalesce, to_torch_csr_tensor

from recbole_unlearn.errors import InputError

#: similarity entries computed at once (rows per chunk = this // number of items with features)
CHUNK_ENTRIES = 1 << 24


def nonzero_rows(features):
    """Boolean mask of the rows of ``features`` that are not all zero (items that have this modality)."""
    return (features != 0).any(dim=1)


def knn_neighbours(features, k, valid=None, chunk_entries=CHUNK_ENTRIES):
    """The ``k`` most cosine-similar items of every item in ``valid``, among ``valid``, self excluded (no gradient).

    Args:
        features: ``(n_items, d)`` float tensor.
        k: neighbours per item (``min(k, |valid| - 1)``).
        valid: boolean mask of the items that take part; ``None``: the rows that are not all zero.
    Returns:
        ``(rows, cols, sims)``: item ids (row = item, column = its neighbour) and their cosine similarities, ``k``
        per valid item, rows ascending.
    """
    features = features.detach()
    device = features.device
    valid = (nonzero_rows(features) if valid is None else valid).nonzero().view(-1)
    n_valid = valid.numel()
    k = min(int(k), n_valid - 1)
    if k <= 0:
        empty = torch.empty(0, dtype=torch.long, device=device)
        return empty, empty, torch.empty(0, device=device)
    x = F.normalize(features[valid].float(), dim=1)
    chunk = max(1, chunk_entries // n_valid)
    rows, cols, sims = [], [], []
    for start in range(0, n_valid, chunk):
        end = min(start + chunk, n_valid)
        sim = x[start:end] @ x.T
        local = torch.arange(end - start, device=device)
        sim[local, local + start] = float("-inf")  # no self-loops
        top_sim, top_idx = sim.topk(k, dim=1)
        rows.append((local + start).repeat_interleave(k))
        cols.append(top_idx.reshape(-1))
        sims.append(top_sim.reshape(-1))
    return valid[torch.cat(rows)], valid[torch.cat(cols)], torch.cat(sims)


def symmetric_normalized(rows, cols, weight, n):
    """:math:`D^{-1/2} \\hat{S} D^{-1/2}` of the edges ``(rows, cols, weight)`` of an ``n``-node graph, with
    :math:`D_{ii} = \\sum_j \\hat{S}_{ij}` (differentiable in ``weight``)."""
    degree = torch.zeros(n, dtype=weight.dtype, device=weight.device).index_add(0, rows, weight)
    inv_sqrt = torch.where(degree > 0, degree.clamp_min(1e-12).rsqrt(), torch.zeros_like(degree))
    return weight * inv_sqrt[rows] * inv_sqrt[cols]


def knn_edges(features, k, weighted=False, chunk_entries=CHUNK_ENTRIES):
    """Edges of the normalised kNN graph :math:`\\tilde{S}` of one modality (see the module docstring).

    Args:
        features: ``(n_items, d)`` float tensor; all-zero rows mean "no features".
        k: neighbours per item.
        weighted: keep the cosine similarity as the edge weight (LATTICE) instead of 1 (FREEDOM).
    Returns:
        ``(edge_index, edge_weight)``: ``(2, E)`` long tensor (row = item, column = its neighbour), sorted by row then
        column, and ``(E,)`` float weights.
    """
    rows, cols, sims = knn_neighbours(features, k, chunk_entries=chunk_entries)
    if weighted:
        keep = sims > 0
        rows, cols, weight = rows[keep], cols[keep], sims[keep]
    else:
        weight = torch.ones_like(sims)
    weight = symmetric_normalized(rows, cols, weight, features.size(0))
    return coalesce(torch.stack([rows, cols]), weight, num_nodes=features.size(0))


def learned_knn_edges(features, neighbours):
    """LATTICE's learned graph :math:`\\tilde{A}` of one modality: the weighted, normalised kNN graph (as
    :func:`knn_edges` with ``weighted=True``) of ``features`` (here learned projections) on the given neighbour sets
    ``(rows, cols)`` (from :func:`knn_neighbours`, picked without gradient). The edge weights, cosine similarities
    then :func:`symmetric_normalized`, carry the gradient back to ``features``; edges of non-positive similarity are
    dropped.

    Returns:
        ``(edge_index, edge_weight)``, unsorted.
    """
    rows, cols = neighbours
    x = F.normalize(features, dim=1)
    sims = (x[rows] * x[cols]).sum(dim=-1)
    keep = sims.detach() > 0
    rows, cols, sims = rows[keep], cols[keep], sims[keep]
    return torch.stack([rows, cols]), symmetric_normalized(rows, cols, sims, features.size(0))


def edge_propagate(edge_index, edge_weight, x):
    """:math:`X' = S X` for the graph of ``edge_index`` (row = target) and ``edge_weight``: :math:`x'_i =
    \\sum_j S_{ij} x_j`, differentiable in both ``edge_weight`` and ``x``."""
    rows, cols = edge_index
    return torch.zeros_like(x).index_add(0, rows, edge_weight.unsqueeze(-1) * x[cols])


def _csr(edge_index, edge_weight, n):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch's "sparse CSR is beta" / "invariant checks" notices
        return to_torch_csr_tensor(edge_index, edge_weight, size=(n, n), is_coalesced=True)


def knn_item_graph(features, k, weighted=False, chunk_entries=CHUNK_ENTRIES):
    """:math:`\\tilde{S} = D^{-1/2} \\hat{S} D^{-1/2}` of one modality's kNN graph, a sparse CSR ``(n_items, n_items)``.

    ``features`` is ``(n_items, d)``; items with an all-zero row get no edges and are no one's neighbour.
    """
    edge_index, edge_weight = knn_edges(features, k, weighted, chunk_entries)
    return _csr(edge_index, edge_weight, features.size(0))


def mixed_item_graph(features_by_modality, k, weights=None, weighted=False, chunk_entries=CHUNK_ENTRIES):
    """FREEDOM's frozen item graph :math:`S = \\sum_m \\alpha_m \\tilde{S}^m`, a sparse CSR ``(n_items, n_items)``.

    Args:
        features_by_modality: ``{name: (n_items, d_m) tensor}``.
        k: neighbours per item in each modality's graph.
        weights: ``{name: alpha_m}``; ``None`` gives every modality ``1 / M``. Modalities it does not name get 0.
    """
    names = list(features_by_modality)
    if not names:
        raise InputError("mixed_item_graph: no modality features given")
    if weights is None:
        weights = {m: 1.0 / len(names) for m in names}
    n = next(iter(features_by_modality.values())).size(0)
    indices, values = [], []
    for m in names:
        alpha = float(weights.get(m, 0.0))
        if alpha == 0.0:
            continue
        edge_index, edge_weight = knn_edges(features_by_modality[m], k, weighted, chunk_entries)
        indices.append(edge_index)
        values.append(alpha * edge_weight)
    device = next(iter(features_by_modality.values())).device
    if not indices:
        return _csr(torch.empty(2, 0, dtype=torch.long, device=device), torch.empty(0, device=device), n)
    edge_index, edge_weight = coalesce(torch.cat(indices, 1), torch.cat(values), num_nodes=n, reduce="sum")
    return _csr(edge_index, edge_weight, n)
