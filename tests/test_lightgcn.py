"""The package's LightGCN: it learns, and its checkpoints round-trip safely."""

import pytest
import torch
from recbole.data.interaction import Interaction

from recbole_unlearn.checkpoint import load_checkpoint
from recbole_unlearn.errors import InputError
from recbole_unlearn.quick_start import load_run, run


def test_lightgcn_beats_popularity_on_ml100k_after_a_few_epochs(tmp_path):
    """Pop reaches test Recall@20 = 0.165 on this split; LightGCN must clear 0.19 after 3 epochs."""
    cfg = {"epochs": 3, "show_progress": False, "state": "ERROR", "checkpoint_dir": str(tmp_path / "saved")}
    result = run("LightGCN", "ml-100k", config_dict=cfg, argv=[])
    assert type(result.model).__module__ == "recbole_unlearn.model.lightgcn"  # ours, not RecBole's
    assert result.test_result["recall@20"] >= 0.19
    assert load_checkpoint(result.checkpoint)["meta"]["dataset"] == "ml-100k"


def full_scores(model, n_users):
    model.eval()
    with torch.no_grad():
        return model.full_sort_predict(Interaction({model.USER_ID: torch.arange(n_users)}))


def test_checkpoint_round_trip_gives_identical_scores(fast_config):
    result = run("LightGCN", "tiny", config_dict=fast_config, argv=[])
    trained = result.model
    # a second, freshly built model, re-drawn so its weights differ until the checkpoint is loaded
    _, (train, _, _), other, trainer = load_run("LightGCN", "tiny", config_dict=fast_config, argv=[])
    for p in other.parameters():
        torch.nn.init.normal_(p)
    assert not torch.equal(full_scores(other, train._dataset.user_num), full_scores(trained, train._dataset.user_num))
    trainer.load_checkpoint_file(result.checkpoint, dataset=train._dataset)
    assert torch.equal(full_scores(other, train._dataset.user_num), full_scores(trained, train._dataset.user_num))


def test_checkpoint_has_only_safe_types(fast_config):
    result = run("LightGCN", "tiny", config_dict=fast_config, argv=[])
    state = torch.load(result.checkpoint, weights_only=True)  # raises if anything needs unpickling
    meta = state["meta"]
    assert meta["model"] == "LightGCN" and len(meta["item_tokens_sha256"]) == 64
    assert meta["config"]["embedding_size"] == 64


def test_checkpoint_of_another_dataset_or_model_is_refused(tmp_path, fast_config):
    from tests.conftest import write_clustered_inter

    result = run("LightGCN", "tiny", config_dict=fast_config, argv=[])
    write_clustered_inter(tmp_path / "data", "other", token_prefix="x")
    _, (train, _, _), _, trainer = load_run("LightGCN", "other", config_dict=fast_config, argv=[])
    with pytest.raises(InputError, match="trained on dataset tiny, this run uses other"):
        trainer.load_checkpoint_file(result.checkpoint, dataset=train._dataset)
    _, (train, _, _), _, trainer = load_run("BPR", "tiny", config_dict=fast_config, argv=[])
    with pytest.raises(InputError, match="trained for model LightGCN, this run uses BPR"):
        trainer.load_checkpoint_file(result.checkpoint, dataset=train._dataset)


def test_corrupt_checkpoint_gives_one_line_error(tmp_path, fast_config):
    result = run("LightGCN", "tiny", config_dict=fast_config, argv=[])
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(open(result.checkpoint, "rb").read()[:200])
    with pytest.raises(InputError, match="truncated.pth: not a readable") as err:
        load_checkpoint(str(truncated))
    assert "\n" not in str(err.value)


def test_loading_a_checkpoint_drops_embeddings_cached_from_the_weights_before(fast_config):
    """A trainer's last evaluation leaves full-ranking embeddings cached; loading the best epoch into that same model
    (still in eval mode) must serve the loaded weights, not the cache."""
    result = run("LightGCN", "tiny", config_dict=fast_config, argv=[])
    _, (train, _, _), other, trainer = load_run("LightGCN", "tiny", config_dict=fast_config, argv=[])
    n_users = train._dataset.user_num
    for p in other.parameters():
        torch.nn.init.normal_(p)
    other.eval()
    with torch.no_grad():  # fills the cache, as an evaluation does; no eval() call in between from here on
        stale = other.full_sort_predict(Interaction({other.USER_ID: torch.arange(n_users)}))
    trainer.load_checkpoint_file(result.checkpoint, dataset=train._dataset)
    assert not other.training
    with torch.no_grad():
        served = other.full_sort_predict(Interaction({other.USER_ID: torch.arange(n_users)}))
    assert not torch.equal(served, stale)
    assert torch.equal(served, full_scores(result.model, n_users))
