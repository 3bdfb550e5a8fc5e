"""Task 6, replay: labelled buyer questions streamed in order through the service, with a simulated agent.

The same knowledge base serves two shops of the real service, in process: one **learning** (learned
examples on, auto-approved, reloaded at once) and one **cold** (learning off, no feedback). Every query
goes, in stream order, through what ``POST …/suggestions`` does (``Runtime.suggest``: the shop's
thresholds, ``top_k`` 3, the request recorded so feedback can name it) and through the full ranking
(``min_confidence`` 0, as the FAQ task scores it). On the learning shop the simulated agent then answers
the way the agent console does, through ``Runtime.record_feedback``: ``accepted`` (with its rank) when
the gold entry is among the suggestions shown, otherwise ``edited`` with the gold entry picked by hand.
Either way the buyer's message becomes an approved learned example of the gold entry, which the next
query already sees.

Scores are those of the FAQ task (Hit@1, Hit@3, MRR@10, coverage at precision ≥ 0.9) per window of
consecutive queries (the learning curve), cumulatively, over the whole stream and over its second half,
learning against cold on the very same queries.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from knowledge_base.derived import ranker_weight_files
from knowledge_base.schema import FaqEntry
from service.pipeline import SuggestRequest

from .datasets import FaqDataset, FaqQuery
from .errors import DatasetError
from .faq import curve_points
from .metrics import coverage_at_precision, hit_at_k, latency_summary, mrr_at_k, rank_of
from .results import Progress, SystemResult, TaskResult, no_progress
from .systems import EvalPipeline, PipelineRanker, Resources, SystemSpec

__all__ = ["Step", "REPLAY_HEADLINE", "SHOWN", "replay_stream", "window_size", "window_bounds", "span_metrics",
           "learning_curve", "second_half", "replay_summary", "ReplayShop", "run_replay"]

K = 10  # ranks scored, as in the FAQ task
SHOWN = 3  # suggestions the agent UI asks for (the suggestion route's default top_k)
DEFAULT_WINDOWS = 10
AGENT_ID = "eval-replay"
MODES = ("cold", "learning")

REPLAY_HEADLINE = [("hit@1", "Hit@1"), ("hit@3", "Hit@3"), ("coverage@p0.9", "coverage @ P≥0.9"),
                   ("second_half/hit@1", "2nd half Hit@1"), ("second_half/hit@3", "2nd half Hit@3"),
                   ("second_half/coverage@p0.9", "2nd half coverage"),
                   ("gain_points/second_half/hit@1", "2nd half Δ Hit@1 (points)")]


# ---------------------------------------------------------------- pure: order, windows, scores


@dataclass(frozen=True)
class Step:
    """One query of the stream as one shop answered it."""

    rank: int | None  # of the gold in the full ranking (1-based; None: not in the top K)
    confidence: float  # of the top answer (-inf when nothing was ranked)
    shown: bool  # the gold was among the suggestions the agent was shown
    learned: int = 0  # approved learned examples of the shop after this query's feedback


def replay_stream(queries: Sequence[FaqQuery], shuffle: int | None = None) -> list[FaqQuery]:
    """The queries in the order their file holds them (``position``; queries without one keep their
    place after those with one), or shuffled with the seed ``shuffle``."""
    ordered = [q for _, q in sorted(enumerate(queries), key=lambda iq: (iq[1].position is None,
                                                                      iq[1].position or 0, iq[0]))]
    if shuffle is not None:
        random.Random(shuffle).shuffle(ordered)
    return ordered


def window_size(n: int, window: int | None = None) -> int:
    """``window`` queries per window, or by default the size that cuts ``n`` queries into ten windows."""
    if window is not None:
        if window < 1:
            raise ValueError("a window holds at least one query")
        return window
    return max(1, math.ceil(n / DEFAULT_WINDOWS))


def window_bounds(n: int, size: int) -> list[tuple[int, int]]:
    """[start, end) of consecutive windows of ``size`` queries over ``n`` (the last may be shorter)."""
    return [(start, min(start + size, n)) for start in range(0, n, size)]


def second_half(n: int) -> tuple[int, int]:
    """[start, end) of the stream's second half (the later ceil(n/2) queries)."""
    return n // 2, n


def span_metrics(steps: Sequence[Step], precision_target: float = 0.9) -> dict[str, float]:
    """The FAQ task's scores over ``steps``, plus the share of queries whose gold the agent was shown."""
    ranks = [s.rank for s in steps]
    confidence = [s.confidence for s in steps]
    coverage, _ = coverage_at_precision(confidence, [r == 1 for r in ranks], precision_target)
    n = len(steps)
    return {"hit@1": hit_at_k(ranks, 1), "hit@3": hit_at_k(ranks, 3), "mrr@10": mrr_at_k(ranks, K),
            f"coverage@p{precision_target:g}": coverage, "shown": sum(s.shown for s in steps) / n if n else 0.0,
            "queries": n}


