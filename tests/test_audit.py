"""The audit's own metrics agree with RecBole's evaluator, and its AUC with the textbook definition."""

import numpy as np
import pytest

from recbole_unlearn.audit.ranking import ranking_metrics
from recbole_unlearn.audit.report import stopping_words
from recbole_unlearn.data.pairs import concat_pairs, pairs
from recbole_unlearn.quick_start import load_run
from recbole_unlearn.scoring import auc


def test_ranking_metrics_match_recboles_full_sort_evaluation(fast_config):
    config, (train, valid, test), model, trainer = load_run("LightGCN", "tiny", config_dict=fast_config, argv=[])
    trainer.fit(train, valid, saved=False)
    recbole = trainer.evaluate(test, load_best_model=False)
    ours = ranking_metrics(model, pairs(test._dataset), concat_pairs(train._dataset, valid._dataset), ks=(10, 20))
    for key in ("recall@10", "recall@20", "ndcg@10", "ndcg@20"):
        assert ours[key] == pytest.approx(recbole[key], abs=1e-4)


def test_auc_counts_ties_as_half_and_matches_pairwise_definition():
    rng = np.random.default_rng(0)
    pos, neg = rng.integers(0, 5, 40).astype(float), rng.integers(0, 5, 30).astype(float)
    pairwise = np.mean([(p > n) + 0.5 * (p == n) for p in pos for n in neg])
    assert auc(pos, neg) == pytest.approx(pairwise)
    assert auc([1.0, 2.0], [0.0]) == 1.0 and auc([0.0], [1.0, 2.0]) == 0.0


def test_stopping_words_name_the_rule_the_passes_the_settle_passes_and_the_rates():
    assert stopping_words({"rule": "budget", "passes": 10, "settle_passes": 1}) == (
        "stopped by `budget` after pass 10, then 1 settle pass")
    assert stopping_words({"rule": "budget", "passes": 3, "settle_passes": 0}) == "stopped by `budget` after pass 3"
    rates = {"user": [0.0225], "item": [0.0225, 0.003]}
    assert stopping_words({"rule": "budget", "passes": 3, "settle_passes": 0, "touched_rates": rates}) == (
        "stopped by `budget` after pass 3 (touched rows' rate: user 0.0225; item 0.0225, 0.003)")
    assert stopping_words({"rule": "early_stopping", "passes": None}) == "retrained from scratch to early stopping"
