"""Multi-process runs on CPU (gloo) through RecBole's DDP keys: two processes of this machine against one.

Each launch spawns fresh interpreters (a few seconds each on 2 cores); the whole file takes under a minute.
"""

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from conftest import write_clustered_inter

from recbole_unlearn import distributed
from recbole_unlearn import launch as launcher
from recbole_unlearn.config import Config
from recbole_unlearn.errors import InputError

ROOT = Path(__file__).resolve().parent.parent

# Two processes train on the same data as one, with the same effective batch (each rank takes every second sample of
# a batch of train_batch_size, gradients averaged), the same initial weights and the same evaluation. What differs is
# which samples share a step and the random negatives each rank draws, so the trained weights differ by training noise
# only: after 5 epochs on the 121-user data the test Recall/NDCG@10/20 agree to 0.01 (measured: at most 0.0092; 0.017
# on the 120-user data). This tolerance, about 6 of the 121 test users, leaves room for that noise while catching a
# run that did not learn. Evaluation itself is exact: the same weights give the same metrics, checked to the digit.
TRAIN_TOLERANCE = 0.05


def free_port():
    with socket.socket() as probe:
        probe.bind(("localhost", 0))
        return probe.getsockname()[1]


def launch(config_dict, entry=None, dataset="tiny"):
    config = Config("LightGCN", dataset, config_dict=config_dict, argv=[])
    arguments = launcher.RunArguments(model="LightGCN", dataset=dataset, config_dict=config_dict)
    return launcher.launch(config, arguments, entry=entry)


# entries run in each spawned process (module-level, so that spawn can find them) --------------------------------------
def train_without_checkpoint(**kwargs):
    """Train, evaluate the last epoch's weights; return them, and whether every rank holds the very same weights (it
    must, if the gradients were averaged over the ranks at every step)."""
    from recbole_unlearn.quick_start import run

    result = run(**kwargs, saved=False)
    weights = torch.cat([p.detach().reshape(-1) for p in result.model.parameters()])
    every_rank = [None] * dist.get_world_size()
    dist.all_gather_object(every_rank, weights)
    return {
        "test_result": result.test_result,
        "state_dict": result.model.state_dict(),
        "ranks_identical": all(torch.equal(weights, w) for w in every_rank),
    }


# ---------------------------------------------------------------------------------------------------------------------
def test_backend_is_gloo_on_cpu_and_nccl_on_cuda():
    assert distributed.backend_for("cpu") == "gloo"
    assert distributed.backend_for(torch.device("cpu")) == "gloo"
    assert distributed.backend_for(torch.device("cuda", 1)) == "nccl"


def test_keys_default_as_in_recbole_and_bad_settings_give_one_line(fast_config):
    config = Config("LightGCN", "tiny", config_dict={**fast_config, "nproc": 2}, argv=["--port=6000"])
    values = distributed.settings(config)
    assert values == {"nproc": 2, "world_size": 2, "ip": "localhost", "port": 6000, "offset": 0}
    assert distributed.wants_processes(config) and config["single_spec"]
    assert not distributed.wants_processes(Config("LightGCN", "tiny", config_dict=fast_config, argv=[]))
    cases = [
        ({**values, "offset": 1}, "cpu", "", "exceeds world_size"),
        ({**values, "nproc": 0}, "cpu", "", "at least 1"),
        (values, "cuda", "0", "needs as many GPUs in gpu_id"),
    ]
    for bad, device, gpu_id, message in cases:
        with pytest.raises(InputError, match=message):
            distributed.check_settings(bad, torch.device(device), gpu_id)
    distributed.check_settings({**values, "world_size": 4, "offset": 2}, torch.device("cpu"))  # second machine: fine
    with socket.socket() as busy:
        busy.bind(("localhost", 0))
        busy.listen()
        with pytest.raises(InputError, match=f"cannot listen on localhost:{busy.getsockname()[1]}"):
            launcher.check_port_free("localhost", busy.getsockname()[1])


def test_two_processes_train_like_one_and_evaluate_exactly_like_one(fast_config):
    from recbole_unlearn.quick_start import load_run, run

    # 121 users: one rank's share of the evaluation users is padded with a repeated user, which must not count twice
    write_clustered_inter(Path(fast_config["data_path"]), "odd", n_users=121)
    config_dict = {**fast_config, "epochs": 5}
    one = run("LightGCN", "odd", config_dict=config_dict, argv=[], saved=False).test_result
    two = launch({**config_dict, "nproc": 2, "port": free_port()}, entry=train_without_checkpoint, dataset="odd")
    assert two["ranks_identical"], "the ranks' weights drifted apart: gradients were not averaged"
    for metric in ("recall@20", "ndcg@20", "recall@10", "ndcg@10"):
        assert abs(two["test_result"][metric] - one[metric]) <= TRAIN_TOLERANCE, (metric, one, two["test_result"])

    # the same weights give the same metrics, to the last decimal, however many processes evaluate them
    _, (_, _, test), model, trainer = load_run("LightGCN", "odd", config_dict=config_dict, argv=[])
    model.load_state_dict(two["state_dict"])
    assert dict(trainer.evaluate(test, load_best_model=False)) == two["test_result"]


def test_two_process_unlearning_writes_one_checkpoint_and_one_report_from_rank_0(fast_config, tmp_path):
    report_file = tmp_path / "report.json"
    config_dict = {
        **fast_config,
        "forget_type": "interaction",
        "forget_ratio": 0.05,
        "unlearn_passes": 3,
        "report_file": str(report_file),
        "nproc": 2,
        "port": free_port(),
    }
    result = launch(config_dict)
    saved = Path(fast_config["checkpoint_dir"])
    unlearned = [p.name for p in saved.glob("*-unlearned-*.pth")]
    assert unlearned == [Path(result.checkpoint).name]
    assert len(list(saved.glob("*.pth"))) == 2  # and the original, written once
    assert [p.name for p in tmp_path.glob("*.json")] == ["report.json"]
    report = json.loads(report_file.read_text())
    assert 1 <= report["stopping"]["passes"] <= 3 and report["request"]["type"] == "interaction"


def test_cli_runs_two_processes_and_refuses_a_busy_port_in_one_line(tmp_path, tiny_data):
    data_path, name = tiny_data
    args = [sys.executable, str(ROOT / "run_recbole_unlearn.py"), "-m", "LightGCN", "-d", name,
            f"--data_path={data_path}", "--load_col={'inter': ['user_id', 'item_id']}", "--epochs=1",
            "--show_progress=False", "--nproc=2"]
    out = subprocess.run([*args, f"--port={free_port()}"], cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "recall@20" in out.stdout + out.stderr
    assert len(list((tmp_path / "saved").glob("LightGCN-*.pth"))) == 1
    with socket.socket() as busy:
        busy.bind(("localhost", 0))
        busy.listen()
        out = subprocess.run([*args, f"--port={busy.getsockname()[1]}"], cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot listen on localhost:"), out.stderr[-2000:]
