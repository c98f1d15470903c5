"""Every unlearning method against gold, per request type: the benchmark behind the defaults.

For each dataset x model x request type x forget draw it trains the original once (cached), draws the request,
retrains gold on the retain set (cached), runs every method variant from the same original, and audits them all with
the package's own audit (retain / forget Recall@20, membership-inference AUC, time). Then it prints, per request type,
mean and spread over the draws, the gap of each variant to gold, and whether the default recipe meets the targets:
retain R@20 >= 0.98 x gold, |forget R@20 - gold| <= 0.01 (0.02 on ml-100k), |MIA - gold| <= 0.02 and MIA >= 0.49,
speed-up >= 1000x (user) / 40x (interaction, item) on every draw (the smallest speed-up over the draws is shown).

Originals and golds are cached under ``bench/cache/`` by a hash of everything that defines them (model, dataset,
every resolved config value that shapes training, the YAML defaults included, and the request's sha256 for gold;
:func:`bench.common.original_key`), so a rerun only pays for the unlearning, and an edited default trains afresh.

    python -m bench.bench_unlearning --datasets ml-100k lfm2k --models LightGCN FREEDOM --draws 2
    python -m bench.bench_unlearning --datasets baby --models LightGCN --requests user interaction item --draws 2
    python -m bench.bench_unlearning --report-only      # tables, summary and plots again from the saved JSON

Results: ``bench/results/unlearning-<dataset>-<model>.{md,json,png}`` and ``unlearning-summary.{md,png}`` (written
atomically).
"""

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from bench.common import (
    CACHE,
    REQUEST_RATIOS,
    RESULTS,
    CachedDraw,
    Draw,
    add_run_arguments,
    argument_parser,
    cached_config,
    cached_draw,
    dataset_available,
    pyplot,
    run_method,
    save_figure,
    served,
    write_text,
)
from recbole_unlearn.atomic import atomic_write
from recbole_unlearn.audit.attacker import LearnedAttacker
from recbole_unlearn.audit.audit import Audit
from recbole_unlearn.config import config_with
from recbole_unlearn.errors import InputError

MULTIMODAL = ("VBPR", "MMLightGCN", "FREEDOM", "LATTICE")

