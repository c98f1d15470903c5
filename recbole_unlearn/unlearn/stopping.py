"""Gold-free stopping rules, checked after every pass over the forget set. None of them looks at a gold model.

- ``budget``: stop after ``unlearn_epochs`` passes (always in force, as the cap);
- ``mia_auc``: stop once the AUC with which the model's scores separate the forgotten training interactions from the
  same users' held-out *validation* interactions falls to ``unlearn_stop_auc`` (0.5: indistinguishable);
- ``hinge``: stop once no forgotten score lies above its user's held-out level (the hinge loss is zero).

The audit uses *test* interactions for its own membership test, so the stop never sees what it is judged on.
"""

from recbole_unlearn.errors import UnlearnError

STOP_RULES = ("budget", "mia_auc", "hinge")


def parse_stop_rules(value):
    rules = [value] if isinstance(value, str) else list(value or ["budget"])
    unknown = [r for r in rules if r not in STOP_RULES]
    if unknown:
        raise UnlearnError(f"unlearn_stop: unknown rule {', '.join(unknown)} (known: {', '.join(STOP_RULES)})")
    return rules


def first_rule_fired(rules, forget_vs_valid_auc, above_level_share, auc_target):
    """The first rule (other than the budget) whose condition holds now, with the value it saw, or ``(None, None)``."""
    for rule in rules:
        if rule == "mia_auc" and forget_vs_valid_auc <= auc_target:
            return rule, forget_vs_valid_auc
        if rule == "hinge" and above_level_share == 0.0:
            return rule, above_level_share
    return None, None
