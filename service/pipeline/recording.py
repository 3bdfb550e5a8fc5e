"""The agent UI's loop around the pipeline: each suggestion request recorded for analytics (PII
masked) under a request id, and the agent's feedback on it, which may teach the shop a learned example.

What ``POST /v1/shops/{shop}/suggestions`` and ``POST …/feedback`` do, and what the evaluation's replay
does for its simulated agent, so both see the same thing.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from knowledge_base.analytics import EventLog, Feedback, SuggestionEvent
from knowledge_base.learning import LearnedExample, LearningBook

from .contract import SuggestRequest, SuggestResult
from .suggester import Suggester

__all__ = ["SuggestionLog"]


class SuggestionLog:
    """``analytics`` off: suggestion requests are not recorded (feedback still is); ``learning`` None:
    feedback teaches nothing."""

    def __init__(self, pipeline: Suggester, events: EventLog, learning: LearningBook | None = None, *,
                 analytics: bool = True, on_confidence: Callable[[float], None] | None = None) -> None:
        self.pipeline = pipeline
        self.events = events
        self.analytics = analytics
        self.learning = learning
        self.on_confidence = on_confidence or (lambda confidence: None)  # e.g. a metrics histogram

    def suggest(self, request: SuggestRequest, *, test: bool = False, request_id: str | None = None,
                caller_request_id: bool = False) -> tuple[str, SuggestResult]:
        """The pipeline's suggestions and (unless ``test``) the request recorded with PII masked under the
        returned request id, which feedback then refers to.

        ``caller_request_id``: ``request_id`` came from the caller (X-Request-ID); if this shop already
        used it, the request gets a fresh id instead (a reused id would overwrite nothing and be dropped)."""
        started = time.perf_counter()
        result = self.pipeline.suggest(request)
        shop_id = request.shop_id
        request_id = request_id or uuid.uuid4().hex
        # A test question (a merchant trying the knowledge base) is answered alike but never counted as a buyer's.
        record = self.analytics and not test
        if record and caller_request_id and not self.events.claim_request_id(shop_id, request_id):
            request_id = uuid.uuid4().hex
        if record:
            top = result.suggestions[0] if result.suggestions else None
            if top is not None:
                self.on_confidence(float(top.confidence))
            self.events.record(SuggestionEvent(
                shop_id=shop_id, request_id=request_id, message=request.message, kb_version=result.kb_version,
                entry_ids=[s.entry_id for s in result.suggestions], scores=[s.score for s in result.suggestions],
                confidence=float(top.confidence) if top else None, intent=top.intent if top else None,
                latency_ms=round((time.perf_counter() - started) * 1000, 3),
                conversation_id=request.context.conversation_id,
                message_intent=result.intent.intent if result.intent else None,
                escalate_level=result.escalate.level if result.escalate else None,
                escalate_reasons=tuple(result.escalate.codes) if result.escalate else (),
                route_group=result.routing.group if result.routing else None,
                route_reason=result.routing.reason if result.routing else None))
        return request_id, result

    def record_feedback(self, shop_id: str, **feedback) -> tuple[Feedback, LearnedExample | None]:  # noqa: ANN003
        """Record an agent's feedback; one that labels the buyer's message with an entry becomes a
        learned example (approved at once if the shop auto-approves)."""
        fb = self.events.record_feedback(shop_id, **feedback)
        learned = None
        if self.learning is not None:
            learned = self.learning.learn_from(shop_id, fb, agent_id=feedback.get("agent_id"))
        return fb, learned
