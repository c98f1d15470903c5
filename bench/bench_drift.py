"""Drift over a stream of requests: does the unlearned model walk away from gold as requests pile up?

Applies ``--requests`` requests one after another through the package's own stream (each run starts from the
previous checkpoint, its lineage replayed, so the cumulative retain set is what each request sees), each forgetting
``--ratio`` of the users (or training interactions) still there, with the default recipe of the request type. After
the requests listed in ``--at`` it retrains gold on the cumulative retain set and audits both on the cumulative forget
set: retain Recall@20, forget Recall@20, membership-inference AUC, and the gaps to gold.

    python bench/bench_drift.py --dataset ml-100k --model LightGCN --kind user --requests 10 --at 1 5 10
    python bench/bench_drift.py --kind interaction --set unlearn_refresh_every=3 --tag refresh3

Originals and golds are cached in ``bench/cache`` (as in bench_unlearning.py). Results:
``bench/results/drift-<dataset>-<model>-<kind>.{md,json,png}``.
"""

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_unlearning import CACHE, RESULTS, cached_model, key_of, original_key  # noqa: E402

from recbole_unlearn.atomic import atomic_write  # noqa: E402
from recbole_unlearn.audit.audit import Audit  # noqa: E402
from recbole_unlearn.checkpoint import load_checkpoint, restore_model  # noqa: E402
from recbole_unlearn.data.request import ForgetRequest  # noqa: E402
from recbole_unlearn.data.split import split_datasets  # noqa: E402
from recbole_unlearn.model.serving import serve  # noqa: E402
from recbole_unlearn.quick_start import load_data, run  # noqa: E402
from recbole_unlearn.registry import build_model, build_trainer  # noqa: E402
from recbole_unlearn.unlearn.lineage import request_from_record  # noqa: E402
from recbole_unlearn.unlearn.methods import retrain  # noqa: E402
from recbole_unlearn.unlearn.rebind import rebind_model  # noqa: E402

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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="ml-100k")
    parser.add_argument("--model", default="LightGCN")
    parser.add_argument("--kind", default="user", choices=["user", "interaction", "item"])
    parser.add_argument("--ratio", type=float, default=0.01)
    parser.add_argument("--requests", type=int, default=10)
    parser.add_argument("--at", type=int, nargs="+", default=[1, 5, 10], help="compare with gold after these requests")
    parser.add_argument("--data_path", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="config overrides for every request (e.g. unlearn_refresh_every=3), JSON values")
    parser.add_argument("--tag", default="", help="appended to the results' file names")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    overrides = {k: json.loads(v) for k, v in (item.split("=", 1) for item in args.set)}
    base = {"show_progress": False, "state": "ERROR", "epochs": args.epochs, "data_path": args.data_path}
    config, loaders = load_data(args.model, args.dataset, config_dict={**base, "checkpoint_dir": str(CACHE / "tmp")}, argv=[])
    datasets = [loader._dataset for loader in loaders]
    key = original_key(args.model, args.dataset, {**base, "checkpoint_dir": str(CACHE / "tmp")}, config)

    def train_original(model):
        trainer = build_trainer(config, model)
        trainer.fit(loaders[0], loaders[1], saved=True, show_progress=False)
        trainer.load_checkpoint_file(trainer.saved_model_file, dataset=datasets[0])
        return model

    root = CACHE / f"original-{key}.pth"
    CACHE.mkdir(parents=True, exist_ok=True)
    _, train_s = cached_model(root, config, datasets[0], lambda: build_model(config, datasets[0]), train_original)
    stream_dir = CACHE / f"drift-{key_of(key, vars(args))}"
    shutil.rmtree(stream_dir, ignore_errors=True)

    checkpoint, rows, stream_s = str(root), [], 0.0
    for k in tqdm(range(1, args.requests + 1), desc="requests", ncols=100):
        result = run(args.model, args.dataset, argv=[], config_dict={
            **base, **overrides, "checkpoint_dir": str(stream_dir), "checkpoint": checkpoint,
            "forget_type": args.kind, "forget_ratio": args.ratio, "forget_seed": 3000 + k,
        })
        checkpoint = result["checkpoint"]
        step_s = result["report"]["results"]["unlearned"]["time_s"]
        stream_s += step_s
        if k not in args.at:
            continue
        state = load_checkpoint(checkpoint)
        request = cumulative_request(state["lineage"], datasets[0])
        split = split_datasets(request, *datasets)
        unlearned = rebind_model(restore_model(build_model(config, datasets[0]), state), config, split.retain_train)
        gold, gold_s = cached_model(
            CACHE / f"gold-{key_of(key, request.sha256())}.pth", config, datasets[0],
            lambda: config.model_class(config, split.retain_train).to(config["device"]),
            lambda fresh: retrain(fresh, split, config)[0],
        )
        audit = Audit(split, config["topk"])
        rows.append({
            "after_request": k, "forgotten_interactions": int(len(split.forget_train.inter_feat)),
            "unlearned": audit.evaluate(serve(unlearned, split.revoked_items)),
            "gold": audit.evaluate(serve(gold, split.revoked_items)),
            "stream_time_s": stream_s, "last_request_time_s": step_s, "gold_time_s": gold_s,
        })
    write_results(args, rows)


def write_results(args, rows):
    lines = [f"## Drift: {args.requests} {args.kind} requests of {args.ratio:.0%} each, {args.model} on {args.dataset}", "",
             "Unlearned model (default recipe, applied request by request) vs gold retrained on the cumulative retain "
             "set, both audited on the cumulative forget set." + (f" Overrides: `{' '.join(args.set)}`." if args.set else ""), "",
             "| after request | forgotten inter. | retain R@20 (unl. / gold, %) | forget R@20 (unl. / gold, gap) | "
             "MIA AUC (unl. / gold, gap) | stream time (s) | gold time (s) |", "|---|---|---|---|---|---|---|"]
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
    atomic_write(f"{stem}.md", lambda f: f.write(markdown))
    atomic_write(f"{stem}.json", lambda f: json.dump({"args": vars(args), "rows": rows}, f, indent=1))
    plot(rows, f"{stem}.png", f"{args.model} on {args.dataset}: {args.kind} requests, gap to gold")


def plot(rows, path, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
    atomic_write(str(path), lambda f: fig.savefig(f, format="png"), mode="wb")
    plt.close(fig)


if __name__ == "__main__":
    start = time.perf_counter()
    main()
    print(f"total {time.perf_counter() - start:.0f} s")
