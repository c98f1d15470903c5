"""The unlearning keys of a config (``properties/overall.yaml``), validated and typed in one place.

:meth:`UnlearnSettings.from_config` is called before any training, so a bad value ends the run in one line naming the
key, and everything downstream reads typed fields instead of config strings.
"""

import dataclasses

from recbole_unlearn.errors import InputError
from recbole_unlearn.unlearn.calibration import table_rms
from recbole_unlearn.unlearn.targets import TARGET_FUNCTIONS

FORGET_LOSS_FORMS = ("log_sigmoid", "hinge", "negated_bpr")
NEGATIVE_SAMPLING = ("uniform", "popularity")
LR_UNITS = ("absolute", "calibrated")


@dataclasses.dataclass(frozen=True)
class UnlearnSettings:
    """What the unlearning steps, methods and run read; field names are the config keys without ``unlearn_``."""

    forget_loss: str = "log_sigmoid"  # unlearn_forget_loss
    hinge_target: str = "rank_matched_neighbours"  # unlearn_hinge_target
    neg_sampling: str = "uniform"  # unlearn_neg_sampling
    forget_weight: float = 1.0
    retain_weight: float = 1.0
    anchor_weight: float = 0.0  # unlearn_anchor_weight
    passes: int = 8  # unlearn_passes: passes over the forget set
    settle_passes: int = 0  # unlearn_settle_passes: passes to targets re-read after the passes
    batch_size: int = 1024  # unlearn_batch_size
    steps_per_pass: int = 0  # unlearn_steps_per_pass: at most this many (0: no cap)
    lr_touched: float = 0.02  # unlearn_lr_touched
    lr_rest: float = 1e-4  # unlearn_lr_rest
    lr_unit: str = "absolute"  # unlearn_lr_unit
    revoked_steps: int = 0  # unlearn_revoked_steps
    refresh_every: int = 0  # unlearn_refresh_every
    refresh_epochs: int = 1  # unlearn_refresh_epochs
    gold: bool = False  # unlearn_gold
    gold_seeds: int = 1  # unlearn_gold_seeds

    @classmethod
    def from_config(cls, config) -> "UnlearnSettings":
        """The settings a config holds; :class:`InputError` naming the first bad key."""
        return cls(
            forget_loss=_one_of(config, "unlearn_forget_loss", FORGET_LOSS_FORMS),
            hinge_target=_one_of(config, "unlearn_hinge_target", tuple(TARGET_FUNCTIONS)),
            neg_sampling=_one_of(config, "unlearn_neg_sampling", NEGATIVE_SAMPLING),
            forget_weight=_number(config, "forget_weight"),
            retain_weight=_number(config, "retain_weight"),
            anchor_weight=_number(config, "unlearn_anchor_weight"),
            passes=_count(config, "unlearn_passes", minimum=1),
            settle_passes=_count(config, "unlearn_settle_passes", minimum=0),
            batch_size=_count(config, "unlearn_batch_size", minimum=1),
            steps_per_pass=_count(config, "unlearn_steps_per_pass", minimum=0),
            lr_touched=_number(config, "unlearn_lr_touched"),
            lr_rest=_number(config, "unlearn_lr_rest"),
            lr_unit=_one_of(config, "unlearn_lr_unit", LR_UNITS),
            revoked_steps=_count(config, "unlearn_revoked_steps", minimum=0),
            refresh_every=_count(config, "unlearn_refresh_every", minimum=0),
            refresh_epochs=_count(config, "unlearn_refresh_epochs", minimum=1),
            gold=bool(config["unlearn_gold"]),
            gold_seeds=_count(config, "unlearn_gold_seeds", minimum=1),
        )

    def step_pairs(self, n_forget) -> int:
        """Forgotten pairs per step for a forget set of ``n_forget`` pairs: ``batch_size``, or more where a pass would
        otherwise take over ``steps_per_pass`` steps, :math:`\\max(b, \\lceil n / k \\rceil)`. A step costs a
        propagation of the graph whatever its batch, so capping the steps keeps a large request's pass at the cost of
        a small one's."""
        if not self.steps_per_pass:
            return self.batch_size
        return max(self.batch_size, -(-n_forget // self.steps_per_pass))

    def touched_rate(self, table, calibrated=None) -> float:
        """Learning rate of an embedding table's touched rows: ``lr_touched`` (``unlearn_lr_unit: absolute``), or the
        share the probe measured on the model (``calibrated``, :mod:`~recbole_unlearn.unlearn.calibration`) of the
        table's root-mean-square entry, :math:`\\eta \\sqrt{\\operatorname{mean}(E^2)}`. Adam moves each entry by about
        its rate per step, so a rate relative to the table's scale moves every model's rows by the same share, whatever
        its embeddings' norm (RecBole's NGCF trains entries ten times smaller than LightGCN's)."""
        if self.lr_unit == "absolute":
            return self.lr_touched
        if calibrated is None:
            raise InputError("unlearn_lr_unit 'calibrated' measures the rate on an interaction request's forgotten "
                             "pairs: use absolute here")
        return calibrated * table_rms(table)

    def refresh_due(self, request_index) -> bool:
        """Whether request number ``request_index`` of a stream ends with the retain-set refresh."""
        return self.refresh_every > 0 and request_index % self.refresh_every == 0


def _one_of(config, key, allowed):
    if config[key] not in allowed:
        raise InputError(f"{key} '{config[key]}' is not one of {', '.join(allowed)}")
    return config[key]


def _number(config, key) -> float:
    value = config[key]
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"{key} must be a number, got {value!r}")
    return float(value)


def _count(config, key, minimum) -> int:
    value = config[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        what = "a positive integer" if minimum else "0 (off) or a positive integer"
        raise InputError(f"{key} must be {what}, got {value!r}")
    return value
