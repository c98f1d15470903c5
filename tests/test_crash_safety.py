"""A process killed (SIGKILL) mid-unlearning leaves the previous checkpoint loadable and verifiable, writes no
checkpoint, manifest or report of its own, and a rerun completes."""

import json
import os
import signal
import subprocess
import sys

import pytest

from recbole_unlearn.quick_start import run
from recbole_unlearn.unlearn.lineage import read_manifest
from recbole_unlearn.verify import verify_checkpoint

# Runs the unlearning of ``config`` (argv[1], JSON) in a child process that kills itself with SIGKILL at one point:
# during the third optimisation step, or halfway through writing the unlearned checkpoint's bytes.
DRIVER = r"""
import json, os, signal, sys
import torch
from recbole_unlearn.unlearn.trainer import UnlearningTrainer

where = sys.argv[2]
if where == "passes":
    step_loss, calls = UnlearningTrainer._step_loss, []
    def killing_step(self, *args):
        calls.append(1)
        if len(calls) == 3:
            os.kill(os.getpid(), signal.SIGKILL)
        return step_loss(self, *args)
    UnlearningTrainer._step_loss = killing_step
else:
    def killing_save(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04 half a checkpoint")
        f.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    torch.save = killing_save

from recbole_unlearn.quick_start import run
run("LightGCN", "tiny", config_dict=json.loads(sys.argv[1]), argv=[])
"""


@pytest.mark.parametrize("where", ["passes", "checkpoint_write"])
def test_sigkill_mid_unlearning_leaves_previous_checkpoint_valid_and_rerun_completes(where, fast_config, tmp_path):
    root = run("LightGCN", "tiny", config_dict=fast_config, argv=[]).checkpoint
    saved = fast_config["checkpoint_dir"]
    before = sorted(os.listdir(saved))
    cfg = {**fast_config, "checkpoint": root, "forget_type": "interaction", "forget_ratio": 0.1,
           "unlearn_passes": 5, "unlearn_batch_size": 64, "report_file": str(tmp_path / "out" / "report.json")}
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.getcwd(), *sys.path])}
    child = subprocess.run([sys.executable, "-c", DRIVER, json.dumps(cfg), where], env=env, capture_output=True,
                           timeout=300)
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()[-2000:]

    now = sorted(os.listdir(saved))
    hidden = [name for name in now if name.startswith(".") and name.endswith(".tmp")]  # never read by anything
    assert [n for n in now if n not in hidden] == before
    assert bool(hidden) == (where == "checkpoint_write")  # it did die halfway through the write
    assert not (tmp_path / "out").exists()  # no report
    assert verify_checkpoint(root, config_dict=fast_config)["requests"] == []

    rerun = run("LightGCN", "tiny", config_dict=cfg, argv=[])
    assert read_manifest(rerun.checkpoint)["parent"]["checkpoint"] == os.path.basename(root)
    assert verify_checkpoint(rerun.checkpoint, config_dict=fast_config)["audit"]["forget_recall@20"] >= 0
