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

    python -m bench.bench_multimodal --out bench/results/multimodal.md        # everything
    python -m bench.bench_multimodal --datasets lfm2k --sets text+audio --seeds 2020 --models VBPR,LightGCN
    python -m bench.bench_multimodal --quick     # smoke run: epochs capped at 3, numbers meaningless
    python -m bench.bench_multimodal --report-only --out bench/results/multimodal.md   # re-tabulate saved runs

``--data_path`` (default: ``shared/data`` beside the repository) holds the lfm2k folder; a missing folder skips that
dataset with a line. ``--threads`` sets ``torch.set_num_threads`` in each child (default 2).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass

import torch

from bench.common import (
    EMBEDDED,
    RESULTS,
    ROOT,
    add_run_arguments,
    argument_parser,
    data_path_for,
    dataset_available,
    quiet_config,
    resident_gib,
    write_text,
)
from recbole_unlearn.data import create_dataset, data_preparation
from recbole_unlearn.quick_start import load_config
from recbole_unlearn.registry import build_model, build_trainer

# pandas / RecBole deprecation chatter (fillna inplace, amp.GradScaler, torch.sparse.FloatTensor) would bury the table
warnings.filterwarnings("ignore", category=FutureWarning)
warnings.filterwarnings("ignore", category=UserWarning)

BASELINE = "LightGCN"
MULTIMODAL = ["VBPR", "MMLightGCN", "FREEDOM", "LATTICE"]
MODELS = [BASELINE, *MULTIMODAL]
#: dataset -> its modality sets ("+"-joined modality names; each a subset of the dataset's ``modalities``)
DATASETS = {"lfm2k": ["text+audio", "text", "audio"], EMBEDDED: ["text"]}
SEEDS = [2020, 2021, 2022]
RUNS_FILE = str(RESULTS / "multimodal-runs.jsonl")
EARLY_EPOCHS = 10  # a best epoch among the first this many (0-based index < EARLY_EPOCHS) is flagged
QUICK_EPOCHS = 3
RESULT_TAG = "BENCH_MULTIMODAL_RESULT "
METRICS = ["recall@20", "ndcg@20", "recall@10", "ndcg@10"]


def run_key(dataset, modality_set, model, seed, quick):
    """The identity of one run; LightGCN reads no features, so its modality set is ``-``."""
    return f"{dataset}|{'-' if model == BASELINE else modality_set}|{model}|{seed}|{'quick' if quick else 'full'}"


@dataclass(frozen=True)
class RunSpec:
    """One run: ``model`` on ``dataset`` with the modalities of ``modality_set``, one seed, quick (epochs capped at
    :data:`QUICK_EPOCHS`) or full."""

    model: str
    dataset: str
    modality_set: str
    seed: int
    quick: bool

    @property
    def key(self) -> str:
        return run_key(self.dataset, self.modality_set, self.model, self.seed, self.quick)

    @property
    def label(self) -> str:
        return f"{self.dataset} {self.modality_set} {self.model} seed {self.seed}"


# ---------------------------------------------------------------------------------------------------------------------
# child: one run, one process
def run_config(spec: RunSpec, data_path, checkpoint_dir):
    """The run's config: the package defaults with the seed, reproducibility on, and the dataset's modalities narrowed
    to ``spec.modality_set``."""
    config_dict = quiet_config(checkpoint_dir, **data_path_for(spec.dataset, data_path), seed=spec.seed,
                               reproducibility=True)
    if spec.quick:
        config_dict["epochs"] = QUICK_EPOCHS
    config = load_config(spec.model, spec.dataset, config_dict=config_dict, argv=[])
    available = dict(config["modalities"] or {})
    wanted = spec.modality_set.split("+")
    missing = [m for m in wanted if m not in available]
    if missing:
        raise SystemExit(f"bench_multimodal: dataset {spec.dataset} has no modality {missing[0]} ({sorted(available)})")
    config["modalities"] = {m: available[m] for m in wanted}
    return config


class EpochRecorder:
    """Wraps a trainer's ``_train_epoch`` (timed: training only, validation runs outside it) and its
    ``_save_checkpoint`` (called when the validation score improves: the epochs whose checkpoint was kept)."""

    def __init__(self, trainer, sync):
        self.epoch_times, self.saved_epochs = [], []
        train_epoch, save_checkpoint = trainer._train_epoch, trainer._save_checkpoint

        def timed_train_epoch(*args, **kwargs):
            sync()
            start = time.perf_counter()
            loss = train_epoch(*args, **kwargs)
            sync()
            self.epoch_times.append(time.perf_counter() - start)
            return loss

        def recording_save_checkpoint(epoch, *args, **kwargs):
            self.saved_epochs.append(int(epoch))
            return save_checkpoint(epoch, *args, **kwargs)

        trainer._train_epoch, trainer._save_checkpoint = timed_train_epoch, recording_save_checkpoint


