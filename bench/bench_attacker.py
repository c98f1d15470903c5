"""Which features let the learned attacker tell an unlearned model from gold, and do forgotten scores pile up at their
hinge targets?

For one request draw (original and gold from ``bench/cache``, as ``python -m bench.bench_unlearning`` trains them),
the default recipe is applied and, for the original, the unlearned model and gold:

- the learned attacker's AUC on each feature alone and on all of them (``recbole_unlearn/audit/attacker.py``);
- the share of forgotten pairs whose score sits within 1% of a score standard deviation of its hinge target
  (``unlearn_hinge_target``, computed from the rebound original, as the method computes it): a pile-up at the
  targets shows there;
- with settle passes, the same share for the settle targets, read where the passes stopped;
- by quintile of the user's retained degree, of the item's retained popularity and of the user's forgotten share
  (forgotten / (forgotten + retained) training interactions): the AUC with which the rank alone separates members
  from non-members within the quintile, and both sides' mean rank percentile, so a recipe that matches the ranks on
  average and not within a group shows where.

    python -m bench.bench_attacker --dataset baby --request interaction [--draw 0] [--set KEY=VALUE ...]

Results are printed and written to ``bench/results/attacker-<dataset>-<model>-<request><tag>.md``.
"""

import json
from dataclasses import dataclass

import numpy as np
import torch
from scipy.stats import spearmanr

from bench.common import (
    RESULTS,
    Draw,
    add_model_arguments,
    add_run_arguments,
    argument_parser,
    cached_config,
    cached_draw,
    parse_overrides,
    run_method,
    write_text,
)
from recbole_unlearn.audit.attacker import (
    FEATURES,
    LearnedAttacker,
    PairContext,
    balanced,
    learned_auc,
    pair_features,
)
from recbole_unlearn.config import config_with
from recbole_unlearn.data.pairs import (
    concat_pairs,
    interaction_counts,
    pairs,
    same_user_pairs,
)
from recbole_unlearn.scoring import auc, pair_scores
from recbole_unlearn.unlearn.methods import rebound_copy
from recbole_unlearn.unlearn.targets import TARGET_FUNCTIONS

PILE_UP = 0.01  # within this many score standard deviations of its target
# each feature alone, the pairs that tell whether the ranks depend on popularity and degree as gold's do, and all
FEATURE_SETS = [(name,) for name in FEATURES] + [
    ("rank_percentile", "item_popularity"), ("rank_percentile", "user_degree"), ("score", "user_degree"),
    ("user_z", "item_popularity"), FEATURES,
]


def parse_args(argv=None):
    parser = argument_parser(__spec__.name, __doc__)
    add_model_arguments(parser, "lfm2k")
    parser.add_argument("--request", default="interaction", choices=["user", "interaction", "item"])
    parser.add_argument("--draw", type=int, default=0)
    add_run_arguments(parser, overrides=True)
    return parser.parse_args(argv)


@dataclass
class Request:
    """One request draw with the models the attacker compares: the original and gold (from the cache) and the
    recipe's unlearned model."""

    config: object
    split: object
    original: object
    gold: object
    unlearned: object


def load_request(args, overrides) -> Request:
    """The draw ``args`` names, its original and gold read from ``bench/cache``, and the recipe (the request type's
    default with ``overrides``) applied to the original."""
    draw = cached_draw(Draw(args.dataset, args.model, args.request, args.draw), cached_config(args.epochs),
                       args.data_path, overrides, train=False)
    torch.manual_seed(draw.config["seed"])
    unlearned, _ = run_method(draw.original, draw.split, draw.config)
    return Request(draw.config, draw.split, draw.original, draw.gold, unlearned)


@dataclass
class Sample:
    """The attacker's balanced pairs (``members`` forgotten, ``nonmembers`` held-out pairs of the same users), their
    users, items and labels, each member's hinge target, and the retain set's item popularity and user degree."""

    members: tuple
    nonmembers: tuple
    users: np.ndarray
    items: np.ndarray
    labels: np.ndarray
    targets: np.ndarray
    popularity: np.ndarray
    degree: np.ndarray


def attack_sample(request: Request, rebound, attacker) -> Sample:
    """The pairs the attacker is trained and tested on, with the hinge targets as the method computes them: over
    every forgotten pair, from the rebound original."""
    split, config = request.split, request.config
    item_num = split.retain_train.item_num
    forgotten = pairs(split.forget_train)
    nonmembers = same_user_pairs(forgotten, concat_pairs(split.retain_test, split.forget_test))
    all_targets = TARGET_FUNCTIONS[config["unlearn_hinge_target"]](
        rebound, forgotten, same_user_pairs(forgotten, split.valid_heldout), pairs(split.retain_train))
    target_of = dict(zip((forgotten[0] * item_num + forgotten[1]).tolist(), all_targets.tolist()))
    members, nonmembers = balanced(forgotten, nonmembers, attacker.pairs, np.random.default_rng(attacker.seed))
    users = np.concatenate([members[0], nonmembers[0]])
    items = np.concatenate([members[1], nonmembers[1]])
    labels = np.concatenate([np.ones(len(members[0]), int), np.zeros(len(nonmembers[0]), int)])
    targets = np.array([target_of[key] for key in (members[0] * item_num + members[1]).tolist()])
    popularity = interaction_counts(pairs(split.retain_train)[1], item_num)
    degree = interaction_counts(pairs(split.retain_train)[0], split.retain_train.user_num)
    return Sample(members, nonmembers, users, items, labels, targets, popularity, degree)


