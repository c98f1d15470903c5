"""The command line and the package's import-time promises, run as a user would, in fresh interpreters."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from recbole_unlearn.errors import InputError

ROOT = Path(__file__).resolve().parent.parent


def cli(*args, cwd):
    return subprocess.run(
        [sys.executable, str(ROOT / "run_recbole_unlearn.py"), *args], cwd=cwd, capture_output=True, text=True
    )


def test_importing_the_package_does_not_import_ray():
    code = "import sys, recbole_unlearn, recbole_unlearn.quick_start; print('ray' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_unknown_model_gives_one_line_with_close_names(tmp_path):
    out = cli("--model=LightGNC", "--dataset=ml-100k", cwd=tmp_path)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "unknown model 'LightGNC'" in lines[0] and "LightGCN" in lines[0]


def test_cli_trains_evaluates_prints_table_and_saves(tmp_path, tiny_data):
    data_path, name = tiny_data
    cfg = tmp_path / "a.yaml"
    cfg.write_text(f"data_path: {data_path}\nload_col: {{inter: [user_id, item_id]}}\nepochs: 1\n")
    cfg2 = tmp_path / "b.yaml"
    cfg2.write_text("show_progress: False\nembedding_size: 16\n")
    out = cli("-m", "LightGCN", "-d", name, f"--config_files={cfg} {cfg2}", "--n_layers=1", cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    combined = out.stdout + out.stderr
    assert "recall@20" in combined and "ndcg@10" in combined and "hit@20" in combined
    saved = list((tmp_path / "saved").glob("LightGCN-*.pth"))
    assert len(saved) == 1
    import torch

    meta = torch.load(saved[0], weights_only=True)["meta"]
    assert meta["config"]["embedding_size"] == 16 and meta["config"]["n_layers"] == 1


def test_python_dash_m_is_the_same_runner(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "recbole_unlearn", "--model=NoSuchModel"], cwd=tmp_path, capture_output=True, text=True
    )
    assert out.returncode == 2 and out.stderr.startswith("error: unknown model 'NoSuchModel'")


def test_properties_are_found_and_layered():
    from recbole_unlearn import Config

    config = Config("LightGCN", "ml-100k", argv=[])
    assert config["valid_metric"] == "Recall@20" and config["topk"] == [10, 20]
    assert config["save_dataset"] is False


def test_cli_unlearning_cycle_prints_audit_and_writes_report(tmp_path, tiny_data):
    data_path, name = tiny_data
    out = cli(
        "--model=LightGCN", f"--dataset={name}", f"--data_path={data_path}", "--load_col={'inter': ['user_id', 'item_id']}",
        "--epochs=1", "--show_progress=False", "--forget_type=user", "--forget_ratio=0.1", "--unlearn_passes=2",
        "--unlearn_method=['reverse_bpr','reset']", "--report_file=out/r.json", cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    combined = out.stdout + out.stderr
    rows = [line.split("|")[1].strip() for line in combined.splitlines() if line.startswith("| ")]
    assert {"original", "reverse_bpr", "reset"} <= set(rows) and "forget R@20" in combined
    header = next(line for line in combined.splitlines() if line.startswith("| model"))
    assert "training (s)" in header and "unlearning (s)" in header
    assert len({len(line) for line in combined.splitlines() if line.startswith("| ")}) == 1  # aligned
    last = out.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"forgot 12 users \(\d+ training interactions\) with reverse_bpr in \d+\.\d\d s; "
                        r"checkpoint .*LightGCN-unlearned-user-reverse_bpr-001-.*\.pth; report out/r\.json", last), last
    assert (tmp_path / "out" / "r.json").exists() and (tmp_path / "out" / "r.png").exists()


def test_cli_bad_request_exits_nonzero_with_one_line_and_writes_nothing(tmp_path, tiny_data):
    data_path, name = tiny_data
    (tmp_path / "req.csv").write_text("user_id\nghost\n")
    out = cli(
        "--model=LightGCN", f"--dataset={name}", f"--data_path={data_path}", "--forget_type=user",
        "--forget_file=req.csv", "--report_file=r.json", cwd=tmp_path,
    )
    assert out.returncode == 2
    assert out.stderr.strip().splitlines()[-1] == "error: forget_file req.csv: unknown user_id tokens: ghost"
    assert not (tmp_path / "r.json").exists() and not (tmp_path / "saved").exists()


def test_a_command_line_value_may_hold_an_equals_sign_and_a_repeated_key_must_agree():
    from recbole_unlearn.config import command_line_dict

    assert command_line_dict(["--filter=a=b", "--epochs=2", "--epochs=2"]) == {"filter": "a=b", "epochs": "2"}
    with pytest.raises(InputError, match="argument --epochs given twice with different values: 2 and 3"):
        command_line_dict(["--epochs=2", "--epochs=3"])
