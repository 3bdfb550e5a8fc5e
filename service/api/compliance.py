"""Compliance check of an agent's own draft before it is sent."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from knowledge_base.compliance import check_text
from models.errors import InvalidRequest
from models.messages import M, render

from .deps import AnyKey, Lang, SettingsDep
from .schemas import setting_limit

router = APIRouter(prefix="/v1/compliance", tags=["compliance"])


class ComplianceRequest(BaseModel):
    text: str = Field(min_length=1, description="The text about to be sent to the buyer.",
                      json_schema_extra=setting_limit(maxLength="max_answer_chars"))


class ViolationPublic(BaseModel):
    kind: str = Field(description="link | phone | wechat | qq | off_platform | absolute_term")
    start: int = Field(description="Start of the offending span in `text` (characters).")
    end: int = Field(description="End of the span, exclusive.")
    matched: str
    reason: str


class ComplianceResponse(BaseModel):
    allowed: bool
    reason: str = Field(description="Human-readable reasons, empty when allowed.")
    violations: list[ViolationPublic]


@router.post("/check", response_model=ComplianceResponse)
def check(body: ComplianceRequest, settings: SettingsDep, caller: AnyKey, lang: Lang) -> ComplianceResponse:
    """Say whether a text may be sent, and which spans break which rule."""
    if len(body.text) > settings.max_answer_chars:
        raise InvalidRequest(M("request.too_long", field="text", limit=settings.max_answer_chars))
    result = check_text(body.text)
    return ComplianceResponse(allowed=result.allowed, reason=result.reason(lang), violations=[
        ViolationPublic(kind=v.kind, start=v.start, end=v.end, matched=v.matched,
                        reason=render(f"compliance.{v.kind}", {}, lang)) for v in result.violations])
