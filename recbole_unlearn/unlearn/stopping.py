"""Gold-free stopping rules, checked after every pass over the forget set. None of them looks at a gold model.

- ``budget``: stop after ``unlearn_passes`` passes (always in force, as the cap);
- ``mia_auc``: stop once the AUC with which the model's scores separate the forgotten training interactions from the
  same users' held-out *validation* interactions falls to ``unlearn_stop_auc`` (0.5: indistinguishable);
- ``hinge``: stop once the share of forgotten scores above their hinge target (:mod:`~recbole_unlearn.unlearn.targets`)
  falls to ``unlearn_stop_share`` (0: none is left, the hinge loss is zero).

The audit uses *test* interactions for its own membership test, so the stop never sees what it is judged on.
"""

STOP_RULES = ("budget", "mia_auc", "hinge")


def first_rule_fired(rules, forget_vs_valid_auc, above_target_share, auc_target, share_target=0.0):
    """The first rule (other than the budget) whose condition holds now, with the value it saw, or ``(None, None)``."""
    for rule in rules:
        if rule == "mia_auc" and forget_vs_valid_auc <= auc_target:
            return rule, forget_vs_valid_auc
        if rule == "hinge" and above_target_share <= share_target:
            return rule, above_target_share
    return None, None