def learning_curve(steps: Sequence[Step], size: int, precision_target: float = 0.9
                   ) -> tuple[list[dict], list[dict]]:
    """Per window of ``size`` consecutive queries, and cumulatively up to each window's end: the scores
    of :func:`span_metrics`, the window's 1-based first and last query, and the learned examples the
    shop held when the window ended."""
    windows, cumulative = [], []
    for start, end in window_bounds(len(steps), size):
        where = {"first": start + 1, "last": end, "learned": steps[end - 1].learned}
        windows.append({**where, **span_metrics(steps[start:end], precision_target)})
        cumulative.append({**where, **span_metrics(steps[:end], precision_target)})
    return windows, cumulative


def replay_summary(learning: Sequence[Step], cold: Sequence[Step], precision_target: float = 0.9) -> dict:
    """The second half of the stream, learning vs cold on the same queries, and the gain in points."""
    if len(learning) != len(cold):
        raise ValueError("learning and cold must answer the same stream")
    start, end = second_half(len(learning))
    out = {"first": start + 1, "last": end, "learning": span_metrics(learning[start:end], precision_target),
           "cold": span_metrics(cold[start:end], precision_target)}
    out["gain_points"] = {k: round(100 * (v - out["cold"][k]), 6) for k, v in out["learning"].items()
                          if k != "queries"}
    return out


# ---------------------------------------------------------------- the service in process


class ReplayShop:
    """A shop of the replay: the knowledge base imported like an upload into its own scratch store, each
    query asked the way the agent UI asks, and (``learning``) the simulated agent's feedback."""

    def __init__(self, served: EvalPipeline, entries: Sequence[FaqEntry], *, learning: bool) -> None:
        self.ranker = PipelineRanker(served).fit(entries)
        self.served = served
        self.shop = self.ranker.shop_
        self.learning = learning
        self.answers = {e.id: e.answer for e in entries}
        if learning:
            served.learning.set_auto_approve(self.shop, True)  # what the shop settings route sets
        self.learned_ids: set[str] = set()
        # "reload": the part of "suggest" spent loading the shop again (and refitting its ranker)
        self.seconds = {"suggest": 0.0, "reload": 0.0, "ranking": 0.0, "feedback": 0.0}
        self.actions = {"accepted": 0, "edited": 0}
        self.latencies_ms: list[float] = []

    def ask(self, query: FaqQuery) -> tuple[Step, dict]:
        """One buyer message: suggestions shown, the full ranking scored, then the agent's feedback."""
        t0 = time.perf_counter()
        request_id, result = self.served.log.suggest(SuggestRequest(self.shop, query.text, top_k=SHOWN))
        t1 = time.perf_counter()
        suggestions = self.ranker.suggest(query.text, K)  # the full ranking, as PipelineRanker.rank scores it
        ranked = [(s.entry_id, float(s.confidence)) for s in suggestions]
        t2 = time.perf_counter()
        self.latencies_ms.append((t1 - t0) * 1000)
        self.seconds["suggest"] += t1 - t0
        self.seconds["ranking"] += t2 - t1
        self.seconds["reload"] += result.timings_ms.get("load", 0.0) / 1000
        shown = [s.entry_id for s in result.suggestions]
        gold = query.gold_entry_id
        action = None
        if self.learning:
            if gold in shown:
                action = "accepted"
                feedback = {"suggestion_rank": shown.index(gold) + 1,
                            "final_text": result.suggestions[shown.index(gold)].answer}
            else:  # the agent looks the right entry up and sends its answer
                action = "edited"
                feedback = {"final_text": self.answers.get(gold)}
            _, example = self.served.log.record_feedback(self.shop, request_id=request_id, action=action,
                                                      entry_id=gold, agent_id=AGENT_ID, **feedback)
            if example is not None and example.status == "approved":
                self.learned_ids.add(example.id)
            self.actions[action] += 1
            self.seconds["feedback"] += time.perf_counter() - t2
        ids = [i for i, _ in ranked]
        step = Step(rank=rank_of(gold, ids), confidence=ranked[0][1] if ranked else float("-inf"),
                    shown=gold in shown, learned=len(self.learned_ids))
        prediction = {"query": query.text, "gold": gold, "position": query.position, "rank": step.rank,
                      "top": [[i, round(c, 6)] for i, c in ranked[:3]],
                      # the phrasing that put the top answer there: a learned example or the merchant's own
                      "matched": suggestions[0].matched_question if suggestions else None,
                      "shown": shown, "action": action, "learned": step.learned}
        return step, prediction

    def ranker_fits(self) -> int:
        """Ranker weight files the shop's loads wrote (one per fit: at import, then per bucket of learned
        examples, ``knowledge_base/derived.py``)."""
        shop = Path(self.served.settings.index_dir) / self.shop
        return sum(len(ranker_weight_files(folder)) for folder in shop.iterdir() if folder.is_dir())


def _mode_options(spec: SystemSpec, mode: str) -> dict:
    if mode == "cold":
        return {**spec.options, "learning": False, "analytics": True}
    # Reload at once, in the request: the next buyer message sees every confirmation (the service's
    # default waits up to learning_refresh_seconds and rebuilds in the background, which a replay
    # compressed into minutes would turn into "never").
    return {"learning_refresh_seconds": 0, "reload_in_background": False, **spec.options, "learning": True,
            "analytics": True}


