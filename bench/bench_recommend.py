"""Serving 10^5 users: ``recommend`` from an unlearned checkpoint, in batches, with the serving filter on.

Generates a synthetic dataset (``--users`` users in 4 taste groups, ``--per_user`` interactions each, ``--items``
items), trains LightGCN for one epoch, revokes 1% of the items (an item request, reset), then times
``recbole_unlearn.recommend.recommend`` for every user (top-20) and reports users per second, peak memory (RSS) and
that no revoked item was served.

    python -m bench.bench_recommend [--users 100000] [--items 2000] [--per_user 5] [--threads 2]

Nothing here is a timed test: the numbers are printed, and written to ``bench/results/recommend.md``.
"""

import tempfile
import time
from pathlib import Path

import torch

from bench.common import (
    RESULTS,
    argument_parser,
    quiet_config,
    resident_gib,
    write_text,
)
from recbole_unlearn.quick_start import run
from recbole_unlearn.recommend import recommend, revoked
from tests.conftest import write_clustered_inter


def main(argv=None):
    parser = argument_parser(__spec__.name, __doc__)
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
        config = quiet_config(
            folder / "saved", data_path=str(folder / "data"), epochs=1, train_batch_size=65536, forget_type="item",
            forget_ratio=0.01, report_file=str(folder / "report.json"),
            eval_args={"split": {"RS": [0.8, 0.1, 0.1]}, "group_by": None, "order": "RO", "mode": "full"},
            load_col={"inter": ["user_id", "item_id"]})
        checkpoint = run("LightGCN", "synthetic", config_dict=config, argv=[])["checkpoint"]
        users = [f"u{u}" for u in range(args.users)]
        start = time.perf_counter()
        rows = recommend(checkpoint, users=users, k=20, show_progress=True)
        seconds = time.perf_counter() - start
        banned = set(revoked(checkpoint))
    served_users = len({row[0] for row in rows})
    leaked = sum(row[2] in banned for row in rows)
    line = (f"| {args.users:,} | {args.items:,} | {args.users * args.per_user:,} | {len(banned)} | {seconds:.1f} | "
            f"{served_users / seconds:,.0f} | {resident_gib('VmHWM'):.2f} | {leaked} |")
    table = "\n".join([
        "## recommend for every user of a synthetic dataset (LightGCN, 1 epoch, item request of 1%)", "",
        (f"`python -m bench.bench_recommend --users {args.users} --items {args.items} --per_user {args.per_user}`, "
         f"{args.threads} threads; time includes loading the checkpoint and the data."), "",
        "| users | items | interactions | revoked items | time (s) | users / s | peak RSS (GiB) | revoked served |",
        "|---|---|---|---|---|---|---|---|", line, ""])
    print(table)
    write_text(RESULTS / "recommend.md", table)


if __name__ == "__main__":
    main()
