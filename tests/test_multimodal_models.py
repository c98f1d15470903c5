"""Multimodal models (VBPR, MMLightGCN, FREEDOM, LATTICE) and the modality item-item graph.

The data is the clustered fixture of ``conftest`` (users and items in 4 taste groups), made larger than ``tiny`` so a
random ranking scores low, with two modalities attached by hand: each item's rows are its group's centroid plus noise,
so features tell a model which group an item belongs to.
"""

import copy

import numpy as np
import pytest
import torch
from recbole.data.interaction import Interaction
from recbole.utils import init_seed

from recbole_unlearn.config import Config
from recbole_unlearn.data import create_dataset, data_preparation
from recbole_unlearn.errors import InputError
from recbole_unlearn.model.modality_graph import (
    knn_edges,
    knn_item_graph,
    mixed_item_graph,
    nonzero_rows,
)
from recbole_unlearn.registry import get_trainer
from tests.conftest import write_clustered_inter

MODELS = ["VBPR", "MMLightGCN", "FREEDOM", "LATTICE"]
N_USERS, N_ITEMS, PER_USER = 200, 200, 20
TOPK = 20


pytestmark = pytest.mark.usefixtures("one_thread")


def item_group_features(dataset, seed=0, dims=(("image", 32), ("text", 16)), noise=0.6):
    """``{modality: (item_num, d) tensor}``: group centroid + noise per item (item token ``i<k>`` is in group k % 4);
    row 0 (padding) is all zero."""
    rng = np.random.default_rng(seed)
    tokens = dataset.field2id_token[dataset.iid_field]
    groups = np.array([int(t[1:]) % 4 if t.startswith("i") else -1 for t in tokens])
    features = {}
    for name, d in dims:
        centroids = rng.normal(size=(4, d))
        rows = centroids[np.maximum(groups, 0)] + noise * rng.normal(size=(len(tokens), d))
        rows[groups < 0] = 0.0
        features[name] = torch.tensor(rows, dtype=torch.float32)
    return features


def build(tmp_path, model, features=True, **overrides):
    """Config, dataloaders and a fresh model on the clustered data, features attached to the train dataset first."""
    data = tmp_path / "data"
    if not (data / "mm").exists():
        write_clustered_inter(data, "mm", n_users=N_USERS, n_items=N_ITEMS, per_user=PER_USER)
    cfg = {
        "data_path": str(data),
        "checkpoint_dir": str(tmp_path / "saved"),
        "epochs": 3,
        "show_progress": False,
        "state": "ERROR",
        "train_batch_size": 128,
        "learning_rate": 0.01,
        "knn_k": 5,
        "load_col": {"inter": ["user_id", "item_id", "rating", "timestamp"]},
        **overrides,
    }
    config = Config(model, "mm", config_dict=cfg, argv=[])
    init_seed(config["seed"], config["reproducibility"])
    dataset = create_dataset(config)
    splits = data_preparation(config, dataset)
    if features:
        splits[0]._dataset.modality_features = item_group_features(splits[0]._dataset)
    init_seed(config["seed"], config["reproducibility"])
    model = config.model_class(config, splits[0]._dataset).to(config["device"])
    return config, dataset, splits, model


def random_recall(dataset, test_data, k=TOPK):
    """Expected Recall@k of a uniformly random full ranking: per test user, each of its test items is among the top k
    of the ``item_num - 1 - |history|`` candidates (padding and train/valid items are excluded) with probability
    ``k / candidates``."""
    uid = dataset.uid_field
    all_counts = torch.bincount(dataset.inter_feat[uid], minlength=dataset.user_num)
    test_counts = torch.bincount(test_data._dataset.inter_feat[uid], minlength=dataset.user_num)
    users = test_counts.nonzero().view(-1)
    candidates = (dataset.item_num - 1 - (all_counts[users] - test_counts[users])).float()
    return (torch.clamp(k / candidates, max=1.0)).mean().item()


@pytest.mark.parametrize("model_name", MODELS)
def test_model_trains_and_beats_random_ranking(tmp_path, model_name):
    config, dataset, (train, valid, test), model = build(tmp_path, model_name)
    assert type(model).__module__.startswith("recbole_unlearn.model.")
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
    trainer.fit(train, valid, saved=True, show_progress=False)
    result = trainer.evaluate(test, load_best_model=True, show_progress=False)
    baseline = random_recall(dataset, test)
    assert 0.05 < baseline < 0.15
    assert result["recall@20"] > 2 * baseline, (result["recall@20"], baseline)
    # feature buffers are derived data: never in the state_dict (nor so in the checkpoint)
    assert not any("modality" in key for key in model.state_dict())