# Every trainer knob, neutral; each variant states what it changes.
PLAIN = {
    "unlearn_passes": 8, "unlearn_forget_loss": "log_sigmoid",
    "unlearn_neg_sampling": "uniform", "unlearn_hinge_target": "rank_matched", "unlearn_anchor_weight": 0.0,
    "forget_weight": 1.0, "retain_weight": 1.0,
    "unlearn_lr_touched": 2e-2, "unlearn_lr_rest": 1e-4, "unlearn_lr_unit": "absolute", "unlearn_revoked_steps": 0,
    "unlearn_batch_size": 1024, "unlearn_steps_per_pass": 0,
    "unlearn_settle_passes": 0,
}
# the hinge to pooled rank-matched targets (recbole_unlearn/unlearn/targets.py), weight 3, a budget of 10 passes
RANK_MATCHED = {
    **PLAIN, "unlearn_method": "reverse_bpr", "unlearn_forget_loss": "hinge", "unlearn_hinge_target": "rank_matched",
    "unlearn_neg_sampling": "popularity", "unlearn_anchor_weight": 10.0, "forget_weight": 3.0, "unlearn_passes": 10,
}
# every parameter outside the touched embedding rows frozen (shared modality projections too): layer isolation
TOUCHED_ONLY = {**RANK_MATCHED, "unlearn_lr_rest": 0.0}
# at most 4 steps a pass at lr 0.0225, as the interaction defaults take them (pooled rank-matched targets)
FOUR_STEPS = {**TOUCHED_ONLY, "unlearn_lr_touched": 0.0225, "unlearn_steps_per_pass": 4}
NEIGHBOURS = {**FOUR_STEPS, "unlearn_hinge_target": "rank_matched_neighbours"}
VARIANTS = {
    "default": None,  # whatever unlearn_defaults (properties/overall.yaml, the model's YAML) give this request type
    # the reference methods: the rebind alone, re-drawn rows, MMRecUN's reverse BPR as published (log-sigmoid,
    # uniform negatives, one rate) and with split rates, fine-tuning on the retain set, gradient ascent
    "rebuild": {**PLAIN, "unlearn_method": "rebuild"},
    "reset": {**PLAIN, "unlearn_method": "reset"},
    "reverse_bpr (paper, one lr 5e-3)": {**PLAIN, "unlearn_method": "reverse_bpr", "unlearn_lr_touched": 5e-3,
                                         "unlearn_lr_rest": 5e-3},
    "reverse_bpr (split lr)": {**PLAIN, "unlearn_method": "reverse_bpr"},
    "reverse_bpr (rank-matched hinge x3, 10 passes)": RANK_MATCHED,
    # layer isolation: only the touched embedding rows move
    "rank-matched, only touched rows move": TOUCHED_ONLY,
    # models whose embedding entries are on another scale (RecBole's NGCF, SGL): a smaller absolute rate
    "rank-matched, lr 0.002": {**TOUCHED_ONLY, "unlearn_lr_touched": 0.002},
    # the interaction default's parts: targets pooled or matched among context neighbours, settle passes (targets
    # read again where the passes stopped, pulled to from either side)
    "rank-matched hinge, 4 steps a pass": FOUR_STEPS,
    "neighbour-matched hinge, 4 steps a pass": NEIGHBOURS,
    **{f"neighbour-matched hinge, 4 steps a pass, {passes} + {settle} settle": {
        **NEIGHBOURS, "unlearn_passes": passes, "unlearn_settle_passes": settle}
       for passes, settle in ((10, 1), (8, 2))},
    "rank-matched hinge, 4 steps a pass, 9 + 1 settle": {**FOUR_STEPS, "unlearn_passes": 9, "unlearn_settle_passes": 1},
    "finetune": {**PLAIN, "unlearn_method": "finetune"},
    "neggrad": {**PLAIN, "unlearn_method": "neggrad", "unlearn_passes": 2},
}
METRICS = ["retain_recall@20", "forget_recall@20", "mia_auc", "mia_learned_auc", "time_s"]


@dataclass
class Options:
    """How every draw runs: the cached config dict (:func:`bench.common.cached_config`), the data folder, the
    variants to run and how many times each is timed (the median kept)."""

    base: dict
    data_path: str
    variants: tuple = tuple(VARIANTS)
    repeats: int = 1


@dataclass
class CellRun:
    """One cell of the benchmark (a request draw), its loaded request, original and gold, and the audit: every variant
    is run from the original and audited by ``audit``."""

    cell: Draw
    loaded: CachedDraw
    audit: Audit

    def median_timed(self, config, repeats):
        """``(model, outcome, seconds)``: ``config``'s method run ``repeats`` times from the same seed (the same model
        each time), the median of their wall times (a machine whose speed varies from minute to minute still gives a
        fair time)."""
        seconds = []
        for _ in range(repeats):
            torch.manual_seed(config["seed"])
            start = time.perf_counter()
            model, outcome = run_method(self.loaded.original, self.loaded.split, config)
            seconds.append(time.perf_counter() - start)
        return model, outcome, float(np.median(seconds))

    def variant_row(self, name, repeats):
        """The audit row of variant ``name``; ``None`` where its method does not apply to this request type."""
        overrides = VARIANTS[name]
        config = self.loaded.config if overrides is None else config_with(self.loaded.config, **overrides)
        if config["unlearn_method"] == "reset" and self.cell.kind == "interaction":
            return None  # reset re-draws whole users or items: not defined for interaction requests
        try:
            model, outcome, seconds = self.median_timed(config, repeats)
        except InputError as exc:  # e.g. gradient methods on a modality request: no forgotten interaction
            return {"skipped": str(exc)}
        row = {**self.audit.evaluate(served(model, self.loaded.split)), "time_s": seconds,
               "stopped_by": outcome.stopped_by, "passes": outcome.passes}
        if overrides is None:
            row["recipe"] = {k: config[k] for k in sorted(PLAIN) + ["unlearn_method"]}
        return row


