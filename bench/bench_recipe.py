"""The default interaction recipe at other shares ``c`` of its calibrated rate, on one cached request draw.

For one dataset x model x draw (original and gold from ``bench/cache``, trained there when missing, as
``python -m bench.bench_unlearning`` trains them), it runs the default interaction recipe and the same recipe at each
share ``c`` (``unlearn_lr_touched``) asked for, audits every result as served, and prints one row of gaps to gold
each: retain Recall@20 (% of gold's), forget Recall@20, threshold and learned membership-inference AUC, with the
rate, passes, backoffs and stopping rule the run took. It writes no result file, so it can be run while a recipe is
being chosen without touching the benchmark's tables.

    python -m bench.bench_recipe --dataset lfm2k --model VBPR --epochs 40 --c 1.0 0.75
"""

import time

import torch

from bench.common import (
    Draw,
    add_model_arguments,
    add_run_arguments,
    argument_parser,
    cached_config,
    cached_draw,
    run_method,
    served,
)
from recbole_unlearn.audit.attacker import LearnedAttacker
from recbole_unlearn.audit.audit import Audit
from recbole_unlearn.config import config_with

COLUMNS = ("recipe", "retain", "forget", "MIA", "learned", "user rate", "passes", "backoffs", "stop", "time")


def parse_args(argv=None):
    parser = argument_parser(__spec__.name, __doc__)
    add_model_arguments(parser, "lfm2k")
    parser.add_argument("--draw", type=int, default=0, help="forget draw (forget_seed 2020 + draw)")
    parser.add_argument("--c", type=float, nargs="+", default=[], help="other shares c of the recipe to run")
    add_run_arguments(parser)
    return parser.parse_args(argv)


def gap_row(name, row, gold, outcome, seconds) -> str:
    """The table row of one recipe's audit ``row`` against ``gold``'s."""
    rate = outcome.touched_rates.get("user", [float("nan")])[0]
    return (f"| {name} | {100 * row['retain_recall@20'] / gold['retain_recall@20']:.1f}% | "
            f"{row['forget_recall@20'] - gold['forget_recall@20']:+.4f} | {row['mia_auc'] - gold['mia_auc']:+.3f} | "
            f"{row['mia_learned_auc'] - gold['mia_learned_auc']:+.3f} | {rate:.3g} | {outcome.passes} | "
            f"{outcome.backoffs} | {outcome.stopped_by} | {seconds:.2f} s |")


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    draw = Draw(args.dataset, args.model, "interaction", args.draw)
    loaded = cached_draw(draw, cached_config(args.epochs), args.data_path)
    audit = Audit(loaded.split, attacker=LearnedAttacker(seed=loaded.config["seed"]))
    gold = audit.evaluate(served(loaded.gold, loaded.split))
    recipes = {f"default, c = {loaded.config['unlearn_lr_touched']:g}": loaded.config,
               **{f"c = {c:g}": config_with(loaded.config, unlearn_lr_touched=c) for c in args.c}}
    lines = [f"## {args.model} on {args.dataset}, interaction request, draw {args.draw}, epochs <= {args.epochs}", "",
             "| " + " | ".join(COLUMNS) + " |", "|---" * len(COLUMNS) + "|"]
    for name, config in recipes.items():
        torch.manual_seed(config["seed"])
        start = time.perf_counter()
        model, outcome = run_method(loaded.original, loaded.split, config)
        seconds = time.perf_counter() - start
        lines.append(gap_row(name, audit.evaluate(served(model, loaded.split)), gold, outcome, seconds))
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    main()
