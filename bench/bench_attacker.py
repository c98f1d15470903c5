"""Which features let the learned attacker tell an unlearned model from gold, and do forgotten scores pile up at their
hinge targets?

For one request draw (original and gold from ``bench/cache``, as ``bench_unlearning.py`` trains them), the default
recipe is applied and, for the original, the unlearned model and gold:

- the learned attacker's AUC on each feature alone and on all of them (``recbole_unlearn/audit/attacker.py``);
- the share of forgotten pairs whose score sits within 1% of a score standard deviation of its hinge target
  (``unlearn_hinge_target``, computed from the rebound original, as the method computes it): a pile-up at the targets shows there;
- with settle passes, the same share for the settle targets, read where the passes stopped;
- by quintile of the user's retained degree, of the item's retained popularity and of the user's forgotten share
  (forgotten / (forgotten + retained) training interactions): the AUC with which the rank alone separates members
  from non-members within the quintile, and both sides' mean rank percentile, so a recipe that matches the ranks on
  average and not within a group shows where.

    python bench/bench_attacker.py --dataset baby --request interaction [--draw 0] [--set KEY=VALUE ...]

Results are printed and written to ``bench/results/attacker-<dataset>-<model>-<request><tag>.md``.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_unlearning import (  # noqa: E402
    CACHE,
    REQUESTS,
    RESULTS,
    cached_model,
    key_of,
    original_key,
)

from recbole_unlearn.atomic import atomic_write  # noqa: E402
from recbole_unlearn.audit.attacker import (  # noqa: E402
    FEATURES,
    LearnedAttacker,
    balanced,
    learned_auc,
    pair_features,
)
from recbole_unlearn.config import config_with  # noqa: E402
from recbole_unlearn.data.pairs import (  # noqa: E402
    concat_pairs,
    interaction_counts,
    pairs,
    same_user_pairs,
)
from recbole_unlearn.data.request import request_from_config  # noqa: E402
from recbole_unlearn.data.split import split_datasets  # noqa: E402
from recbole_unlearn.quick_start import load_data  # noqa: E402
from recbole_unlearn.registry import build_model  # noqa: E402
from recbole_unlearn.scoring import auc, pair_scores  # noqa: E402
from recbole_unlearn.unlearn.methods import get_method, rebound_copy  # noqa: E402
from recbole_unlearn.unlearn.targets import TARGET_FUNCTIONS  # noqa: E402

PILE_UP = 0.01  # within this many score standard deviations of its target
# each feature alone, the pairs that tell whether the ranks depend on popularity and degree as gold's do, and all
FEATURE_SETS = [(name,) for name in FEATURES] + [
    ("rank_percentile", "item_popularity"), ("rank_percentile", "user_degree"), ("score", "user_degree"),
    ("user_z", "item_popularity"), FEATURES,
]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="lfm2k")
    parser.add_argument("--model", default="LightGCN")
    parser.add_argument("--request", default="interaction", choices=["user", "interaction", "item"])
    parser.add_argument("--draw", type=int, default=0)
    parser.add_argument("--data_path", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="recipe overrides (JSON values)")
    parser.add_argument("--tag", default="")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    overrides = {k: json.loads(v) for k, v in (item.split("=", 1) for item in args.set)}
    base = {"show_progress": False, "state": "ERROR", "checkpoint_dir": str(CACHE / "tmp"), "epochs": args.epochs}
    cfg = {**base, "data_path": args.data_path, "forget_type": args.request, "forget_ratio": REQUESTS[args.request],
           "forget_seed": 2020 + args.draw}
    config, loaders = load_data(args.model, args.dataset, config_dict=cfg, argv=[])
    config = config_with(config, **overrides)
    train = loaders[0]._dataset
    key = original_key(args.model, args.dataset, base, config)
    missing = lambda _: sys.exit("run bench_unlearning.py first: the original and gold are read from its cache")  # noqa
    original, _ = cached_model(CACHE / f"original-{key}.pth", config, train,
                               lambda: build_model(config, train), missing)
    request = request_from_config(config, train)
    split = split_datasets(request, train, loaders[1]._dataset, loaders[2]._dataset)
    gold, _ = cached_model(CACHE / f"gold-{key_of(key, request.sha256())}.pth", config, train,
                           lambda: config.model_class(config, split.retain_train).to(config["device"]), missing)
    torch.manual_seed(config["seed"])
    unlearned, _ = get_method(config["unlearn_method"])(original, split, config)

    forgotten = pairs(split.forget_train)
    nonmembers = same_user_pairs(forgotten, concat_pairs(split.retain_test, split.forget_test))
    history = concat_pairs(split.retain_train, split.retain_valid)
    # the hinge targets as the method computes them: over every forgotten pair, from the rebound original
    rebound = rebound_copy(original, config, split)
    all_targets = TARGET_FUNCTIONS[config["unlearn_hinge_target"]](
        rebound, forgotten, same_user_pairs(forgotten, split.valid_heldout), pairs(split.retain_train))
    target_of = dict(zip((forgotten[0] * train.item_num + forgotten[1]).tolist(), all_targets.tolist()))
    settle_note = settle_pile_up(original, split, config, forgotten, unlearned)
    popularity = interaction_counts(pairs(split.retain_train)[1], train.item_num)
    degree = interaction_counts(pairs(split.retain_train)[0], train.user_num)
    attacker = LearnedAttacker(seed=config["seed"])
    members, nonmembers = balanced(forgotten, nonmembers, attacker.pairs, np.random.default_rng(attacker.seed))
    users = np.concatenate([members[0], nonmembers[0]])
    items = np.concatenate([members[1], nonmembers[1]])
    labels = np.concatenate([np.ones(len(members[0]), int), np.zeros(len(nonmembers[0]), int)])
    targets = np.array([target_of[key] for key in (members[0] * train.item_num + members[1]).tolist()])
    models = {"original": original, "rebound (before the steps)": rebound, "unlearned": unlearned, "gold": gold}
    columns = [" + ".join(f) if f != FEATURES else "all" for f in FEATURE_SETS]
    forgotten_count = interaction_counts(forgotten[0], train.user_num)
    covariates = {"user degree": degree[users], "item popularity": popularity[items],
                  "forgotten share of the user": forgotten_count[users] / (forgotten_count[users] + degree[users])}
    rows, percentiles = [], {}
    for name, model in models.items():
        features = pair_features(model, users, items, history, popularity, degree)
        percentiles[name] = features[:, FEATURES.index("rank_percentile")]
        aucs = [learned_auc(features[:, [FEATURES.index(f) for f in chosen]], labels, users, attacker)[0]
                for chosen in FEATURE_SETS]
        scores = pair_scores(model, *members, raw=True).numpy()
        spread = pair_scores(model, *nonmembers, raw=True).numpy().std()
        at_target = float(np.mean(np.abs(scores - targets) < PILE_UP * spread))
        rows.append(f"| {name} | " + " | ".join(f"{a:.3f}" for a in aucs) + f" | {at_target:.3f} |")
    title = f"## Learned attacker by feature: {args.model} on {args.dataset}, {args.request} request (draw {args.draw})"
    table = "\n".join([
        title, "",
        f"Recipe: `{config['unlearn_method']}` with {json.dumps(overrides) if overrides else 'the defaults'}; "
        f"{len(members[0])} member and as many non-member pairs.", "",
        "| model | " + " | ".join(columns) + f" | forgotten scores within {PILE_UP} sd of target |",
        "|---" * (len(columns) + 2) + "|", *rows, "", *settle_note,
        *group_tables(covariates, percentiles, labels), *rank_agreement(percentiles, labels == 1)])
    print(table)
    path = RESULTS / f"attacker-{args.dataset}-{args.model}-{args.request}{args.tag}.md"
    atomic_write(path, lambda f: f.write(table))


def settle_pile_up(original, split, config, forgotten, unlearned):
    """Markdown lines (none without settle passes): the share of forgotten scores within :data:`PILE_UP` score
    standard deviations of their settle targets, read (as the method reads them) where the passes stopped."""
    if not config["unlearn_settle_passes"]:
        return []
    torch.manual_seed(config["seed"])
    passed, _ = get_method(config["unlearn_method"])(original, split, config_with(config, unlearn_settle_passes=0))
    heldout = same_user_pairs(forgotten, split.valid_heldout)
    targets = TARGET_FUNCTIONS[config["unlearn_hinge_target"]](passed, forgotten, heldout, pairs(split.retain_train))
    scores = pair_scores(unlearned, *forgotten, raw=True).numpy()
    spread = pair_scores(unlearned, *heldout, raw=True).numpy().std()
    share = float(np.mean(np.abs(scores - targets.numpy()) < PILE_UP * spread))
    return [f"Forgotten scores within {PILE_UP} sd of their settle targets (read where the passes stopped, before "
            f"the {config['unlearn_settle_passes']} settle pass(es)): {share:.3f}.", ""]


def group_tables(covariates, percentiles, labels, groups=5):
    """Markdown lines: per quintile of each covariate, each model's rank-only AUC (members over non-members, a lower
    rank percentile counting as the more member-like) with the members' / non-members' mean rank percentile."""
    lines = []
    for name, values in covariates.items():
        edges = np.quantile(values, np.linspace(0, 1, groups + 1)[1:-1])
        group = np.searchsorted(edges, values, side="right")
        lines += [f"Rank-only AUC (members' / non-members' mean rank percentile) by quintile of {name}:", "",
                  "| model | " + " | ".join(f"q{k + 1} ({np.sum(group == k)} pairs)" for k in range(groups)) + " |",
                  "|---" * (groups + 1) + "|"]
        for model, percentile in percentiles.items():
            cells = []
            for k in range(groups):
                member, other = (group == k) & (labels == 1), (group == k) & (labels == 0)
                cells.append(f"{auc(-percentile[member], -percentile[other]):.3f} "
                             f"({percentile[member].mean():.3f} / {percentile[other].mean():.3f})")
            lines.append(f"| {model} | " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def rank_agreement(percentiles, members):
    """Markdown lines: Spearman's correlation of each model's member rank percentiles with gold's."""
    gold = percentiles["gold"][members]
    cells = [f"{name} {spearmanr(p[members], gold)[0]:.3f}" for name, p in percentiles.items() if name != "gold"]
    return [f"Spearman correlation of the members' rank percentiles with gold's: {', '.join(cells)}.", ""]


if __name__ == "__main__":
    main()
