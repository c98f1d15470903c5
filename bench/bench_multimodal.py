"""Benchmark: LightGCN against the multimodal models (VBPR, MMLightGCN, FREEDOM) on lfm2k, text + audio features.

lfm2k is Last.fm hetrec-2011-2k in MMRec format with its published x_label train/valid/test split and two item
modalities (``properties/dataset/lfm2k.yaml``: ``text: all-MiniLM-L6-v2.npy``, ``audio: vggish.npy``). Each model is
trained to early stopping with the package defaults (epochs 300, stopping_step 10, valid_metric Recall@20, seed 2020,
reproducibility on) and the best-validation checkpoint is evaluated on test. Per model it reports:

* test Recall@20, NDCG@20, Recall@10, NDCG@10 (full ranking, best-validation checkpoint);
* epochs run (training epochs until early stopping) and the epoch whose checkpoint was kept;
* s/epoch: the mean wall-clock time of the trainer's ``_train_epoch`` (wrapped on the trainer instance) over all
  training epochs run, i.e. training only, not the per-epoch validation or checkpoint writes;
* fit s: the wall-clock time of the whole ``trainer.fit`` (training + per-epoch validation + checkpoint writes);
  setup (dataset load, model build: for FREEDOM the kNN item graphs) is timed apart and printed in the notes;
* peak RSS MB: ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` of a fresh child process per model (it is monotone per
  process, hence one process per model), measured after the test evaluation; the notes also give the growth over the
  child's peak after imports, and torch's ``max_memory_allocated`` when the model runs on a GPU.

Each child calls ``torch.set_num_threads(2)`` (``--threads`` changes it) before anything else runs; the parent
re-invokes this script with ``--one MODEL`` and reads back one JSON line. The markdown table is printed, followed by
which multimodal models beat LightGCN on test Recall@20 (single seed: a difference of at most 0.01 absolute is called
within noise, as in bench_lightgcn.py).

Run from the repository root (``--quick`` is a smoke run: epochs capped at 3; ``--models`` a comma list;
``--dataset``/``--data_path`` default to lfm2k and /work/shared/data, and a missing data folder is reported and the
script exits 0; ``--out FILE`` also writes the table and notes to FILE, atomically)::

    . .venv/bin/activate && python bench/bench_multimodal.py [--quick] [--out bench/results/multimodal.md]

Run it on an otherwise idle machine: the 1-minute load average is printed with the table.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from functools import partial

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # bench_lightgcn, also when imported from elsewhere

import torch  # noqa: E402
from bench_lightgcn import timed, write_atomically  # noqa: E402

# pandas / RecBole deprecation chatter (fillna inplace, amp.GradScaler, torch.sparse.FloatTensor) would bury the table
warnings.filterwarnings("ignore", category=FutureWarning)
warnings.filterwarnings("ignore", category=UserWarning)

MODELS = ["LightGCN", "VBPR", "MMLightGCN", "FREEDOM"]
BASELINE = "LightGCN"
DATASET = "lfm2k"
DATA_PATH = "/work/shared/data"
SEED = 2020
NOISE = 0.01  # absolute test Recall@20 difference read as noise (single seed), as in bench_lightgcn.py
QUICK_EPOCHS = 3
RESULT_TAG = "BENCH_MULTIMODAL_RESULT "
METRICS = ["recall@20", "ndcg@20", "recall@10", "ndcg@10"]


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes


# ---------------------------------------------------------------------------------------------------------------------
# child: one model, one process
def measure_one(model_name, dataset, data_path, quick, threads):
    """Train ``model_name`` to early stopping, evaluate on test; a dict of measurements (JSON-serialisable)."""
    torch.set_num_threads(threads)
    from recbole_unlearn.quick_start import load_run

    rss_after_imports = peak_rss_mb()
    on_gpu = torch.cuda.is_available()
    if on_gpu:
        torch.cuda.reset_peak_memory_stats()
    with tempfile.TemporaryDirectory() as tmp:
        config_dict = {"show_progress": False, "state": "ERROR", "checkpoint_dir": os.path.join(tmp, "saved"),
                       "data_path": data_path, "seed": SEED, "reproducibility": True}
        if quick:
            config_dict["epochs"] = QUICK_EPOCHS
        setup_start = time.perf_counter()
        config, (train_data, valid_data, test_data), model, trainer = load_run(model_name, dataset,
                                                                               config_dict=config_dict, argv=[])
        setup_s = time.perf_counter() - setup_start
        sync = torch.cuda.synchronize if config["device"].type == "cuda" else (lambda: None)

        epoch_times, saved_epochs = [], []
        train_epoch, save_checkpoint = trainer._train_epoch, trainer._save_checkpoint

        def timed_train_epoch(*args, **kwargs):  # training only: validation runs outside _train_epoch
            sync()
            start = time.perf_counter()
            loss = train_epoch(*args, **kwargs)
            sync()
            epoch_times.append(time.perf_counter() - start)
            return loss

        def recording_save_checkpoint(epoch, *args, **kwargs):  # called when the validation score improves
            saved_epochs.append(int(epoch))
            return save_checkpoint(epoch, *args, **kwargs)

        trainer._train_epoch, trainer._save_checkpoint = timed_train_epoch, recording_save_checkpoint
        fit = partial(trainer.fit, train_data, valid_data, saved=True, show_progress=False)
        fit_times, fit_results = timed({"fit": fit}, repeats=1)
        _, best_valid = fit_results["fit"]
        test_result = trainer.evaluate(test_data, load_best_model=True, show_progress=False)
    return {
        "model": model_name,
        "dataset": dataset,
        "device": str(config["device"]),
        "threads": torch.get_num_threads(),
        "modalities": sorted(getattr(train_data._dataset, "modality_features", {}) or {}),
        "n_users": int(train_data._dataset.user_num),
        "n_items": int(train_data._dataset.item_num),
        "epochs_cap": int(config["epochs"]),
        "stopping_step": int(config["stopping_step"]),
        "epochs_run": len(epoch_times),
        "best_epoch": saved_epochs[-1] if saved_epochs else None,
        "epoch_times": epoch_times,
        "s_per_epoch": sum(epoch_times) / len(epoch_times) if epoch_times else float("nan"),
        "fit_s": fit_times["fit"][0],
        "setup_s": setup_s,
        "best_valid": {k: float(v) for k, v in dict(best_valid).items()},
        "test": {k: float(v) for k, v in dict(test_result).items()},
        "rss_after_imports_mb": rss_after_imports,
        "peak_rss_mb": peak_rss_mb(),
        "gpu_peak_mb": torch.cuda.max_memory_allocated() / 2**20 if on_gpu else None,
        "n_parameters": sum(p.numel() for p in model.parameters()),
    }


# ---------------------------------------------------------------------------------------------------------------------
# parent: one child per model, then the table
def run_child(model_name, args):
    """The child's result dict, or ``{"model": ..., "error": ...}`` when it failed (its stderr went to ours)."""
    command = [sys.executable, os.path.abspath(__file__), "--one", model_name, "--dataset", args.dataset,
               "--data_path", args.data_path, "--threads", str(args.threads)] + (["--quick"] if args.quick else [])
    start = time.perf_counter()
    print(f"[bench_multimodal] {model_name}: running in a child process ...", file=sys.stderr, flush=True)
    proc = subprocess.run(command, stdout=subprocess.PIPE, text=True)
    wall = time.perf_counter() - start
    lines = [line for line in proc.stdout.splitlines() if line.startswith(RESULT_TAG)]
    if proc.returncode != 0 or not lines:
        tail = "\n".join(proc.stdout.splitlines()[-5:])
        print(f"[bench_multimodal] {model_name}: FAILED (exit status {proc.returncode}) after {wall:.0f} s\n{tail}",
              file=sys.stderr, flush=True)
        return {"model": model_name, "error": f"exit status {proc.returncode}"}
    result = json.loads(lines[-1][len(RESULT_TAG):])
    result["child_wall_s"] = wall
    print(f"[bench_multimodal] {model_name}: done in {wall:.0f} s", file=sys.stderr, flush=True)
    return result


