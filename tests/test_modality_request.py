"""Item and modality requests on every multimodal model (the embedded ml-100k demo, text features): once the model
is rebound to the retain side, the purged feature rows reach no score, so perturbing them changes no score."""

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
from recbole_unlearn.unlearn.rebind import rebind_model

DEMO = PACKAGE_DATA_DIR / "ml-100k"
PURGED_TOKENS = ["1", "50", "100", "181", "258", "286", "294", "300"]  # popular movies: many graph neighbours
MODELS = ["VBPR", "MMLightGCN", "FREEDOM", "LATTICE"]

pytestmark = pytest.mark.usefixtures("one_thread")


def demo_config(tmp_path, model, features=None, **extra):
    """``model`` on ml-100k; ``features`` replaces the demo's text matrix (same rows, same item map)."""
    values = {"state": "ERROR", "show_progress": False, "checkpoint_dir": str(tmp_path / "saved"),
              "train_batch_size": 4096, "feature_norm": "standardize", **extra}
    if features is not None:
        values["modalities"] = {"text": str(features)}
    return Config(model, "ml-100k", config_dict=values, argv=[])


def loaded(config):
    init_seed(config["seed"], config["reproducibility"])
    return data_preparation(config, create_dataset(config))


def trained_on_demo(tmp_path, model_name, steps=6):
    """``(config, [train, valid, test], model)``: ``model_name`` after a few training steps on the demo."""
    config = demo_config(tmp_path, model_name)
    loaders = loaded(config)
    init_seed(config["seed"], config["reproducibility"])
    model = config.model_class(config, loaders[0]._dataset)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    model.train()
    losses = []
    for _, batch in zip(range(steps), loaders[0]):
        loss = model.calculate_loss(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert all(np.isfinite(losses)) and losses[-1] < losses[0]
    return config, loaders, model.eval()


@pytest.fixture(scope="module", params=MODELS)
def trained(request, tmp_path_factory):
    return trained_on_demo(tmp_path_factory.mktemp(request.param), request.param)


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


def rebound_on_perturbed_features(trained, tmp_path, kind):
    """The trained model rebound to the retain side of a ``kind`` request on :data:`PURGED_TOKENS`, twice: with the
    demo's features and with the purged rows perturbed. Checks that the perturbation reaches the scores while the
    rows are there. Returns ``(purged item ids, [rebound, rebound on perturbed])``."""
    config, loaders, model = trained
    dataset = loaders[0]._dataset
    items = np.sort(dataset.token2id(dataset.iid_field, PURGED_TOKENS)).astype(np.int64)
    request = ForgetRequest(kind, items=items, modality="text" if kind == "modality" else None)

    row_tokens = read_item_map(DEMO / "items.tsv")
    rows = [row_tokens.index(token) for token in PURGED_TOKENS]
    other_config = demo_config(tmp_path, config["model"], features=perturbed_matrix(tmp_path, rows),
                               modality_item_map=str(DEMO / "items.tsv"))
    other_loaders = loaded(other_config)
    other_dataset = other_loaders[0]._dataset
    assert torch.equal(other_dataset.inter_feat[dataset.iid_field], dataset.inter_feat[dataset.iid_field])

    unpurged = rebind_model(copy.deepcopy(model), other_config, other_dataset).eval()
    assert not torch.allclose(scores(unpurged), scores(model), atol=1e-4)

    rebound = [
        rebind_model(copy.deepcopy(model), cfg, split_datasets(request, *(ld._dataset for ld in lds)).retain_train)
        for cfg, lds in ((config, loaders), (other_config, other_loaders))
    ]
    return items, [m.eval() for m in rebound]


@pytest.mark.parametrize("kind", ["item", "modality"])
def test_perturbing_a_purged_row_changes_no_score(trained, tmp_path, kind):
    items, rebound = rebound_on_perturbed_features(trained, tmp_path, kind)
    for m in rebound:
        assert not m.modality_feature("text")[torch.as_tensor(items)].any()
    assert torch.equal(rebound[0].modality_feature("text"), rebound[1].modality_feature("text"))
    assert torch.allclose(scores(rebound[0]), scores(rebound[1]), atol=1e-6)
