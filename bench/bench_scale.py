"""How the cost of unlearning grows with the data, against gold's: synthetic power-law graphs and the real datasets.

For each dataset (LightGCN, default recipe of each request type, ``--threads`` threads, one process; run it alone, or
say what else ran with ``--note``):

- the original: real datasets, trained to early stopping (read from ``bench/cache`` as ``bench_unlearning.py`` writes
  it); synthetic ones, ``--synthetic-batches`` training batches only (their cost is measured here, not their
  quality, which ``bench_unlearning.py`` judges on real data);
- requests of a fixed size (1,000 interactions; 100 users) and of a fixed share (5% of interactions, 5% of users, 1%
  of items; the shares only up to ``--shares-up-to`` interactions, past which a 5% request's passes alone take
  hours), drawn at random; each timed alone (``method(original, split, config)``, after one untimed warm-up request
  per dataset), with the process's peak resident memory during the request (``VmHWM``, reset through
  ``/proc/self/clear_refs``): above what was resident before it (the request's own memory), and in all (RecBole's
  dataset and the original stay resident; a request needs no dataloaders, so they are built only to train an
  original that is not cached, and for gold after the requests);
- gold: one epoch of training on the retain set (beyond ``--gold-batches-up-to`` interactions, the first
  ``--gold-batches`` batches timed and scaled to the epoch's, said in the table), and gold to early stopping
  (``unlearn_method=retrain``, measured up to ``--gold-to-stop-up-to`` interactions; beyond, the measured epoch time
  times the epochs gold took on the largest dataset where it was measured, said in the table).

Synthetic graphs follow Amazon Baby's degree distribution (5-core): user degrees Pareto with minimum 5 and shape 2.5
(mean 8.3; Baby: 8.3), item popularity Zipf-like with exponent 0.75 (Baby's rank-frequency slope: 0.72), 8.3
interactions per user and 22.8 per item (Baby's), duplicates dropped.

    python bench/bench_scale.py --sizes 1e5 1e6 1e7 --real ml-100k lfm2k baby

Written to ``bench/results/scale.md`` and ``scale.json`` (one row per dataset and request).
"""

import argparse
import itertools
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tabulate import tabulate
from tqdm import tqdm

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_unlearning import CACHE, RESULTS, cached_model, original_key, trained_to_stop  # noqa: E402

from recbole_unlearn.atomic import atomic_write  # noqa: E402
from recbole_unlearn.config import config_with, with_request_defaults  # noqa: E402
from recbole_unlearn.data import built_datasets, create_dataset, dataloaders  # noqa: E402
from recbole_unlearn.data.request import sample_request  # noqa: E402
from recbole_unlearn.data.split import split_datasets  # noqa: E402
from recbole_unlearn.quick_start import load_config  # noqa: E402
from recbole_unlearn.registry import build_model, build_trainer  # noqa: E402
from recbole_unlearn.unlearn.methods import get_method, retrain  # noqa: E402

SYNTHETIC = CACHE / "scale"
# (label, request type, size: an int is a count, a float a share)
REQUESTS = [
    ("1,000 interactions", "interaction", 1000),
    ("100 users", "user", 100),
    ("5% interactions", "interaction", 0.05),
    ("5% users", "user", 0.05),
    ("1% items", "item", 0.01),
]