def _compact_graph(features, keep, k, weighted):
    """The kNN graph built from scratch on the kept rows only, mapped back to the original item ids."""
    kept = keep.nonzero().view(-1)
    edge_index, weight = knn_edges(features[kept], k, weighted)
    return kept[edge_index], weight


@pytest.mark.parametrize("weighted", [False, True])
def test_knn_graph_of_subset_equals_graph_built_on_the_subset(weighted):
    gen = torch.Generator().manual_seed(0)
    n, d, k = 300, 24, 7
    features = torch.randn(n, d, generator=gen)
    features[0] = 0.0  # padding
    keep = torch.rand(n, generator=gen) > 0.3
    keep[0] = False
    purged = features.clone()
    purged[~keep] = 0.0

    edge_index, weight = knn_edges(purged, k, weighted)
    expected_index, expected_weight = _compact_graph(features, keep, k, weighted)
    order = torch.argsort(expected_index[0] * n + expected_index[1])
    assert torch.equal(edge_index, expected_index[:, order])
    assert torch.allclose(weight, expected_weight[order], atol=1e-6)
    # removed items: no edges out, and no one's neighbour
    assert not (~keep)[edge_index[0]].any() and not (~keep)[edge_index[1]].any()
    assert not (edge_index[0] == edge_index[1]).any()  # no self-loops
    out_degree = torch.bincount(edge_index[0], minlength=n)
    if not weighted:
        assert torch.equal(out_degree[keep], torch.full((int(keep.sum()),), k))
        assert torch.allclose(weight, torch.full_like(weight, 1.0 / k))  # D^-1/2 S D^-1/2 with every degree k


def test_knn_graph_neighbours_are_the_most_similar_items_and_chunking_does_not_matter():
    gen = torch.Generator().manual_seed(1)
    features = torch.randn(50, 8, generator=gen)
    features[[0, 7]] = 0.0
    k = 4
    dense = knn_item_graph(features, k, weighted=True).to_dense()
    x = torch.nn.functional.normalize(features, dim=1)
    sim = x @ x.T
    for i in range(50):
        neighbours = set(dense[i].nonzero().view(-1).tolist())
        if i in (0, 7):
            assert not neighbours and not dense[:, i].any()
            continue
        candidates = [j for j in range(50) if j not in (i, 0, 7)]
        best = sorted(candidates, key=lambda j: -sim[i, j].item())[:k]
        assert neighbours == {j for j in best if sim[i, j] > 0}
    degree = torch.zeros(50)
    for i in range(50):
        degree[i] = sum(sim[i, j] for j in dense[i].nonzero().view(-1).tolist())
    i, j = dense.nonzero()[0].tolist()
    assert torch.isclose(dense[i, j], sim[i, j] / torch.sqrt(degree[i] * degree[j]), atol=1e-6)
    chunked = knn_item_graph(features, k, weighted=True, chunk_entries=60).to_dense()
    assert torch.allclose(dense, chunked)


def test_mixed_graph_is_the_weighted_sum_of_the_modality_graphs():
    gen = torch.Generator().manual_seed(2)
    feats = {"image": torch.randn(40, 6, generator=gen), "text": torch.randn(40, 5, generator=gen)}
    feats["text"][3] = 0.0
    mixed = mixed_item_graph(feats, 3, {"image": 0.25, "text": 0.75}).to_dense()
    expected = 0.25 * knn_item_graph(feats["image"], 3).to_dense() + 0.75 * knn_item_graph(feats["text"], 3).to_dense()
    assert torch.allclose(mixed, expected)
    equal = mixed_item_graph(feats, 3).to_dense()
    halves = 0.5 * knn_item_graph(feats["image"], 3).to_dense() + 0.5 * knn_item_graph(feats["text"], 3).to_dense()
    assert torch.allclose(equal, halves)