@dataclass
class Fit:
    """What training and testing one run gave: its config, training dataset and model, the recorder of its epochs,
    the setup and fit seconds, the best validation result and the test result of the best-validation checkpoint."""

    config: object
    dataset: object
    model: object
    epochs: EpochRecorder
    setup_s: float
    fit_s: float
    best_valid: dict
    test: dict


def fit_and_test(spec: RunSpec, data_path) -> Fit:
    """Train ``spec``'s model to early stopping (checkpoints in a temporary folder), evaluate its best-validation
    checkpoint on test."""
    with tempfile.TemporaryDirectory() as tmp:
        config = run_config(spec, data_path, os.path.join(tmp, "saved"))
        setup_start = time.perf_counter()
        train_data, valid_data, test_data = data_preparation(config, create_dataset(config))
        model = build_model(config, train_data._dataset)
        trainer = build_trainer(config, model)
        setup_s = time.perf_counter() - setup_start
        epochs = EpochRecorder(trainer, torch.cuda.synchronize if config["device"].type == "cuda" else (lambda: None))
        fit_start = time.perf_counter()
        _, best_valid = trainer.fit(train_data, valid_data, saved=True, show_progress=False)
        fit_s = time.perf_counter() - fit_start
        test_result = trainer.evaluate(test_data, load_best_model=True, show_progress=False)
    return Fit(config, train_data._dataset, model, epochs, setup_s, fit_s, best_valid, test_result)


def measure_one(spec: RunSpec, data_path, threads):
    """Train ``spec.model`` to early stopping on ``spec.dataset`` with the modalities of ``spec.modality_set``,
    evaluate on test; a dict of measurements (JSON-serialisable)."""
    torch.set_num_threads(threads)
    on_gpu = torch.cuda.is_available()
    if on_gpu:
        torch.cuda.reset_peak_memory_stats()
    fit = fit_and_test(spec, data_path)
    features = getattr(fit.dataset, "modality_features", {}) or {}
    times = fit.epochs.epoch_times
    return {
        "key": spec.key, "model": spec.model, "dataset": spec.dataset, "modality_set": spec.modality_set,
        "seed": spec.seed, "quick": spec.quick, "device": str(fit.config["device"]), "threads": torch.get_num_threads(),
        "modalities": sorted(features) if spec.model != BASELINE else [],
        "feature_norm": {k: list(v) for k, v in (getattr(fit.dataset, "feature_norm", {}) or {}).items()},
        "n_users": int(fit.dataset.user_num),
        "n_items": int(fit.dataset.item_num),
        "epochs_run": len(times),
        "best_epoch": fit.epochs.saved_epochs[-1] if fit.epochs.saved_epochs else None,
        "s_per_epoch": sum(times) / len(times) if times else float("nan"),
        "fit_s": fit.fit_s,
        "setup_s": fit.setup_s,
        "best_valid": {k: float(v) for k, v in dict(fit.best_valid).items()},
        "test": {k: float(v) for k, v in dict(fit.test).items()},
        "peak_rss_mb": resident_gib("VmHWM") * 1024,
        "gpu_peak_mb": torch.cuda.max_memory_allocated() / 2**20 if on_gpu else None,
        "n_parameters": sum(p.numel() for p in fit.model.parameters()),
    }


