"""One request, end to end: each method from the trained model, then the audit, then checkpoint, manifest and report.

The command line's run (:func:`recbole_unlearn.quick_start.run_unlearning`) and
:func:`recbole_unlearn.api.unlearn` both call :func:`apply_request`; only where the files go differs
(:class:`RunOutputs`, :class:`ChosenOutputs`).

The serving filter goes on once per model: methods take and give raw models (no filter), and the audit and the kept
model get the filter of the split's blocked items (:func:`~recbole_unlearn.model.serving.serve`).
"""

import copy
import dataclasses
import os
import time
from dataclasses import dataclass
from logging import getLogger
from pathlib import Path

from recbole.utils import get_local_time, init_seed, set_color

from recbole_unlearn.atomic import unused_path
from recbole_unlearn.audit.attacker import LearnedAttacker
from recbole_unlearn.audit.audit import Audit, add_gold_overlaps
from recbole_unlearn.audit.report import (
    ReportTarget,
    build_report,
    comparison_table,
    summary_line,
    write_report,
)
from recbole_unlearn.config import config_with
from recbole_unlearn.distributed import is_main_process
from recbole_unlearn.model.serving import serve, unserve
from recbole_unlearn.unlearn.context import UnlearnContext
from recbole_unlearn.unlearn.lineage import Provenance, request_record, save_unlearned
from recbole_unlearn.unlearn.methods import get_method, method_names, retrain
from recbole_unlearn.unlearn.refresh import refresh_on_retain


@dataclass(frozen=True)
class RequestJob:
    """What every request of a run shares: the context (config with its type's recipe, settings parsed once), the
    methods (the first is the one whose model is kept), the learned attacker (``None``: threshold attack alone) and
    the original's training time (``None`` when unknown)."""

    context: UnlearnContext
    methods: tuple
    attacker: LearnedAttacker = None
    original_time: float = None

    @classmethod
    def for_request(cls, config, kind) -> "RequestJob":
        """Every unlearning key of a ``kind`` request checked, before any training (one line naming a bad key)."""
        context = UnlearnContext.for_request(config, kind)
        return cls(context, method_names(context.config), LearnedAttacker.from_config(context.config))

    @property
    def config(self):
        return self.context.config

    def with_original_time(self, seconds) -> "RequestJob":
        return dataclasses.replace(self, original_time=seconds)


@dataclass(frozen=True)
class Chain:
    """Where a request starts: the lineage applied so far, the checkpoint it continues (``None``: none saved) and the
    training dataset as loaded (its token maps name the lineage's ids)."""

    lineage: list
    parent: str
    full_train: object


@dataclass
class AuditedRequest:
    """One request unlearned and audited, nothing written: the first method's model (served) and outcome, the audit
    table (one row per model) and the report (its ``checkpoint`` still ``None``)."""

    model: object
    outcome: object
    table: dict
    report: dict


@dataclass
class AppliedRequest:
    """One request applied: the kept model (served), its report and summary line, the files written (``None`` where
    none was asked) and the chain it leaves for the next request."""

    model: object
    report: dict
    summary: str
    checkpoint: str
    report_file: str
    chain: Chain


def unlearn_and_audit(job, model, split, index=1, refresh=False) -> AuditedRequest:
    """Each of ``job``'s methods from ``model`` (left unchanged), golds if asked, every model audited as served."""
    audit = Audit(split, job.config["topk"], job.attacker)
    raw = unserve(copy.deepcopy(model))
    table, kept = {}, {}
    for name in job.methods:
        result, outcome, seconds = timed_method(job, name, raw, split, refresh)
        kept[name] = (serve(result, split.blocked_items), outcome)
        table[name] = {**audit.evaluate(kept[name][0]), "time_s": seconds}
        if outcome is not None:
            table[name].update(stopped_by=outcome.stopped_by, passes=outcome.passes, refreshed=refresh)
    original = serve(raw, split.blocked_items)
    table = {"original": {**audit.evaluate(original), "time_s": job.original_time}, **table}
    golds = trained_golds(job, raw, split, audit, table)
    others = {"original": original, **{name: result for name, (result, _) in kept.items()}}
    noise_floor = add_gold_overlaps(audit, table, others, golds)
    primary = job.methods[0]
    model, outcome = kept[primary]
    report = build_report(job.config, primary, split.summary(index), table, stopping_record(outcome),
                          noise_floor)
    return AuditedRequest(model, outcome, table, report)


def timed_method(job, name, model, split, refresh=False):
    """``(model, outcome, seconds)`` of one method, seeded from ``seed`` alone, with the stream's refresh if due."""
    config, context = job.config, job.context
    init_seed(config["seed"], config["reproducibility"])  # each method's draws depend on the seed alone
    start = time.perf_counter()
    result, outcome = get_method(name)(model, split, context)
    if refresh and outcome is not None:
        result = refresh_on_retain(result, split, config, context.settings.refresh_epochs, context.show_progress)
    return result, outcome, time.perf_counter() - start


def trained_golds(job, model, split, audit, table) -> dict:
    """With ``unlearn_gold``: ``unlearn_gold_seeds`` retrains (``gold``, ``gold_seed2``, ...), served, their audit
    rows added to ``table``; ``{}`` without."""
    settings, golds = job.context.settings, {}
    for k in range(settings.gold_seeds if settings.gold else 0):
        start = time.perf_counter()
        name = "gold" if k == 0 else f"gold_seed{k + 1}"
        seeded = UnlearnContext(config_with(job.config, seed=job.config["seed"] + k), settings)
        golds[name] = serve(retrain(model, split, seeded)[0], split.blocked_items)
        table[name] = {**audit.evaluate(golds[name]), "time_s": time.perf_counter() - start}
    return golds


