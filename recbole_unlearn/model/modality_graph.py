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

Both are pure functions of the feature matrices: rebuilding them after rows are zeroed gives the graph built from
scratch on the remaining items (same edges; the same weights, up to float rounding when weighted). Similarities are
computed in row chunks, so memory is ``chunk x |V|``, never ``|V| x |V|``.
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
    features = features.detach()
    device = features.device
    valid = nonzero_rows(features).nonzero().view(-1)
    n_valid = valid.numel()
    k = min(int(k), n_valid - 1)
    if k <= 0:
        return torch.empty(2, 0, dtype=torch.long, device=device), torch.empty(0, device=device)
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
    rows, cols, sims = torch.cat(rows), torch.cat(cols), torch.cat(sims)
    if weighted:
        keep = sims > 0
        rows, cols, weight = rows[keep], cols[keep], sims[keep]
    else:
        weight = torch.ones_like(sims)
    degree = torch.zeros(n_valid, device=device).index_add_(0, rows, weight)
    weight = weight * degree[rows].rsqrt() * degree[cols].rsqrt()
    edge_index = torch.stack([valid[rows], valid[cols]])
    return coalesce(edge_index, weight, num_nodes=features.size(0))


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