@dataclass
class _Pass:
    """One shop's pass over the stream."""

    result: SystemResult
    steps: list[Step]
    shop: ReplayShop


def _replay_pass(spec: SystemSpec, mode: str, data: FaqDataset, stream: Sequence[FaqQuery], resources: Resources,
                 progress: Progress, predictions: list[dict]) -> _Pass:
    label = f"{spec.label}/{mode}"
    t0 = time.perf_counter()
    shop = ReplayShop(resources.pipeline(_mode_options(spec, mode)), data.entries, learning=mode == "learning")
    fit_seconds = time.perf_counter() - t0
    t1 = time.perf_counter()
    steps = []
    for i, q in enumerate(progress(stream, label, len(stream)), start=1):
        step, prediction = shop.ask(q)
        steps.append(step)
        predictions.append({"system": label, "mode": mode, "step": i, **prediction})
    run_seconds = time.perf_counter() - t1
    shop.served.close()  # the analytics writer's thread; the shop's files go with the run's scratch folder
    result = SystemResult(label=label, kind="system", config={**shop.ranker.config(), "mode": mode}, metrics={},
                          latencies_ms=shop.latencies_ms, fit_seconds=fit_seconds, run_seconds=run_seconds)
    return _Pass(result, steps, shop)


def _score(run: _Pass, mode: str, summary: dict, size: int, precision_target: float) -> None:
    steps, shop, result = run.steps, run.shop, run.result
    windows, cumulative = learning_curve(steps, size, precision_target)
    result.metrics = {**span_metrics(steps, precision_target),
                      **{f"second_half/{k}": v for k, v in summary[mode].items()}}
    if mode == "learning":
        result.metrics.update({f"gain_points/second_half/{k}": v for k, v in summary["gain_points"].items()})
        result.metrics["learned_examples"] = steps[-1].learned
    confidence = [x.confidence for x in steps]
    correct = [x.rank == 1 for x in steps]
    _, threshold = coverage_at_precision(confidence, correct, precision_target)
    result.details = {
        "window_size": size, "windows": windows, "cumulative": cumulative,
        "second_half": {"first": summary["first"], "last": summary["last"], **summary[mode]},
        "precision_target": precision_target, "threshold_at_target_precision": threshold,
        "curve": curve_points(confidence, correct), "latency": latency_summary(shop.latencies_ms),
        "agent": dict(shop.actions) if mode == "learning" else None,
        # where the pass's time went: suggestion calls (shop reloads within them), full rankings, feedback
        "seconds": {k: round(v, 3) for k, v in shop.seconds.items()}, "ranker_fits": shop.ranker_fits()}
    result.plots = {"confidence": confidence, "correct": correct}


def _summary_note(label: str, summary: dict, precision_target: float) -> str:
    cov = f"coverage@p{precision_target:g}"
    learning, cold, gain = summary["learning"], summary["cold"], summary["gain_points"]
    return (f"{label}: second half of the stream (queries {summary['first']}–{summary['last']}): Hit@1 "
            f"{learning['hit@1']:.3f} learning vs {cold['hit@1']:.3f} cold ({gain['hit@1']:+.1f} points), Hit@3 "
            f"{learning['hit@3']:.3f} vs {cold['hit@3']:.3f} ({gain['hit@3']:+.1f}), coverage at precision ≥ "
            f"{precision_target:g} {learning[cov]:.3f} vs {cold[cov]:.3f} ({gain[cov]:+.1f}).")


def run_replay(data: FaqDataset, specs: Sequence[SystemSpec], resources: Resources, *, window: int | None = None,
               precision_target: float = 0.9, progress: Progress = no_progress) -> TaskResult:
    """Stream ``data.queries`` (already in stream order) through a cold and a learning shop per spec."""
    stream = list(data.queries)
    if not stream:
        raise DatasetError("the replay stream has no queries")
    size = window_size(len(stream), window)
    results: list[SystemResult] = []
    predictions: list[dict] = []
    notes: list[str] = []
    for spec in specs:
        runs = {mode: _replay_pass(spec, mode, data, stream, resources, progress, predictions) for mode in MODES}
        summary = replay_summary(runs["learning"].steps, runs["cold"].steps, precision_target)
        for mode, run in runs.items():
            _score(run, mode, summary, size, precision_target)
            results.append(run.result)
        notes.append(_summary_note(spec.label, summary, precision_target))
    headline = [(k.replace("p0.9", f"p{precision_target:g}"), t.replace("0.9", f"{precision_target:g}"))
                for k, t in REPLAY_HEADLINE]
    dataset = {**data.stats, "queries": len(stream), "window_size": size,
               "windows": len(window_bounds(len(stream), size)), "shown_top_k": SHOWN}
    return TaskResult(task="replay", title="Replay: learning from agents' picks", dataset=dataset, systems=results,
                      headline=headline, notes=notes, predictions=predictions)
