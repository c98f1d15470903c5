"""Benchmark: LightGCN against the multimodal models (VBPR, MMLightGCN, FREEDOM, LATTICE), several seeds, per
dataset and modality set.

Datasets: lfm2k (Last.fm hetrec-2011-2k in MMRec format with its published split; text = all-MiniLM-L6-v2, audio =
VGGish; ``properties/dataset/lfm2k.yaml``) with the modality sets text + audio, text only and audio only; and the
embedded ml-100k demo (RecBole's random 80/10/10 split, one text feature per movie), text only. LightGCN reads no
features, so it runs once per dataset and seed and is the baseline of every modality set of that dataset.

Each (dataset, modality set, model, seed) is trained to early stopping with the package defaults (epochs 300,
stopping_step 10 or the model's own, valid_metric Recall@20, reproducibility on; the dataset's ``feature_norm``) in a
fresh child process, and its best-validation checkpoint is evaluated on test. Per run it records:

* test Recall@20, NDCG@20, Recall@10, NDCG@10 (full ranking, best-validation checkpoint);
* epochs run and the best epoch (the epoch whose checkpoint was kept; RecBole's 0-based epoch index, as in its log);
* s/epoch: the mean wall-clock time of the trainer's ``_train_epoch`` (training only, no validation);
* peak memory: ``ru_maxrss`` of the child process (one process per run, so it is that run's peak), and torch's
  ``max_memory_allocated`` on a GPU.

Per model and setting the table gives the mean and the spread over seeds (spread = sample standard deviation, ``±``),
and a verdict line per multimodal model:

* **reaches LightGCN within spread** when ``mean_model + spread_model >= mean_LightGCN - spread_LightGCN`` on test
  Recall@20 (above it when ``mean_model - spread_model > mean_LightGCN + spread_LightGCN``);
* **best epoch in the first ten** when any seed's best epoch is one of the first ten (index 0 to 9): a model that peaks
  that early and then degrades is being pulled away from the interactions (unnormalised features did this).

Every finished run is appended to ``--runs`` (JSON lines, default ``bench/results/multimodal-runs.jsonl``) and reused
by a later invocation with the same key (dataset, modality set, model, seed, quick), so an interrupted benchmark
resumes; ``--fresh`` ignores earlier runs, ``--report-only`` re-tabulates them without training.

Run from the repository root, on an otherwise idle machine (the 1-minute load average is printed with the tables)::

    . .venv/bin/activate && python bench/bench_multimodal.py --out bench/results/multimodal.md        # everything
    python bench/bench_multimodal.py --datasets lfm2k --sets text+audio --seeds 2020 --models VBPR,LightGCN
    python bench/bench_multimodal.py --quick     # smoke run: epochs capped at 3, numbers meaningless

``--data_path`` (default /work/shared/data) holds the lfm2k folder; a missing folder skips that dataset with a line.
``--threads`` sets ``torch.set_num_threads`` in each child (default 2).
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # bench_lightgcn, also when imported from elsewhere

import torch  # noqa: E402
from bench_lightgcn import write_atomically  # noqa: E402

# pandas / RecBole deprecation chatter (fillna inplace, amp.GradScaler, torch.sparse.FloatTensor) would bury the table
warnings.filterwarnings("ignore", category=FutureWarning)
warnings.filterwarnings("ignore", category=UserWarning)

BASELINE = "LightGCN"
MULTIMODAL = ["VBPR", "MMLightGCN", "FREEDOM", "LATTICE"]
MODELS = [BASELINE, *MULTIMODAL]
#: dataset -> its modality sets ("+"-joined modality names; each a subset of the dataset's ``modalities``)
DATASETS = {"lfm2k": ["text+audio", "text", "audio"], "ml-100k": ["text"]}
SEEDS = [2020, 2021, 2022]
DATA_PATH = "/work/shared/data"
RUNS_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "multimodal-runs.jsonl")
EARLY_EPOCHS = 10  # a best epoch among the first this many (0-based index < EARLY_EPOCHS) is flagged
QUICK_EPOCHS = 3
RESULT_TAG = "BENCH_MULTIMODAL_RESULT "
METRICS = ["recall@20", "ndcg@20", "recall@10", "ndcg@10"]


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes


def run_key(dataset, modality_set, model, seed, quick):
    """The identity of one run; LightGCN reads no features, so its modality set is ``-``."""
    return f"{dataset}|{'-' if model == BASELINE else modality_set}|{model}|{seed}|{'quick' if quick else 'full'}"


# ---------------------------------------------------------------------------------------------------------------------
# child: one run, one process
def measure_one(model_name, dataset, modality_set, seed, data_path, quick, threads):
    """Train ``model_name`` to early stopping on ``dataset`` with the modalities of ``modality_set``, evaluate on test;
    a dict of measurements (JSON-serialisable)."""
    torch.set_num_threads(threads)
    from recbole_unlearn.data import create_dataset, data_preparation
    from recbole_unlearn.quick_start import load_config
    from recbole_unlearn.registry import build_model, build_trainer

    on_gpu = torch.cuda.is_available()
    if on_gpu:
        torch.cuda.reset_peak_memory_stats()
    with tempfile.TemporaryDirectory() as tmp:
        config_dict = {"show_progress": False, "state": "ERROR", "checkpoint_dir": os.path.join(tmp, "saved"),
                       "data_path": data_path, "seed": seed, "reproducibility": True}
        if quick:
            config_dict["epochs"] = QUICK_EPOCHS
        config = load_config(model_name, dataset, config_dict=config_dict, argv=[])
        available = dict(config["modalities"] or {})
        wanted = modality_set.split("+")
        missing = [m for m in wanted if m not in available]
        if missing:
            raise SystemExit(f"bench_multimodal: dataset {dataset} has no modality {missing[0]} ({sorted(available)})")
        config["modalities"] = {m: available[m] for m in wanted}
        setup_start = time.perf_counter()
        train_data, valid_data, test_data = data_preparation(config, create_dataset(config))
        model = build_model(config, train_data._dataset)
        trainer = build_trainer(config, model)
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
        fit_start = time.perf_counter()
        _, best_valid = trainer.fit(train_data, valid_data, saved=True, show_progress=False)
        fit_s = time.perf_counter() - fit_start
        test_result = trainer.evaluate(test_data, load_best_model=True, show_progress=False)
    features = getattr(train_data._dataset, "modality_features", {}) or {}
    return {
        "key": run_key(dataset, modality_set, model_name, seed, quick),
        "model": model_name,
        "dataset": dataset,
        "modality_set": modality_set,
        "seed": seed,
        "quick": quick,
        "device": str(config["device"]),
        "threads": torch.get_num_threads(),
        "modalities": sorted(features) if model_name != BASELINE else [],
        "feature_norm": {k: list(v) for k, v in (getattr(train_data._dataset, "feature_norm", {}) or {}).items()},
        "n_users": int(train_data._dataset.user_num),
        "n_items": int(train_data._dataset.item_num),
        "epochs_run": len(epoch_times),
        "best_epoch": saved_epochs[-1] if saved_epochs else None,
        "s_per_epoch": sum(epoch_times) / len(epoch_times) if epoch_times else float("nan"),
        "fit_s": fit_s,
        "setup_s": setup_s,
        "best_valid": {k: float(v) for k, v in dict(best_valid).items()},
        "test": {k: float(v) for k, v in dict(test_result).items()},
        "peak_rss_mb": peak_rss_mb(),
        "gpu_peak_mb": torch.cuda.max_memory_allocated() / 2**20 if on_gpu else None,
        "n_parameters": sum(p.numel() for p in model.parameters()),
    }


# ---------------------------------------------------------------------------------------------------------------------
# parent: one child per run, then the tables
def run_child(model_name, dataset, modality_set, seed, args):
    """The child's result dict, or ``{"key": ..., "error": ...}`` when it failed (its stderr went to ours)."""
    command = [sys.executable, os.path.abspath(__file__), "--one", model_name, "--datasets", dataset,
               "--sets", modality_set, "--seeds", str(seed), "--data_path", args.data_path,
               "--threads", str(args.threads)] + (["--quick"] if args.quick else [])
    label = f"{dataset} {modality_set} {model_name} seed {seed}"
    print(f"[bench_multimodal] {label}: running in a child process ...", file=sys.stderr, flush=True)
    start = time.perf_counter()
    proc = subprocess.run(command, stdout=subprocess.PIPE, text=True)
    wall = time.perf_counter() - start
    lines = [line for line in proc.stdout.splitlines() if line.startswith(RESULT_TAG)]
    if proc.returncode != 0 or not lines:
        tail = "\n".join(proc.stdout.splitlines()[-5:])
        print(f"[bench_multimodal] {label}: FAILED (exit status {proc.returncode}) after {wall:.0f} s\n{tail}",
              file=sys.stderr, flush=True)
        return {"key": run_key(dataset, modality_set, model_name, seed, args.quick), "error": f"exit {proc.returncode}"}
    result = json.loads(lines[-1][len(RESULT_TAG):])
    result["child_wall_s"] = wall
    print(f"[bench_multimodal] {label}: test R@20 {result['test']['recall@20']:.4f}, best epoch "
          f"{result['best_epoch']}, {wall:.0f} s", file=sys.stderr, flush=True)
    return result


