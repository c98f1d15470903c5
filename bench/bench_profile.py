"""Where the time of one unlearning request goes: rebind, targets, steps (forward, backward, reference, optimizer),
pass statistics, and the audit.

Runs the default recipe once on one request draw (the original is read from ``bench/cache``, as
``bench_unlearning.py`` trains it) under ``cProfile`` and reports the cumulative time of the functions that make up
each part, so the parts can be compared side by side in one run:

    python bench/bench_profile.py --dataset baby --request interaction

Written to ``bench/results/profile-<dataset>-<model>-<request>.md``.
"""

import argparse
import cProfile
import pstats
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_unlearning import CACHE, REQUESTS, RESULTS, cached_model, key_of  # noqa: E402

from recbole_unlearn.atomic import atomic_write  # noqa: E402
from recbole_unlearn.audit.attacker import LearnedAttacker  # noqa: E402
from recbole_unlearn.audit.audit import Audit  # noqa: E402
from recbole_unlearn.data.request import request_from_config  # noqa: E402
from recbole_unlearn.data.split import split_datasets  # noqa: E402
from recbole_unlearn.quick_start import load_data  # noqa: E402
from recbole_unlearn.registry import build_model  # noqa: E402
from recbole_unlearn.unlearn.methods import get_method  # noqa: E402

# part of the request -> (file suffix, function name) whose cumulative time is that part
PARTS = [
    ("rebind (copy, retain graph)", "unlearn/methods.py", "rebound_copy"),
    ("hinge targets", "unlearn/targets.py", "rank_matched_targets"),
    ("steps, all", "unlearn/trainer.py", "_step"),
    ("  step forward (scores and losses)", "unlearn/trainer.py", "_step_loss"),
    ("  step backward", "torch/_tensor.py", "backward"),
    ("  optimizer", "unlearn/optim.py", "step"),
    ("pass statistics", "unlearn/trainer.py", "_pass_stats"),
    ("whole-graph propagation, in every part above (forward only)", "model/base.py", "propagate"),
    ("local scoring from the moving rows, in every part above (forward only)", "model/graph.py", "change"),
]


def cumulative(stats, suffix, name) -> float:
    """Seconds spent in (and under) the function ``name`` of a file ending in ``suffix``."""
    return sum(row[3] for (file, _, func), row in stats.stats.items() if file.endswith(suffix) and func == name)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="baby")
    parser.add_argument("--model", default="LightGCN")
    parser.add_argument("--request", default="interaction", choices=["user", "interaction", "item"])
    parser.add_argument("--data_path", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--epochs", type=int, default=300)
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    base = {"show_progress": False, "state": "ERROR", "checkpoint_dir": str(CACHE / "tmp"), "epochs": args.epochs}
    cfg = {**base, "data_path": args.data_path, "forget_type": args.request, "forget_ratio": REQUESTS[args.request],
           "forget_seed": 2020}
    config, loaders = load_data(args.model, args.dataset, config_dict=cfg, argv=[])
    train = loaders[0]._dataset
    missing = lambda _: sys.exit("run bench_unlearning.py first: the original is read from its cache")  # noqa: E731
    original, _ = cached_model(CACHE / f"original-{key_of(args.model, args.dataset, base)}.pth", config, train,
                               lambda: build_model(config, train), missing)
    split = split_datasets(request_from_config(config, train), train, loaders[1]._dataset, loaders[2]._dataset)
    method = get_method(config["unlearn_method"])
    method(original, split, config)  # warm-up: first-call costs are not the request's
    torch.manual_seed(config["seed"])
    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.enable()
    unlearned, outcome = method(original, split, config)
    profiler.disable()
    total = time.perf_counter() - start
    audit_start = time.perf_counter()
    Audit(split, config["topk"]).evaluate(unlearned)
    threshold_audit = time.perf_counter() - audit_start
    audit_start = time.perf_counter()
    Audit(split, config["topk"], LearnedAttacker(seed=config["seed"])).evaluate(unlearned)
    full_audit = time.perf_counter() - audit_start
    stats = pstats.Stats(profiler)
    rows = [(label, cumulative(stats, suffix, name)) for label, suffix, name in PARTS]
    lines = [
        f"## Time of one {args.request} request: {args.model} on {args.dataset}, default recipe "
        f"(`{config['unlearn_method']}`, {outcome.passes if outcome else 0} passes)", "",
        f"`python bench/bench_profile.py --dataset {args.dataset} --request {args.request}`, "
        f"{torch.get_num_threads()} threads, under cProfile (which adds its own overhead; the shares are what counts).",
        "",
        "| part | seconds | share of the request |", "|---|---|---|",
        *(f"| {label} | {seconds:.3f} | {100 * seconds / total:.1f}% |" for label, seconds in rows),
        f"| **the request (method call)** | {total:.3f} | 100% |",
        f"| audit of one model, threshold attack only (not part of the request) | {threshold_audit:.3f} | - |",
        f"| audit of one model with the learned attacker | {full_audit:.3f} | - |", ""]
    table = "\n".join(lines)
    print(table)
    atomic_write(RESULTS / f"profile-{args.dataset}-{args.model}-{args.request}.md", lambda f: f.write(table))


if __name__ == "__main__":
    main()