def covariates(sample: Sample, forgotten) -> dict:
    """The covariates the group tables cut the sampled pairs by: the user's retained degree, the item's retained
    popularity and the user's forgotten share (forgotten / (forgotten + retained) training interactions)."""
    forgotten_count = interaction_counts(forgotten[0], len(sample.degree))
    users = sample.users
    return {"user degree": sample.degree[users], "item popularity": sample.popularity[sample.items],
            "forgotten share of the user": forgotten_count[users] / (forgotten_count[users] + sample.degree[users])}


def feature_rows(models, sample: Sample, split, attacker):
    """``(rows, percentiles)``: per model, the Markdown row of the attacker's AUC on each feature set and the share
    of forgotten scores at their targets, and the rank percentile of every sampled pair."""
    history = concat_pairs(split.retain_train, split.retain_valid)
    rows, percentiles = [], {}
    context = PairContext(history, sample.popularity, sample.degree)
    for name, model in models.items():
        features = pair_features(model, sample.users, sample.items, context)
        percentiles[name] = features[:, FEATURES.index("rank_percentile")]
        aucs = [learned_auc(features[:, [FEATURES.index(f) for f in chosen]], sample.labels, sample.users,
                            attacker)[0] for chosen in FEATURE_SETS]
        scores = pair_scores(model, *sample.members, raw=True).numpy()
        spread = pair_scores(model, *sample.nonmembers, raw=True).numpy().std()
        at_target = float(np.mean(np.abs(scores - sample.targets) < PILE_UP * spread))
        rows.append(f"| {name} | " + " | ".join(f"{a:.3f}" for a in aucs) + f" | {at_target:.3f} |")
    return rows, percentiles


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    overrides = parse_overrides(args.set)
    request = load_request(args, overrides)
    config, split = request.config, request.split
    rebound = rebound_copy(request.original, config, split)
    attacker = LearnedAttacker(seed=config["seed"])
    sample = attack_sample(request, rebound, attacker)
    forgotten = pairs(split.forget_train)
    settle_note = settle_pile_up(request, forgotten)
    models = {"original": request.original, "rebound (before the steps)": rebound, "unlearned": request.unlearned,
              "gold": request.gold}
    rows, percentiles = feature_rows(models, sample, split, attacker)
    columns = [" + ".join(f) if f != FEATURES else "all" for f in FEATURE_SETS]
    title = f"## Learned attacker by feature: {args.model} on {args.dataset}, {args.request} request (draw {args.draw})"
    table = "\n".join([
        title, "",
        (f"Recipe: `{config['unlearn_method']}` with {json.dumps(overrides) if overrides else 'the defaults'}; "
         f"{len(sample.members[0])} member and as many non-member pairs."), "",
        "| model | " + " | ".join(columns) + f" | forgotten scores within {PILE_UP} sd of target |",
        "|---" * (len(columns) + 2) + "|", *rows, "", *settle_note,
        *group_tables(covariates(sample, forgotten), percentiles, sample.labels),
        *rank_agreement(percentiles, sample.labels == 1)])
    print(table)
    write_text(RESULTS / f"attacker-{args.dataset}-{args.model}-{args.request}{args.tag}.md", table)


def settle_pile_up(request: Request, forgotten):
    """Markdown lines (none without settle passes): the share of forgotten scores within :data:`PILE_UP` score
    standard deviations of their settle targets, read (as the method reads them) where the passes stopped."""
    config, split = request.config, request.split
    if not config["unlearn_settle_passes"]:
        return []
    torch.manual_seed(config["seed"])
    passed, _ = run_method(request.original, split, config_with(config, unlearn_settle_passes=0))
    heldout = same_user_pairs(forgotten, split.valid_heldout)
    targets = TARGET_FUNCTIONS[config["unlearn_hinge_target"]](passed, forgotten, heldout, pairs(split.retain_train))
    scores = pair_scores(request.unlearned, *forgotten, raw=True).numpy()
    spread = pair_scores(request.unlearned, *heldout, raw=True).numpy().std()
    share = float(np.mean(np.abs(scores - targets.numpy()) < PILE_UP * spread))
    return [(f"Forgotten scores within {PILE_UP} sd of their settle targets (read where the passes stopped, before "
             f"the {config['unlearn_settle_passes']} settle pass(es)): {share:.3f}."), ""]


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
