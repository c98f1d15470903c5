"""Serving 10^5 users: ``recommend`` from an unlearned checkpoint, in batches, with the serving filter on.

Generates a synthetic dataset (``--users`` users in 4 taste groups, ``--per_user`` interactions each, ``--items``
items), trains LightGCN for one epoch, revokes 1% of the items (an item request, reset), then times
``recbole_unlearn.recommend.recommend`` for every user (top-20) and reports users per second, peak memory (RSS) and
that no revoked item was served.

    python bench/bench_recommend.py [--users 100000] [--items 2000] [--per_user 5] [--threads 2]

Nothing here is a timed test: the numbers are printed, and written to ``bench/results/recommend.md``.
"""

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from recbole_unlearn.atomic import atomic_write  # noqa: E402
from recbole_unlearn.quick_start import run  # noqa: E402
from recbole_unlearn.recommend import recommend, revoked  # noqa: E402
from tests.conftest import write_clustered_inter  # noqa: E402

RESULTS = ROOT / "bench" / "results"


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux: KiB


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--per_user", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        write_clustered_inter(folder / "data", "synthetic", n_users=args.users, n_items=args.items,
                              per_user=args.per_user)
        config = {"data_path": str(folder / "data"), "checkpoint_dir": str(folder / "saved"), "epochs": 1,
                  "train_batch_size": 65536, "show_progress": False, "state": "ERROR", "forget_type": "item",
                  "forget_ratio": 0.01, "report_file": str(folder / "report.json"),
                  "eval_args": {"split": {"RS": [0.8, 0.1, 0.1]}, "group_by": None, "order": "RO", "mode": "full"},
                  "load_col": {"inter": ["user_id", "item_id"]}}
        checkpoint = run("LightGCN", "synthetic", config_dict=config, argv=[])["checkpoint"]
        users = [f"u{u}" for u in range(args.users)]
        start = time.perf_counter()
        rows = recommend(checkpoint, users=users, k=20, show_progress=True)
        seconds = time.perf_counter() - start
        banned = set(revoked(checkpoint))
    served_users = len({row[0] for row in rows})
    leaked = sum(row[2] in banned for row in rows)
    line = (f"| {args.users:,} | {args.items:,} | {args.users * args.per_user:,} | {len(banned)} | {seconds:.1f} | "
            f"{served_users / seconds:,.0f} | {peak_rss_gib():.2f} | {leaked} |")
    table = "\n".join([
        "## recommend for every user of a synthetic dataset (LightGCN, 1 epoch, item request of 1%)", "",
        f"`python bench/bench_recommend.py --users {args.users} --items {args.items} --per_user {args.per_user}`, "
        f"{args.threads} threads; time includes loading the checkpoint and the data.", "",
        "| users | items | interactions | revoked items | time (s) | users / s | peak RSS (GiB) | revoked served |",
        "|---|---|---|---|---|---|---|---|", line, ""])
    print(table)
    atomic_write(RESULTS / "recommend.md", lambda f: f.write(table))


if __name__ == "__main__":
    main()