def row(r):
    if "error" in r:
        return f"| {r['model']} | failed ({r['error']}) | | | | | | | |"
    t = r["test"]
    cells = [r["model"], *(f"{t[m]:.4f}" for m in METRICS), str(r["epochs_run"]), f"{r['s_per_epoch']:.3f}",
             f"{r['fit_s']:.1f}", f"{r['peak_rss_mb']:.0f}"]
    return "| " + " | ".join(cells) + " |"


def verdict(results):
    """Lines saying which multimodal models beat LightGCN on test Recall@20 (and how they do on NDCG@20)."""
    by_name = {r["model"]: r for r in results if "error" not in r}
    base = by_name.get(BASELINE)
    others = [r for name, r in by_name.items() if name != BASELINE]
    if base is None or not others:
        return [f"(no comparison with {BASELINE}: it and at least one multimodal model must have run)"]
    lines, winners = [], []
    b20, bn20 = base["test"]["recall@20"], base["test"]["ndcg@20"]
    for r in others:
        d, dn = r["test"]["recall@20"] - b20, r["test"]["ndcg@20"] - bn20
        if d > NOISE:
            word = "beats"
            winners.append(r["model"])
        elif d < -NOISE:
            word = "is below"
        else:
            word = f"is within noise of {BASELINE}" + (", ahead" if d > 0 else ", behind" if d < 0 else "")
        lines.append(f"- {r['model']} {word}{'' if 'noise' in word else ' ' + BASELINE}: test Recall@20 {r['test']['recall@20']:.4f} vs {b20:.4f} "
                     f"({d:+.4f}), NDCG@20 {r['test']['ndcg@20']:.4f} vs {bn20:.4f} ({dn:+.4f})")
    head = (f"Multimodal models that beat {BASELINE} on test Recall@20 (by more than {NOISE} absolute, one seed): "
            + (", ".join(winners) if winners else "none"))
    return [head, *lines]


