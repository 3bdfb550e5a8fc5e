"""Task 3, reply suggestion: suggest the agent's next reply and compare it with human replies.

The reply bank is mined from historical chats (:func:`eval.datasets.load_reply_bank`) and turned
into a knowledge base with one entry per distinct agent reply whose phrasings are the buyer turns
it answered (:func:`eval.datasets.reply_bank_entries`). Every system ranks those entries for the
buyer turn; its suggestions are the top entries' replies.

Metrics over the buyer turns that have at least one non-NULL human reply:

* ``bleu4`` — sentence BLEU-4 (0–100, sacrebleu ``zh`` tokens) of the top-1 suggestion against
  each non-NULL reference, averaged over all (turn, reference) pairs: how JD scored JDDC 2019;
* ``char_f`` / ``rouge_l`` — best over the references, for the top-1 suggestion, averaged over turns;
* ``recall@3`` — share of turns where some top-3 suggestion reaches char-F ≥ 0.5 against some reference.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from knowledge_base.schema import FaqEntry

from .datasets import ReplyTurn
from .metrics import char_f, latency_summary, rouge_l, sentence_bleu
from .results import Progress, SystemResult, TaskResult, no_progress
from .systems import Ranker

__all__ = ["run_reply", "REPLY_HEADLINE", "RECALL_CHAR_F"]

REPLY_HEADLINE = [("bleu4", "BLEU-4"), ("char_f", "char-F"), ("rouge_l", "ROUGE-L"), ("recall@3", "recall@3")]
RECALL_CHAR_F = 0.5
TOP_K = 3


def run_reply(turns: Sequence[ReplyTurn], entries: Sequence[FaqEntry],
              systems: Sequence[tuple[str, str, Ranker]], *, bank_stats: dict | None = None,
              progress: Progress = no_progress) -> TaskResult:
    scored = [t for t in turns if t.references]
    answers = {e.id: e.answer for e in entries}
    results, predictions = [], []
    for label, kind, ranker in systems:
        t0 = time.perf_counter()
        ranker.fit(entries)
        fit_s = time.perf_counter() - t0
        bleu, cf, rl, hits, conf, right, lat = [], [], [], [], [], [], []
        t1 = time.perf_counter()
        for turn in progress(scored, label, len(scored)):
            start = time.perf_counter()
            if getattr(ranker, "uses_context", False):  # the product sees the conversation so far
                ranked = ranker.rank(turn.query, TOP_K, context=turn.context)
            else:
                ranked = ranker.rank(turn.query, TOP_K)
            lat.append((time.perf_counter() - start) * 1000)
            suggestions = [answers[i] for i, _ in ranked]
            top1 = suggestions[0] if suggestions else ""
            bleu.extend(sentence_bleu(top1, ref) for ref in turn.references)
            best_cf = max(char_f(top1, ref) for ref in turn.references)
            cf.append(best_cf)
            rl.append(max(rouge_l(top1, ref) for ref in turn.references))
            hits.append(any(char_f(s, ref) >= RECALL_CHAR_F for s in suggestions for ref in turn.references))
            conf.append(ranked[0][1] if ranked else float("-inf"))
            right.append(best_cf >= RECALL_CHAR_F)
            predictions.append({"system": label, "session": turn.session, "turn": turn.index,
                                "query": turn.query, "suggestions": suggestions,
                                "references": list(turn.references)})
        n = len(scored)
        metrics = {"bleu4": sum(bleu) / len(bleu) if bleu else 0.0, "char_f": sum(cf) / n if n else 0.0,
                   "rouge_l": sum(rl) / n if n else 0.0, "recall@3": sum(hits) / n if n else 0.0,
                   "turns": n, "references": len(bleu)}
        results.append(SystemResult(
            label=label, kind=kind, config=ranker.config(), metrics=metrics,
            details={"latency": latency_summary(lat), "top1_right_char_f": RECALL_CHAR_F},
            latencies_ms=lat, fit_seconds=fit_s, run_seconds=time.perf_counter() - t1,
            plots={"confidence": conf, "correct": right, "char_f": cf}))
    dataset = {"turns": len(turns), "turns_scored": len(scored), "turns_all_null": len(turns) - len(scored),
               "references": sum(len(t.references) for t in scored),
               "null_references": sum(t.null_references for t in turns), **(bank_stats or {})}
    notes = [f"A top-1 suggestion counts as right in the score histogram when its best char-F against the "
             f"references is ≥ {RECALL_CHAR_F}."]
    return TaskResult(task="reply", title="Reply suggestion vs human agent replies", dataset=dataset,
                      systems=results, headline=REPLY_HEADLINE, notes=notes, predictions=predictions)
