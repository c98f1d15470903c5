"""The audit's report: built from the audit rows, written as JSON (keys in DESIGN.md), a Markdown summary beside it,
and a trade-off PNG.

Every file is written atomically (temporary file in the same folder, then rename), so a crash never leaves half a
report.
"""

import os

from recbole_unlearn.atomic import atomic_write, write_json
from recbole_unlearn.data.request_type import RequestType
from recbole_unlearn.errors import InputError
from recbole_unlearn.tables import format_table

TRAINED_ROWS = ("original", "gold")  # rows whose time is training (gold, gold_seed2, ... start with "gold")


def comparison_table(table: dict) -> str:
    """Markdown table, one row per model (original, each method, gold...), columns aligned.

    Training time (original, golds) and unlearning time (methods) have columns of their own; ``% of gold`` is the
    retain Recall@20 against gold's (with a gold); ``revoked in top-20`` shows for item requests (as served).
    """
    gold = table.get("gold")
    columns = [("retain_recall@20", "retain R@20")]
    if gold:
        columns.append(("retain_pct_of_gold", "% of gold"))
    columns += [
        ("retain_ndcg@20", "retain N@20"),
        ("forget_recall@20", "forget R@20"),
        ("mia_auc", "MIA AUC"),
    ]
    if any("mia_learned_auc" in row for row in table.values()):
        columns.append(("learned_mia", "learned MIA AUC [95% CI]"))
    columns += [("overlap_with_gold", "top-20 overlap w/ gold")]
    if any("revoked_in_top20_after_filter" in row for row in table.values()):
        columns += [
            ("revoked_in_top20_before_filter", "revoked in top-20 (raw)"),
            ("revoked_in_top20_after_filter", "revoked in top-20 (served)"),
        ]
    columns += [("training_s", "training (s)"), ("unlearning_s", "unlearning (s)")]
    rows = {}
    for name, row in table.items():
        trained = name.startswith(TRAINED_ROWS)
        rows[name] = {**row, ("training_s" if trained else "unlearning_s"): row.get("time_s")}
        if "mia_learned_auc" in row:
            low, high = row["mia_learned_ci"]
            rows[name]["learned_mia"] = f"{row['mia_learned_auc']:.4f} [{low:.3f}, {high:.3f}]"
        if gold and row.get("retain_recall@20") is not None and gold["retain_recall@20"]:
            rows[name]["retain_pct_of_gold"] = f"{100 * row['retain_recall@20'] / gold['retain_recall@20']:.1f}%"
    return format_table(rows, columns, first="model")


def summary_line(report: dict, report_file=None) -> str:
    """One line saying what was forgotten, how and how fast, and where the files went, e.g. ``forgot 47 users (4,647
    training interactions) with reset in 0.02 s; checkpoint saved/...; report saved/...``."""
    request, unlearned = report["request"], report["results"]["unlearned"]
    kind = RequestType(request["type"])
    what = {
        RequestType.USER: f"{request['users']:,} users",
        RequestType.INTERACTION: f"{request['interactions']:,} interactions of {request['users']:,} users",
        RequestType.ITEM: f"{request['items']:,} items",
        RequestType.MODALITY: f"modality {request.get('modality')} of {request['items']:,} items",
    }[kind]
    shown = kind in (RequestType.USER, RequestType.ITEM)
    removed = f" ({request['interactions']:,} training interactions)" if shown else ""
    line = f"forgot {what}{removed} with {report['method']} in {unlearned['time_s']:.2f} s"
    if report.get("speedup_vs_gold"):
        line += f" ({report['speedup_vs_gold']:.0f}x faster than gold)"
    if report.get("checkpoint"):
        line += f"; checkpoint {report['checkpoint']}"
    if report_file:
        line += f"; report {report_file}"
    return line


def build_report(config, method, request, table, stopping, noise_floor=None) -> dict:
    """The report of one request (keys in docs/audit.md), its ``checkpoint`` ``None`` until one is saved.

    Args:
        config: the request's config (``model`` and ``dataset`` names).
        method: the primary method, whose model is kept.
        request: the request's summary with ``interactions`` (training interactions it removed) and ``index``.
        table: ``{row name: audit row}``, rows ``original``, each method, and ``gold`` (plus ``gold_seed<k>``) when
            golds were trained.
        stopping: ``{"rule", "passes", "settle_passes", "log"}`` of the primary method.
        noise_floor: top-20 overlap of the second gold with the first (``None`` with fewer than two golds).
    """
    gold = table.get("gold")
    return {
        "model": config["model"],
        "dataset": config["dataset"],
        "method": method,
        "request": request,
        "results": {"original": table["original"], "unlearned": table[method], **({"gold": gold} if gold else {})},
        "speedup_vs_gold": gold["time_s"] / table[method]["time_s"] if gold else None,
        "gold_noise_floor_overlap": noise_floor,
        "stopping": stopping,
        "table": table,
        "checkpoint": None,
    }