def prepared_cell(cell: Draw, options: Options):
    """``(CellRun, rows)``: the draw's request, its original and gold read from the cache (or trained), both audited
    as served (``rows``: their audit rows with their training seconds)."""
    loaded = cached_draw(cell, options.base, options.data_path)
    audit = Audit(loaded.split, attacker=LearnedAttacker(seed=loaded.config["seed"]))
    # every model is audited as served (methods start from a raw copy)
    rows = {"original": {**audit.evaluate(served(loaded.original, loaded.split)), "time_s": loaded.original_s},
            "gold": {**audit.evaluate(served(loaded.gold, loaded.split)), "time_s": loaded.gold_s}}
    return CellRun(cell, loaded, audit), rows


def run_cell(cell: Draw, options: Options, progress):
    """All variants and gold for one request draw; returns ``{variant: metrics}``."""
    run, rows = prepared_cell(cell, options)
    loaded = run.loaded
    run_method(loaded.original, loaded.split, loaded.config)  # untimed warm-up
    for name in options.variants:
        row = run.variant_row(name, options.repeats)
        if row is None:
            continue
        rows[name] = row
        if "skipped" not in row:
            progress.set_postfix_str(f"{cell.dataset}/{cell.model}/{cell.kind}#{cell.draw}: {name}")
    progress.update(1)
    return rows


def cell_value(metric, row, gold):
    """``metric`` of one variant's audit ``row`` in one draw, the gaps and ratios to that draw's ``gold`` row
    included; NaN where it was not measured."""
    derived = {
        "retain_pct": lambda: 100 * row["retain_recall@20"] / gold["retain_recall@20"],
        "forget_gap": lambda: (row["forget_recall@20"] or 0) - (gold["forget_recall@20"] or 0),
        "mia_gap": lambda: (row["mia_auc"] or np.nan) - (gold["mia_auc"] or np.nan),
        "learned_gap": lambda: row.get("mia_learned_auc", np.nan) - gold.get("mia_learned_auc", np.nan),
        "speedup": lambda: gold["time_s"] / max(row["time_s"], 1e-9),
    }
    if metric in derived:
        return derived[metric]()
    return row[metric] if row.get(metric) is not None else np.nan


def variant_stats(cells, name) -> dict:
    """``{metric: (mean, std)}`` over the draws ``cells`` of variant ``name``; for ``speedup`` ``(smallest, largest)``
    over the draws: each draw's gold time over its own method time, and gold's time varies with the machine's load
    from one training to the next, so the smallest is what a run can count on."""
    stats = {}
    for metric in METRICS + ["retain_pct", "forget_gap", "mia_gap", "learned_gap", "speedup"]:
        values = [cell_value(metric, c[name], c["gold"]) for c in cells]
        summary = (np.min(values), np.max(values)) if metric == "speedup" else (np.mean(values), np.std(values))
        stats[metric] = tuple(float(v) for v in summary)
    return stats


def variant_line(name, stats, stop) -> str:
    """The table row of one variant's ``stats`` (:func:`variant_stats`)."""
    def spread(metric, digits=4):
        return f"{stats[metric][0]:.{digits}f} ± {stats[metric][1]:.{digits}f}"

    return (
        f"| {name} | {spread('retain_recall@20')} | {stats['retain_pct'][0]:.1f}% | {spread('forget_recall@20')} | "
        f"{stats['forget_gap'][0]:+.4f} | {spread('mia_auc', 3)} | {stats['mia_gap'][0]:+.3f} | "
        f"{spread('mia_learned_auc', 3)} | {stats['learned_gap'][0]:+.3f} | {spread('time_s', 2)} | "
        f"{stats['speedup'][0]:.0f}x | {stop if name not in ('original', 'gold') else '-'} |"
    )


