"""The unlearning settings: every key checked in one place, typed."""

import pytest
import torch

from recbole_unlearn.config import config_with
from recbole_unlearn.errors import InputError
from recbole_unlearn.unlearn.methods import get_method, method_names
from recbole_unlearn.unlearn.settings import UnlearnSettings
from tests.unlearn_helpers import trained


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    from tests.conftest import write_clustered_inter

    root = tmp_path_factory.mktemp("settings")
    write_clustered_inter(root / "data", "tiny")
    cfg = {"data_path": str(root / "data"), "checkpoint_dir": str(root / "saved"), "show_progress": False,
           "state": "ERROR", "forget_type": "user", "forget_ratio": 0.1}
    return trained("LightGCN", cfg, epochs=1)[0]


def test_settings_are_typed_from_the_config(config):
    settings = UnlearnSettings.from_config(config_with(config, unlearn_passes=3, forget_weight=2, unlearn_anchor_weight=None,
                                                       unlearn_gold_seeds=2))
    assert settings.passes == 3 and settings.forget_weight == 2.0 and isinstance(settings.forget_weight, float)
    assert settings.anchor_weight == 0.0 and settings.gold_seeds == 2
    assert [settings.refresh_due(k) for k in (1, 2, 3)] == [False, False, False]
    every_second = UnlearnSettings.from_config(config_with(config, unlearn_refresh_every=2))
    assert [every_second.refresh_due(k) for k in (1, 2, 3, 4)] == [False, True, False, True]


def test_touched_rate_is_absolute_or_the_measured_share_of_the_table_s_rms(config):
    table = torch.full((4, 3), -0.5)
    absolute = UnlearnSettings.from_config(config_with(config, unlearn_lr_touched=0.04, unlearn_lr_unit="absolute"))
    assert absolute.touched_rate(table) == 0.04
    calibrated = UnlearnSettings.from_config(config_with(config, unlearn_lr_unit="calibrated"))
    assert calibrated.touched_rate(table, calibrated=0.04) == pytest.approx(0.02)
    with pytest.raises(InputError, match="unlearn_lr_unit 'calibrated' measures the rate on an interaction request"):
        calibrated.touched_rate(table)


def test_a_pass_takes_at_most_steps_per_pass_steps_of_at_least_the_batch_size():
    capped = UnlearnSettings(batch_size=1024, steps_per_pass=3)
    assert [capped.step_pairs(n) for n in (500, 2200, 3072, 4040, 5984)] == [1024, 1024, 1024, 1347, 1995]
    assert UnlearnSettings(batch_size=1024).step_pairs(5984) == 1024  # no cap: the steps grow with the request


@pytest.mark.parametrize("key, value, message", [
    ("unlearn_gold_seeds", 0, "unlearn_gold_seeds must be a positive integer, got 0"),
    ("unlearn_passes", 2.5, "unlearn_passes must be a positive integer, got 2.5"),
    ("unlearn_batch_size", True, "unlearn_batch_size must be a positive integer, got True"),
    ("unlearn_steps_per_pass", -1, "unlearn_steps_per_pass must be 0 (off) or a positive integer, got -1"),
    ("forget_weight", "heavy", "forget_weight must be a number, got 'heavy'"),
    ("unlearn_neg_sampling", "hard", "unlearn_neg_sampling 'hard' is not one of uniform, popularity"),
    ("unlearn_lr_unit", "table_rms", "unlearn_lr_unit 'table_rms' is not one of absolute, calibrated"),
    ("unlearn_forget_loss", "l2", "unlearn_forget_loss 'l2' is not one of log_sigmoid, hinge, negated_bpr"),
])
def test_each_bad_setting_is_one_line_naming_its_key(config, key, value, message):
    with pytest.raises(InputError) as error:
        UnlearnSettings.from_config(config_with(config, **{key: value}))
    assert str(error.value) == message


def test_method_names_come_from_the_one_registry(config):
    assert method_names(config_with(config, unlearn_method="reset")) == ("reset",)
    assert method_names(config_with(config, unlearn_method=["retrain", "finetune"])) == ("retrain", "finetune")
    for empty in ([], None, ""):
        with pytest.raises(InputError, match="unlearn_method is empty: name at least one of reverse_bpr, "):
            method_names(config_with(config, unlearn_method=empty))
    with pytest.raises(InputError, match="unlearn_method 'magic' is not one of reverse_bpr, finetune, neggrad, "
                                         "reset, rebuild, retrain"):
        get_method("magic")
