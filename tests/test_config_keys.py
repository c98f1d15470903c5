"""No silent no-ops: a typo of an unlearning key is refused, any other unknown key is kept with a warning."""

import logging
import re
from pathlib import Path

import pytest
import recbole
import yaml
from recbole.model.abstract_recommender import GeneralRecommender
from recbole.utils import InputType

from recbole_unlearn.cli import main
from recbole_unlearn.config import Config
from recbole_unlearn.config_keys import (
    OUTSIDE_YAML,
    known_keys,
    package_keys,
    properties_dir,
    recbole_keys,
)
from recbole_unlearn.errors import InputError

PACKAGE = Path(__file__).resolve().parent.parent / "recbole_unlearn"
RECBOLE_PROPERTIES = Path(recbole.__file__).resolve().parent / "properties"


def refusal(key, closest):
    return f"unknown config key '{key}'; did you mean '{closest}'? (keys: docs/config-keys.md)"


def kept(key, hint):
    return f"unknown config key '{key}': {hint} kept for a model of your own (keys: docs/config-keys.md)"


def warnings_of(caplog):
    return [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING]


class MyModel(GeneralRecommender):
    """A model of the user's own project: reads ``embedding_size`` and a key of its own, ``gnn_layers``."""

    input_type = InputType.PAIRWISE


@pytest.mark.parametrize("typo, closest", [
    ("forget_tpye", "forget_type"),
    ("unlearn_methd", "unlearn_method"),
    ("unlearn_epoch", "unlearn_passes"),
    ("forget_ration", "forget_ratio"),
    ("forgt_type", "forget_type"),  # no unlearning prefix: refused for being close to a key of this package
    ("report_fil", "report_file"),
    ("checkpont", "checkpoint"),
    ("epoch", "epochs"),  # RecBole's key, set in this package's overall.yaml
    ("dry-run", "dry_run"),  # case and - / _ do not count
    ("unlearn_everything", "unlearn_method"),  # the unlearning prefix alone refuses, naming the closest key
])
def test_a_typo_of_an_unlearning_key_is_refused_naming_the_closest_key(typo, closest):
    with pytest.raises(InputError) as refused:
        Config("LightGCN", "ml-100k", argv=[f"--{typo}=1"])
    assert str(refused.value) == refusal(typo, closest)


def test_every_given_layer_is_checked(tmp_path):
    (tmp_path / "a.yaml").write_text("forget_tpye: user\n")
    with pytest.raises(InputError, match=re.escape(refusal("forget_tpye", "forget_type"))):
        Config("LightGCN", "ml-100k", config_file_list=[str(tmp_path / "a.yaml")], argv=[])
    with pytest.raises(InputError, match=re.escape(refusal("unlearn_methd", "unlearn_method"))):
        Config("LightGCN", "ml-100k", config_dict={"unlearn_methd": "finetune"}, argv=[])


def test_a_key_of_the_users_own_model_is_kept_with_one_warning(caplog):
    caplog.set_level(logging.WARNING)
    config = Config(MyModel, "ml-100k", config_dict={"embedding_size": 8, "gnn_layers": 3}, argv=[])
    assert config["gnn_layers"] == 3 and config["embedding_size"] == 8 and config["model"] == "MyModel"
    assert warnings_of(caplog) == [kept("gnn_layers", "not a key of RecBole or recbole_unlearn,")]


def test_an_unknown_key_close_to_a_recbole_key_is_kept_with_a_hint(caplog):
    caplog.set_level(logging.WARNING)
    config = Config("LightGCN", "ml-100k", argv=["--learning_rat=0.1"])
    assert config["learning_rat"] == 0.1
    assert warnings_of(caplog) == [kept("learning_rat", "did you mean 'learning_rate'?")]


def test_known_keys_give_no_warning(caplog):
    caplog.set_level(logging.WARNING)
    Config("LightGCN", "ml-100k", config_dict={"forget_type": "user", "nproc": 1, "mlp_hidden_size": [8]},
           argv=["--dry_run=True", "--modalities=None", "--train_neg_sample_args={'distribution': 'uniform'}"])
    assert warnings_of(caplog) == []


def yaml_keys(file):
    return set(yaml.safe_load(file.read_text()) or {})


def test_every_key_of_both_overall_yamls_is_known():
    ours, recboles = yaml_keys(properties_dir() / "overall.yaml"), yaml_keys(RECBOLE_PROPERTIES / "overall.yaml")
    assert {"forget_type", "unlearn_method", "dry_run", "data_format", "encoding"} <= ours <= package_keys()
    assert {"learning_rate", "eval_args", "gpu_id"} <= recboles <= recbole_keys()
    assert ours | recboles | OUTSIDE_YAML <= known_keys()


def test_model_files_keep_architecture_and_training_keys_only():
    """One unlearning recipe for every model: no model file brings an unlearning key or a recipe of its own."""
    files = sorted((properties_dir() / "model").glob("*.yaml"))
    assert {"LightGCN.yaml", "FREEDOM.yaml", "VBPR.yaml"} <= {path.name for path in files}
    assert [path.name for path in files if "unlearn_" in path.read_text()] == []


def test_known_keys_come_from_recboles_files_and_lists_not_its_url_maps():
    # each from one source only: a model YAML, dataset/sample.yaml, an argument_list list
    assert {"n_layers", "kg_reverse_r", "config_file"} <= recbole_keys()
    assert "ml-100k" not in known_keys() and "ml-1m" not in known_keys()  # url.yaml's dataset names


def test_every_key_this_package_reads_is_in_its_properties():
    read = set()
    for path in PACKAGE.rglob("*.py"):
        read |= set(re.findall(r"config\[['\"](\w+)['\"]\]", path.read_text()))
    assert {"data_format", "modalities", "modality_item_map", "encoding", "forget_type"} <= read
    assert read - recbole_keys() - OUTSIDE_YAML <= package_keys()


def test_group_offset_sets_offset_as_recbole_spells_it(caplog):
    caplog.set_level(logging.WARNING)
    config = Config("LightGCN", "ml-100k", argv=["--group_offset=2"])
    assert config["offset"] == 2 and "group_offset" not in config
    assert warnings_of(caplog) == []
    assert Config("LightGCN", "ml-100k", config_dict={"offset": 2}, argv=["--group_offset=2"])["offset"] == 2
    with pytest.raises(InputError, match=r"^group_offset 2 and offset 3 disagree: give one of them$"):
        Config("LightGCN", "ml-100k", config_dict={"offset": 3}, argv=["--group_offset=2"])


def files_under(root):
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


def test_cli_refuses_forget_tpye_in_one_line_and_writes_nothing(tmp_path, tiny_data, capsys):
    data_path, name = tiny_data
    before = files_under(tmp_path)
    code = main(["--model=LightGCN", f"--dataset={name}", f"--data_path={data_path}", "--epochs=1", "--state=ERROR",
                 "--show_progress=False", f"--checkpoint_dir={tmp_path / 'saved'}", "--forget_tpye=user",
                 "--forget_ratio=0.1", f"--report_file={tmp_path / 'r.json'}"])
    assert code == 2
    assert capsys.readouterr().err.splitlines() == ["error: " + refusal("forget_tpye", "forget_type")]
    assert files_under(tmp_path) == before
