"""Unlearning through config alone on RecBole's own graph models and on a model class from a user's project."""

import math

import numpy as np
import pytest
import torch
from recbole.model.abstract_recommender import GeneralRecommender
from recbole.model.loss import BPRLoss
from recbole.utils import InputType

from recbole_unlearn.data.pairs import pairs
from recbole_unlearn.quick_start import run
from recbole_unlearn.unlearn.methods import get_method
from recbole_unlearn.unlearn.rebind import embedding_tables
from tests.unlearn_helpers import context, split_for, trained

SMALL = {"NCL": {"num_clusters": 8}}
FORGET = {"forget_type": "interaction", "forget_ratio": 0.1, "unlearn_passes": 1, "unlearn_batch_size": 256}


def forgotten_pairs_in_structures(model, forgotten):
    """How many forgotten (user, item) pairs a rebound RecBole model still holds in its data-derived attributes."""
    users, items = forgotten
    held = set()
    if hasattr(model, "interaction_matrix"):  # LightGCN, NGCF, NCL, DGCF
        coo = model.interaction_matrix.tocoo()
        held |= set(zip(coo.row.tolist(), coo.col.tolist()))
    if hasattr(model, "_user"):  # SGL
        held |= set(zip(np.asarray(model._user).tolist(), np.asarray(model._item).tolist()))
    if hasattr(model, "history_item_id"):  # SimpleX
        hist = model.history_item_id.cpu().numpy()
        held |= {(u, int(i)) for u in range(len(hist)) for i in hist[u] if i}
    assert held, f"{type(model).__name__}: no data-derived structure found to inspect"
    return sum((u, i) in held for u, i in zip(users.tolist(), items.tolist()))


@pytest.mark.parametrize("name", ["LightGCN", "NGCF", "SGL", "NCL", "SimpleX", "DGCF"])
def test_recbole_graph_model_unlearns_through_config(name, fast_config):
    from recbole.utils import get_model

    model_class = get_model(name)  # RecBole's own class, even where the plug-in shadows the name
    config, loaders, model = trained(model_class, {**fast_config, **FORGET, **SMALL.get(name, {})}, epochs=1)
    split = split_for(config, loaders)
    forgotten = pairs(split.forget_train)
    assert forgotten_pairs_in_structures(model, forgotten) > 0
    unlearned, outcome = get_method("reverse_bpr")(model, split, context(config, split))
    assert type(unlearned) is model_class and outcome.passes == 1
    assert forgotten_pairs_in_structures(unlearned, forgotten) == 0
    before, after = embedding_tables(model)["user"][0], embedding_tables(unlearned)["user"][0]
    assert not torch.equal(before, after)


class TinyMF(GeneralRecommender):
    """A user's own model: plain matrix factorisation following RecBole's contract."""

    input_type = InputType.PAIRWISE

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        self.user_embedding = torch.nn.Embedding(self.n_users, config["embedding_size"])
        self.item_embedding = torch.nn.Embedding(self.n_items, config["embedding_size"])
        self.loss = BPRLoss()

    def calculate_loss(self, interaction):
        u = self.user_embedding(interaction[self.USER_ID])
        pos = (u * self.item_embedding(interaction[self.ITEM_ID])).sum(-1)
        neg = (u * self.item_embedding(interaction[self.NEG_ITEM_ID])).sum(-1)
        return self.loss(pos, neg)

    def predict(self, interaction):
        return (self.user_embedding(interaction[self.USER_ID]) * self.item_embedding(interaction[self.ITEM_ID])).sum(-1)

    def full_sort_predict(self, interaction):
        return (self.user_embedding(interaction[self.USER_ID]) @ self.item_embedding.weight.T).view(-1)


def test_model_class_from_a_users_project_unlearns(fast_config, tmp_path):
    cfg = {**fast_config, **FORGET, "embedding_size": 16, "forget_type": "user", "report_file": str(tmp_path / "r.json")}
    result = run(TinyMF, "tiny", config_dict=cfg, argv=[])
    unlearned = result.model
    assert type(unlearned) is TinyMF
    audited = result.report["results"]["unlearned"]
    assert all(math.isfinite(audited[key]) for key in ("retain_recall@20", "forget_recall@20", "mia_auc"))
    # user requests default to reset: exactly the forgotten users' rows are re-drawn, the items' rows are untouched
    trained_file = next(p for p in (tmp_path / "saved").glob("TinyMF-*.pth") if "unlearned" not in p.name)
    original = torch.load(trained_file, weights_only=True)["state_dict"]
    redrawn = (unlearned.user_embedding.weight.detach() != original["user_embedding.weight"]).any(dim=1)
    assert int(redrawn.sum()) == result.report["request"]["users"] > 0
    assert torch.equal(unlearned.item_embedding.weight.detach(), original["item_embedding.weight"])