def power_law_interactions(n, seed=0):
    """About ``n`` distinct (user, item) pairs with Baby's degree distribution (module docstring)."""
    rng = np.random.default_rng(seed)
    n_users, n_items = max(int(n / 8.3), 10), max(int(n / 22.8), 10)
    degrees = np.minimum(np.floor(5 * rng.random(n_users) ** (-1 / 2.5)), n_items // 2).astype(np.int64)
    degrees = np.maximum(np.round(degrees * n / degrees.sum()).astype(np.int64), 5)
    popularity = rng.permutation(np.arange(1, n_items + 1) ** -0.75)
    popularity /= popularity.sum()
    users = np.repeat(np.arange(n_users), degrees)
    items = rng.choice(n_items, size=len(users), p=popularity)
    pairs = np.unique(users * n_items + items)
    return pairs // n_items, pairs % n_items


def synthetic_dataset(n) -> str:
    """Name of the synthetic dataset of about ``n`` interactions, written once under ``bench/cache/scale``."""
    name = f"synthetic-{n:.0e}".replace("+0", "").replace("+", "")
    path = SYNTHETIC / name / f"{name}.inter"
    if not path.exists():
        users, items = power_law_interactions(int(n))

        def write(f):
            f.write("user_id:token\titem_id:token\n")
            np.savetxt(f, np.stack([users, items], axis=1), fmt="%d", delimiter="\t")

        atomic_write(str(path), write)
    return name


def peak_rss_reset():
    """Reset the process's peak resident set size (Linux: ``/proc/self/clear_refs``)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def rss_gib(field) -> float:
    """``VmHWM`` (peak) or ``VmRSS`` (now) of this process, in GiB."""
    with open("/proc/self/status") as f:
        line = next(line for line in f if line.startswith(field))
    return int(line.split()[1]) / 2**20


def tensors_gib(tensors) -> float:
    """Bytes held by ``tensors`` (dense, or sparse CSR: its three arrays), in GiB."""
    total = 0
    for t in tensors:
        parts = (t.crow_indices(), t.col_indices(), t.values()) if t.layout == torch.sparse_csr else (t,)
        total += sum(part.numel() * part.element_size() for part in parts)
    return total / 2**30


def model_gib(model) -> float:
    """The model's parameters and the tensors it holds as attributes (its graph), in GiB."""
    held = [v for v in vars(model).values() if isinstance(v, torch.Tensor)]
    return tensors_gib(list(model.parameters()) + held)


def interactions_gib(datasets) -> float:
    """The interaction tensors of RecBole datasets (train, valid, test), in GiB."""
    return tensors_gib([t for ds in datasets for t in ds.inter_feat.interaction.values()])


def request_for(train, kind, size, seed):
    population = len(train.inter_feat) if kind == "interaction" else train.user_num - 1
    ratio = size if isinstance(size, float) else size / population
    return sample_request(train, kind, ratio, seed=seed)


def train_batches(config, model, loader, max_batches=None):
    """Train ``model`` for one epoch of ``loader``, or its first ``max_batches`` batches; returns the seconds an
    epoch takes (scaled from the batches run) and whether it was scaled."""
    trainer = build_trainer(config, model)
    batches = len(loader)
    timed = batches if max_batches is None else min(batches, max_batches)
    start = time.perf_counter()
    trainer._train_epoch(loader if timed == batches else itertools.islice(loader, timed), 0, show_progress=False)
    return (time.perf_counter() - start) * batches / timed, timed < batches


def gold_epoch_seconds(config, split, max_batches=None):
    """Seconds of one training epoch of a fresh model on the retain set (:func:`train_batches`)."""
    train, _, _ = dataloaders(config, [split.retain_train, split.retain_valid, split.retain_test])
    return train_batches(config, build_model(config, split.retain_train), train, max_batches)


def load_with_original(name, base, data_path, synthetic_batches, model_name="LightGCN", extra=None, memory=None):
    """``(config, [train, valid, test] datasets, original)`` for a real dataset (under ``data_path``) or a synthetic
    one: the original is read from ``bench/cache`` or trained (real: to early stopping; synthetic:
    ``synthetic_batches`` batches), RecBole's dataloaders built for that training only, as a request needs none. A
    dict ``memory`` gets the resident GiB after RecBole's dataset is built (``dataset_gib``) and whether the original
    was trained in this process (``original_trained``: its dataloaders' memory may stay resident)."""
    synthetic = name.startswith("synthetic")
    if synthetic:
        synthetic_dataset(float(name.split("-", 1)[1]))  # written once
    cfg = {**base, **(extra or {}), "data_path": str(SYNTHETIC if synthetic else data_path)}
    config = load_config(model_name, name, config_dict=cfg, argv=[])
    datasets = built_datasets(config, create_dataset(config))
    if memory is not None:
        memory.update(dataset_gib=rss_gib("VmRSS"), original_trained=False)

    def fit(model):
        if memory is not None:
            memory["original_trained"] = True
        loaders = dataloaders(config, datasets)
        if synthetic:
            train_batches(config, model, loaders[0], synthetic_batches)
            return model
        return trained_to_stop(config, loaders, model, f"scale-{name}")

    # the same key as bench_unlearning.py's originals of the real datasets, so those are reused
    key = original_key(model_name, name, base if not synthetic else {**base, "batches": synthetic_batches}, config)
    original, _ = cached_model(CACHE / f"original-{key}.pth", config, datasets[0],
                               lambda: build_model(config, datasets[0]), fit)
    return config, datasets, original


def measure_dataset(name, args, base, progress):
    """Rows of the results for one dataset: every request first (nothing of gold resident yet), then gold's epoch
    and, up to ``--gold-to-stop-up-to``, gold to early stopping, on the first request's retain set."""
    memory = {"before_load_gib": rss_gib("VmRSS")}
    config, (train, valid, test), original = load_with_original(name, base, args.data_path, args.synthetic_batches,
                                                                memory=memory)
    memory.update(loaded_gib=rss_gib("VmRSS"), interactions_gib=interactions_gib([train, valid, test]),
                  model_gib=model_gib(original))
    n_train = len(train.inter_feat)
    rows, splits = [], []
    for label, kind, size in REQUESTS:
        if isinstance(size, float) and n_train > args.shares_up_to:
            progress.update(1)
            continue
        request = request_for(train, kind, size, seed=2020)
        split = split_datasets(request, train, valid, test)
        request_config = with_request_defaults(config, kind)
        method = get_method(request_config["unlearn_method"])
        if not rows:
            method(original, split, request_config)  # untimed warm-up of the dataset (first-call costs)
            memory["after_warm_up_gib"] = rss_gib("VmRSS")
        torch.manual_seed(config["seed"])
        peak_rss_reset()
        resident = rss_gib("VmRSS")
        start = time.perf_counter()
        _, outcome = method(original, split, request_config)
        seconds = time.perf_counter() - start
        peak = rss_gib("VmHWM")
        last = outcome.log[-1] if outcome and outcome.log else {}
        rows.append({
            "dataset": name, "interactions": n_train, "users": train.user_num - 1, "items": train.item_num - 1,
            "request": label, "type": kind, "method": request_config["unlearn_method"],
            "removed": split.removed()["train"], "seconds": seconds, "peak_rss_gib": peak,
            "request_gib": peak - resident, "forget_vs_valid_auc": last.get("forget_vs_valid_auc"), "memory": memory,
        })
        splits.append(split)
        progress.set_postfix_str(f"{name}: {label} {seconds:.1f}s")
        progress.update(1)
    gold_stop = None
    if rows[0]["type"] == "interaction" and n_train <= args.gold_to_stop_up_to:
        start = time.perf_counter()
        retrain(original, splits[0], config_with(config, epochs=300))
        gold_stop = {"seconds": time.perf_counter() - start, "measured": True}
    epoch_s, scaled = gold_epoch_seconds(config, splits[0], None if n_train <= args.gold_batches_up_to
                                         else args.gold_batches)
    for row in rows:
        row.update(gold_stop=gold_stop, gold_epoch_s=epoch_s, gold_epoch_scaled=scaled)
    return rows


def fill_gold_estimates(rows):
    """Gold to early stopping where it was not measured: the epoch time times the epochs gold took on the largest
    dataset where it was measured (seconds of the stop / seconds of an epoch there)."""
    measured = [r for r in rows if r["gold_stop"] and r["gold_stop"]["measured"]]
    if not measured:
        return
    largest = max(measured, key=lambda r: r["interactions"])
    epochs = largest["gold_stop"]["seconds"] / largest["gold_epoch_s"]
    for row in rows:
        if not row["gold_stop"]:
            row["gold_stop"] = {"seconds": row["gold_epoch_s"] * epochs, "measured": False,
                                "epochs_from": largest["dataset"]}


def table(rows) -> str:
    lines = []
    for r in rows:
        stop = r["gold_stop"]
        lines.append([
            r["dataset"], f"{r['interactions']:,}", r["request"], r["method"], f"{r['removed']:,}",
            f"{r['seconds']:.2f}", f"{r['request_gib']:.2f}", f"{r['peak_rss_gib']:.2f}",
            f"{r['gold_epoch_s']:.1f}{' *' if r['gold_epoch_scaled'] else ''}",
            f"{r['gold_epoch_s'] / r['seconds']:.1f}",
            "-" if not stop else f"{stop['seconds']:.0f}{'' if stop['measured'] else ' †'}",
            "-" if not stop else f"{stop['seconds'] / r['seconds']:.0f}x",
        ])
    header = ["dataset", "train interactions", "request", "method", "removed", "unlearn s", "request GiB",
              "process GiB", "gold epoch s", "x one epoch", "gold to stop s", "x gold"]
    return tabulate(lines, headers=header, tablefmt="github", disable_numparse=True)


def memory_table(rows) -> str:
    """Resident memory before the requests, per dataset: what loading (RecBole's dataset and its splits, the original)
    and the warm-up request left resident, with the interaction tensors' and the model's own bytes."""
    seen, lines = set(), []
    for r in rows:
        m = r.get("memory")
        if not m or r["dataset"] in seen:
            continue
        seen.add(r["dataset"])
        trained = " (trained here)" if m.get("original_trained") else ""
        lines.append([r["dataset"], f"{m['before_load_gib']:.2f}", f"{m['dataset_gib']:.2f}",
                      f"{m['loaded_gib']:.2f}{trained}",
                      f"{m['interactions_gib']:.2f}", f"{m['model_gib']:.2f}", f"{m['after_warm_up_gib']:.2f}"])
    header = ["dataset", "resident before loading", "after RecBole's dataset and its splits", "after the original",
              "of which interaction tensors", "of which the model", "after the warm-up request"]
    return tabulate(lines, headers=header, tablefmt="github", disable_numparse=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="*", type=float, default=[1e5, 1e6, 1e7])
    parser.add_argument("--real", nargs="*", default=["ml-100k", "lfm2k", "baby"])
    parser.add_argument("--data_path", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--synthetic-batches", type=int, default=20)
    parser.add_argument("--gold-to-stop-up-to", type=float, default=2e5)
    parser.add_argument("--shares-up-to", type=float, default=2e6)
    parser.add_argument("--gold-batches-up-to", type=float, default=5e5)
    parser.add_argument("--gold-batches", type=int, default=50)
    parser.add_argument("--out", default=str(RESULTS / "scale"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--note", default="", help="what else ran on the machine, said in the results")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    names = [n for n in args.real if n == "ml-100k" or (Path(args.data_path) / n).is_dir()]
    skipped = sorted(set(args.real) - set(names))
    names += [synthetic_dataset(n) for n in args.sizes]
    base = {"show_progress": False, "state": "ERROR", "checkpoint_dir": str(CACHE / "tmp"), "epochs": 300}
    rows = []
    with tqdm(total=len(names) * len(REQUESTS), desc="scale", ncols=100) as progress:
        for name in names:
            rows += measure_dataset(name, args, base, progress)
    fill_gold_estimates(rows)
    head = (f"LightGCN, default recipe per request type; {platform.processor() or platform.machine()}, "
            f"torch {torch.__version__}, {torch.get_num_threads()} threads, one process"
            + (f"; {args.note}" if args.note else "")
            + (f"; skipped (no data): {', '.join(skipped)}" if skipped else ""))
    notes = ("\n\n`*` one gold epoch scaled from its first batches. `†` gold to early stopping not run: the epoch time "
             "times the epochs gold took where it was measured. x one epoch / x gold: gold's seconds over the "
             "request's. Request GiB: the process's peak resident memory during the request above what was resident "
             "before it; process GiB: that peak itself, RecBole's dataset and the original included (RecBole's "
             "dataloaders are built only to train an original that is not cached, and for gold after the requests).\n")
    memory = f"\nResident memory (GiB) before the timed requests:\n\n{memory_table(rows)}\n"
    atomic_write(args.out + ".md", lambda f: f.write(f"## Unlearning cost against the data's size\n\n{head}\n\n"
                                                     f"{table(rows)}{notes}{memory}"))
    atomic_write(args.out + ".json", lambda f: json.dump({"environment": head, "rows": rows}, f, indent=1))
    print(table(rows))


if __name__ == "__main__":
    main()
