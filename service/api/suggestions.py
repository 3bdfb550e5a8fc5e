"""The agent UI's main call: a buyer message in, ranked reply suggestions out."""

from __future__ import annotations

import time
import uuid

from fastapi import APIRouter, Request

from knowledge_base.analytics import SuggestionEvent
from models.errors import InvalidRequest

from .deps import AgentShop, RuntimeDep
from ..ranking import SuggestContext, Turn
from .schemas import BlockedPublic, ErrorResponse, IntentPublic, SuggestionPublic, SuggestRequest, SuggestResponse

router = APIRouter(prefix="/v1/shops/{shop_id}", tags=["suggestions"])


@router.post("/suggestions", response_model=SuggestResponse,
             responses={404: {"model": ErrorResponse}, 422: {"model": ErrorResponse}})
def suggest(shop_id: AgentShop, body: SuggestRequest, runtime: RuntimeDep, request: Request) -> SuggestResponse:
    """Best FAQ answers for the message, best first, at most one per entry.

    Each request is recorded for analytics with the buyer's PII masked; ``request_id`` is what
    ``POST …/feedback`` refers to.
    """
    started = time.perf_counter()
    settings = runtime.settings
    if len(body.message) > settings.max_message_chars:
        raise InvalidRequest(f"message: longer than {settings.max_message_chars} characters")
    if body.top_k > settings.max_top_k:
        raise InvalidRequest(f"top_k: at most {settings.max_top_k}")
    context = SuggestContext(turns=[Turn(t.role, t.text) for t in body.turns], variables=body.variables,
                             conversation_id=body.conversation_id, at=body.at)
    result = runtime.suggester.suggest(shop_id, body.message, top_k=body.top_k, context=context)
    request_id = getattr(request.state, "request_id", None) or uuid.uuid4().hex
    if settings.analytics:
        top = result.suggestions[0] if result.suggestions else None
        if top is not None:
            runtime.metrics.confidence.observe(float(getattr(top, "confidence", top.score)))
        runtime.events.record(SuggestionEvent(
            shop_id=shop_id, request_id=request_id, message=body.message, kb_version=result.kb_version,
            entry_ids=[s.entry_id for s in result.suggestions], scores=[s.score for s in result.suggestions],
            confidence=float(getattr(top, "confidence", top.score)) if top else None,
            intent=getattr(top, "intent", None) if top else None,
            latency_ms=round((time.perf_counter() - started) * 1000, 3)))
    return SuggestResponse(
        request_id=request_id,
        shop_id=shop_id,
        kb_version=result.kb_version,
        suggestions=[SuggestionPublic(**vars(s)) for s in result.suggestions],
        intent=IntentPublic(**vars(result.intent)) if result.intent else None,
        abstained=result.abstained,
        blocked=[BlockedPublic(**vars(b)) for b in result.blocked],
        timings_ms=result.timings_ms,
    )
