"""Where the time of one unlearning request goes: rebind, targets, steps (forward, backward, reference, optimizer),
pass statistics, and the audit.

Runs the default recipe once on one request draw (the original is read from ``bench/cache``, or trained as
``python -m bench.bench_unlearning`` and ``python -m bench.bench_scale`` train it) under ``cProfile`` and reports the
cumulative time of the functions that make up each part, so the parts can be compared side by side in one run:

    python -m bench.bench_profile --dataset baby --request interaction

Written to ``bench/results/profile-<dataset>-<model>-<request>.md``.
"""

import cProfile
import pstats
import sys
import time

import torch

from bench.common import (
    REQUEST_RATIOS,
    RESULTS,
    DataSpec,
    add_model_arguments,
    add_run_arguments,
    argument_parser,
    cached_config,
    load_with_original,
    reset_peak_rss,
    resident_gib,
    run_method,
    write_text,
)
from recbole_unlearn.audit.attacker import LearnedAttacker
from recbole_unlearn.audit.audit import Audit
from recbole_unlearn.data.request import request_from_config
from recbole_unlearn.data.split import split_datasets

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


def parse_args(argv=None):
    parser = argument_parser(__spec__.name, __doc__)
    add_model_arguments(parser, "baby")
    parser.add_argument("--request", default="interaction", choices=["user", "interaction", "item"])
    add_run_arguments(parser)
    parser.add_argument("--ratio", type=float, default=None,
                        help="forget_ratio (default: the request type's share in bench.common.REQUEST_RATIOS)")
    parser.add_argument("--synthetic-batches", type=int, default=20,
                        help="training batches of a synthetic-* original, as in bench.bench_scale")
    parser.add_argument("--no-audit", action="store_true", help="skip timing the audit (minutes on 1e6+ graphs)")
    parser.add_argument("--top", type=int, default=0, help="also print the request's N costliest functions (own time)")
    return parser.parse_args(argv)


def profiled_request(original, split, config):
    """``(unlearned, outcome, profiler, seconds, peak GiB, resident GiB before)`` of the default method run once
    under ``cProfile``, after an untimed warm-up (first-call costs are not the request's)."""
    run_method(original, split, config)  # warm-up
    torch.manual_seed(config["seed"])
    profiler = cProfile.Profile()
    reset_peak_rss()
    resident = resident_gib()
    start = time.perf_counter()
    profiler.enable()
    unlearned, outcome = run_method(original, split, config)
    profiler.disable()
    total = time.perf_counter() - start
    return unlearned, outcome, profiler, total, resident_gib("VmHWM"), resident


def audit_rows(unlearned, split, config):
    """Markdown rows: the time of auditing the unlearned model, with the threshold attack only and with the learned
    attacker."""
    rows = []
    for label, attacker in [("threshold attack only", None),
                            ("with the learned attacker", LearnedAttacker(seed=config["seed"]))]:
        start = time.perf_counter()
        Audit(split, config["topk"], attacker).evaluate(unlearned)
        rows.append(f"| audit of one model, {label} (not part of the request) | "
                    f"{time.perf_counter() - start:.3f} | - |")
    return rows


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    request = {"forget_type": args.request, "forget_ratio": args.ratio or REQUEST_RATIOS[args.request],
               "forget_seed": 2020}
    spec = DataSpec(args.dataset, args.data_path, args.synthetic_batches, args.model, request)
    config, (train, valid, test), original = load_with_original(spec, cached_config(args.epochs))
    split = split_datasets(request_from_config(config, train), train, valid, test)
    unlearned, outcome, profiler, total, peak, resident = profiled_request(original, split, config)
    audits = [] if args.no_audit else audit_rows(unlearned, split, config)
    stats = pstats.Stats(profiler)
    rows = [(label, cumulative(stats, suffix, name)) for label, suffix, name in PARTS]
    lines = [
        (f"## Time of one {args.request} request: {args.model} on {args.dataset}, default recipe "
         f"(`{config['unlearn_method']}`, {outcome.passes if outcome else 0} passes)"), "",
        (f"`python -m bench.bench_profile {' '.join(sys.argv[1:] if argv is None else argv)}`, "
         f"{torch.get_num_threads()} threads, under cProfile (which adds its own overhead; "
         "the shares are what counts)."),
        "",
        "| part | seconds | share of the request |", "|---|---|---|",
        *(f"| {label} | {seconds:.3f} | {100 * seconds / total:.1f}% |" for label, seconds in rows),
        f"| **the request (method call)** | {total:.3f} | 100% |",
        *audits, "",
        (f"Peak resident memory during the request: {peak:.2f} GiB, {peak - resident:.2f} GiB above what was resident "
         "before it (RecBole's dataset, its dataloaders and the original)."), ""]
    table = "\n".join(lines)
    print(table)
    if args.top:
        stats.sort_stats("tottime").print_stats(args.top)
    write_text(RESULTS / f"profile-{args.dataset}-{args.model}-{args.request}.md", table)


if __name__ == "__main__":
    main()
