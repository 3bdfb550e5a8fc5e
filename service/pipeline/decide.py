"""The decide stage: from ranked candidates to what the agent sees. A firing keyword rule first, then
the candidates that reach the threshold, else an intent template; every text's variables filled from
the order context, at most one suggestion per reply text, anything the compliance guard refuses
removed (and reported)."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from knowledge_base.compliance import check_text
from models.intent import IntentPrediction

from .contract import Blocked, RuleSource, SuggestContext, Suggestion
from .options import PipelineOptions

__all__ = ["decide", "render_variables", "intent_template", "guard", "Trace"]

# The hit test's record of what the decision did with each ranked candidate (keyed by ``id``):
# (status, other), see ``RankedCandidate``.
Trace = dict[int, tuple[str, str | None]]

_VARIABLE = re.compile(r"\{([^{}\s]{1,20})\}")


def render_variables(text: str, variables: dict[str, str]) -> tuple[str, tuple[str, ...]]:
    """Fill ``{名称}`` placeholders; returns the text and the names that could not be filled."""
    missing: list[str] = []

    def fill(m: re.Match) -> str:
        value = variables.get(m.group(1))
        if value is None or not str(value).strip():
            missing.append(m.group(1))
            return m.group(0)
        return str(value)

    return _VARIABLE.sub(fill, text), tuple(dict.fromkeys(missing))


@lru_cache(maxsize=1)
def _templates() -> dict[str, str]:
    path = Path(__file__).resolve().parents[1] / "data" / "intent_templates.json"
    return json.loads(path.read_text("utf-8"))


def intent_template(intent: str | None) -> str | None:
    return _templates().get(intent) if intent else None


@lru_cache(maxsize=20_000)
def guard(text: str) -> tuple[bool, str, tuple[str, ...]]:
    """(allowed, reason, kinds) of the compliance check on an outgoing text.

    Cached: the same FAQ answers come back request after request, and the check costs ~0.5 ms."""
    result = check_text(text)
    return result.allowed, result.reason(), tuple(result.kinds)


def decide(shop_id: str, message: str, message_vector: np.ndarray, ranked: list[Suggestion],
           intent: IntentPrediction | None, context: SuggestContext, top_k: int, threshold: float,
           auto_threshold: float, options: PipelineOptions, rules: RuleSource | None,
           trace: Trace | None = None) -> tuple[list[Suggestion], list[Blocked]]:
    """Rules first, then confident answers (one per answer text), else an intent template; every text
    rendered and guarded. ``message_vector`` (the normalised message's, without the context blend) is
    what semantic rule triggers compare with. ``trace`` (the hit test) records, per ranked candidate
    (by ``id``), what happened to it and why."""
    candidates: list[Suggestion] = []
    if options.rules and rules is not None:
        rule = rules.fire(shop_id, message, at=context.at, conversation_id=context.conversation_id,
                          query_vector=message_vector)
        if rule is not None:
            candidates.append(Suggestion(entry_id=None, question=rule.name, matched_question="", answer=rule.reply,
                                         score=1.0, category="", confidence=1.0, source="rule"))
    candidates += [s for s in ranked if s.confidence >= threshold]
    if trace is not None:
        trace.update((id(s), ("below_threshold", None)) for s in ranked if s.confidence < threshold)
    if options.templates and not any(s.source in ("kb", "quick_phrase") for s in candidates) and intent is not None:
        text = intent_template(intent.intent)
        if text is not None:
            candidates.append(Suggestion(entry_id=None, question=intent.intent, matched_question="", answer=text,
                                         score=0.0, category="", confidence=intent.confidence,
                                         source="template", intent=intent.intent))
    out: list[Suggestion] = []
    blocked: list[Blocked] = []
    seen_answers: dict[str, str | None] = {}
    for s in candidates:
        answer, missing = render_variables(s.answer, context.variables)
        if answer in seen_answers:  # diversity: never two suggestions with the same reply
            if trace is not None:
                trace[id(s)] = ("duplicate", seen_answers[answer])
            continue
        allowed, reason, kinds = guard(answer) if options.guard else (True, "", ())
        if not allowed:
            blocked.append(Blocked(entry_id=s.entry_id, source=s.source, reason=reason, kinds=list(kinds)))
            if trace is not None:
                trace[id(s)] = ("blocked", ",".join(kinds))
            continue
        seen_answers[answer] = s.entry_id or s.question
        auto = s.confidence >= auto_threshold and not missing
        out.append(replace(s, answer=answer, variables_missing=missing, auto_reply=auto))
        if trace is not None:
            trace[id(s)] = ("suggested", None)
        if len(out) == top_k:
            break
    return out, blocked