def read_runs(path):
    """``{key: result}`` of the runs recorded in ``path`` (the last one of a key wins); ``{}`` without the file."""
    runs = {}
    if path and os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    result = json.loads(line)
                    runs[result["key"]] = result
    return runs


def append_run(path, result):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(result) + "\n")
        f.flush()
        os.fsync(f.fileno())


def mean_spread(values):
    """``(mean, sample standard deviation)``; the spread of a single value is 0."""
    values = [v for v in values if v is not None]
    if not values:
        return float("nan"), float("nan")
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def summarise(runs):
    """Per-model summary of a setting's runs: means and spreads of the measurements."""
    ok = [r for r in runs if "error" not in r]
    if not ok:
        return {"n": 0, "failed": len(runs)}
    metrics = {m: mean_spread([r["test"][m] for r in ok]) for m in METRICS}
    best = [r["best_epoch"] for r in ok]
    return {
        "n": len(ok),
        "failed": len(runs) - len(ok),
        "test": metrics,
        "best_epochs": best,
        "epochs_run": [r["epochs_run"] for r in ok],
        "s_per_epoch": mean_spread([r["s_per_epoch"] for r in ok]),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in ok),
        "gpu_peak_mb": max((r["gpu_peak_mb"] for r in ok if r.get("gpu_peak_mb") is not None), default=None),
        "early": any(b is not None and b < EARLY_EPOCHS for b in best),
    }


