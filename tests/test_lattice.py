"""LATTICE on the embedded ml-100k demo (text features): a few training steps, the RecBole contract's shapes, and
item / modality requests that take the purged items off both its item graphs (``test_modality_request.py``: that
their rows reach no score)."""

import copy

import numpy as np
import pytest
import torch
from recbole.data.interaction import Interaction

from recbole_unlearn.data.request import ForgetRequest
from recbole_unlearn.data.split import split_datasets
from recbole_unlearn.errors import InputError
from recbole_unlearn.model.modality_graph import knn_neighbours, learned_knn_edges
from recbole_unlearn.unlearn.rebind import rebind_model
from tests.test_modality_request import (
    PURGED_TOKENS,
    demo_config,
    loaded,
    rebound_on_perturbed_features,
    trained_on_demo,
)

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """``(config, [train, valid, test], model)``: LATTICE after a few training steps on the demo."""
    return trained_on_demo(tmp_path_factory.mktemp("lattice"), "LATTICE")


def test_lattice_trains_and_keeps_the_recbole_contract(trained):
    _, (train, _, _), model = trained
    assert type(model).__module__ == "recbole_unlearn.model.lattice"
    users, items = torch.tensor([1, 2, 3]), torch.tensor([4, 5, 6])
    with torch.no_grad():
        pair = model.predict(Interaction({model.USER_ID: users, model.ITEM_ID: items}))
        full = model.full_sort_predict(Interaction({model.USER_ID: users}))
    assert pair.shape == (3,) and full.shape == (3 * model.n_items,)
    assert torch.allclose(full.view(3, -1)[torch.arange(3), items], pair, atol=1e-5)
    # the learned graph's parameters got gradients, and the modality weights are a distribution
    assert model.projections[0].weight.grad is not None and model.mixing_scores.grad is not None
    assert not any("modality_feature" in key for key in model.state_dict())


def test_learned_graph_edges_carry_gradient_to_the_projection():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(40, 6, generator=gen, requires_grad=True)
    valid = torch.ones(40, dtype=torch.bool)
    valid[[0, 7]] = False
    edge_index, weight = learned_knn_edges(x, knn_neighbours(x, 5, valid)[:2])
    assert valid[edge_index].all()
    weight.sum().backward()
    assert x.grad is not None and x.grad[valid].abs().sum() > 0 and not x.grad[~valid].any()


@pytest.mark.parametrize("kind", ["item", "modality"])
def test_purged_items_are_off_both_item_graphs_after_the_rebind(trained, tmp_path, kind):
    items, (rebound, _) = rebound_on_perturbed_features(trained, tmp_path, kind)
    assert not rebound.has_modality[0][torch.as_tensor(items)].any()
    graph = rebound.initial_graph(0).to_sparse_coo().indices()
    purged = torch.zeros(rebound.n_items, dtype=torch.bool)
    purged[torch.as_tensor(items)] = True
    assert not purged[graph].any()
    rebound.learned_graphs()
    rows, cols = rebound.learned_neighbours[0]
    assert not purged[rows].any() and not purged[cols].any()


def test_a_fresh_model_on_purged_features_has_the_rebound_graph(trained):
    config, loaders, model = trained
    dataset = loaders[0]._dataset
    items = np.sort(dataset.token2id(dataset.iid_field, PURGED_TOKENS)).astype(np.int64)
    retain = split_datasets(ForgetRequest("modality", items=items, modality="text"),
                            *(ld._dataset for ld in loaders)).retain_train
    rebound = rebind_model(copy.deepcopy(model), config, retain)
    fresh = config.model_class(config, retain)
    assert torch.equal(rebound.initial_graph(0).to_dense(), fresh.initial_graph(0).to_dense())


def test_initial_graph_weight_out_of_range_is_one_line(tmp_path):
    config = demo_config(tmp_path, "LATTICE", initial_graph_weight=1.5)
    loaders = loaded(config)
    with pytest.raises(InputError, match=r"^model LATTICE: `initial_graph_weight` must be in \[0, 1\], got 1.5$"):
        config.model_class(config, loaders[0]._dataset)