def summarise(cells, kind, dataset):
    """Mean and spread over draws of every variant, with its gap to gold and the target check for the default."""
    names = list(cells[0])
    lines = [f"### {kind} request ({len(cells)} draws; mean ± std)", "",
             ("| variant | retain R@20 | % of gold | forget R@20 | - gold | MIA AUC | - gold | learned MIA | - gold | "
              "time (s) | speed-up | stop |"),
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    summary = {}
    for name in names:
        if not all(name in c and "skipped" not in c[name] for c in cells):
            continue
        summary[name] = variant_stats(cells, name)
        stop = ", ".join(sorted({f"{c[name].get('stopped_by', '-')}@{c[name].get('passes', '-')}" for c in cells}))
        lines.append(variant_line(name, summary[name], stop))
    if "default" in summary:
        checks = target_checks(summary["default"], kind, dataset, cells)
        lines += ["", "Default recipe: " + "; ".join(f"{k}: {'met' if ok else 'NOT met'}" for k, ok in checks.items())]
        recipe = cells[0]["default"].get("recipe")
        lines += ["", f"Default recipe settings: `{json.dumps(recipe)}`"]
    return "\n".join(lines) + "\n", summary


def target_checks(d, kind, dataset, cells):
    """``{target: met?}`` of the default recipe's summary ``d`` (the issue's targets)."""
    tol = 0.02 if dataset == "ml-100k" else 0.01
    need = {"user": 1000, "interaction": 40, "item": 40}.get(kind, 0)
    checks = {
        "retain >= 98% of gold": d["retain_pct"][0] >= 98,
        f"|forget gap| <= {tol}": abs(d["forget_gap"][0]) <= tol if kind != "modality" else True,
        # item requests: gold itself scores the revoked items far below held-out ones (AUC near 0), so only the gap
        "|MIA gap| <= 0.02" + ("" if kind == "item" else " and MIA >= 0.49"): kind == "modality" or (
            abs(d["mia_gap"][0]) <= 0.02 and (kind == "item" or d["mia_auc"][0] >= 0.49)
        ),
        f"speed-up >= {need}x": d["speedup"][0] >= need,
    }
    if kind != "modality" and not np.isnan(d["learned_gap"][0]):
        checks["|learned MIA gap| <= 0.02"] = abs(d["learned_gap"][0]) <= 0.02
    if kind == "item":
        checks["revoked items in no top-20 after the filter"] = all(
            c["default"].get("revoked_in_top20_after_filter") == 0.0 for c in cells
        )
    return checks


def passes_of(recipe):
    """A saved recipe's pass budget (``unlearn_epochs`` in results saved under the key's old name)."""
    return recipe.get("unlearn_passes", recipe.get("unlearn_epochs"))


def recipe_label(recipe):
    """A default recipe in a few words: the method and what sets it apart."""
    label = recipe["unlearn_method"]
    if label not in ("reset", "rebuild", "retrain"):  # a gradient method: its forget term, weight and passes
        forget = recipe["unlearn_forget_loss"]
        if forget == "hinge":
            forget = "hinge to " + recipe["unlearn_hinge_target"]
        settle = recipe.get("unlearn_settle_passes") or 0
        label += (f" ({forget} x{recipe['forget_weight']:g}, {passes_of(recipe)} passes"
                  + (f", {settle} settle" if settle else "") + ")")
    if recipe.get("unlearn_revoked_steps"):
        label += f" + {recipe['unlearn_revoked_steps']} push-down steps"
    return label


def measured(value, spec) -> str:
    """``value`` formatted, or ``-`` where it was not measured (results saved before the learned attacker)."""
    return "-" if math.isnan(value) else format(value, spec)


def summary_line(dataset, model_name, kind, cells, summary):
    """``(row, gaps)``: the summary table's row of the default recipe on ``cells`` (``None`` without one) and its
    threshold and learned attackers' (mean, spread) gaps to gold (``None`` for modality requests); ``summary`` is
    :func:`summarise`'s of ``cells``."""
    if "default" not in summary:
        return None, None
    d, g = summary["default"], summary["gold"]
    missed = [k for k, ok in target_checks(d, kind, dataset, cells).items() if not ok]
    gaps = None if kind == "modality" else (d["mia_gap"], d["learned_gap"])
    forget = "-" if kind == "modality" else (
        f"{g['forget_recall@20'][0]:.3f} / {g['mia_auc'][0]:.3f} / {measured(g['mia_learned_auc'][0], '.3f')}")
    row = (
        f"| {dataset} | {model_name} | {kind} | {g['retain_recall@20'][0]:.4f} / {forget} / "
        f"{g['time_s'][0]:.0f} s | {recipe_label(cells[0]['default']['recipe'])} | {d['retain_pct'][0]:.1f}% | "
        + ("- | - | - | " if kind == "modality" else
           f"{d['forget_gap'][0]:+.4f} | {d['mia_gap'][0]:+.3f} | {measured(d['learned_gap'][0], '+.3f')} | ")
        + f"{d['time_s'][0]:.2f} s | {d['speedup'][0]:.0f}x | "
        + ("all met" if not missed else "NOT met: " + "; ".join(missed).replace("|", "\\|")) + " |"
    )
    return row, gaps


def write_summary():
    """``bench/results/unlearning-summary.{md,png}``: the default recipe against gold for every saved dataset x model
    x request type (the README's results table and plot)."""
    lines = [("| dataset | model | request | gold R@20 / forget / MIA / learned MIA / time | default method | "
              "retain % gold | forget - gold | MIA - gold | learned MIA - gold | time | speed-up | targets |"),
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    gaps = {}  # row label: the threshold and learned attackers' (mean, spread) gaps to gold
    defaults = {}  # (model, dataset, request): (draws, the default's summary), for the bounds table
    order = {"ml-100k": 0, "lfm2k": 1, "baby": 2, "LightGCN": 0, "FREEDOM": 1}
    saved = [path.stem[len("unlearning-"):].rsplit("-", 1) for path in RESULTS.glob("unlearning-*-*.json")]
    for dataset, model_name in sorted(saved, key=lambda dm: (order.get(dm[0], 9), dm[0], order.get(dm[1], 9), dm[1])):
        by_kind = json.loads((RESULTS / f"unlearning-{dataset}-{model_name}.json").read_text())
        for kind in sorted(by_kind, key=list(REQUEST_RATIOS).index):
            cells = by_kind[kind]
            _, summary = summarise(cells, kind, dataset)
            if "default" in summary:
                defaults[model_name, dataset, kind] = (len(cells), summary["default"])
            row, gap = summary_line(dataset, model_name, kind, cells, summary)
            if row is not None:
                lines.append(row)
            if gap is not None:
                gaps[f"{dataset} {model_name} {kind}"] = gap
    write_text(RESULTS / "unlearning-summary.md", "\n".join(lines) + "\n")
    plot_gaps(gaps, RESULTS / "unlearning-summary.png")
    write_text(RESULTS / "unlearning-bounds.md", bounds_table(defaults))


#: the models of the bounds table, in its order: ours, then RecBole's
MODELS = ("LightGCN", "VBPR", "MMLightGCN", "FREEDOM", "LATTICE", "NGCF", "SGL", "NCL", "SpectralCF", "LINE")
#: the quality bounds every default is held to, against gold in the same run
BOUNDS = (("retain_pct", "retain", lambda v: v >= 98, "{:.1f}%"), ("forget_gap", "forget", lambda v: abs(v) <= 0.01,
          "{:+.3f}"), ("mia_gap", "MIA", lambda v: abs(v) <= 0.02, "{:+.3f}"),
          ("learned_gap", "learned", lambda v: abs(v) <= 0.02, "{:+.3f}"))


def bound_misses(summary) -> list:
    """The bounds (:data:`BOUNDS`) the default's mean over the draws misses, each with its value; a bound not
    measured (forget and attacks on modality requests, the learned attacker where it did not run) is not checked."""
    return [f"{label} {fmt.format(summary[key][0])}" for key, label, holds, fmt in BOUNDS
            if not math.isnan(summary[key][0]) and not holds(summary[key][0])]


def bounds_table(defaults) -> str:
    """The README's table: one row per model, one column per dataset x request, each cell ``met`` or the bounds
    missed (retain Recall@20 >= 98% of gold's, forget Recall@20 within 0.01, threshold and learned attacker AUC within
    0.02), with the draws behind it."""
    order = {"ml-100k": 0, "lfm2k": 1, "baby": 2}
    columns = sorted({(dataset, kind) for _, dataset, kind in defaults},
                     key=lambda c: (list(REQUEST_RATIOS).index(c[1]), order.get(c[0], 9), c[0]))
    models = [m for m in MODELS if any(key[0] == m for key in defaults)]
    models += sorted({key[0] for key in defaults} - set(models))
    lines = ["| model | " + " | ".join(f"{dataset} {kind}" for dataset, kind in columns) + " |",
             "|---" * (len(columns) + 1) + "|"]
    for model_name in models:
        cells = []
        for dataset, kind in columns:
            draws, summary = defaults.get((model_name, dataset, kind), (0, None))
            missed = bound_misses(summary) if summary else None
            cells.append("" if summary is None else ("met" if not missed else "; ".join(missed)) + f" ({draws})")
        lines.append(f"| {model_name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot_gaps(gaps, path, target=0.02):
    """Each row's threshold and learned membership-inference AUC minus gold's (mean over draws, the spread as a
    bar), against the band of +-``target`` the issue allows; rows without a learned attacker show the threshold only."""
    plt = pyplot()
    labels = list(gaps)
    fig, ax = plt.subplots(figsize=(7.5, 1.2 + 0.24 * len(labels)), dpi=110)
    ax.axvspan(-target, target, color="#d9f0d3", zorder=0, label=f"within {target} of gold")
    ax.axvline(0, color="grey", lw=0.6)
    y = np.arange(len(labels))
    for k, (name, marker, colour, shift) in enumerate(
            [("threshold attack", "o", "#4c72b0", -0.15), ("learned attacker", "D", "#c44e52", 0.15)]):
        means = np.array([gaps[label][k][0] for label in labels])
        spreads = np.array([gaps[label][k][1] for label in labels])
        ax.errorbar(means, y + shift, xerr=spreads, fmt=marker, color=colour, ms=5, capsize=2, lw=1, label=name)
    ax.set_yticks(y, labels, fontsize=7)
    ax.set_ylim(len(labels) - 0.5, -0.5)
    ax.set_xlabel("membership-inference AUC minus gold's (default recipe; mean, spread over draws)", fontsize=8)
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, fontsize=7, frameon=False)
    fig.tight_layout()
    save_figure(fig, path)


def plot(summaries, path, title):
    """Retain against forget quality of every variant, one panel per request type; the variants are told apart by
    colour and marker in one legend below the panels (clustered points would make point labels overlap)."""
    plt = pyplot()
    names = list(dict.fromkeys(n for summary in summaries.values() for n in summary if n != "original"))
    colours, markers = plt.get_cmap("tab20").colors, "osv^PXhd<>"
    style = {name: {"color": colours[k % len(colours)], "marker": markers[k // len(colours) % len(markers)], "s": 35}
             for k, name in enumerate(names)}
    style.get("gold", {}).update(marker="*", s=140)
    style.get("default", {}).update(marker="D", s=70)
    rows = math.ceil(len(names) / 3)
    fig, axes = plt.subplots(1, len(summaries), figsize=(5 * len(summaries), 4.2 + 0.17 * rows), dpi=110,
                             squeeze=False)
    for ax, (kind, summary) in zip(axes[0], summaries.items()):
        for name, s in summary.items():
            if name != "original":
                ax.scatter([s["retain_pct"][0]], [s["forget_gap"][0]], label=name, edgecolors="black", linewidths=0.3,
                           **style[name])
        ax.axhline(0, color="grey", lw=0.5)
        ax.axvline(98, color="grey", lw=0.5, ls="--")
        ax.set_title(f"{kind} request", fontsize=9)
        ax.set_xlabel("retain Recall@20, % of gold")
        ax.set_ylabel("forget Recall@20 - gold's")
    handles = [plt.scatter([], [], edgecolors="black", linewidths=0.3, **style[name]) for name in names]
    fig.legend(handles, names, loc="lower center", ncol=3, fontsize=7, frameon=False)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0.17 * rows / (4.2 + 0.17 * rows) + 0.02, 1, 1))
    save_figure(fig, path)


def parse_args(argv=None):
    parser = argument_parser(__spec__.name, __doc__)
    parser.add_argument("--datasets", nargs="+", default=["ml-100k"])
    parser.add_argument("--models", nargs="+", default=["LightGCN"])
    parser.add_argument("--requests", nargs="+", default=None,
                        help="default: user interaction item (+ modality where features exist)")
    parser.add_argument("--draws", type=int, default=2, help="forget draws (forget_seed 2020, 2021, ...)")
    add_run_arguments(parser)
    parser.add_argument("--repeats", type=int, default=1, help="time each method this many times, keep the median")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS), metavar="NAME",
                        help="run only these variants (default: all; 'default' is the per-type recipe)")
    parser.add_argument("--report-only", action="store_true", help="rewrite tables and plots from saved JSON results")
    return parser.parse_args(argv)


