"""Every RecBole general graph model (and BPR) trains through the plug-in's runner, with safe checkpoints."""

import math

import pytest
import torch

from recbole_unlearn.quick_start import run

RECBOLE_MODELS = ["BPR", "NGCF", "SGL", "SimpleX", "NCL", "DGCF", "GCMC", "SpectralCF", "LINE"]
SMALL_DATA_SETTINGS = {"NCL": {"num_clusters": 8}}  # NCL's default 1000 k-means clusters need 1000+ users


@pytest.mark.parametrize("name", RECBOLE_MODELS)
def test_recbole_model_trains_one_epoch(name, fast_config):
    result = run(name, "tiny", config_dict={**fast_config, "epochs": 1, **SMALL_DATA_SETTINGS.get(name, {})}, argv=[])
    assert type(result.model).__module__.startswith("recbole.model.general_recommender")
    assert all(math.isfinite(v) for v in result.test_result.values())
    state = torch.load(result.checkpoint, weights_only=True)
    assert state["meta"]["model"] == name


def test_recbole_lightgcn_runs_when_passed_as_a_class(fast_config):
    """A model class (here RecBole's own LightGCN, shadowed by name) is used as given, as RecBole's Config allows."""
    from recbole.model.general_recommender.lightgcn import LightGCN

    result = run(LightGCN, "tiny", config_dict={**fast_config, "epochs": 1}, argv=[])
    assert type(result.model) is LightGCN
