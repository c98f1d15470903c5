"""A stream of requests applied one after another to the latest model.

``forget_file`` may name one CSV, a list of them, or a folder (its ``*.csv`` files in name order). Planning is
data-only and runs before any training, so every request of the stream is checked first: request *k* is resolved and
validated against the retain set that the starting checkpoint's lineage and requests 1..k-1 leave. A request whose
forget set hashes like one already applied (in the lineage or earlier in the stream) is planned as a no-op.
"""

from dataclasses import dataclass
from pathlib import Path

from recbole_unlearn.config import config_with
from recbole_unlearn.data.request import (
    ForgetRequest,
    resolve_request,
    validate_request,
)
from recbole_unlearn.data.split import ForgetSplit, split_datasets
from recbole_unlearn.errors import InputError
from recbole_unlearn.unlearn.lineage import revoked_by


@dataclass
class PlannedRequest:
    """One request of the stream: ``index`` is its 1-based position in the lineage, or, when ``split`` is ``None``,
    the position of the identical request applied before (nothing to do)."""

    index: int
    request: ForgetRequest
    split: ForgetSplit = None

    @property
    def already_applied(self) -> bool:
        return self.split is None

    def removal_line(self) -> str:
        """What the request removes, in one line (the dry run's output)."""
        if self.already_applied:
            return f"request {self.request.source}: already applied as request #{self.index}, nothing to remove"
        removed = self.split.removed()
        rows = ", ".join(f"{name} {n}" for name, n in removed["feature_rows"].items()) or "none"
        return (
            f"request #{self.index} ({self.request.type}, {self.request.source}): {removed['users']} users, "
            f"{removed['items']} items; interactions removed: train {removed['train']}, valid {removed['valid']}, "
            f"test {removed['test']}; feature rows purged: {rows}"
        )


def request_files(value) -> list:
    """``forget_file`` as a list of CSV paths: unset, one path, a list of paths, or folders of ``*.csv`` files."""
    if not value:
        return []
    paths = []
    for entry in [value] if isinstance(value, (str, Path)) else list(value):
        entry = Path(entry)
        if entry.is_dir():
            found = sorted(entry.glob("*.csv"))
            if not found:
                raise InputError(f"forget_file {entry}: folder holds no .csv request file")
            paths += [str(p) for p in found]
        else:
            paths.append(str(entry))
    return paths


def plan_requests(config, datasets, lineage) -> list:
    """The :class:`PlannedRequest` list of a run, each split from the retain set its predecessors leave.

    Args:
        config: the run's config (``forget_file`` or ``forget_ratio`` and the other request keys).
        datasets: ``(train, valid, test)`` with ``lineage`` already applied (:func:`lineage.replay`).
        lineage: the starting checkpoint's records (empty for a freshly trained model).
    """
    train, valid, test = datasets
    revoked = revoked_by(lineage, train)
    applied = {record["sha256"]: record["index"] for record in lineage}
    index = len(lineage)
    plan = []
    for path in request_files(config["forget_file"]) or [None]:
        request = resolve_request(config_with(config, forget_file=path) if path else config, train)
        sha256 = request.sha256()
        earlier = applied.get(sha256)
        if earlier is not None:
            plan.append(PlannedRequest(earlier, request))
            continue
        validate_request(request, train, (valid, test), config["forget_allow_unmatched"])
        index += 1
        split = split_datasets(request, train, valid, test, revoked_before=revoked)
        plan.append(PlannedRequest(index, request, split))
        applied[sha256] = index
        train, valid, test, revoked = split.retain_train, split.retain_valid, split.retain_test, split.blocked_items
    return plan
