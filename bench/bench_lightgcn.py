"""Benchmark: the package's LightGCN against RecBole 1.2.1's own, side by side, on CPU with torch.set_num_threads(2).

On ml-100k, with the same config and seed for both (RecBole's class is passed to the runner as a class), it measures:

1. training time per epoch: ``Trainer._train_epoch`` on the train loader, mean of 5 epochs after 1 warm-up;
2. the build of the normalised adjacency from the training interactions, median of 9 (ours:
   :func:`recbole_unlearn.model.graph.normalized_adjacency`; RecBole's: ``LightGCN.get_norm_adj_mat``);
3. full-sort evaluation on the test loader (``trainer.evaluate(test, load_best_model=False)``), median of 9, with
   both models' cached full-sort embeddings dropped before each call;
4. test Recall@20 after a full run with early stopping (``recbole_unlearn.quick_start.run``; epochs=300 and
   stopping_step=10 from the package properties). "Within noise" is read as an absolute difference of at most 0.01;
5. the adjacency build on synthetic uniform-random interactions: ours at 10^5, 10^6 and 10^7, RecBole's dok-based
   builder (its unbound ``get_norm_adj_mat`` on a stand-in object) at 10^5 and 10^6 in a worker process, reported as
   "skipped (too slow)" when one build takes more than 60 s; median of 3.

Timed calls of the two models are interleaved round by round, so drifting machine load hits both alike (the two full
runs of item 4 can only run one after the other). Everything runs on CPU. Targets: our epoch >= 2x faster, adjacency
build >= 10x faster, Recall@20 within noise.

Run from the repository root (``--quick`` is a smoke run: 3 training epochs, few repeats, 10^5 synthetic only;
``--out FILE`` also writes the tables to FILE; ``--threads N`` overrides the 2 threads)::

    python -m bench.bench_lightgcn [--quick] [--out bench/results/lightgcn.md]

Run it on an otherwise idle machine: with 2 torch threads on 2 cores, any other busy process makes torch's parallel
kernels (both models' training, our adjacency build) wait on descheduled threads and run many times slower, while
RecBole's adjacency build is mostly single-threaded scipy; the 1-minute load average is printed with the tables.
"""

import multiprocessing
import os
import statistics
import tempfile
import time
import warnings
from functools import partial
from types import SimpleNamespace

import numpy as np
import recbole
import scipy
import scipy.sparse as sp
import torch
from recbole.model.general_recommender.lightgcn import LightGCN as RecBoleLightGCN

from bench.common import argument_parser, quiet_config, write_text
from recbole_unlearn.model.graph import normalized_adjacency
from recbole_unlearn.quick_start import load_run, run

# pandas / RecBole deprecation chatter (fillna inplace, amp.GradScaler, torch.sparse.FloatTensor) would bury the tables
warnings.filterwarnings("ignore", category=FutureWarning)
warnings.filterwarnings("ignore", category=UserWarning)

DATASET = "ml-100k"
RECBOLE_BUDGET_S = 60
RECALL_NOISE = 0.01
SYNTHETIC = {10**5: (5_000, 2_000), 10**6: (50_000, 20_000), 10**7: (500_000, 100_000)}  # interactions: users, items
RECBOLE_SYNTHETIC_MAX = 10**6
SETTINGS = {
    "full": SimpleNamespace(epochs=5, warmup=1, repeats=9, train={}, sizes=list(SYNTHETIC), synthetic_repeats=3),
    "quick": SimpleNamespace(epochs=1, warmup=1, repeats=2, train={"epochs": 3}, sizes=[10**5], synthetic_repeats=2),
}


