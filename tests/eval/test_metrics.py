"""Metric functions against values computed by hand on tiny inputs."""

from __future__ import annotations

import math

import pytest

from eval.metrics import (
    CurvePoint,
    best_threshold_accuracy,
    char_f,
    classification_metrics,
    confusion_top,
    coverage_at_precision,
    coverage_precision_curve,
    hit_at_k,
    latency_summary,
    mrr_at_k,
    ndcg_at_k,
    rank_of,
    roc_auc,
    rouge_l,
    sentence_bleu,
    spearman_x100,
)

RANKS = [1, 3, None, 2]  # four queries: gold first, third, missing, second


def test_rank_of():
    assert rank_of("b", ["a", "b", "c"]) == 2
    assert rank_of("z", ["a", "b"]) is None


def test_hit_mrr_ndcg_worked_example():
    assert hit_at_k(RANKS, 1) == 0.25
    assert hit_at_k(RANKS, 3) == 0.75
    # MRR@10 = (1 + 1/3 + 0 + 1/2) / 4
    assert mrr_at_k(RANKS, 10) == pytest.approx((1 + 1 / 3 + 0.5) / 4)
    assert mrr_at_k(RANKS, 2) == pytest.approx((1 + 0.5) / 4)  # rank 3 falls outside k = 2
    # nDCG@10 with one relevant item: 1/log2(rank+1) → 1, 0.5, 0, 0.6309
    assert ndcg_at_k(RANKS, 10) == pytest.approx((1 + 0.5 + 1 / math.log2(3)) / 4)
    assert ndcg_at_k(RANKS, 10) == pytest.approx(0.532732, abs=1e-6)
    assert hit_at_k([], 1) == mrr_at_k([], 10) == ndcg_at_k([], 10) == 0.0


def test_coverage_precision_curve_keeps_ties_together():
    conf = [0.9, 0.8, 0.8, 0.5]
    correct = [True, True, False, True]
    assert coverage_precision_curve(conf, correct) == [
        CurvePoint(0.9, 0.25, 1.0),
        CurvePoint(0.8, 0.75, 2 / 3),  # the two 0.8s are answered together
        CurvePoint(0.5, 1.0, 0.75),
    ]
    assert coverage_at_precision(conf, correct, 0.9) == (0.25, 0.9)
    assert coverage_at_precision(conf, correct, 0.7) == (1.0, 0.5)
    assert coverage_at_precision([0.3, 0.2], [False, True], 0.9) == (0.0, None)
    assert coverage_precision_curve([], []) == []


def test_sentence_bleu_sacrebleu_zh():
    assert sentence_bleu("好的", "好的") == pytest.approx(100.0)
    assert sentence_bleu("", "好的") == 0.0
    # sacrebleu 2.x, tokenize="zh", exp smoothing, effective order: 84.6/75.0/63.6/50.0, BP 0.857
    assert sentence_bleu("请问还有什么可以帮到您的吗", "请问还有其他还可以帮到您的吗?") == pytest.approx(57.48, abs=0.01)


def test_char_f_and_rouge_l():
    assert char_f("好的谢谢", "好的") == pytest.approx(2 / 3)  # overlap 2: P 2/4, R 2/2
    assert char_f("好 的", "好的") == 1.0  # spaces are not characters of the reply
    assert char_f("", "好的") == 0.0
    # LCS(我想退货, 我要退货了) = 我退货 = 3: P 3/4, R 3/5
    assert rouge_l("我想退货", "我要退货了") == pytest.approx(2 * 0.75 * 0.6 / 1.35)
    assert rouge_l("abc", "xyz") == 0.0


def test_pair_metrics():
    scores = [0.1, 0.4, 0.35, 0.8]
    labels = [0, 0, 1, 1]
    # score ranks 1,3,2,4 vs label ranks 1.5,1.5,3.5,3.5 → ρ = 2 / (2·√5)
    assert spearman_x100(scores, labels) == pytest.approx(100 / math.sqrt(5))
    # "same iff score ≥ 0.8" gets 3 of 4 right; no threshold does better
    assert best_threshold_accuracy(scores, labels) == (0.75, 0.8)
    assert best_threshold_accuracy([0.5, 0.5], [1, 0]) == (0.5, math.inf)  # a tie is never split
    assert roc_auc(scores, labels) == 0.75  # 3 of the 4 (positive, negative) pairs are ordered right


def test_classification_and_confusion():
    y_true, y_pred = ["a", "a", "b", "c"], ["a", "b", "b", "a"]
    m = classification_metrics(y_true, y_pred)
    assert m["accuracy"] == 0.5
    assert m["macro_f1"] == pytest.approx((0.5 + 2 / 3 + 0) / 3)
    assert m["per_class"]["b"] == {"precision": 0.5, "recall": 1.0, "f1": pytest.approx(2 / 3), "support": 1}
    assert confusion_top(y_true, y_pred, n=2) == {
        "labels": ["a", "b"], "columns": ["a", "b", "其他"], "matrix": [[1, 1, 0], [0, 1, 0]]}


def test_latency_summary():
    s = latency_summary([1.0, 2.0, 3.0, 4.0])
    assert s["p50_ms"] == 2.5 and s["max_ms"] == 4.0 and s["mean_ms"] == 2.5
    assert latency_summary([]) == {}
