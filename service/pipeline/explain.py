"""The hit test's reasons: why a ranked candidate stands where it does, one sentence each."""

from __future__ import annotations

from models.messages import M, Msg

from .contract import RankedCandidate

__all__ = ["why"]


def why(candidate: RankedCandidate, *, message_intent: str | None, neighbours: tuple[float | None, float | None],
        top_question: str | None, thresholds: tuple[float, float], top_k: int) -> list[Msg]:
    """The main reasons a ranked candidate (a ``RankedCandidate``) stands where it does, one
    sentence each: how close its nearest phrasing is in meaning, word overlap when it is telling,
    intent agreement, its lead over (or gap to) its neighbours, then what the thresholds decided.
    ``neighbours``: the confidence of the next candidate (for the first) and of the first (for the rest).
    """
    s = candidate.suggestion
    f = s.features or {}
    out: list[Msg] = []
    dense = f.get("dense_max", s.score)
    level = "high" if dense >= 0.85 else "mid" if dense >= 0.7 else "low"
    out.append(M(f"why.dense_{level}", phrasing=s.matched_question or s.question, value=round(dense, 3)))
    lexical = f.get("lexical")
    if lexical is not None and (lexical >= 0.5 or lexical <= 0.1):
        out.append(M("why.lexical_high" if lexical >= 0.5 else "why.lexical_low", value=round(lexical, 3)))
    if s.intent and message_intent:
        out.append(M("why.intent_same", intent=s.intent) if s.intent == message_intent
                   else M("why.intent_other", intent=s.intent, message_intent=message_intent))
    following, best = neighbours
    if candidate.rank == 1 and following is not None and s.confidence - following >= 0.3:
        out.append(M("why.gap_lead", gap=round(s.confidence - following, 3)))
    elif candidate.rank > 1 and best is not None and best - s.confidence < 0.1 and top_question:
        out.append(M("why.gap_close", gap=round(best - s.confidence, 3), top=top_question))
    suggest, auto = thresholds
    conf = round(s.confidence, 3)
    if candidate.status == "suggested":
        out.append(M("why.auto", confidence=conf, threshold=auto) if candidate.auto_reply
                   else M("why.suggest", confidence=conf, threshold=suggest))
    elif candidate.status == "below_threshold":
        out.append(M("why.below", confidence=conf, threshold=suggest, missing=round(suggest - s.confidence, 3)))
    elif candidate.status == "duplicate":
        out.append(M("why.duplicate", entry=candidate.other or ""))
    elif candidate.status == "blocked":
        out.append(M("why.blocked", reason=[M(f"compliance.{k}") for k in (candidate.other or "").split(",") if k]))
    else:
        out.append(M("why.beyond_top_k", rank=candidate.rank, top_k=top_k))
    return out