def verdict(name, s, base):
    """One line: does the model reach the baseline within the seeds' spread; is any best epoch in the first ten."""
    if s["n"] == 0:
        return f"- {name}: every run failed"
    (m, sd), (bm, bsd) = s["test"]["recall@20"], base["test"]["recall@20"]
    if m - sd > bm + bsd:
        reach = f"**above {BASELINE}** beyond the spread"
    elif m + sd >= bm - bsd:
        reach = f"reaches {BASELINE} within the spread"
    else:
        reach = f"**below {BASELINE}** beyond the spread"
    early = (f"**best epoch in the first {EARLY_EPOCHS}** ({', '.join(map(str, s['best_epochs']))})" if s["early"]
             else f"no best epoch in the first {EARLY_EPOCHS}")
    return (f"- {name} {reach}: test R@20 {m:.4f} ± {sd:.4f} vs {bm:.4f} ± {bsd:.4f} ({m - bm:+.4f}); {early}")


def setting_table(dataset, modality_set, by_model, models):
    gpu = any(s.get("gpu_peak_mb") is not None for s in by_model.values() if s["n"])
    head = ("| model | seeds | test R@20 | test N@20 | R@10 | N@10 | best epochs | epochs run | s/epoch | peak RSS MB |"
            + (" GPU peak MB |" if gpu else ""))
    lines = [f"### {dataset}, {modality_set.replace('+', ' + ')}", "", head,
             "|" + "---|" * (head.count("|") - 1)]
    for name in models:
        s = by_model.get(name)
        if s is None:
            continue
        if s["n"] == 0:
            lines.append(f"| {name} | 0 ({s['failed']} failed) |" + " |" * (head.count("|") - 3))
            continue
        cells = [name, str(s["n"]) + (f" ({s['failed']} failed)" if s["failed"] else "")]
        cells += [f"{s['test'][m][0]:.4f} ± {s['test'][m][1]:.4f}" for m in METRICS]
        cells += [", ".join(map(str, s["best_epochs"])), ", ".join(map(str, s["epochs_run"])),
                  f"{s['s_per_epoch'][0]:.3f}", f"{s['peak_rss_mb']:.0f}"]
        if gpu:
            cells.append(f"{s['gpu_peak_mb']:.0f}" if s.get("gpu_peak_mb") is not None else "")
        lines.append("| " + " | ".join(cells) + " |")
    base = by_model.get(BASELINE)
    lines.append("")
    if base is None or base["n"] == 0:
        lines.append(f"(no verdicts: {BASELINE} has no finished run here)")
    else:
        lines += [verdict(name, by_model[name], base) for name in models if name != BASELINE and name in by_model]
    return lines


