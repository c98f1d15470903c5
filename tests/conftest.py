"""Shared fixtures: a small generated dataset in RecBole's atomic format, and config defaults for fast runs."""

import numpy as np
import pytest
import torch


def write_clustered_inter(folder, name, n_users=120, n_items=60, per_user=14, seed=0, token_prefix=""):
    """A dataset with structure a recommender can learn: users and items in 4 taste groups, most picks in-group.

    Returns the path of the ``.inter`` file. Item tokens are written in a shuffled order so that RecBole's internal
    ids (first appearance) differ from the token values.
    """
    rng = np.random.default_rng(seed)
    groups = 4
    item_group = np.arange(n_items) % groups
    rows = []
    for u in range(n_users):
        g = u % groups
        in_group = np.flatnonzero(item_group == g)
        out_group = np.flatnonzero(item_group != g)
        n_in = int(per_user * 0.8)
        picks = np.concatenate(
            [rng.choice(in_group, n_in, replace=False), rng.choice(out_group, per_user - n_in, replace=False)]
        )
        rows += [(u, i, t) for t, i in enumerate(picks)]
    order = rng.permutation(len(rows))
    folder = folder / name
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.inter"
    with open(path, "w") as f:
        f.write("user_id:token\titem_id:token\trating:float\ttimestamp:float\n")
        for k in order:
            u, i, t = rows[k]
            f.write(f"{token_prefix}u{u}\t{token_prefix}i{i}\t1\t{t}\n")
    return path


@pytest.fixture
def tiny_data(tmp_path):
    """``(data_path, dataset_name)`` of a generated 120-user, 60-item dataset."""
    write_clustered_inter(tmp_path / "data", "tiny")
    return str(tmp_path / "data"), "tiny"


@pytest.fixture
def fast_config(tmp_path, tiny_data):
    """Config values for a quick run on the tiny dataset, writing only under ``tmp_path``."""
    data_path, _ = tiny_data
    return {
        "data_path": data_path,
        "checkpoint_dir": str(tmp_path / "saved"),
        "epochs": 2,
        "show_progress": False,
        "state": "ERROR",
        "train_batch_size": 256,
        "load_col": {"inter": ["user_id", "item_id", "rating", "timestamp"]},
    }


@pytest.fixture(autouse=True)
def _isolated_cwd(tmp_path, monkeypatch):
    """RecBole writes log/ under the working directory: keep it out of the source tree."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="module")
def one_thread():
    """One intra-op thread for a module of tiny models: no thread start-up or oversubscription costs."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
