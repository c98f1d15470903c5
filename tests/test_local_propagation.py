"""Local propagation: with only some rows moving, a batch's scores from their change equal the full propagation's,
values and gradients."""

import pytest
import torch
from recbole.data.interaction import Interaction

from recbole_unlearn.model.graph import (
    MovingRowsPropagation,
    ReceptiveField,
    normalized_adjacency,
)
from tests.test_graph import dense_reference, random_interactions


def test_receptive_field_levels_and_blocks_are_the_dense_matrix_s():
    users, items = random_interactions(n_users=300, n_items=200, n=400, seed=1)
    adjacency = normalized_adjacency(users, items, 300, 200)
    dense = dense_reference(users, items, 300, 200)
    seeds = torch.tensor([7, 3, 305, 499, 42])
    field = ReceptiveField(adjacency, seeds, 2)
    assert torch.equal(field.nodes[: len(seeds)], seeds) and len(field.nodes.unique()) == len(field.nodes)
    for j, block in enumerate(field.blocks):
        rows, cols = field.nodes[: field.sizes[j]], field.nodes[: field.sizes[j + 1]]
        assert torch.equal(block.to_dense(), dense[rows][:, cols])
        # the next level holds every neighbour of this one
        assert dense[rows].sum(0)[torch.isin(torch.arange(500), cols, invert=True)].abs().sum() == 0


@pytest.fixture
def sparse_lightgcn(fast_config):
    """A LightGCN on the tiny data, its graph thinned to 40 interactions: a few moving rows reach little of it."""
    from recbole_unlearn.quick_start import load_run

    _, (train, _, _), model, _ = load_run("LightGCN", "tiny", config_dict=fast_config, argv=[])
    ds = train._dataset
    model.rebuild_graph(ds.copy(ds.inter_feat[torch.arange(40)]))
    torch.nn.init.normal_(model.user_embedding.weight)
    torch.nn.init.normal_(model.item_embedding.weight)
    return model.eval()


def scores_and_gradients(model, users, items):
    model.zero_grad()
    scores = model.predict(Interaction({model.USER_ID: users, model.ITEM_ID: items}))
    (scores * torch.linspace(-1, 1, len(scores))).sum().backward()
    return scores.detach(), model.user_embedding.weight.grad.clone(), model.item_embedding.weight.grad.clone()


@pytest.mark.parametrize("n_layers", [1, 2, 3])
def test_moving_rows_change_equals_dense_propagation_values_and_gradients(n_layers):
    users, items = random_interactions(n_users=300, n_items=200, n=600, seed=n_layers)
    adjacency = normalized_adjacency(users, items, 300, 200)
    dense = dense_reference(users, items, 300, 200)
    moving = torch.tensor([4, 310, 77, 450])
    delta = torch.randn(len(moving), 8, requires_grad=True)
    full_delta = torch.zeros(500, 8).index_put((moving,), delta)
    layers, h = [full_delta], full_delta
    for _ in range(n_layers):
        h = dense @ h
        layers.append(h)
    expected = torch.stack(layers).mean(0)
    seeds = torch.tensor([310, 4, 9, 499, 260, 4])  # moving and still nodes, a repeat
    got = MovingRowsPropagation.build(adjacency, moving, n_layers).change(seeds, delta)
    assert torch.allclose(got, expected[seeds], atol=1e-6)
    weights = torch.randn(len(seeds), 8)
    local_grad, = torch.autograd.grad((got * weights).sum(), delta)
    dense_grad, = torch.autograd.grad((expected[seeds] * weights).sum(), delta)
    assert torch.allclose(local_grad, dense_grad, atol=1e-5)


def test_predict_inside_moving_rows_equals_full_predict_after_steps(sparse_lightgcn, monkeypatch):
    """Rows of the moving users and items change step by step; scores and gradients inside the block equal those
    of a full propagation of the changed model."""
    model = sparse_lightgcn
    moving_users, moving_items = torch.tensor([1, 5]), torch.tensor([3, 9])
    users, items = torch.tensor([1, 2, 2, 5, 1, 7]), torch.tensor([3, 1, 9, 3, 20, 4])
    with model.moving_rows(moving_users, moving_items):
        for _ in range(2):
            with torch.no_grad():
                model.user_embedding.weight[moving_users] += torch.randn(2, model.user_embedding.weight.size(1))
                model.item_embedding.weight[moving_items] += torch.randn(2, model.item_embedding.weight.size(1))
            with monkeypatch.context() as patch:
                patch.setattr(type(model), "forward", lambda self: pytest.fail("the full graph was propagated"))
                inside = scores_and_gradients(model, users, items)
            model.moving, block = None, model.moving
            full = scores_and_gradients(model, users, items)
            model.moving = block
            assert torch.allclose(inside[0], full[0], atol=1e-5)
            for side, rows in ((1, moving_users), (2, moving_items)):
                assert torch.allclose(inside[side][rows], full[side][rows], atol=1e-5)
    assert model.moving is None


def test_moving_rows_that_reach_most_of_the_graph_score_as_usual(sparse_lightgcn):
    model = sparse_lightgcn
    with model.moving_rows(torch.arange(1, 4), torch.arange(1, 4)):
        assert model.moving is not None
    with model.moving_rows(torch.arange(model.n_users), torch.arange(model.n_items)):
        assert model.moving is None  # every row moves: the ball is the graph


def test_build_refuses_a_ball_over_the_edge_budget_before_building_it():
    """The budget is checked on the ball's entry count, which is what the built propagation holds exactly."""
    users, items = random_interactions(n_users=300, n_items=200, n=400, seed=1)
    adjacency = normalized_adjacency(users, items, 300, 200)
    moving = torch.tensor([4, 310, 77])
    built = MovingRowsPropagation.build(adjacency, moving, 2)
    edges = built.to_ball.values().numel() + sum(block.values().numel() for block, _ in built.inward)
    assert MovingRowsPropagation.build(adjacency, moving, 2, max_edges=edges) is not None
    assert MovingRowsPropagation.build(adjacency, moving, 2, max_edges=edges - 1) is None
