"""Requests: CSV of raw tokens and sampling, and every bad input refused in one line before anything is trained."""

import numpy as np
import pytest
import torch
from recbole.model.abstract_recommender import GeneralRecommender
from recbole.utils import InputType

from recbole_unlearn.data.request import read_request_csv, sample_request
from recbole_unlearn.errors import InputError
from recbole_unlearn.quick_start import load_run, run


@pytest.fixture
def train_dataset(fast_config):
    _, loaders, _, _ = load_run("LightGCN", "tiny", config_dict=fast_config, argv=[])
    return loaders[0]._dataset


def write(tmp_path, text, name="req.csv"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_csv_tokens_map_to_internal_ids_and_duplicates_are_dropped(tmp_path, train_dataset, caplog):
    path = write(tmp_path, "user_id,item_id\nu3,i5\nu3,i5\nu7,i1\n")
    request = read_request_csv(path, "interaction", train_dataset)
    assert len(request.users) == 2
    assert train_dataset.id2token("user_id", request.users).tolist() == ["u3", "u7"]
    assert train_dataset.id2token("item_id", request.items).tolist() == ["i5", "i1"]
    assert "dropped 1 duplicate rows" in caplog.text


def test_user_request_from_csv_and_its_hash_is_content_based(tmp_path, train_dataset):
    a = read_request_csv(write(tmp_path, "user_id\nu1\nu2\n", "a.csv"), "user", train_dataset)
    b = read_request_csv(write(tmp_path, "user_id\nu2\nu1\nu1\n", "b.csv"), "user", train_dataset)
    assert a.sha256() == b.sha256()


def test_request_csv_saved_with_a_byte_order_mark_is_the_same_request(tmp_path, train_dataset):
    plain = read_request_csv(write(tmp_path, "user_id\nu1\nu4\n", "plain.csv"), "user", train_dataset)
    (tmp_path / "bom.csv").write_bytes("\ufeffuser_id\nu1\nu4\n".encode("utf-8"))
    bom = read_request_csv(str(tmp_path / "bom.csv"), "user", train_dataset)
    assert train_dataset.id2token("user_id", bom.users).tolist() == ["u1", "u4"]
    assert (bom.type, bom.users.tolist(), bom.sha256()) == (plain.type, plain.users.tolist(), plain.sha256())


def test_request_csv_naming_a_column_twice_is_refused(tmp_path, train_dataset):
    path = write(tmp_path, "user_id,user_id\nu1,u2\n", "dup.csv")
    with pytest.raises(InputError) as err:
        read_request_csv(path, "user", train_dataset)
    assert str(err.value) == f"forget_file {path}: the header names column 'user_id' twice"


@pytest.mark.parametrize("strategy", ["random", "core", "edge"])
def test_sampled_requests_follow_the_strategy(train_dataset, strategy):
    request = sample_request(train_dataset, "user", 0.1, seed=1, strategy=strategy)
    activity = np.bincount(train_dataset.inter_feat["user_id"].numpy(), minlength=train_dataset.user_num)
    active = activity[1:]
    picked = activity[request.users]
    assert len(request.users) == round(0.1 * (train_dataset.user_num - 1))
    if strategy == "core":
        assert picked.min() >= np.sort(active)[::-1][len(picked) - 1]
    if strategy == "edge":
        assert picked.max() <= np.sort(active)[len(picked) - 1]


BAD_REQUESTS = [
    ("user_id\nnobody\nghost\n", "user", "unknown user_id tokens: nobody, ghost"),
    ("user_id\n", "user", "no rows, nothing to forget"),
    ("", "user", "empty file"),
    ("item_id\ni1\n", "user", "missing column user_id"),
    ("user_id,item_id\nu1\n", "interaction", "line 2 has 1 fields, the header has 2"),
    ("item_id\ni1\n", "modality", "names exactly one modality"),
    ("item_id,modality\ni1,image\n", "modality", "forget_modality 'image': dataset tiny has no modality features"),
]


@pytest.mark.parametrize("text,kind,message", BAD_REQUESTS)
def test_bad_request_gives_one_line_and_writes_nothing(tmp_path, fast_config, text, kind, message):
    path = write(tmp_path, text)
    cfg = {**fast_config, "forget_type": kind, "forget_file": path, "report_file": str(tmp_path / "r.json")}
    with pytest.raises(InputError, match=message) as err:
        run("LightGCN", "tiny", config_dict=cfg, argv=[])
    assert "\n" not in str(err.value)
    assert not (tmp_path / "saved").exists() or not any((tmp_path / "saved").iterdir())
    assert not (tmp_path / "r.json").exists()


def test_request_removing_every_interaction_is_refused(tmp_path, fast_config, train_dataset):
    tokens = train_dataset.field2id_token["user_id"][1:]
    path = write(tmp_path, "user_id\n" + "\n".join(tokens) + "\n")
    with pytest.raises(InputError, match="would remove every training interaction"):
        run("LightGCN", "tiny", config_dict={**fast_config, "forget_type": "user", "forget_file": path}, argv=[])


@pytest.mark.parametrize(
    "key,value,message",
    [
        ("forget_type", "everything", "forget_type 'everything' is not one of"),
        ("unlearn_method", "magic", "unlearn_method 'magic' is not one of"),
        ("forget_strategy", "middle", "forget_strategy 'middle' is not one of"),
        ("forget_ratio", 1.5, "forget_ratio 1.5 must be strictly between 0 and 1"),
    ],
)
def test_bad_unlearning_keys_are_refused_before_training(tmp_path, fast_config, key, value, message):
    cfg = {**fast_config, "forget_type": "user", "forget_ratio": 0.1, key: value}
    with pytest.raises(InputError, match=message):
        run("LightGCN", "tiny", config_dict=cfg, argv=[])
    assert not (tmp_path / "saved").exists() or not any((tmp_path / "saved").iterdir())


class ScoresFromItemBias(GeneralRecommender):
    """A general model with no user or item embedding table: one bias per item, stored as a flat vector."""

    input_type = InputType.POINTWISE

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        self.bias = torch.nn.Parameter(torch.zeros(self.n_items))

    def calculate_loss(self, interaction):
        return -self.bias[interaction[self.ITEM_ID]].sigmoid().log().mean()

    def predict(self, interaction):
        return self.bias[interaction[self.ITEM_ID]]


def test_model_without_embeddings_is_refused(fast_config):
    with pytest.raises(InputError, match="model ScoresFromItemBias: has no user or item embedding table"):
        run(ScoresFromItemBias, "tiny", config_dict={**fast_config, "forget_type": "user", "forget_ratio": 0.1}, argv=[])


def test_non_general_model_is_refused_before_any_data_is_read(fast_config):
    with pytest.raises(InputError, match="model Pop: a traditional recommender; only general"):
        run("Pop", "tiny", config_dict={**fast_config, "forget_type": "user", "forget_ratio": 0.1}, argv=[])


ONE_RECIPE = {"unlearn_method": "reverse_bpr", "unlearn_forget_loss": "hinge",
              "unlearn_hinge_target": "rank_matched_neighbours", "forget_weight": 3.0, "unlearn_anchor_weight": 10.0,
              "unlearn_lr_unit": "calibrated", "unlearn_lr_touched": 0.5, "unlearn_passes": 16,
              "unlearn_settle_passes": 1, "unlearn_neg_sampling": "popularity"}


@pytest.mark.parametrize(
    "model,kind,expected",
    [
        ("LightGCN", "user", {"unlearn_method": "reset"}),
        ("LightGCN", "interaction", ONE_RECIPE),
        ("FREEDOM", "interaction", ONE_RECIPE),  # one recipe for every model: no model file brings its own
        ("SGL", "interaction", ONE_RECIPE),
        ("FREEDOM", "modality", {"unlearn_method": "rebuild"}),
        ("LightGCN", "item", {"unlearn_method": "reset", "unlearn_revoked_steps": 50}),
        ("FREEDOM", "item", {"unlearn_method": "reset", "unlearn_revoked_steps": 50}),
    ],
)
def test_each_request_type_gets_its_model_recipe_unless_a_key_is_set(model, kind, expected):
    from recbole_unlearn import Config
    from recbole_unlearn.config import config_with
    from recbole_unlearn.unlearn.context import UnlearnContext

    config = UnlearnContext.for_request(Config(model, "ml-100k", argv=[]), kind).config
    assert {key: config[key] for key in expected} == expected
    given = Config(model, "ml-100k", config_dict={"unlearn_method": "finetune"}, argv=["--unlearn_passes=3"])
    explicit = UnlearnContext.for_request(given, kind)
    assert explicit.config["unlearn_method"] == "finetune" and explicit.settings.passes == 3
    overridden = config_with(Config(model, "ml-100k", argv=[]), unlearn_passes=3)  # a key set in code wins too
    assert UnlearnContext.for_request(overridden, kind).settings.passes == 3


def test_the_old_name_unlearn_epochs_sets_unlearn_passes_with_a_warning(caplog):
    from recbole_unlearn import Config
    from recbole_unlearn.unlearn.context import UnlearnContext

    with caplog.at_level("WARNING"):
        config = Config("LightGCN", "ml-100k", argv=["--unlearn_epochs=4"])
    assert "'unlearn_epochs' is deprecated: use 'unlearn_passes'" in caplog.text
    assert UnlearnContext.for_request(config, "interaction").settings.passes == 4
