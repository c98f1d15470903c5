"""Drift over a stream of requests: does the unlearned model walk away from gold as requests pile up?

Applies ``--requests`` requests one after another through the package's own stream (each run starts from the
previous checkpoint, its lineage replayed, so the cumulative retain set is what each request sees), each forgetting
``--ratio`` of the users (or training interactions) still there, with the default recipe of the request type. After
the requests listed in ``--at`` it retrains gold on the cumulative retain set and audits both on the cumulative forget
set: retain Recall@20, forget Recall@20, membership-inference AUC, and the gaps to gold.

    python -m bench.bench_drift --dataset ml-100k --model LightGCN --kind user --requests 10 --at 1 5 10
    python -m bench.bench_drift --kind interaction --set unlearn_refresh_every=3 --tag refresh3

Originals and golds are cached in ``bench/cache`` (as by ``python -m bench.bench_unlearning``). Results:
``bench/results/drift-<dataset>-<model>-<kind>[-<tag>].{md,json,png}``.
"""

import json
import shutil
import time
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from bench.common import (
    CACHE,
    RESULTS,
    add_model_arguments,
    add_run_arguments,
    argument_parser,
    cached_config,
    cached_gold,
    cached_original,
    data_path_for,
    key_of,
    original_key,
    original_path,
    parse_overrides,
    pyplot,
    save_figure,
    served,
    trained_to_stop,
    write_text,
)
from recbole_unlearn.atomic import atomic_write
from recbole_unlearn.audit.audit import Audit
from recbole_unlearn.checkpoint import load_checkpoint, restore_model
from recbole_unlearn.data.request import ForgetRequest
from recbole_unlearn.data.split import split_datasets
from recbole_unlearn.quick_start import load_data, run
from recbole_unlearn.registry import build_model
from recbole_unlearn.unlearn.lineage import request_from_record
from recbole_unlearn.unlearn.rebind import rebind_model

COLUMNS = ["retain_recall@20", "forget_recall@20", "mia_auc"]


def cumulative_request(lineage, dataset) -> ForgetRequest:
    """One request covering every request of ``lineage`` (all of one type)."""
    requests = [request_from_record(r, dataset) for r in lineage]
    users = np.concatenate([r.users for r in requests])
    items = np.concatenate([r.items for r in requests])
    kind = requests[0].type
    if kind != "interaction":
        users, items = np.unique(users), np.unique(items)
    return ForgetRequest(kind, users, items, source=f"requests 1..{len(lineage)}")


def parse_args(argv=None):
    parser = argument_parser(__spec__.name, __doc__)
    add_model_arguments(parser, "ml-100k")
    parser.add_argument("--kind", default="user", choices=["user", "interaction", "item"])
    parser.add_argument("--ratio", type=float, default=0.01)
    parser.add_argument("--requests", type=int, default=10)
    parser.add_argument("--at", type=int, nargs="+", default=[1, 5, 10], help="compare with gold after these requests")
    add_run_arguments(parser, overrides=True)
    return parser.parse_args(argv)


