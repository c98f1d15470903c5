"""The default interaction recipe's rate, calibrated on the model (``unlearn_lr_unit: calibrated``), and its gold-free
stop: the passes end once the forgotten pairs reach the held-out ones, and an over-forgetting pass is undone."""

import dataclasses

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from recbole.model.abstract_recommender import GeneralRecommender
from recbole.model.loss import BPRLoss
from recbole.utils import InputType

from recbole_unlearn.quick_start import run
from recbole_unlearn.unlearn.calibration import calibrate, table_rms
from recbole_unlearn.unlearn.methods import get_method
from recbole_unlearn.unlearn.stopping import over_forgotten, reached_heldout, sampled_aucs
from recbole_unlearn.unlearn.trainer import BACKOFFS
from tests.conftest import write_clustered_inter
from tests.unlearn_helpers import context, split_for, trained

INTERACTION = {"forget_type": "interaction", "forget_ratio": 0.1}  # the default recipe, nothing set


class DotModel(torch.nn.Module):
    """:math:`s(u, i) = e_u \\cdot e_i`, the smallest model ``calibrate`` can probe."""

    USER_ID, ITEM_ID = "user_id", "item_id"

    def __init__(self, users, items):
        super().__init__()
        self.user, self.item = torch.nn.Parameter(users), torch.nn.Parameter(items)
        self.device = torch.device("cpu")

    def predict(self, interaction):
        return (self.user[interaction[self.USER_ID]] * self.item[interaction[self.ITEM_ID]]).sum(-1)


def test_the_rate_closes_its_share_of_the_gap_in_one_sign_step():
    """One pair above its target by g: the sign step moves e_u by rms_U and e_i by rms_I per entry, so the score's
    response is rms_U |e_i|_1 + rms_I |e_u|_1 and the share is c g / response."""
    torch.manual_seed(0)
    model = DotModel(torch.randn(3, 4), torch.randn(5, 4))
    user, item = torch.tensor([1]), torch.tensor([2])
    score = float(model.user[1] @ model.item[2])
    target = torch.tensor([score - 0.7])
    tables = [(model.user, user), (model.item, item)]
    measured = calibrate(model, tables, user, item, target, share=0.5)
    response = table_rms(model.user) * model.item[2].abs().sum() + table_rms(model.item) * model.user[1].abs().sum()
    assert measured.gap == pytest.approx(0.7, rel=1e-5) and measured.above == 1.0
    assert measured.response == pytest.approx(float(response), rel=1e-2)
    assert measured.share == pytest.approx(0.5 * 0.7 / float(response), rel=1e-2)
    untouched = calibrate(model, tables, user, item, torch.tensor([score + 1.0]), share=0.5)
    assert untouched.share == 0.0 and untouched.above == 0.0  # at its target already: no step


def test_the_same_config_calibrates_a_different_rate_on_each_model(fast_config):
    """LightGCN and NGCF, one config: each gets the share its own probe measured, and its tables' rates follow it."""
    from recbole.utils import get_model

    shares = {}
    for name in ("LightGCN", "NGCF"):
        config, loaders, model = trained(get_model(name), {**fast_config, **INTERACTION}, epochs=1)
        split = split_for(config, loaders)
        ctx = context(config, split)
        _, outcome = get_method("reverse_bpr")(model, split, ctx)
        shares[name] = outcome.calibration.share
        assert shares[name] > 0 and outcome.touched_rates["user"][0] > 0
    assert shares["LightGCN"] != pytest.approx(shares["NGCF"], rel=0.1)


@pytest.fixture(scope="module")
def lightgcn_request(tmp_path_factory):
    """A LightGCN trained ten epochs on the tiny data (once for the module), its interaction request and context."""
    from recbole.utils import get_model

    root = tmp_path_factory.mktemp("lightgcn_request")
    write_clustered_inter(root / "data", "tiny")
    cfg = {"data_path": str(root / "data"), "checkpoint_dir": str(root / "saved"), "show_progress": False,
           "state": "ERROR", "train_batch_size": 256,
           "load_col": {"inter": ["user_id", "item_id", "rating", "timestamp"]}}
    config, loaders, model = trained(get_model("LightGCN"), {**cfg, **INTERACTION}, epochs=10)
    split = split_for(config, loaders)
    return model, split, context(config, split)


def steeper(ctx, factor):
    """``ctx`` with the touched rows' share ``factor`` times the recipe's."""
    settings = dataclasses.replace(ctx.settings, lr_touched=factor * ctx.settings.lr_touched)
    return dataclasses.replace(ctx, settings=settings)


def test_planted_over_forgetting_is_detected_and_undone(lightgcn_request):
    """Thirty times the recipe's step pushes the forgotten pairs far below the same users' held-out ones: the stop
    reads it after the first pass (no gold), undoes each such pass and halves the rate; the recipe's own step has no
    pass undone."""
    model, split, ctx = lightgcn_request
    _, kept = get_method("reverse_bpr")(model, split, ctx)
    assert kept.backoffs == 0 and kept.stopped_by in ("budget", "reached_heldout")
    _, outcome = get_method("reverse_bpr")(model, split, steeper(ctx, 30))
    passes = [entry for entry in outcome.log if "pass" in entry]
    detected = [entry["stop"] for entry in passes if entry["stop"]]
    assert passes[0]["stop"] == "over_forgetting"
    # each detection undid its pass (it is not counted) and halved the rate; a fourth ends the passes
    assert outcome.backoffs == min(len(detected), BACKOFFS) and outcome.passes == len(passes) - len(detected)
    assert outcome.stopped_by == (detected[-1] if len(detected) > BACKOFFS else "reached_heldout")
    halved = 30 * kept.touched_rates["user"][0] / 2 ** outcome.backoffs
    assert outcome.touched_rates["user"][0] == pytest.approx(halved, rel=0.1)  # on the table's scale as it stands


