"""Feature normalisation (``feature_norm``): the steps, the plan per modality, purges that re-normalise from the
retained rows only, and checkpoints that carry the normalisation to the loaded model."""

import numpy as np
import pytest
import torch

from recbole_unlearn import InputError, load_data_and_model
from recbole_unlearn.checkpoint import load_checkpoint
from recbole_unlearn.data import create_dataset
from recbole_unlearn.data.features import (
    feature_norm_plan,
    l2_rows,
    normalize_features,
    standardize_columns,
)
from recbole_unlearn.quick_start import run
from tests.test_multimodal_data import N_ITEMS, make_config, write_mmrec


@pytest.fixture
def scaled_data(tmp_path):
    """An MMRec dataset ``mm`` with two modalities on very different scales, as lfm2k's text and audio."""
    write_mmrec(tmp_path / "data")
    folder = tmp_path / "data" / "mm"
    rng = np.random.default_rng(0)
    np.save(folder / "small.npy", rng.normal(size=(N_ITEMS, 6)) / 3)
    np.save(folder / "large.npy", 1000 + 50 * rng.normal(size=(N_ITEMS, 4)))
    return tmp_path / "data", folder


def with_zero_rows(n=8, d=5, zero=(0, 3), seed=0):
    x = torch.randn(n, d, generator=torch.Generator().manual_seed(seed)) * 7 + 3
    x[list(zero)] = 0.0
    return x


def test_l2_rows_are_unit_and_zero_rows_stay_zero():
    x = with_zero_rows()
    y = l2_rows(x)
    norms = y.norm(dim=1)
    assert torch.allclose(norms[[1, 2, 4, 5, 6, 7]], torch.ones(6)) and not y[[0, 3]].any()


def test_standardize_ignores_zero_rows_in_its_statistics():
    x = with_zero_rows()
    y = standardize_columns(x)
    kept = [1, 2, 4, 5, 6, 7]
    assert not y[[0, 3]].any()
    assert torch.allclose(y[kept].mean(0), torch.zeros(5), atol=1e-5)
    assert torch.allclose(y[kept].std(0, unbiased=False), torch.ones(5), atol=1e-5)
    # the retained rows normalise as they would alone: a purged row leaves no trace in the statistics
    assert torch.allclose(y[kept], standardize_columns(x[kept]), atol=1e-6)
    constant = torch.ones(4, 2)
    assert torch.equal(standardize_columns(constant), torch.zeros(4, 2))


def test_steps_apply_in_order():
    x = with_zero_rows()
    assert torch.allclose(normalize_features(x, ("standardize", "l2")), l2_rows(standardize_columns(x)))
    assert torch.equal(normalize_features(x, ()), x)


def test_plan_per_modality_and_bad_values_in_one_line():
    names = ["audio", "text"]
    assert feature_norm_plan(None, names) == {"audio": (), "text": ()}
    assert feature_norm_plan("L2", names) == {"audio": ("l2",), "text": ("l2",)}
    both = ("standardize", "l2")
    assert feature_norm_plan(["standardize", "l2"], names) == {"audio": both, "text": both}
    assert feature_norm_plan({"audio": "standardize"}, names) == {"audio": ("standardize",), "text": ()}
    assert feature_norm_plan({"audio": ["none"], "text": []}, names) == {"audio": (), "text": ()}
    with pytest.raises(InputError, match=r"^config key feature_norm: unknown normalisation 'l3'; one of none, l2, "):
        feature_norm_plan("l3", names)
    with pytest.raises(InputError, match=r"^config key feature_norm \(text\): unknown normalisation 'zscore'"):
        feature_norm_plan({"text": "zscore"}, names)
    with pytest.raises(InputError, match=r"^config key feature_norm names modality 'image'; the dataset's modalities"):
        feature_norm_plan({"image": "l2"}, names)


def test_dataset_normalises_each_modality_and_a_purge_renormalises_from_retained_rows(scaled_data):
    data_path, folder = scaled_data
    config = make_config(data_path, modalities={"small": "small.npy", "large": "large.npy"},
                         feature_norm={"large": ["standardize", "l2"]})
    dataset = create_dataset(config)
    assert dataset.feature_norm == {"small": (), "large": ("standardize", "l2")}
    assert torch.equal(dataset.modality_features["small"], dataset.raw_modality_features["small"])
    large = dataset.modality_features["large"]
    assert torch.allclose(large[1:].norm(dim=1), torch.ones(N_ITEMS)) and not large[0].any()

    ids = torch.LongTensor(dataset.token2id(dataset.iid_field, ["3", "4", "11"]))
    purged = dataset.with_modality_rows_purged("large", ids)
    keep = torch.ones(dataset.item_num, dtype=torch.bool)
    keep[ids] = False
    keep[0] = False
    expected = l2_rows(standardize_columns(dataset.raw_modality_features["large"][keep]))
    assert torch.allclose(purged.modality_features["large"][keep], expected, atol=1e-6)
    assert not purged.modality_features["large"][ids].any()
    assert not purged.raw_modality_features["large"][ids].any()
    # the purged rows' values are gone: another matrix that differs only there gives the same retained features
    changed = np.load(folder / "large.npy")
    changed[[3, 4, 11]] = -1e6
    np.save(folder / "large.npy", changed)
    other = create_dataset(config).with_modality_rows_purged("large", ids)
    assert torch.equal(other.modality_features["large"], purged.modality_features["large"])
    # a second purge keeps the first
    twice = purged.with_modality_rows_purged("large", ids[:1])
    assert not twice.modality_features["large"][ids].any()


def test_checkpoint_records_the_normalisation_and_a_load_uses_it(scaled_data, tmp_path):
    data_path, _ = scaled_data
    cfg = {"data_path": str(data_path), "state": "ERROR", "show_progress": False, "epochs": 2,
           "checkpoint_dir": str(tmp_path / "saved"), "modalities": {"small": "small.npy", "large": "large.npy"},
           "feature_norm": {"large": "standardize", "small": "l2"}}
    result = run("MMLightGCN", "mm", config_dict=cfg, argv=[])
    path = result.checkpoint
    state = torch.load(path, map_location="cpu", weights_only=True)
    assert state["meta"]["feature_norm"] == {"small": ["l2"], "large": ["standardize"]}
    assert load_checkpoint(path)["meta"]["given_config"]["feature_norm"] == state["meta"]["feature_norm"]

    trained = result.model.eval()
    _, loaded, _, _, _, test = load_data_and_model(path)
    users = torch.arange(1, test._dataset.user_num)
    inter = {trained.USER_ID: users}
    with torch.no_grad():
        assert torch.allclose(loaded.full_sort_predict(inter), trained.full_sort_predict(inter), atol=1e-6)
    for name in trained.modalities:
        assert torch.equal(loaded.modality_feature(name), trained.modality_feature(name))
    with pytest.raises(InputError, match=r"trained on features normalised .* \(set feature_norm as the checkpoint"):
        load_data_and_model(path, feature_norm="none")