def report(results, args, load):
    ok = [r for r in results if "error" not in r]
    first = ok[0] if ok else {}
    gpu = any(r.get("gpu_peak_mb") is not None for r in ok)
    lines = [
        f"Multimodal models vs {BASELINE} on {args.dataset} (modalities: {', '.join(first.get('modalities', [])) or '?'}; "
        f"{first.get('n_users', '?')} users, {first.get('n_items', '?')} items incl. padding) on "
        f"{first.get('device', '?')}; torch.set_num_threads({args.threads}) in each child process; torch "
        f"{torch.__version__}; seed {SEED}; 1-min load average {load[0]:.1f} at start, {load[1]:.1f} at end",
        "",
        "| model | test R@20 | test N@20 | R@10 | N@10 | epochs | s/epoch | fit s | peak RSS MB |",
        "|---|---|---|---|---|---|---|---|---|",
        *(row(r) for r in results),
        "",
        f"s/epoch: mean wall time of the trainer's `_train_epoch` over all training epochs (training only, no "
        f"validation). fit s: the whole `trainer.fit`, per-epoch validation and checkpoint writes included. epochs: "
        f"training epochs run (cap {first.get('epochs_cap', '?')}, stopping_step {first.get('stopping_step', '?')}). "
        f"Test metrics: the best-validation (Recall@20) checkpoint. peak RSS: the child's ru_maxrss.",
        "",
        "| model | best epoch | best valid R@20 | setup s | first epoch s | RSS after imports MB | RSS growth MB |"
        + (" GPU peak alloc MB |" if gpu else "") + " parameters |",
        "|---|---|---|---|---|---|---|" + ("---|" if gpu else "") + "---|",
    ]
    for r in ok:
        cells = [r["model"], str(r["best_epoch"]), f"{r['best_valid'].get('recall@20', float('nan')):.4f}",
                 f"{r['setup_s']:.1f}", f"{r['epoch_times'][0]:.3f}" if r["epoch_times"] else "",
                 f"{r['rss_after_imports_mb']:.0f}", f"{r['peak_rss_mb'] - r['rss_after_imports_mb']:.0f}"]
        if gpu:
            cells.append(f"{r['gpu_peak_mb']:.0f}" if r["gpu_peak_mb"] is not None else "")
        cells.append(f"{r['n_parameters']:,}")
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", *verdict(results)]
    if args.quick:
        lines += ["", f"(--quick: smoke run, epochs capped at {QUICK_EPOCHS}; the numbers are not meaningful)"]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"smoke run: epochs capped at {QUICK_EPOCHS}")
    parser.add_argument("--models", default=",".join(MODELS), help=f"comma list (default {','.join(MODELS)})")
    parser.add_argument("--dataset", default=DATASET, help=f"dataset name (default {DATASET})")
    parser.add_argument("--data_path", default=DATA_PATH, help=f"folder holding the dataset folder (default {DATA_PATH})")
    parser.add_argument("--out", metavar="FILE", help="also write the table and notes to FILE (atomically)")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads in each child (default 2)")
    parser.add_argument("--one", metavar="MODEL", help=argparse.SUPPRESS)  # internal: the child process
    args = parser.parse_args(argv)

    if args.one:
        result = measure_one(args.one, args.dataset, args.data_path, args.quick, args.threads)
        print(RESULT_TAG + json.dumps(result), flush=True)
        return 0

    dataset_dir = os.path.join(args.data_path, args.dataset)
    if not os.path.isdir(dataset_dir):
        print(f"bench_multimodal: dataset folder {dataset_dir} not found; nothing to benchmark (pass --data_path / "
              f"--dataset to point at it)")
        return 0
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    load_at_start = os.getloadavg()[0]
    results = [run_child(m, args) for m in models]
    text = report(results, args, (load_at_start, os.getloadavg()[0]))
    print(text)
    if args.out:
        write_atomically(args.out, text)
    return 1 if any("error" in r for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