def test_the_stop_reads_known_answers():
    rng = np.random.default_rng(0)
    negatives = rng.normal(size=(2000, 20))
    held = sampled_aucs(rng.normal(1.0, 1, 2000), negatives)
    assert 0.7 < held.mean() < 0.8
    same = sampled_aucs(rng.normal(1.0, 1, 2000), negatives)
    assert over_forgotten(held, same) == ""  # forgotten pairs rank as held-out ones
    assert over_forgotten(held, sampled_aucs(rng.normal(0.0, 1, 2000), negatives)) == "over_forgetting"
    assert over_forgotten(held, sampled_aucs(rng.normal(0.95, 1, 2000), negatives)) == ""  # within two errors


def test_the_passes_end_once_the_forgotten_pairs_reach_the_held_out_ones(lightgcn_request):
    """Known answers first: forgotten pairs drawn below the held-out pairs' distribution have reached them, pairs
    drawn from it or above have not. Then passes at four times the recipe's step (so that the tiny request, whose
    standard errors are wide, gets there within the budget): none before the last read the forgotten pairs a standard
    error below the held-out ones, the last did, and that ended the passes."""
    rng = np.random.default_rng(1)
    negatives = rng.normal(size=(2000, 20))
    held = sampled_aucs(rng.normal(1.0, 1, 2000), negatives)
    assert reached_heldout(held, sampled_aucs(rng.normal(0.8, 1, 2000), negatives))
    assert not reached_heldout(held, held)  # level with them is not a standard error below
    assert not reached_heldout(held, sampled_aucs(rng.normal(1.2, 1, 2000), negatives))
    assert not reached_heldout(held, np.zeros(0))  # nothing read: not reached

    model, split, ctx = lightgcn_request
    _, outcome = get_method("reverse_bpr")(model, split, steeper(ctx, 4))
    passes = [entry for entry in outcome.log if "pass" in entry]
    assert outcome.stopped_by == "reached_heldout" and outcome.passes == len(passes) < ctx.settings.passes
    assert not any(entry["reached"] for entry in passes[:-1]) and passes[-1]["reached"]
    assert passes[-1]["forget_auc"] < passes[-1]["heldout_auc"] < passes[0]["forget_auc"]


class TinyGCN(GeneralRecommender):
    """A user's own graph model: one propagation over the normalised user-item graph, built from the data in
    ``__init__`` as RecBole's contract has it; no YAML, registered nowhere."""

    input_type = InputType.PAIRWISE

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        self.user_embedding = torch.nn.Embedding(self.n_users, 16)
        self.item_embedding = torch.nn.Embedding(self.n_items, 16)
        matrix = dataset.inter_matrix(form="coo").astype(np.float32)
        block = sp.bmat([[None, matrix], [matrix.T, None]]).tocoo()
        degree = np.asarray(block.sum(1)).ravel() + 1e-7
        values = block.data / np.sqrt(degree[block.row] * degree[block.col])
        self.graph = torch.sparse_coo_tensor(np.vstack([block.row, block.col]), values, block.shape).float()
        self.loss = BPRLoss()

    def forward(self):
        ego = torch.cat([self.user_embedding.weight, self.item_embedding.weight])
        out = (ego + torch.sparse.mm(self.graph, ego)) / 2
        return out[: self.n_users], out[self.n_users :]

    def calculate_loss(self, interaction):
        users, items = self.forward()
        u = users[interaction[self.USER_ID]]
        pos = (u * items[interaction[self.ITEM_ID]]).sum(-1)
        return self.loss(pos, (u * items[interaction[self.NEG_ITEM_ID]]).sum(-1))

    def predict(self, interaction):
        users, items = self.forward()
        return (users[interaction[self.USER_ID]] * items[interaction[self.ITEM_ID]]).sum(-1)

    def full_sort_predict(self, interaction):
        users, items = self.forward()
        return (users[interaction[self.USER_ID]] @ items.T).view(-1)


def test_a_users_own_graph_model_is_calibrated_and_the_report_says_so(fast_config, tmp_path):
    cfg = {**fast_config, **INTERACTION, "epochs": 3, "report_file": str(tmp_path / "r.json")}
    result = run(TinyGCN, "tiny", config_dict=cfg, argv=[])
    stopping = result.report["stopping"]
    assert stopping["calibration"]["share"] > 0 and stopping["passes"] >= 1
    measured = stopping["calibration"]["share"] * table_rms(result.model.user_embedding.weight)
    assert stopping["touched_rates"]["user"][0] == pytest.approx(measured / 2 ** stopping["backoffs"], rel=0.2)
    summary = (tmp_path / "r.md").read_text()
    assert "calibrated on the model: share" in summary and f"after pass {stopping['passes']}" in summary
