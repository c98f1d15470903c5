"""LATTICE on the embedded ml-100k demo (text features): a few training steps, the RecBole contract's shapes, and
item / modality requests whose purged feature rows no longer reach any score once the model is rebound."""

import copy

import numpy as np
import pytest
import torch
from recbole.data.interaction import Interaction
from recbole.utils import init_seed

from recbole_unlearn.config import Config
from recbole_unlearn.data import create_dataset, data_preparation
from recbole_unlearn.data.features import PACKAGE_DATA_DIR, read_item_map
from recbole_unlearn.data.request import ForgetRequest
from recbole_unlearn.data.split import split_datasets
from recbole_unlearn.errors import InputError
from recbole_unlearn.model.modality_graph import knn_neighbours, learned_knn_edges
from recbole_unlearn.unlearn.rebind import rebind_model

DEMO = PACKAGE_DATA_DIR / "ml-100k"
PURGED_TOKENS = ["1", "50", "100", "181", "258", "286", "294", "300"]  # popular movies: many graph neighbours


pytestmark = pytest.mark.usefixtures("one_thread")


def demo_config(tmp_path, features=None, **extra):
    """LATTICE on ml-100k; ``features`` replaces the demo's text matrix (same rows, same item map)."""
    values = {"state": "ERROR", "show_progress": False, "checkpoint_dir": str(tmp_path / "saved"),
              "train_batch_size": 4096, "feature_norm": "standardize", **extra}
    if features is not None:
        values["modalities"] = {"text": str(features)}
    return Config("LATTICE", "ml-100k", config_dict=values, argv=[])


def loaded(config):
    init_seed(config["seed"], config["reproducibility"])
    return data_preparation(config, create_dataset(config))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """``(config, [train, valid, test], model)``: LATTICE after a few training steps on the demo."""
    tmp_path = tmp_path_factory.mktemp("lattice")
    config = demo_config(tmp_path)
    loaders = loaded(config)
    init_seed(config["seed"], config["reproducibility"])
    model = config.model_class(config, loaders[0]._dataset)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    model.train()
    losses = []
    for step, batch in enumerate(loaders[0]):
        loss = model.calculate_loss(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if step == 5:
            break
    assert all(np.isfinite(losses)) and losses[-1] < losses[0]
    return config, loaders, model.eval()


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


def perturbed_matrix(tmp_path, rows):
    """The demo's text matrix (float32) with ``rows`` replaced by large random values, saved to a file."""
    matrix = np.load(DEMO / "all-MiniLM-L6-v2.npy").astype(np.float32)
    matrix[rows] = 100 * np.random.default_rng(1).normal(size=(len(rows), matrix.shape[1]))
    path = tmp_path / "text-perturbed.npy"
    np.save(path, matrix)
    return path


def scores(model):
    with torch.no_grad():
        everyone = Interaction({model.USER_ID: torch.arange(model.n_users)})
        return model.full_sort_predict(everyone).view(model.n_users, -1)


@pytest.mark.parametrize("kind", ["item", "modality"])
def test_purged_rows_no_longer_reach_any_score_after_the_rebind(trained, tmp_path, kind):
    config, loaders, model = trained
    dataset = loaders[0]._dataset
    items = np.sort(dataset.token2id(dataset.iid_field, PURGED_TOKENS)).astype(np.int64)
    request = ForgetRequest(kind, items=items, modality="text" if kind == "modality" else None)

    row_tokens = read_item_map(DEMO / "items.tsv")
    rows = [row_tokens.index(token) for token in PURGED_TOKENS]
    other_config = demo_config(tmp_path, features=perturbed_matrix(tmp_path, rows),
                               modality_item_map=str(DEMO / "items.tsv"))
    other_loaders = loaded(other_config)
    other_dataset = other_loaders[0]._dataset
    assert torch.equal(other_dataset.inter_feat[dataset.iid_field], dataset.inter_feat[dataset.iid_field])

    # the perturbation matters while the rows are there ...
    unpurged = rebind_model(copy.deepcopy(model), other_config, other_dataset).eval()
    assert not torch.allclose(scores(unpurged), scores(model), atol=1e-4)

    # ... and reaches no score once they are purged: the rebound models are the same model
    rebound = [
        rebind_model(copy.deepcopy(model), cfg, split_datasets(request, *(ld._dataset for ld in lds)).retain_train)
        for cfg, lds in ((config, loaders), (other_config, other_loaders))
    ]
    for m in rebound:
        m.eval()
        assert not m.modality_feature("text")[torch.as_tensor(items)].any()
        assert not m.has_modality[0][torch.as_tensor(items)].any()
    assert torch.equal(rebound[0].modality_feature("text"), rebound[1].modality_feature("text"))
    assert torch.allclose(scores(rebound[0]), scores(rebound[1]), atol=1e-6)
    # the purged items are off the item graph: no edges out, no one's neighbour, in either graph
    graph = rebound[0].initial_graph(0).to_sparse_coo().indices()
    purged = torch.zeros(model.n_items, dtype=torch.bool)
    purged[torch.as_tensor(items)] = True
    assert not purged[graph].any()
    rebound[0].learned_graphs()
    rows_, cols_ = rebound[0].learned_neighbours[0]
    assert not purged[rows_].any() and not purged[cols_].any()


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
    config = demo_config(tmp_path, initial_graph_weight=1.5)
    loaders = loaded(config)
    with pytest.raises(InputError, match=r"^model LATTICE: `initial_graph_weight` must be in \[0, 1\], got 1.5$"):
        config.model_class(config, loaders[0]._dataset)
