"""How the cost of unlearning grows with the data, against gold's: synthetic power-law graphs and the real datasets.

For each dataset (LightGCN, default recipe of each request type, ``--threads`` threads, one process; run it alone, or
say what else ran with ``--note``):

- the original: real datasets, trained to early stopping (read from ``bench/cache`` as ``python -m
  bench.bench_unlearning`` writes it); synthetic ones, ``--synthetic-batches`` training batches only (their cost is
  measured here, not their quality, which ``bench.bench_unlearning`` judges on real data);
- requests of a fixed size (1,000 interactions; 100 users) and of a fixed share (5% of interactions, 5% of users, 1%
  of items; the shares only up to ``--shares-up-to`` interactions, past which a 5% request's passes alone take
  hours), drawn at random; each timed alone (the method call from the original, after one untimed warm-up request
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

    python -m bench.bench_scale --sizes 1e5 1e6 1e7 --real ml-100k lfm2k baby

Written to ``bench/results/scale.md`` and ``scale.json`` (one row per dataset and request).
"""

import json
import platform
import time

import torch
from tabulate import tabulate
from tqdm import tqdm

from bench.common import (
    RESULTS,
    DataSpec,
    add_run_arguments,
    argument_parser,
    cached_config,
    dataset_available,
    load_with_original,
    reset_peak_rss,
    resident_gib,
    run_method,
    synthetic_dataset,
    train_batches,
    write_text,
)
from recbole_unlearn.atomic import atomic_write
from recbole_unlearn.config import config_with
from recbole_unlearn.data import dataloaders
from recbole_unlearn.data.request import sample_request
from recbole_unlearn.data.split import split_datasets
from recbole_unlearn.registry import build_model
from recbole_unlearn.unlearn.context import UnlearnContext

# (label, request type, size: an int is a count, a float a share)
REQUESTS = [
    ("1,000 interactions", "interaction", 1000),
    ("100 users", "user", 100),
    ("5% interactions", "interaction", 0.05),
    ("5% users", "user", 0.05),
    ("1% items", "item", 0.01),
]


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


def gold_epoch_seconds(config, split, max_batches=None):
    """Seconds of one training epoch of a fresh model on the retain set (:func:`train_batches`)."""
    train, _, _ = dataloaders(config, [split.retain_train, split.retain_valid, split.retain_test])
    return train_batches(config, build_model(config, split.retain_train), train, max_batches)


def timed_request(original, split, config):
    """``(outcome, seconds, peak GiB, resident GiB before)`` of the request type's default method on ``split``,
    seeded, the process's peak resident memory reset before it."""
    torch.manual_seed(config["seed"])
    reset_peak_rss()
    resident = resident_gib()
    start = time.perf_counter()
    _, outcome = run_method(original, split, config)
    seconds = time.perf_counter() - start
    return outcome, seconds, resident_gib("VmHWM"), resident


def gold_times(config, original, split, to_stop, max_batches):
    """``(gold to stop or None, one gold epoch's seconds, whether the epoch was scaled)`` on ``split``'s retain set:
    gold to early stopping only ``to_stop``, the epoch from its first ``max_batches`` batches (``None``: all)."""
    gold_stop = None
    if to_stop:
        start = time.perf_counter()
        run_method(original, split, config_with(config, epochs=300), "retrain")
        gold_stop = {"seconds": time.perf_counter() - start, "measured": True}
    epoch_s, scaled = gold_epoch_seconds(config, split, max_batches)
    return gold_stop, epoch_s, scaled


def measure_dataset(name, args, base, progress):
    """Rows of the results for one dataset: every request first (nothing of gold resident yet), then gold's epoch
    and, up to ``--gold-to-stop-up-to``, gold to early stopping, on the first request's retain set."""
    memory = {"before_load_gib": resident_gib()}
    spec = DataSpec(name, args.data_path, args.synthetic_batches)
    config, (train, valid, test), original = load_with_original(spec, base, memory=memory)
    memory.update(loaded_gib=resident_gib(), interactions_gib=interactions_gib([train, valid, test]),
                  model_gib=model_gib(original))
    n_train = len(train.inter_feat)
    rows, splits = [], []
    for label, kind, size in REQUESTS:
        if isinstance(size, float) and n_train > args.shares_up_to:
            progress.update(1)
            continue
        split = split_datasets(request_for(train, kind, size, seed=2020), train, valid, test)
        request_config = UnlearnContext.for_request(config, kind).config
        if not rows:
            run_method(original, split, request_config)  # untimed warm-up
            memory["after_warm_up_gib"] = resident_gib()
        outcome, seconds, peak, resident = timed_request(original, split, request_config)
        last = next((entry for entry in reversed(outcome.log) if "pass" in entry), {}) if outcome else {}
        rows.append({
            "dataset": name, "interactions": n_train, "users": train.user_num - 1, "items": train.item_num - 1,
            "request": label, "type": kind, "method": request_config["unlearn_method"],
            "removed": split.removed()["train"], "seconds": seconds, "peak_rss_gib": peak,
            "request_gib": peak - resident, "forget_auc": last.get("forget_auc"),
            "heldout_auc": last.get("heldout_auc"), "memory": memory,
        })
        splits.append(split)
        progress.set_postfix_str(f"{name}: {label} {seconds:.1f}s")
        progress.update(1)
    to_stop = rows[0]["type"] == "interaction" and n_train <= args.gold_to_stop_up_to
    gold_stop, epoch_s, scaled = gold_times(config, original, splits[0], to_stop,
                                            None if n_train <= args.gold_batches_up_to else args.gold_batches)
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


def parse_args(argv=None):
    parser = argument_parser(__spec__.name, __doc__)
    parser.add_argument("--sizes", nargs="*", type=float, default=[1e5, 1e6, 1e7])
    parser.add_argument("--real", nargs="*", default=["ml-100k", "lfm2k", "baby"])
    parser.add_argument("--synthetic-batches", type=int, default=20)
    parser.add_argument("--gold-to-stop-up-to", type=float, default=2e5)
    parser.add_argument("--shares-up-to", type=float, default=2e6)
    parser.add_argument("--gold-batches-up-to", type=float, default=5e5)
    parser.add_argument("--gold-batches", type=int, default=50)
    parser.add_argument("--out", default=str(RESULTS / "scale"))
    parser.add_argument("--note", default="", help="what else ran on the machine, said in the results")
    add_run_arguments(parser, epochs=False)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    names = [n for n in args.real if dataset_available(n, args.data_path)]
    skipped = sorted(set(args.real) - set(names))
    names += [synthetic_dataset(n) for n in args.sizes]
    rows = []
    with tqdm(total=len(names) * len(REQUESTS), desc="scale", ncols=100) as progress:
        for name in names:
            rows += measure_dataset(name, args, cached_config(300), progress)
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
    write_text(args.out + ".md",
               f"## Unlearning cost against the data's size\n\n{head}\n\n{table(rows)}{notes}{memory}")
    atomic_write(args.out + ".json", lambda f: json.dump({"environment": head, "rows": rows}, f, indent=1))
    print(table(rows))


if __name__ == "__main__":
    main()
