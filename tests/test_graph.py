"""The graph backbone: normalised adjacency, its rebuild on a subset, and symmetric propagation."""

import torch

from recbole_unlearn.model.graph import SymmetricLGConv, normalized_adjacency


def dense_reference(users, items, n_users, n_items):
    """D^-1/2 A D^-1/2 written out densely, as the formula says."""
    n = n_users + n_items
    a = torch.zeros(n, n)
    a[users, items + n_users] = 1.0
    a[items + n_users, users] = 1.0
    deg = a.sum(1)
    inv_sqrt = torch.where(deg > 0, deg.pow(-0.5), torch.zeros_like(deg))
    return inv_sqrt[:, None] * a * inv_sqrt[None, :]


def random_interactions(n_users=30, n_items=20, n=200, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, n_users, (n,), generator=g), torch.randint(0, n_items, (n,), generator=g)


def test_adjacency_matches_dense_formula_with_duplicates_and_isolated_nodes():
    users, items = random_interactions()
    users = torch.cat([users, users[:10]])  # duplicate pairs count once
    items = torch.cat([items, items[:10]])
    got = normalized_adjacency(users, items, 35, 25).to_dense()  # users 30..34 and items 20..24 are isolated
    assert torch.allclose(got, dense_reference(users, items, 35, 25), atol=1e-6)
    assert got[30:35].abs().sum() == 0


def test_adjacency_is_symmetric_and_sorted_by_row():
    users, items = random_interactions()
    adj = normalized_adjacency(users, items, 30, 20)
    assert torch.equal(adj.to_dense(), adj.to_dense().T)
    crow, col = adj.crow_indices(), adj.col_indices()
    for row in range(50):
        cols = col[crow[row] : crow[row + 1]]
        assert torch.equal(cols, cols.sort().values) and len(cols.unique()) == len(cols)


def test_subset_graph_equals_graph_built_from_scratch(tiny_data, fast_config):
    """rebuild_graph(subset) on a trained model gives exactly the adjacency a new model builds from that subset."""
    from recbole_unlearn.quick_start import load_run

    config, (train, _, _), model, _ = load_run("LightGCN", "tiny", config_dict=fast_config, argv=[])
    full = train._dataset
    keep = torch.arange(len(full.inter_feat)) % 3 != 0
    subset = full.copy(full.inter_feat[keep])
    model.rebuild_graph(subset)
    from recbole_unlearn.model import LightGCN

    fresh = LightGCN(config, subset)
    assert torch.equal(model.norm_adj.to_dense(), fresh.norm_adj.to_dense())
    assert not torch.equal(model.norm_adj.to_dense(), LightGCN(config, full).norm_adj.to_dense())


def test_symmetric_conv_forward_and_gradient_match_dense_product():
    users, items = random_interactions()
    adj = normalized_adjacency(users, items, 30, 20)
    x = torch.randn(50, 8, requires_grad=True)
    x_ref = x.detach().clone().requires_grad_(True)
    out = SymmetricLGConv()(x, adj)
    ref = dense_reference(users, items, 30, 20) @ x_ref
    assert torch.allclose(out, ref, atol=1e-6)
    weights = torch.randn(50, 8)
    (out * weights).sum().backward()
    (ref * weights).sum().backward()
    assert torch.allclose(x.grad, x_ref.grad, atol=1e-5)