def report(results, plan, args, load):
    """Markdown: one table per (dataset, modality set), the baseline's runs shared across a dataset's sets."""
    by_key = {r["key"]: r for r in results}
    threads = ", ".join(str(t) for t in sorted({r["threads"] for r in results if r.get("threads")})) or "-"
    where = ("re-tabulated from saved runs" if args.report_only
             else f"1-minute load average {load[0]:.1f} at start, {load[1]:.1f} at end")
    lines = [
        f"Multimodal models vs {BASELINE}: seeds {', '.join(map(str, args.seed_list))}; torch threads per child "
        f"process: {threads}; torch {torch.__version__}; {where}" + (f"; {args.note}" if args.note else "") + ". "
        "Mean ± sample standard deviation over seeds; best epochs and epochs run per seed; s/epoch: training only "
        "(mean over seeds); peak RSS: the largest child ru_maxrss.",
        "",
    ]
    for dataset, modality_set, models in plan:
        by_model = {}
        for name in models:
            runs = [by_key[k] for k in (run_key(dataset, modality_set, name, s, args.quick) for s in args.seed_list)
                    if k in by_key]
            if runs:
                by_model[name] = summarise(runs)
        lines += setting_table(dataset, modality_set, by_model, models) + [""]
        first = next((r for r in results if "error" not in r and r["dataset"] == dataset
                      and r["modality_set"] == modality_set and r["model"] != BASELINE), None)
        if first:
            lines += [f"({first['n_users']} users, {first['n_items']} items incl. padding; feature_norm "
                      f"{first['feature_norm']})", ""]
    if args.quick:
        lines.append(f"(--quick: smoke run, epochs capped at {QUICK_EPOCHS}; the numbers are not meaningful)")
    return "\n".join(lines).rstrip()


def build_plan(args):
    """``[(dataset, modality set, [models])]`` to run, datasets whose folder is missing left out with a line."""
    plan = []
    for dataset in args.dataset_list:
        if dataset not in DATASETS:
            raise SystemExit(f"bench_multimodal: unknown dataset {dataset} (one of {', '.join(DATASETS)})")
        if dataset != "ml-100k" and not os.path.isdir(os.path.join(args.data_path, dataset)):
            print(f"bench_multimodal: dataset folder {os.path.join(args.data_path, dataset)} not found; {dataset} "
                  f"skipped (pass --data_path to point at it)")
            continue
        sets = [s for s in DATASETS[dataset] if args.set_list is None or s in args.set_list]
        for modality_set in sets:
            plan.append((dataset, modality_set, list(args.model_list)))
    return plan


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"smoke run: epochs capped at {QUICK_EPOCHS}")
    parser.add_argument("--models", default=",".join(MODELS), help=f"comma list (default {','.join(MODELS)})")
    parser.add_argument("--datasets", default=",".join(DATASETS), help=f"comma list (default {','.join(DATASETS)})")
    parser.add_argument("--sets", default=None, help="comma list of modality sets, e.g. text+audio,text (default all)")
    parser.add_argument("--seeds", default=",".join(map(str, SEEDS)), help="comma list (default 2020,2021,2022)")
    parser.add_argument("--data_path", default=DATA_PATH, help=f"folder holding the lfm2k folder (default {DATA_PATH})")
    parser.add_argument("--runs", default=RUNS_FILE, help="JSON lines of finished runs, appended and reused")
    parser.add_argument("--fresh", action="store_true", help="run everything again, ignoring --runs")
    parser.add_argument("--report-only", action="store_true", help="tabulate the runs in --runs, train nothing")
    parser.add_argument("--out", metavar="FILE", help="also write the tables to FILE (atomically)")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads in each child (default 2)")
    parser.add_argument("--note", default="", help="what else ran on the machine, said in the report")
    parser.add_argument("--one", metavar="MODEL", help=argparse.SUPPRESS)  # internal: the child process
    args = parser.parse_args(argv)
    args.model_list = [m.strip() for m in args.models.split(",") if m.strip()]
    args.dataset_list = [d.strip() for d in args.datasets.split(",") if d.strip()]
    args.set_list = [s.strip() for s in args.sets.split(",") if s.strip()] if args.sets else None
    args.seed_list = [int(s) for s in args.seeds.split(",") if s.strip()]

    if args.one:
        (dataset,), (seed,) = args.dataset_list, args.seed_list
        result = measure_one(args.one, dataset, args.set_list[0], seed, args.data_path, args.quick, args.threads)
        print(RESULT_TAG + json.dumps(result), flush=True)
        return 0

    plan = build_plan(args)
    done = {} if args.fresh else read_runs(args.runs)
    load_at_start = os.getloadavg()[0]
    results = []
    for dataset, modality_set, models in plan:
        for name in models:
            for seed in args.seed_list:
                key = run_key(dataset, modality_set, name, seed, args.quick)
                if key in done or any(r["key"] == key for r in results):
                    results.append(done.get(key) or next(r for r in results if r["key"] == key))
                    continue
                if args.report_only:
                    continue
                result = run_child(name, dataset, modality_set, seed, args)
                if "error" not in result:
                    append_run(args.runs, result)
                results.append(result)
    text = report(results, plan, args, (load_at_start, os.getloadavg()[0]))
    print(text)
    if args.out:
        write_atomically(args.out, text)
    return 1 if any("error" in r for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