def planned_cells(args) -> dict:
    """``{(dataset, model): [Draw, ...]}`` to run, datasets whose folder is missing left out with a line."""
    groups = {}
    for dataset in args.datasets:
        if not dataset_available(dataset, args.data_path):
            print(f"skipping {dataset}: {Path(args.data_path) / dataset} not found")
            continue
        for model_name in args.models:
            multimodal = model_name in MULTIMODAL and dataset in ("ml-100k", "lfm2k")
            kinds = args.requests or ["user", "interaction", "item"] + (["modality"] if multimodal else [])
            groups[dataset, model_name] = [Draw(dataset, model_name, kind, draw)
                                           for kind in kinds for draw in range(args.draws)]
    return groups


def main(argv=None):
    args = parse_args(argv)
    if args.report_only:
        for path in sorted(RESULTS.glob("unlearning-*.json")):
            dataset, model_name = path.stem[len("unlearning-"):].rsplit("-", 1)
            write_results(dataset, model_name, json.loads(path.read_text()))
        write_summary()
        return
    torch.set_num_threads(args.threads)
    CACHE.mkdir(parents=True, exist_ok=True)
    options = Options(cached_config(args.epochs), args.data_path, tuple(args.variants), args.repeats)
    groups = planned_cells(args)
    total = sum(len(cells) for cells in groups.values())
    print(f"torch threads: {torch.get_num_threads()}; {total} request draws")
    with tqdm(total=total, desc="bench", ncols=110) as progress:
        for (dataset, model_name), cells in groups.items():  # results are written as each group completes
            by_kind = {}
            for cell in cells:
                by_kind.setdefault(cell.kind, []).append(run_cell(cell, options, progress))
            saved = RESULTS / f"unlearning-{dataset}-{model_name}.json"  # request types not rerun keep their results
            earlier = json.loads(saved.read_text()) if saved.exists() else {}
            write_results(dataset, model_name, {**earlier, **merged_cells(earlier, by_kind)})
    write_summary()


def merged_cells(earlier, by_kind) -> dict:
    """``by_kind``'s cells over ``earlier``'s, draw by draw: variants not rerun keep their earlier results (the rows
    of original and gold are taken from the new run with the rest)."""
    merged = {}
    for kind, cells in by_kind.items():
        before = earlier.get(kind, [])
        merged[kind] = [{**(before[draw] if draw < len(before) else {}), **cell} for draw, cell in enumerate(cells)]
    return merged


def write_results(dataset, model_name, by_kind):
    RESULTS.mkdir(parents=True, exist_ok=True)
    sections, summaries = [f"## {model_name} on {dataset}", ""], {}
    for kind, cells in by_kind.items():
        text, summaries[kind] = summarise(cells, kind, dataset)
        sections.append(text)
    stem = RESULTS / f"unlearning-{dataset}-{model_name}"
    markdown = "\n".join(sections)
    print(markdown, flush=True)
    write_text(f"{stem}.md", markdown)
    atomic_write(f"{stem}.json", lambda f: json.dump(by_kind, f, indent=1, default=str))
    plot(summaries, f"{stem}.png", f"{model_name} on {dataset}: unlearning variants vs gold")


if __name__ == "__main__":
    main()
