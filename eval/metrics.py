"""Metric functions: pure, on plain Python/numpy inputs, each checked against hand-computed values.

Conventions: a *rank* is 1-based, ``None`` when the gold item is not among the returned ones; every
score is "higher is better"; rates are in [0, 1] except BLEU and Spearman, which are reported × 100
as in sacrebleu and C-MTEB.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np

__all__ = [
    "CurvePoint",
    "rank_of",
    "hit_at_k",
    "mrr_at_k",
    "ndcg_at_k",
    "coverage_precision_curve",
    "coverage_at_precision",
    "sentence_bleu",
    "char_f",
    "rouge_l",
    "spearman_x100",
    "best_threshold_accuracy",
    "roc_auc",
    "classification_metrics",
    "confusion_top",
    "latency_summary",
]


# ---------------------------------------------------------------- ranking


def rank_of(gold: str, ranked: Sequence[str]) -> int | None:
    """1-based position of ``gold`` in ``ranked``, or None if absent."""
    for i, item in enumerate(ranked, start=1):
        if item == gold:
            return i
    return None


def hit_at_k(ranks: Sequence[int | None], k: int) -> float:
    """Share of queries whose gold is within the first ``k`` results."""
    if not ranks:
        return 0.0
    return sum(1 for r in ranks if r is not None and r <= k) / len(ranks)


def mrr_at_k(ranks: Sequence[int | None], k: int) -> float:
    """Mean of 1/rank, counting 0 for a gold ranked below ``k`` or not returned."""
    if not ranks:
        return 0.0
    return sum(1.0 / r for r in ranks if r is not None and r <= k) / len(ranks)


def ndcg_at_k(ranks: Sequence[int | None], k: int) -> float:
    """nDCG@k with one relevant item per query: 1/log2(rank + 1) within ``k``, else 0 (ideal DCG = 1)."""
    if not ranks:
        return 0.0
    return sum(1.0 / math.log2(r + 1) for r in ranks if r is not None and r <= k) / len(ranks)


@dataclass(frozen=True)
class CurvePoint:
    threshold: float  # answer when confidence >= threshold
    coverage: float  # share of all queries answered
    precision: float  # share of answered queries answered right


def coverage_precision_curve(confidence: Sequence[float], correct: Sequence[bool]) -> list[CurvePoint]:
    """Coverage and precision of "answer only when confidence ≥ t", for every distinct t.

    Points run from the highest threshold (fewest answers) to the lowest (all answered). Queries
    with equal confidence are answered together: a threshold cannot split a tie.
    """
    conf = np.asarray(confidence, dtype=np.float64)
    ok = np.asarray(correct, dtype=bool)
    n = len(conf)
    if n == 0:
        return []
    order = np.argsort(-conf, kind="stable")
    conf, ok = conf[order], ok[order]
    right = np.cumsum(ok)
    points = []
    for i in range(n):
        if i + 1 < n and conf[i + 1] == conf[i]:
            continue  # the last query of a run of ties closes the step
        answered = i + 1
        points.append(CurvePoint(float(conf[i]), answered / n, float(right[i]) / answered))
    return points


def coverage_at_precision(confidence: Sequence[float], correct: Sequence[bool],
                          target: float = 0.9) -> tuple[float, float | None]:
    """Largest coverage whose precision is ≥ ``target``, and the threshold giving it.

    (0.0, None) when no threshold reaches the target precision.
    """
    best: tuple[float, float | None] = (0.0, None)
    for p in coverage_precision_curve(confidence, correct):
        if p.precision >= target - 1e-12 and p.coverage > best[0]:
            best = (p.coverage, p.threshold)
    return best


# ---------------------------------------------------------------- reply text


@cache
def _bleu():
    from sacrebleu.metrics import BLEU

    # sacrebleu's sentence-level defaults (exponential smoothing, effective n-gram order) with its
    # Chinese tokenizer: every CJK character is a token, other runs are split as in 13a.
    return BLEU(tokenize="zh", effective_order=True)


def sentence_bleu(hypothesis: str, reference: str) -> float:
    """Sentence BLEU-4 (0–100) of one hypothesis against one reference, sacrebleu ``zh`` tokens."""
    return float(_bleu().sentence_score(hypothesis, [reference]).score)


def _chars(text: str) -> list[str]:
    return [c for c in text if not c.isspace()]


def char_f(hypothesis: str, reference: str) -> float:
    """Character-level F1 (0–1): overlap of the two multisets of non-space characters."""
    h, r = Counter(_chars(hypothesis)), Counter(_chars(reference))
    overlap = sum((h & r).values())
    if overlap == 0:
        return 0.0
    precision = overlap / sum(h.values())
    recall = overlap / sum(r.values())
    return 2 * precision * recall / (precision + recall)


def _lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    if not a or not b:
        return 0
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b, start=1):
            cur.append(prev[j - 1] + 1 if x == y else max(prev[j], cur[j - 1]))
        prev = cur
    return prev[-1]


def rouge_l(hypothesis: str, reference: str) -> float:
    """ROUGE-L F1 (0–1) over non-space characters: 2·P·R/(P+R) with P, R = LCS / lengths."""
    h, r = _chars(hypothesis), _chars(reference)
    lcs = _lcs_length(h, r)
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(h), lcs / len(r)
    return 2 * precision * recall / (precision + recall)


# ---------------------------------------------------------------- pair scores


def spearman_x100(scores: Sequence[float], labels: Sequence[int]) -> float:
    """Spearman's rank correlation × 100 of similarity scores against 0/1 labels (C-MTEB STS)."""
    from scipy.stats import spearmanr

    return float(spearmanr(scores, labels).statistic) * 100