def timed(fns, repeats, warmup=0):
    """Wall-clock seconds of each call of ``fns`` (name -> callable), interleaved round by round.

    ``warmup`` untimed rounds run first. Returns ``(times, results)``: name -> list of ``repeats`` durations, and
    name -> the value its last call returned.
    """
    times, results = {name: [] for name in fns}, {}
    for round_ in range(warmup + repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            results[name] = fn()
            if round_ >= warmup:
                times[name].append(time.perf_counter() - start)
    return times, results


def synthetic_interactions(n, n_users, n_items, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(n_users, (n,), generator=generator), torch.randint(n_items, (n,), generator=generator)


def recbole_synthetic_build(n, n_users, n_items, threads):
    """Seconds of one RecBole build on synthetic data: its unbound ``get_norm_adj_mat`` on a stand-in model."""
    torch.set_num_threads(threads)
    users, items = synthetic_interactions(n, n_users, n_items)
    coo = sp.coo_matrix((np.ones(n, dtype=np.float32), (users.numpy(), items.numpy())), shape=(n_users, n_items))
    stand_in = SimpleNamespace(n_users=n_users, n_items=n_items, interaction_matrix=coo)
    times, _ = timed({"RecBole": partial(RecBoleLightGCN.get_norm_adj_mat, stand_in)}, repeats=1)
    return times["RecBole"][0]


def synthetic_build_times(sizes, repeats, threads):
    """Median build seconds per size: ``{n: {"ours": s, "RecBole": s or None (too slow) or absent (not run)}}``."""
    out = {}
    for n in sizes:
        n_users, n_items = SYNTHETIC[n]
        build = partial(normalized_adjacency, *synthetic_interactions(n, n_users, n_items), n_users, n_items)
        times, _ = timed({"ours": build}, repeats, warmup=1)
        out[n] = {"ours": statistics.median(times["ours"])}
    with multiprocessing.get_context("spawn").Pool(1) as pool:  # a stuck build is killed with the pool
        pool.apply(int)  # start the worker (imports torch and RecBole) outside the time budget
        for n in [n for n in sizes if n <= RECBOLE_SYNTHETIC_MAX]:
            try:
                task = (n, *SYNTHETIC[n], threads)
                builds = [pool.apply_async(recbole_synthetic_build, task) for _ in range(repeats)]
                out[n]["RecBole"] = statistics.median(b.get(RECBOLE_BUDGET_S) for b in builds)
            except multiprocessing.TimeoutError:
                out[n]["RecBole"] = None
                break  # the worker is still busy, and larger sizes would be slower still
    return out


def clear_and_evaluate(model, trainer, test_data):
    model.restore_user_e = model.restore_item_e = None  # both models cache full-sort embeddings between calls
    return trainer.evaluate(test_data, load_best_model=False, show_progress=False)


def ml100k_comparison(models, config, s, tmp):
    """name -> measured values on ml-100k."""
    runs = {name: load_run(model, DATASET, config_dict=config, argv=[]) for name, model in models.items()}
    ours_model, recbole_model = runs["ours"][2], runs["RecBole"][2]
    inter = runs["ours"][1][0]._dataset.inter_feat
    adjacency = {
        "ours": partial(normalized_adjacency, inter[ours_model.USER_ID], inter[ours_model.ITEM_ID],
                        ours_model.n_users, ours_model.n_items),
        "RecBole": recbole_model.get_norm_adj_mat,
    }
    epoch = {name: partial(trainer._train_epoch, data[0], 0) for name, (_, data, _, trainer) in runs.items()}
    evaluate = {name: partial(clear_and_evaluate, model, trainer, data[2]) for name, (_, data, model, trainer) in
                runs.items()}
    epoch_times, _ = timed(epoch, s.epochs, warmup=s.warmup)
    adjacency_times, _ = timed(adjacency, s.repeats, warmup=1)
    eval_times, _ = timed(evaluate, s.repeats, warmup=1)
    full = {
        name: partial(run, model, DATASET, config_dict={**config, **s.train, "checkpoint_dir": os.path.join(tmp, name)},
                      argv=[])
        for name, model in models.items()
    }
    full_times, full_results = timed(full, repeats=1)
    return {
        name: {
            "epoch": statistics.mean(epoch_times[name]),
            "adjacency": statistics.median(adjacency_times[name]),
            "evaluate": statistics.median(eval_times[name]),
            "recall": full_results[name]["test_result"]["recall@20"],
            "epochs_trained": len(full_results[name]["trainer"].train_loss_dict),
            "full_run": full_times[name][0],
            "stopping_step": runs[name][0]["stopping_step"],
            "device": runs[name][0]["device"],
        }
        for name in models
    }


def seconds(t):
    return f"{t * 1000:.1f} ms" if t < 1 else f"{t:.2f} s"


def speedup_row(label, ours, recbole, target=None):
    ratio = recbole / ours
    met = "" if target is None else ("yes" if ratio >= target else "NO")
    target_cell = f">= {target}x" if target else ""
    return f"| {label} | {seconds(ours)} | {seconds(recbole)} | {ratio:.1f}x | {target_cell} | {met} |"


def tables(m, synthetic, s, load):
    ours, rb = m["ours"], m["RecBole"]
    delta = ours["recall"] - rb["recall"]
    lines = [
        (f"LightGCN, ours vs RecBole {recbole.__version__}, on {DATASET} ({ours['device']}, "
         f"torch.set_num_threads({torch.get_num_threads()}); torch {torch.__version__}, scipy {scipy.__version__}; "
         f"1-min load average {load[0]:.1f} at start, {load[1]:.1f} at end)"),
        "",
        "| measure | ours | RecBole | RecBole/ours | target | met |",
        "|---|---|---|---|---|---|",
        speedup_row(f"training epoch (mean of {s.epochs} after {s.warmup} warm-up)", ours["epoch"], rb["epoch"], 2),
        speedup_row(f"normalised adjacency build (median of {s.repeats})", ours["adjacency"], rb["adjacency"], 10),
        speedup_row(f"full-sort evaluation, test (median of {s.repeats})", ours["evaluate"], rb["evaluate"]),
        (f"| test Recall@20 after early stopping | {ours['recall']:.4f} | {rb['recall']:.4f} | "
         f"{rb['recall'] / ours['recall']:.3f} (diff {delta:+.4f}) | within noise (abs diff <= {RECALL_NOISE}) "
         f"| {'yes' if abs(delta) <= RECALL_NOISE else 'NO'} |"),
        (f"| epochs run (stopping_step {ours['stopping_step']}) / full run time with per-epoch validation | "
         f"{ours['epochs_trained']} / {seconds(ours['full_run'])} | {rb['epochs_trained']} / "
         f"{seconds(rb['full_run'])} | {rb['full_run'] / ours['full_run']:.1f}x (time) | | |"),
        "",
        (f"Normalised adjacency build on uniform-random synthetic interactions (median of {s.synthetic_repeats}; "
         f"RecBole's in a worker process, skipped when one build exceeds {RECBOLE_BUDGET_S} s)"),
        "",
        "| interactions | users | items | ours | RecBole | RecBole/ours |",
        "|---|---|---|---|---|---|",
    ]
    for n, t in synthetic.items():
        n_users, n_items = SYNTHETIC[n]
        if "RecBole" not in t:
            recbole_cell, ratio = "not run", ""
        elif t["RecBole"] is None:
            recbole_cell, ratio = "skipped (too slow)", ""
        else:
            recbole_cell, ratio = seconds(t["RecBole"]), f"{t['RecBole'] / t['ours']:.1f}x"
        row = [f"10^{len(str(n)) - 1}", f"{n_users:,}", f"{n_items:,}", seconds(t["ours"]), recbole_cell, ratio]
        lines.append("| " + " | ".join(row) + " |")
    if s is SETTINGS["quick"]:
        lines += ["", "(--quick: smoke run, few epochs and repeats; the numbers are not meaningful)"]
    return "\n".join(lines)


def main(argv=None):
    parser = argument_parser(__spec__.name, __doc__)
    parser.add_argument("--quick", action="store_true", help="smoke run: few epochs and repeats")
    parser.add_argument("--out", metavar="FILE", help="also write the markdown tables to FILE")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2: a 2-core machine)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    s = SETTINGS["quick" if args.quick else "full"]
    models = {"ours": "LightGCN", "RecBole": RecBoleLightGCN}
    load_at_start = os.getloadavg()[0]  # other processes on this machine skew wall-clock timings; reported with them
    with tempfile.TemporaryDirectory() as tmp:
        config = quiet_config(os.path.join(tmp, "saved"), use_gpu=False, seed=2020, reproducibility=True)
        measured = ml100k_comparison(models, config, s, tmp)
    synthetic = synthetic_build_times(s.sizes, s.synthetic_repeats, args.threads)
    text = tables(measured, synthetic, s, (load_at_start, os.getloadavg()[0]))
    print(text)
    if args.out:
        write_text(args.out, text + "\n")


if __name__ == "__main__":
    main()