def purged_copy(dataset, removed_items, modality=None):
    """A shallow copy of ``dataset`` whose feature rows of ``removed_items`` are zeroed (in ``modality`` or all)."""
    other = copy.copy(dataset)
    other.modality_features = {}
    for name, rows in dataset.modality_features.items():
        rows = rows.clone()
        if modality is None or name == modality:
            rows[removed_items] = 0.0
        other.modality_features[name] = rows
    return other


@pytest.mark.parametrize("model_name", MODELS)
def test_rebuild_graph_with_purged_rows_equals_a_fresh_model(tmp_path, model_name):
    config, _, (train, _, _), model = build(tmp_path, model_name)
    removed = torch.tensor([3, 5, 8, 13, 21])
    purged = purged_copy(train._dataset, removed)
    fresh = config.model_class(config, purged)
    before = {m: model.modality_feature(m).clone() for m in model.modalities}
    old_graph = model.item_graph.to_dense().clone() if model_name == "FREEDOM" else None

    model.rebuild_graph(train._dataset.inter_feat)  # an Interaction: features stay as they are
    for m in model.modalities:
        assert torch.equal(model.modality_feature(m), before[m])
    if model_name == "FREEDOM":
        graph = model.item_graph
        model.rebuild_graph(copy.copy(train._dataset))  # same features: the item graph is not recomputed
        assert model.item_graph is graph

    model.rebuild_graph(purged)
    for m in model.modalities:
        assert torch.equal(model.modality_feature(m), fresh.modality_feature(m))
        assert not model.modality_feature(m)[removed].any()
    assert not any("modality" in key for key in model.state_dict())
    if model_name == "FREEDOM":
        # the informative features link items of the same taste group
        tokens = train._dataset.field2id_token[train._dataset.iid_field]
        group = torch.tensor([int(t[1:]) % 4 if t.startswith("i") else -1 for t in tokens])
        rows, cols = model.item_graph.to_sparse_coo().indices()
        assert (group[rows] == group[cols]).float().mean() > 0.9
        new_graph = model.item_graph.to_dense()
        assert torch.equal(new_graph, fresh.item_graph.to_dense())
        assert not torch.equal(new_graph, old_graph)
        assert not new_graph[removed].any() and not new_graph[:, removed].any()
        assert not model.item_graph.requires_grad
        # the graph is frozen: training steps do not change it
        trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
        trainer._train_epoch(train, 0, show_progress=False)
        assert torch.equal(model.item_graph.to_dense(), new_graph)


def test_purged_features_no_longer_reach_the_scores(tmp_path):
    """MMLightGCN / VBPR project without bias: an item whose rows are zeroed scores as if it never had features."""
    _, _, (train, _, _), mm = build(tmp_path, "MMLightGCN")
    _, _, _, vbpr = build(tmp_path, "VBPR")
    item = torch.tensor([4])
    assert mm.item_content(item).any() and vbpr.item_content(item).any()
    for model in (mm, vbpr):
        model.rebuild_graph(purged_copy(train._dataset, item))
    assert not mm.item_content(item).any()
    no_content = torch.zeros(1, mm.item_embedding.embedding_dim)
    assert torch.equal(mm.item_ego(item), torch.cat([mm.item_embedding(item), no_content], dim=1))
    assert not vbpr.item_content(item).any()