def stopping_record(outcome) -> dict:
    """How the kept method ended (``early_stopping`` for a retrain, which has no outcome)."""
    if outcome is None:
        return {"rule": "early_stopping", "passes": None, "settle_passes": 0, "touched_rates": {},
                "calibration": None, "log": []}
    calibration = dataclasses.asdict(outcome.calibration) if outcome.calibration is not None else None
    return {"rule": outcome.stopped_by, "passes": outcome.passes, "settle_passes": outcome.settle_passes,
            "backoffs": outcome.backoffs, "touched_rates": outcome.touched_rates, "calibration": calibration,
            "log": outcome.log}


# ---- where the files go ---------------------------------------------------------------------------------------------
class ChosenOutputs:
    """Files at paths the caller chose, either ``None`` for none (:func:`recbole_unlearn.api.unlearn`); the report
    path's state is taken when the outputs are made, at the start of the request."""

    def __init__(self, checkpoint=None, report_file=None):
        self.checkpoint = checkpoint
        self.report = ReportTarget(report_file) if report_file else None

    def files(self, job, planned) -> tuple:
        """``(checkpoint path or None, ReportTarget or None)``."""
        return self.checkpoint, self.report


class RunOutputs:
    """The command line's files: a fresh checkpoint name in ``checkpoint_dir``, and ``report_file`` (``-<index>``
    added for each request of a stream of several) or a fresh name beside the checkpoint. Made before the original
    is trained, so a ``report_file`` that another run writes at any time during this run is refused."""

    def __init__(self, config, plan):
        self.several = len(plan) > 1
        given = Path(config["report_file"]) if config["report_file"] else None
        self.reports = {} if given is None else {
            p.index: ReportTarget(given.with_stem(f"{given.stem}-{p.index:03d}") if self.several else given)
            for p in plan if not p.already_applied}

    def files(self, job, planned) -> tuple:
        """``(checkpoint path, ReportTarget)`` of ``planned``."""
        config, kind = job.config, planned.request.type
        stamp = f"{planned.index:03d}-{get_local_time()}"
        name = f"{config['model']}-unlearned-{kind}-{job.methods[0]}-{stamp}.pth"
        checkpoint = unused_path(os.path.join(config["checkpoint_dir"], name))
        if planned.index in self.reports:
            return checkpoint, self.reports[planned.index]
        name = f"unlearn-{config['model']}-{config['dataset']}-{kind}-{stamp}.json"
        return checkpoint, ReportTarget(unused_path(os.path.join(config["checkpoint_dir"], name)))


@dataclass(frozen=True)
class StreamStep:
    """One request of a stream: its summary, its position in the lineage and, once applied, the files written and
    the summary line; ``already_applied`` for a request applied before as number ``index`` (nothing written)."""

    request: dict
    index: int
    already_applied: bool = False
    checkpoint: str = None
    report_file: str = None
    summary: str = None


def apply_stream(job, model, plan, chain, outputs) -> tuple:
    """Every request of ``plan`` in order, each from the model and chain the previous one left; returns
    ``(last AppliedRequest or None, [StreamStep, ...])``."""
    last, steps = None, []
    for planned in plan:
        if planned.already_applied:
            getLogger().warning(
                f"request {planned.request.source} (sha256 {planned.request.sha256()[:12]}...) is already applied as "
                f"request #{planned.index}: nothing changed, nothing written"
            )
            steps.append(StreamStep(planned.request.summary(), planned.index, already_applied=True))
            continue
        last = apply_request(job, model, planned, chain, outputs)
        model, chain = last.model, last.chain
        steps.append(StreamStep(planned.request.summary(), planned.index, checkpoint=last.checkpoint,
                                report_file=last.report_file, summary=last.summary))
    return last, steps


def apply_request(job, model, planned, chain, outputs) -> AppliedRequest:
    """One planned request (:class:`~recbole_unlearn.unlearn.stream.PlannedRequest`): :func:`unlearn_and_audit`,
    then the kept model saved with the lineage grown by this request, its manifest and the report, where ``outputs``
    puts them; the audit table logged.

    A report file that another run wrote since ``outputs`` were made is refused before anything is written.
    """
    split, request = planned.split, planned.request
    getLogger().info(set_color(f"request #{planned.index}", "yellow") + f": {request.summary()}")
    checkpoint, target = outputs.files(job, planned)
    done = unlearn_and_audit(job, model, split, planned.index, job.context.settings.refresh_due(planned.index))
    report = {**done.report, "checkpoint": checkpoint}
    record = request_record(request, chain.full_train, planned.index, report["request"]["interactions"])
    after = Chain([*chain.lineage, record], checkpoint if checkpoint else chain.parent, chain.full_train)
    if is_main_process(job.config):  # the one process of a multi-process run that writes files
        if target is not None:
            target.check_unchanged()
        if checkpoint:
            provenance = Provenance(chain.full_train, after.lineage, chain.parent, report["method"])
            save_unlearned(checkpoint, done.model, job.config, provenance, split, done.table[report["method"]])
        if target is not None:
            write_report(report, target.path)
    getLogger().info(set_color("unlearning audit", "yellow") + "\n" + comparison_table(done.table))
    report_file = target.path if target is not None else None
    return AppliedRequest(done.model, report, summary_line(report, report_file), checkpoint, report_file, after)