def best_threshold_accuracy(scores: Sequence[float], labels: Sequence[int]) -> tuple[float, float]:
    """Best accuracy of "same question iff score ≥ t" over every t, and that t.

    t runs over every distinct score (and +inf, i.e. all negative); a tie is never split.
    """
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)
    n = len(s)
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    positives_above = np.cumsum(y)  # predicted positive = the first i+1 items
    negatives_total = n - int(y.sum())
    best_acc, best_t = negatives_total / n, float("inf")
    for i in range(n):
        if i + 1 < n and s[i + 1] == s[i]:
            continue
        tp = int(positives_above[i])
        fp = (i + 1) - tp
        acc = (tp + negatives_total - fp) / n
        if acc > best_acc:
            best_acc, best_t = acc, float(s[i])
    return best_acc, best_t


def roc_auc(scores: Sequence[float], labels: Sequence[int]) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(labels, scores))


# ---------------------------------------------------------------- classification


def classification_metrics(y_true: Sequence[str], y_pred: Sequence[str]) -> dict:
    """Accuracy, macro-F1 (sklearn: over every label seen in truth or prediction) and a per-class
    report ``{label: {precision, recall, f1, support}}`` over the true labels."""
    from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support

    labels = sorted(set(y_true))
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, average="macro", zero_division=0)),
        "per_class": {lab: {"precision": float(pi), "recall": float(ri), "f1": float(fi), "support": int(si)}
                      for lab, pi, ri, fi, si in zip(labels, p, r, f, s)},
    }


def confusion_top(y_true: Sequence[str], y_pred: Sequence[str], n: int = 20) -> dict:
    """Confusion matrix of the ``n`` most frequent true classes (ties by name).

    Rows are true classes, columns the same classes plus "其他" (other) for predictions outside them;
    ``matrix[i][j]`` counts items of class i predicted as j.
    """
    counts = Counter(y_true)
    top = [c for c, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]]
    col = {c: i for i, c in enumerate(top)}
    matrix = [[0] * (len(top) + 1) for _ in top]
    for t, p in zip(y_true, y_pred):
        if t in col:
            matrix[col[t]][col.get(p, len(top))] += 1
    return {"labels": top, "columns": [*top, "其他"], "matrix": matrix}


def latency_summary(ms: Sequence[float]) -> dict[str, float]:
    """p50 / p90 / p99 / mean / max of per-query latencies in milliseconds."""
    if not len(ms):
        return {}
    a = np.asarray(ms, dtype=np.float64)
    return {"p50_ms": float(np.percentile(a, 50)), "p90_ms": float(np.percentile(a, 90)),
            "p99_ms": float(np.percentile(a, 99)), "mean_ms": float(a.mean()), "max_ms": float(a.max())}
