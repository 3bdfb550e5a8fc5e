"""What the agent did with a suggestion request: accepted, edited, ignored, or sent its own reply."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict, Field

from .deps import AgentShop, SuggestionsDep
from .openapi import error_responses
from .schemas import int_range

router = APIRouter(prefix="/v1/shops/{shop_id}", tags=["feedback and analytics"])


class FeedbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    request_id: str = Field(min_length=1, max_length=64, description="request_id of the suggestion response.")
    action: Literal["accepted", "edited", "ignored", "own_reply"] = Field(
        description="accepted: sent a suggestion as is; edited: sent it changed (final_text); ignored: used none; "
        "own_reply: wrote its own reply (final_text).")
    suggestion_rank: int_range(1, 100) | None = Field(None, description="1-based rank of the suggestion used.")
    entry_id: str | None = Field(None, max_length=128, description="FAQ entry used (default: the one at that rank).")
    final_text: str | None = Field(None, max_length=5000, description="What was sent (PII-masked before storing).")
    agent_id: str = Field(min_length=1, max_length=64)
    time_to_reply_ms: int_range(0, 86_400_000) | None = Field(None,
                                         description="From the buyer's message to the agent's reply.")


class FeedbackCreated(BaseModel):
    id: str
    request_id: str
    learned_example_id: str | None = Field(None, description="The learned example this feedback made (an accepted "
                                           "or edited suggestion, or an own reply linked to an entry).")
    learned_status: str | None = Field(None, description="pending (the merchant reviews it) or approved (the shop "
                                       "auto-approves).")


@router.post("/feedback", status_code=status.HTTP_201_CREATED, response_model=FeedbackCreated,
             responses=error_responses(404, 422))
def post_feedback(shop_id: AgentShop, body: FeedbackIn, suggestions: SuggestionsDep) -> FeedbackCreated:
    """Record what the agent did with suggestion request ``request_id`` (404 if this shop never made it)."""
    fb, learned = suggestions.record_feedback(shop_id, **body.model_dump())
    return FeedbackCreated(id=fb.id, request_id=fb.request_id,
                           learned_example_id=learned.id if learned is not None else None,
                           learned_status=learned.status if learned is not None else None)