def test_freedom_prunes_edges_degree_sensitively(tmp_path):
    _, _, _, model = build(tmp_path, "FREEDOM", dropout=0.5)
    users, items = model.ui_edges
    n_edges = users.numel()
    model.train()
    adj = model._ui_adjacency()
    assert adj._nnz() == 2 * int(n_edges * 0.5)
    assert model._ui_adjacency() is adj  # one draw per epoch
    model.train()
    assert model._ui_adjacency() is not adj  # redrawn for the next epoch
    model.eval()
    assert model._ui_adjacency() is model.norm_adj  # evaluation uses the whole graph
    # edges between low-degree nodes survive more often than edges between high-degree ones
    torch.manual_seed(0)
    counts = torch.zeros(n_edges)
    for _ in range(200):
        keys = torch.rand(n_edges).log() / model.ui_edge_keep_weight
        counts[keys.topk(n_edges // 2).indices] += 1
    w = model.ui_edge_keep_weight  # 1 / sqrt(deg_u deg_i)
    low_degree, high_degree = w >= w.quantile(0.8), w <= w.quantile(0.2)
    assert counts[low_degree].mean() > counts[high_degree].mean() + 10


@pytest.mark.parametrize("model_name", MODELS)
def test_model_without_modality_features_gives_one_line_error(tmp_path, model_name):
    with pytest.raises(InputError) as err:
        build(tmp_path, model_name, features=False)
    message = str(err.value)
    assert message == (
        f"model {model_name} needs item modality features: set `modalities` in the config (dataset mm has none)"
    )


def test_nonzero_rows():
    x = torch.tensor([[0.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    assert nonzero_rows(x).tolist() == [False, True, True]


def test_eval_mode_scores_carry_gradients_and_equal_the_served_ones(tmp_path):
    """Unlearning steps differentiate eval-mode scores: the whole graph (no edge pruning), the same values as served."""
    _, _, _, model = build(tmp_path, "FREEDOM", dropout=0.5)
    model.eval()
    users, items = torch.tensor([1, 2, 3]), torch.tensor([4, 5, 6])
    inter = Interaction({model.USER_ID: users, model.ITEM_ID: items})
    with torch.no_grad():
        served = model.predict(inter)
    assert model.restore_user_e is not None  # evaluation caches
    stepped = model.predict(inter)
    assert stepped.requires_grad and torch.allclose(stepped, served, atol=1e-6)
    model.train()
    assert not torch.allclose(model.predict(inter), served, atol=1e-6)  # training mode prunes edges


def test_mmlightgcn_scores_moving_rows_locally_as_the_full_graph_does(tmp_path):
    """MMLightGCN is a plain propagation of its layer-0 rows ([ID | content]): inside ``moving_rows`` a batch scores
    from the moving rows' change, with the values and row gradients of a full propagation."""
    _, _, _, model = build(tmp_path, "MMLightGCN")
    model.eval()
    moving_users, moving_items = torch.tensor([1, 5]), torch.tensor([3, 9])
    inter = Interaction({model.USER_ID: torch.tensor([1, 2, 5, 7]), model.ITEM_ID: torch.tensor([3, 9, 20, 3])})

    def scores_and_gradients():
        model.zero_grad()
        scores = model.predict(inter)
        scores.sum().backward()
        user_grad, item_grad = model.user_content_embedding.weight.grad, model.item_embedding.weight.grad
        return scores.detach(), user_grad.clone(), item_grad.clone()

    with model.moving_rows(moving_users, moving_items):
        assert model.moving is not None
        with torch.no_grad():
            model.user_content_embedding.weight[moving_users] += 0.5
            model.item_embedding.weight[moving_items] -= 0.5
        inside = scores_and_gradients()
        model.moving, block = None, model.moving
        full = scores_and_gradients()
        model.moving = block
    assert torch.allclose(inside[0], full[0], atol=1e-5)
    assert torch.allclose(inside[1][moving_users], full[1][moving_users], atol=1e-5)
    assert torch.allclose(inside[2][moving_items], full[2][moving_items], atol=1e-5)


@pytest.mark.parametrize("model_name", ["VBPR", "MMLightGCN"])
def test_user_reset_redraws_the_forgotten_users_rows_of_every_user_table(tmp_path, model_name):
    """VBPR and MMLightGCN keep a user in two tables (ID and visual-preference / content); a reset that re-drew one
    would leave the user's taste for content in the other."""
    from recbole_unlearn.data.request import ForgetRequest
    from recbole_unlearn.data.split import split_datasets
    from recbole_unlearn.unlearn.methods import get_method
    from recbole_unlearn.unlearn.rebind import embedding_tables
    from tests.unlearn_helpers import context

    config, _, loaders, model = build(tmp_path, model_name)
    forgotten = torch.tensor([3, 17, 42])
    split = split_datasets(ForgetRequest("user", users=forgotten.numpy()), *(ld._dataset for ld in loaders))
    unlearned, _ = get_method("reset")(model, split, context(config, split))
    before, after = embedding_tables(model)["user"], embedding_tables(unlearned)["user"]
    assert len(before) == 2
    kept = torch.ones(model.n_users, dtype=torch.bool)
    kept[forgotten] = False
    for old, new in zip(before, after):
        assert not torch.isclose(old[forgotten], new[forgotten]).all(dim=1).any()  # every forgotten row re-drawn
        assert torch.equal(old[kept], new[kept])
