"""The shop's learned examples: buyer messages agents' picks labelled, for the merchant to review."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from .deps import AdminShop, ItemId, LearnedReviewDep, LearningDep, StoreDep
from .kb import file_response
from .openapi import SPREADSHEET_OK, error_responses
from .schemas import (
    LearnedDecision,
    LearnedExampleList,
    LearnedExamplePublic,
    LearnedPromoteResponse,
)

router = APIRouter(prefix="/v1/shops/{shop_id}/learned-examples", tags=["learning"])

_NOT_FOUND = error_responses(404)
# A decision checks the entry against the active version: 409 no_active_kb before the first upload.
_DECIDE_ERRORS = error_responses(404, 409, 422)


def _public(e) -> LearnedExamplePublic:  # noqa: ANN001 - knowledge_base.learning.LearnedExample
    return LearnedExamplePublic(**vars(e))


@router.get("", response_model=LearnedExampleList, responses=_NOT_FOUND)
def list_learned(shop_id: AdminShop, learning: LearningDep, store: StoreDep,
                 status: Literal["pending", "approved", "rejected", "promoted"] | None = Query(
                     None, description="Only examples in this state (default: all)."),
                 entry_id: str | None = Query(None, max_length=128, description="Only examples of this entry."),
                 limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0, le=10_000_000)
                 ) -> LearnedExampleList:
    """Newest first, with the shop's count per state and whether it auto-approves."""
    store.require_shop(shop_id)
    items, counts = learning.list(shop_id, status=status, entry_id=entry_id, limit=limit, offset=offset)
    return LearnedExampleList(items=[_public(e) for e in items], counts=counts,
                              auto_approve=learning.auto_approve(shop_id))


@router.get("/export", responses={**SPREADSHEET_OK, **_NOT_FOUND})
def export_learned(shop_id: AdminShop, learned_review: LearnedReviewDep, store: StoreDep,
                   format: Literal["xlsx", "csv"] = Query("xlsx")) -> Response:  # noqa: A002 - API name
    """Every learned example (all states) as a spreadsheet; the KB export carries them too."""
    store.require_shop(shop_id)
    data = learned_review.export(shop_id, format)
    return file_response(data, format, f"{shop_id}-learned-examples.{format}")


@router.post("/{example_id}/decision", response_model=LearnedExamplePublic, responses=_DECIDE_ERRORS)
def decide_learned(shop_id: AdminShop, example_id: ItemId, body: LearnedDecision,
                   learned_review: LearnedReviewDep) -> LearnedExamplePublic:
    """Approve, move to another entry (and approve), or reject one example."""
    return _public(learned_review.decide(shop_id, example_id, body.action, entry_id=body.entry_id))


@router.post("/{example_id}/promote", response_model=LearnedPromoteResponse, responses=_DECIDE_ERRORS)
def promote_learned(shop_id: AdminShop, example_id: ItemId, learned_review: LearnedReviewDep) -> LearnedPromoteResponse:
    """Add the example to its entry as a 相似问 in a new knowledge-base version (the merchant's decision)."""
    example, version = learned_review.promote(shop_id, example_id)
    return LearnedPromoteResponse(example=_public(example), version=version)