def markdown_summary(report: dict) -> str:
    req = report["request"]
    lines = [
        f"# Unlearning audit: {report['model']} on {report['dataset']}",
        "",
        f"Request: {req['type']} ({req['users']} users, {req['items']} items, {req['interactions']} training "
        f"interactions; {req['source']}; sha256 {req['sha256'][:16]}...).",
        f"Method: {report['method']}; {stopping_words(report['stopping'])}.",
        "",
        comparison_table(report["table"]),
        "",
    ]
    groups = group_table(report["table"])
    if groups:
        lines += ["Membership inference by group (threshold AUC / learned AUC; pairs):", "", groups, ""]
    if report.get("speedup_vs_gold"):
        lines.append(f"Speed-up vs gold retrain: {report['speedup_vs_gold']:.1f}x.")
    if report.get("gold_noise_floor_overlap") is not None:
        lines.append(f"Top-20 overlap of two golds (different seeds): {report['gold_noise_floor_overlap']:.4f}.")
    return "\n".join(lines) + "\n"


def group_table(table: dict) -> str:
    """Both attacks per group of pairs (users active / inactive, items head / tail), one row per model."""
    rows = {name: row["mia_groups"] for name, row in table.items() if row.get("mia_groups")}
    if not rows:
        return ""
    names = list(next(iter(rows.values())))
    cells = {
        model: {g: f"{v[g]['threshold_auc']:.3f} / {v[g]['learned_auc']:.3f}; {v[g]['pairs']}" for g in names}
        for model, v in rows.items()
    }
    return format_table(cells, [(g, g.replace("_", " ")) for g in names], first="model")


def stopping_words(stopping) -> str:
    """How the primary method ended, in words."""
    if stopping["rule"] == "early_stopping":
        return "retrained from scratch to early stopping"
    if not stopping["passes"]:
        return "no gradient passes"
    settled, backoffs = stopping.get("settle_passes", 0), stopping.get("backoffs", 0)
    then = f", then {settled} settle pass{'es' if settled > 1 else ''}" if settled else ""
    if backoffs:
        then += f", {backoffs} pass{'es' if backoffs > 1 else ''} undone by the gold-free stop (rate halved each time)"
    rates = "; ".join(f"{side} {', '.join(f'{r:.3g}' for r in values)}"
                      for side, values in (stopping.get("touched_rates") or {}).items())
    calibration = stopping.get("calibration")
    measured = "" if not calibration else (
        f"calibrated on the model: share {calibration['share']:.3g} of each table's scale, "
        f"{calibration['above']:.0%} of the pairs above target by {calibration['gap']:.3g}; ")
    return f"stopped by `{stopping['rule']}` after pass {stopping['passes']}{then}" + (
        f" ({measured}touched rows' rate: {rates})" if rates else "")


def tradeoff_plot(results: dict, path, title):
    """Retain Recall@20 (x) against forget Recall@20 (y), one point per model; gold marks the target."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.5), dpi=120)
    for name, r in results.items():
        x, y = r.get("retain_recall@20"), r.get("forget_recall@20")
        if x is None or y is None:
            continue
        marker = "*" if name.startswith("gold") else ("s" if name == "original" else "o")
        ax.scatter([x], [y], s=120 if marker == "*" else 50, marker=marker, label=name)
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(5, 4), fontsize=8)
    ax.set_xlabel("retain Recall@20 (higher is better)")
    ax.set_ylabel("forget Recall@20 (gold's value is the target)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    atomic_write(path, lambda f: fig.savefig(f, format="png"), mode="wb")
    plt.close(fig)


class ReportTarget:
    """A report path as it was when a run started, so that a file another run writes there meanwhile is not
    overwritten: :meth:`check_unchanged` refuses, in one line, once the file (or its ``.md``) has appeared or
    changed since."""

    def __init__(self, path):
        self.path = str(path)
        self.before = self._state()

    def _state(self) -> tuple:
        stem = self.path.removesuffix(".json")
        return tuple(_file_state(p) for p in (self.path, stem + ".md"))

    def check_unchanged(self):
        if self._state() != self.before:
            raise InputError(
                f"report_file {self.path}: written by another run after this one started; nothing written "
                "(give each run its own report_file)"
            )


def _file_state(path):
    """``(inode, size, mtime)`` of ``path``, or ``None`` where there is no file."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


def write_report(report: dict, path):
    """``path`` (JSON), ``path`` with ``.md`` (summary) and ``.png`` (trade-off plot); returns the three paths."""
    stem = path.removesuffix(".json")
    md_path, png_path = stem + ".md", stem + ".png"
    write_json(path, report)
    atomic_write(md_path, lambda f: f.write(markdown_summary(report)))
    tradeoff_plot(
        report["table"], png_path, f"{report['model']} on {report['dataset']}: {report['request']['type']} request"
    )
    return path, md_path, png_path