@dataclass
class Stream:
    """What every point of the stream is compared under: the config and datasets of the original, its cache key."""

    config: object
    datasets: list
    key: str

    def point(self, k, checkpoint, step_s, stream_s):
        """The row after request ``k`` (``step_s`` its seconds, ``stream_s`` the stream's so far): the stream's model
        at ``checkpoint`` and gold retrained on the cumulative retain set (cached), both audited as served on the
        cumulative forget set."""
        state = load_checkpoint(checkpoint)
        request = cumulative_request(state["lineage"], self.datasets[0])
        split = split_datasets(request, *self.datasets)
        model = restore_model(build_model(self.config, self.datasets[0]), state)
        unlearned = rebind_model(model, self.config, split.retain_train)
        gold, gold_s = cached_gold(self.key, self.config, self.datasets[0], split)
        audit = Audit(split, self.config["topk"])
        return {
            "after_request": k, "forgotten_interactions": len(split.forget_train.inter_feat),
            "unlearned": audit.evaluate(served(unlearned, split)), "gold": audit.evaluate(served(gold, split)),
            "stream_time_s": stream_s, "last_request_time_s": step_s, "gold_time_s": gold_s,
        }


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    overrides = parse_overrides(args.set)
    base = {**cached_config(args.epochs), **data_path_for(args.dataset, args.data_path)}
    config, loaders = load_data(args.model, args.dataset, config_dict=base, argv=[])
    key = original_key(args.model, args.dataset, base, config)
    stream = Stream(config, [loader._dataset for loader in loaders], key)
    CACHE.mkdir(parents=True, exist_ok=True)
    cached_original(stream.key, config, stream.datasets[0],
                    lambda model: trained_to_stop(config, loaders, model, stream.key))
    stream_dir = CACHE / f"drift-{key_of(stream.key, vars(args))}"
    shutil.rmtree(stream_dir, ignore_errors=True)

    checkpoint, rows, stream_s = str(original_path(stream.key)), [], 0.0
    for k in tqdm(range(1, args.requests + 1), desc="requests", ncols=100):
        result = run(args.model, args.dataset, argv=[], config_dict={
            **base, **overrides, "checkpoint_dir": str(stream_dir), "checkpoint": checkpoint,
            "forget_type": args.kind, "forget_ratio": args.ratio, "forget_seed": 3000 + k,
        })
        checkpoint = result["checkpoint"]
        step_s = result["report"]["results"]["unlearned"]["time_s"]
        stream_s += step_s
        if k in args.at:
            rows.append(stream.point(k, checkpoint, step_s, stream_s))
    write_results(args, rows)


def write_results(args, rows):
    overrides = f" Overrides: `{' '.join(args.set)}`." if args.set else ""
    lines = [f"## Drift: {args.requests} {args.kind} requests of {args.ratio:.0%} each, {args.model} on {args.dataset}",
             "",
             ("Unlearned model (default recipe, applied request by request) vs gold retrained on the cumulative retain "
              "set, both audited on the cumulative forget set." + overrides), "",
             ("| after request | forgotten inter. | retain R@20 (unl. / gold, %) | forget R@20 (unl. / gold, gap) | "
              "MIA AUC (unl. / gold, gap) | stream time (s) | gold time (s) |"), "|---|---|---|---|---|---|---|"]
    for r in rows:
        u, g = r["unlearned"], r["gold"]
        lines.append(
            f"| {r['after_request']} | {r['forgotten_interactions']} | {u['retain_recall@20']:.4f} / "
            f"{g['retain_recall@20']:.4f} ({100 * u['retain_recall@20'] / g['retain_recall@20']:.1f}%) | "
            f"{u['forget_recall@20']:.4f} / {g['forget_recall@20']:.4f} ({u['forget_recall@20'] - g['forget_recall@20']:+.4f}) | "
            f"{u['mia_auc']:.3f} / {g['mia_auc']:.3f} ({u['mia_auc'] - g['mia_auc']:+.3f}) | {r['stream_time_s']:.2f} | "
            f"{r['gold_time_s']:.1f} |"
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = RESULTS / f"drift-{args.dataset}-{args.model}-{args.kind}{'-' + args.tag if args.tag else ''}"
    markdown = "\n".join(lines) + "\n"
    print(markdown, flush=True)
    write_text(f"{stem}.md", markdown)
    atomic_write(f"{stem}.json", lambda f: json.dump({"args": vars(args), "rows": rows}, f, indent=1))
    plot(rows, f"{stem}.png", f"{args.model} on {args.dataset}: {args.kind} requests, gap to gold")


def plot(rows, path, title):
    """The unlearned model's and gold's value of each of :data:`COLUMNS` after each compared request."""
    plt = pyplot()
    x = [r["after_request"] for r in rows]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), dpi=110)
    for ax, metric in zip(axes, COLUMNS):
        ax.plot(x, [r["unlearned"][metric] for r in rows], "o-", label="unlearned")
        ax.plot(x, [r["gold"][metric] for r in rows], "*--", label="gold")
        ax.set_xlabel("requests applied")
        ax.set_title(metric, fontsize=9)
    axes[0].legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)


if __name__ == "__main__":
    start = time.perf_counter()
    main()
    print(f"total {time.perf_counter() - start:.0f} s")
