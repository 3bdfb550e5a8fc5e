"""The agent UI's main call: a buyer message in, ranked reply suggestions out."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from models.errors import InvalidRequest

from .deps import RuntimeDep, ShopId
from .schemas import ErrorResponse, SuggestionPublic, SuggestRequest, SuggestResponse

router = APIRouter(prefix="/v1/shops/{shop_id}", tags=["suggestions"])


@router.post("/suggestions", response_model=SuggestResponse,
             responses={404: {"model": ErrorResponse}, 422: {"model": ErrorResponse}})
def suggest(shop_id: ShopId, body: SuggestRequest, runtime: RuntimeDep) -> SuggestResponse:
    """Best FAQ answers for the message, best first, at most one per entry."""
    settings = runtime.settings
    if len(body.message) > settings.max_message_chars:
        raise InvalidRequest(f"message: longer than {settings.max_message_chars} characters")
    if body.top_k > settings.max_top_k:
        raise InvalidRequest(f"top_k: at most {settings.max_top_k}")
    result = runtime.suggester.suggest(shop_id, body.message, top_k=body.top_k)
    return SuggestResponse(
        request_id=uuid.uuid4().hex,
        shop_id=shop_id,
        kb_version=result.kb_version,
        suggestions=[SuggestionPublic(**vars(s)) for s in result.suggestions],
        timings_ms=result.timings_ms,
    )