# ---------------------------------------------------------------------------------------------------------------------
# parent: one child per run, then the tables
def run_child(spec: RunSpec, args):
    """The child's result dict, or ``{"key": ..., "error": ...}`` when it failed (its stderr went to ours)."""
    command = [sys.executable, "-m", "bench.bench_multimodal", "--one", spec.model, "--datasets", spec.dataset,
               "--sets", spec.modality_set, "--seeds", str(spec.seed), "--data_path", os.path.abspath(args.data_path),
               "--threads", str(args.threads)] + (["--quick"] if spec.quick else [])
    print(f"[bench_multimodal] {spec.label}: running in a child process ...", file=sys.stderr, flush=True)
    start = time.perf_counter()
    proc = subprocess.run(command, stdout=subprocess.PIPE, text=True, cwd=ROOT, check=False)
    wall = time.perf_counter() - start
    lines = [line for line in proc.stdout.splitlines() if line.startswith(RESULT_TAG)]
    if proc.returncode != 0 or not lines:
        tail = "\n".join(proc.stdout.splitlines()[-5:])
        print(f"[bench_multimodal] {spec.label}: FAILED (exit status {proc.returncode}) after {wall:.0f} s\n{tail}",
              file=sys.stderr, flush=True)
        return {"key": spec.key, "error": f"exit {proc.returncode}"}
    result = json.loads(lines[-1][len(RESULT_TAG):])
    result["child_wall_s"] = wall
    print(f"[bench_multimodal] {spec.label}: test R@20 {result['test']['recall@20']:.4f}, best epoch "
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
            lines += [(f"({first['n_users']} users, {first['n_items']} items incl. padding; feature_norm "
                       f"{first['feature_norm']})"), ""]
    if args.quick:
        lines.append(f"(--quick: smoke run, epochs capped at {QUICK_EPOCHS}; the numbers are not meaningful)")
    return "\n".join(lines).rstrip()


def build_plan(args):
    """``[(dataset, modality set, [models])]`` to run, datasets whose folder is missing left out with a line."""
    plan = []
    for dataset in args.dataset_list:
        if dataset not in DATASETS:
            raise SystemExit(f"bench_multimodal: unknown dataset {dataset} (one of {', '.join(DATASETS)})")
        if not dataset_available(dataset, args.data_path):
            print(f"bench_multimodal: dataset folder {os.path.join(args.data_path, dataset)} not found; {dataset} "
                  f"skipped (pass --data_path to point at it)")
            continue
        sets = [s for s in DATASETS[dataset] if args.set_list is None or s in args.set_list]
        for modality_set in sets:
            plan.append((dataset, modality_set, list(args.model_list)))
    return plan


def parse_args(argv=None):
    parser = argument_parser(__spec__.name, __doc__)
    parser.add_argument("--quick", action="store_true", help=f"smoke run: epochs capped at {QUICK_EPOCHS}")
    parser.add_argument("--models", default=",".join(MODELS), help=f"comma list (default {','.join(MODELS)})")
    parser.add_argument("--datasets", default=",".join(DATASETS), help=f"comma list (default {','.join(DATASETS)})")
    parser.add_argument("--sets", default=None, help="comma list of modality sets, e.g. text+audio,text (default all)")
    parser.add_argument("--seeds", default=",".join(map(str, SEEDS)), help="comma list (default 2020,2021,2022)")
    add_run_arguments(parser, epochs=False)
    parser.add_argument("--runs", default=RUNS_FILE, help="JSON lines of finished runs, appended and reused")
    parser.add_argument("--fresh", action="store_true", help="run everything again, ignoring --runs")
    parser.add_argument("--report-only", action="store_true", help="tabulate the runs in --runs, train nothing")
    parser.add_argument("--out", metavar="FILE", help="also write the tables to FILE (atomically)")
    parser.add_argument("--note", default="", help="what else ran on the machine, said in the report")
    parser.add_argument("--one", metavar="MODEL", help=argparse.SUPPRESS)  # internal: the child process
    args = parser.parse_args(argv)
    args.model_list = [m.strip() for m in args.models.split(",") if m.strip()]
    args.dataset_list = [d.strip() for d in args.datasets.split(",") if d.strip()]
    args.set_list = [s.strip() for s in args.sets.split(",") if s.strip()] if args.sets else None
    args.seed_list = [int(s) for s in args.seeds.split(",") if s.strip()]
    return args


def collect_runs(plan, args, done):
    """Every run of ``plan``: reused from ``done`` (or from earlier in this plan) where its key is there, else run in
    a child process (not with ``--report-only``) and appended to ``--runs``."""
    results = []
    for dataset, modality_set, models in plan:
        for name in models:
            for seed in args.seed_list:
                spec = RunSpec(name, dataset, modality_set, seed, args.quick)
                if spec.key in done or any(r["key"] == spec.key for r in results):
                    results.append(done.get(spec.key) or next(r for r in results if r["key"] == spec.key))
                    continue
                if args.report_only:
                    continue
                result = run_child(spec, args)
                if "error" not in result:
                    append_run(args.runs, result)
                results.append(result)
    return results


def main(argv=None):
    args = parse_args(argv)
    if args.one:
        (dataset,), (seed,) = args.dataset_list, args.seed_list
        result = measure_one(RunSpec(args.one, dataset, args.set_list[0], seed, args.quick), args.data_path,
                             args.threads)
        print(RESULT_TAG + json.dumps(result), flush=True)
        return 0
    plan = build_plan(args)
    done = {} if args.fresh else read_runs(args.runs)
    load_at_start = os.getloadavg()[0]
    results = collect_runs(plan, args, done)
    text = report(results, plan, args, (load_at_start, os.getloadavg()[0]))
    print(text)
    if args.out:
        write_text(args.out, text + "\n")
    return 1 if any("error" in r for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
