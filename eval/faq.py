"""Task 1, FAQ retrieval: rank KB entries for labelled buyer questions.

Metrics per system: Hit@1, Hit@3, MRR@10, nDCG@10 of the gold entry, and coverage at precision
≥ ``precision_target`` (answer the query when the top suggestion's confidence clears a threshold;
the largest share of queries answerable while ≥ 90 % of the answers are right), with the curve.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from .datasets import FaqDataset
from .metrics import (
    coverage_at_precision,
    coverage_precision_curve,
    hit_at_k,
    latency_summary,
    mrr_at_k,
    ndcg_at_k,
    rank_of,
)
from .results import Progress, SystemResult, TaskResult, no_progress
from .systems import Ranker

__all__ = ["evaluate_ranker", "run_faq", "FAQ_HEADLINE", "curve_points"]

FAQ_HEADLINE = [("hit@1", "Hit@1"), ("hit@3", "Hit@3"), ("mrr@10", "MRR@10"), ("ndcg@10", "nDCG@10"),
                ("coverage@p0.9", "coverage @ P≥0.9")]
K = 10


def curve_points(confidence: Sequence[float], correct: Sequence[bool], max_points: int = 200) -> list[dict]:
    """The coverage–precision curve, thinned to at most ``max_points`` for metrics.json."""
    curve = coverage_precision_curve(confidence, correct)
    step = max(1, len(curve) // max_points)
    kept = curve[::step]
    if curve and kept[-1] != curve[-1]:
        kept.append(curve[-1])
    return [{"threshold": round(p.threshold, 6), "coverage": round(p.coverage, 6),
             "precision": round(p.precision, 6)} for p in kept]


def evaluate_ranker(label: str, kind: str, ranker: Ranker, data: FaqDataset, *, precision_target: float = 0.9,
                    progress: Progress = no_progress) -> tuple[SystemResult, list[dict]]:
    """Fit ``ranker`` on the dataset's entries, rank every query, score the rankings."""
    t0 = time.perf_counter()
    ranker.fit(data.entries)
    fit_seconds = time.perf_counter() - t0
    ranks, confidence, correct, latencies, predictions = [], [], [], [], []
    t1 = time.perf_counter()
    for q in progress(data.queries, label, len(data.queries)):
        start = time.perf_counter()
        ranked = ranker.rank(q.text, K)
        latencies.append((time.perf_counter() - start) * 1000)
        ids = [i for i, _ in ranked]
        r = rank_of(q.gold_entry_id, ids)
        ranks.append(r)
        confidence.append(ranked[0][1] if ranked else float("-inf"))
        correct.append(r == 1)
        predictions.append({"system": label, "query": q.text, "gold": q.gold_entry_id, "rank": r,
                            "top": [[i, round(s, 6)] for i, s in ranked[:3]]})
    run_seconds = time.perf_counter() - t1
    coverage, threshold = coverage_at_precision(confidence, correct, precision_target)
    metrics = {"hit@1": hit_at_k(ranks, 1), "hit@3": hit_at_k(ranks, 3), "hit@10": hit_at_k(ranks, 10),
               "mrr@10": mrr_at_k(ranks, K), "ndcg@10": ndcg_at_k(ranks, K),
               f"coverage@p{precision_target:g}": coverage, "queries": len(ranks)}
    details = {"threshold_at_target_precision": threshold, "precision_target": precision_target,
               "curve": curve_points(confidence, correct), "latency": latency_summary(latencies)}
    points = getattr(ranker, "operating_points", lambda: {})()
    for name, t in points.items():
        answered = [ok for c, ok in zip(confidence, correct) if c >= t]
        details[f"at_{name}"] = {"threshold": t, "coverage": len(answered) / len(correct) if correct else 0.0,
                                 "precision": sum(answered) / len(answered) if answered else None}
    if "suggest_threshold" in points:
        metrics["answered@suggest_threshold"] = details["at_suggest_threshold"]["coverage"]
        metrics["precision@suggest_threshold"] = details["at_suggest_threshold"]["precision"] or 0.0
    result = SystemResult(label=label, kind=kind, config=ranker.config(), metrics=metrics, details=details,
                          latencies_ms=latencies, fit_seconds=fit_seconds, run_seconds=run_seconds,
                          plots={"confidence": confidence, "correct": correct})
    return result, predictions


def run_faq(data: FaqDataset, systems: Sequence[tuple[str, str, Ranker]], *, precision_target: float = 0.9,
            progress: Progress = no_progress, title: str = "FAQ retrieval") -> TaskResult:
    results, predictions = [], []
    for label, kind, ranker in systems:
        result, preds = evaluate_ranker(label, kind, ranker, data, precision_target=precision_target,
                                        progress=progress)
        results.append(result)
        predictions.extend(preds)
    headline = [(k.replace("p0.9", f"p{precision_target:g}"), t.replace("0.9", f"{precision_target:g}"))
                for k, t in FAQ_HEADLINE]
    return TaskResult(task="faq", title=title, dataset=dict(data.stats), systems=results, headline=headline,
                      predictions=predictions)
