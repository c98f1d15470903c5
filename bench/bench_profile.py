"""Where the time of one unlearning request goes: rebind, targets, steps (forward, backward, reference, optimizer),
pass statistics, and the audit.

Runs the default recipe once on one request draw (the original is read from ``bench/cache``, or trained as
``bench_unlearning.py`` and ``bench_scale.py`` train it) under ``cProfile`` and reports the cumulative time of the
functions that make up each part, so the parts can be compared side by side in one run:

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

from bench_scale import load_with_original, peak_rss_reset, rss_gib  # noqa: E402
from bench_unlearning import CACHE, REQUESTS, RESULTS  # noqa: E402

from recbole_unlearn.atomic import atomic_write  # noqa: E402
from recbole_unlearn.audit.attacker import LearnedAttacker  # noqa: E402
from recbole_unlearn.audit.audit import Audit  # noqa: E402
from recbole_unlearn.data.request import request_from_config  # noqa: E402
from recbole_unlearn.data.split import split_datasets  # noqa: E402
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
    parser.add_argument("--ratio", type=float, default=None, help="forget_ratio (default: bench_unlearning's)")
    parser.add_argument("--synthetic-batches", type=int, default=20, help="as bench_scale.py's, for synthetic-*")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-audit", action="store_true", help="skip timing the audit (minutes on 1e6+ graphs)")
    parser.add_argument("--top", type=int, default=0, help="also print the request's N costliest functions (own time)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    base = {"show_progress": False, "state": "ERROR", "checkpoint_dir": str(CACHE / "tmp"), "epochs": args.epochs}
    request = {"forget_type": args.request, "forget_ratio": args.ratio or REQUESTS[args.request], "forget_seed": 2020}
    config, (train, valid, test), original = load_with_original(args.dataset, base, args.data_path,
                                                                args.synthetic_batches, args.model, request)
    split = split_datasets(request_from_config(config, train), train, valid, test)
    method = get_method(config["unlearn_method"])
    method(original, split, config)  # warm-up: first-call costs are not the request's
    torch.manual_seed(config["seed"])
    profiler = cProfile.Profile()
    peak_rss_reset()
    resident = rss_gib("VmRSS")
    start = time.perf_counter()
    profiler.enable()
    unlearned, outcome = method(original, split, config)
    profiler.disable()
    total = time.perf_counter() - start
    peak = rss_gib("VmHWM")
    audits = [("threshold attack only", None), ("with the learned attacker", LearnedAttacker(seed=config["seed"]))]
    audit_rows = []
    for label, attacker in [] if args.no_audit else audits:
        audit_start = time.perf_counter()
        Audit(split, config["topk"], attacker).evaluate(unlearned)
        audit_rows.append(f"| audit of one model, {label} (not part of the request) | "
                          f"{time.perf_counter() - audit_start:.3f} | - |")
    stats = pstats.Stats(profiler)
    rows = [(label, cumulative(stats, suffix, name)) for label, suffix, name in PARTS]
    lines = [
        f"## Time of one {args.request} request: {args.model} on {args.dataset}, default recipe "
        f"(`{config['unlearn_method']}`, {outcome.passes if outcome else 0} passes)", "",
        f"`python bench/bench_profile.py {' '.join(sys.argv[1:] if argv is None else argv)}`, "
        f"{torch.get_num_threads()} threads, under cProfile (which adds its own overhead; the shares are what counts).",
        "",
        "| part | seconds | share of the request |", "|---|---|---|",
        *(f"| {label} | {seconds:.3f} | {100 * seconds / total:.1f}% |" for label, seconds in rows),
        f"| **the request (method call)** | {total:.3f} | 100% |",
        *audit_rows, "",
        f"Peak resident memory during the request: {peak:.2f} GiB, {peak - resident:.2f} GiB above what was resident "
        "before it (RecBole's dataset, its dataloaders and the original).", ""]
    table = "\n".join(lines)
    print(table)
    if args.top:
        stats.sort_stats("tottime").print_stats(args.top)
    atomic_write(RESULTS / f"profile-{args.dataset}-{args.model}-{args.request}.md", lambda f: f.write(table))


if __name__ == "__main__":
    main()
