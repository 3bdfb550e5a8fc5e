"""The pipeline's typed contract: one request in (:class:`SuggestRequest`), one result out
(:class:`SuggestResult`), and the small protocol rules come in through (:class:`RuleSource`).

The HTTP route, ``smartreply suggest`` and the evaluation all build a ``SuggestRequest`` and call
``Suggester.suggest(request)``; nothing else of the pipeline is part of what they rely on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import numpy as np

from knowledge_base.chatlogs import Turn  # the one conversation-turn type
from knowledge_base.routing import RouteDecision
from knowledge_base.rules import Rule
from models.escalation import Escalation
from models.intent import IntentPrediction

__all__ = ["Turn", "SuggestContext", "SuggestRequest", "Suggestion", "Blocked", "RankedCandidate", "SuggestResult",
           "RuleSource"]


@dataclass
class SuggestContext:
    """What the agent UI knows besides the message."""

    turns: list[Turn] = field(default_factory=list)  # earlier turns, oldest first
    variables: dict[str, str] = field(default_factory=dict)  # {买家昵称}, {订单尾号}, {物流公司} …
    conversation_id: str | None = None
    at: datetime | None = None

    def previous_buyer_text(self) -> str | None:
        for turn in reversed(self.turns):
            if turn.role == "buyer" and turn.text.strip():
                return turn.text
        return None


@dataclass(frozen=True)
class SuggestRequest:
    """One buyer message to answer. The pipeline checks ``message`` and ``top_k`` against its limits
    (``max_message_chars``, ``max_top_k``) whoever asks.

    ``min_confidence`` overrides ``suggest_threshold`` (the evaluation passes 0 to see the full ranking)
    and ``auto_reply_threshold`` the auto-reply one (the hit test applies the thresholds a merchant types);
    ``full_ranking`` also returns every ranked candidate and what the decision did with it."""

    shop_id: str
    message: str
    top_k: int = 3
    context: SuggestContext = field(default_factory=SuggestContext)
    min_confidence: float | None = None
    auto_reply_threshold: float | None = None
    full_ranking: bool = False


@dataclass(frozen=True)
class Suggestion:
    entry_id: str | None  # the FAQ entry (None for rule and template suggestions)
    question: str  # the entry's standard question (a rule's name, a template's intent)
    matched_question: str  # the phrasing (standard or similar) closest to the message
    answer: str  # ready to send: variables filled where the context had them
    score: float  # cosine similarity of message and matched phrasing, higher is better
    category: str
    confidence: float = 0.0  # calibrated probability that this is the right answer
    source: str = "kb"  # kb | quick_phrase | rule | template
    intent: str | None = None  # the entry's intent under the platform intent model
    auto_reply: bool = False  # confident enough to send without a human (auto_reply_threshold)
    variables_missing: tuple[str, ...] = ()  # placeholders the context could not fill: edit before sending
    features: dict[str, float] = field(default_factory=dict)  # why it ranks here (hit test)
    quick_phrase_id: str | None = None  # source quick_phrase: the shop's 快捷短语 suggested


@dataclass(frozen=True)
class Blocked:
    """A candidate the compliance guard removed, and why."""

    entry_id: str | None
    source: str
    reason: str
    kinds: list[str]


@dataclass(frozen=True)
class RankedCandidate:
    """One candidate of the full ranking (``full_ranking=True``: the hit test) and what the decision did
    with it: ``suggested``, ``below_threshold`` (a near miss), ``duplicate`` (same reply as a better one:
    ``other`` names it), ``blocked`` (compliance: ``other`` is the reason) or ``beyond_top_k``."""

    suggestion: Suggestion
    rank: int  # 1-based, in the ranker's order
    status: str
    other: str | None = None
    auto_reply: bool = False  # confidence >= the auto-reply threshold applied


@dataclass
class SuggestResult:
    shop_id: str
    kb_version: int
    suggestions: list[Suggestion]
    timings_ms: dict[str, float] = field(default_factory=dict)
    intent: IntentPrediction | None = None  # the message's intent
    abstained: bool = False  # nothing in the knowledge base reached suggest_threshold
    blocked: list[Blocked] = field(default_factory=list)
    ranking: list[RankedCandidate] | None = None  # full_ranking: every candidate with its decision
    thresholds: tuple[float, float] | None = None  # (suggest, auto-reply) applied
    routing: RouteDecision | None = None  # the shop group the message goes to, and why
    escalate: Escalation | None = None  # a person must handle it now (never auto-replied)
    # Why it abstained: "nothing_to_understand" (no letter or digit left after normalisation: nothing
    # was encoded, no rule or template offered) or "no_confident_answer"; None when a KB answer is given.
    abstain_reason: str | None = None


class RuleSource(Protocol):
    """Where the shop's keyword auto-reply rules come from (``knowledge_base.rulebook.RuleBook``): the
    rule that fires for a message, if any (its firing recorded for the conversation's cooldown).
    ``query_vector`` is the normalised message's embedding, so semantic triggers encode nothing again."""

    def fire(self, shop_id: str, message: str, *, at: datetime | None = None, conversation_id: str | None = None,
             query_vector: np.ndarray | None = None) -> Rule | None: ...
