"""Request and response models of the HTTP API (the typed edge of the service)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

__all__ = [
    "ErrorBody", "ErrorResponse", "Problem", "KbUploadResponse", "KbVersionPublic", "KbVersionList",
    "SuggestRequest", "SuggestionPublic", "SuggestResponse", "Health",
]


class Problem(BaseModel):
    reason: str
    severity: str = "error"
    sheet: str | None = None
    row: int | None = None
    column: str | None = None
    value: str | None = None


class ErrorBody(BaseModel):
    code: str = Field(description="Stable machine-readable code, e.g. upload_invalid, no_active_kb.")
    message: str
    details: list[dict] = Field(default_factory=list, description="For uploads: one item per problem row.")


class ErrorResponse(BaseModel):
    error: ErrorBody


class KbUploadResponse(BaseModel):
    shop_id: str
    version: int
    active: bool = Field(description="False only if a newer version was activated meanwhile.")
    entries: int
    enabled_entries: int
    phrasings: int = Field(description="Standard + similar questions embedded into the index.")
    seconds: float
    warnings: list[Problem] = Field(default_factory=list)


class KbVersionPublic(BaseModel):
    version: int
    status: str
    active: bool
    created_at: datetime
    source: str
    entry_count: int
    phrasing_count: int
    encoder_id: str


class KbVersionList(BaseModel):
    shop_id: str
    active_version: int | None
    data: list[KbVersionPublic]


class SuggestRequest(BaseModel):
    message: str = Field(min_length=1, description="The buyer's message.", examples=["啥时候能发出来"])
    top_k: int = Field(3, ge=1, description="How many suggestions to return (at most the server's max_top_k).")


class SuggestionPublic(BaseModel):
    entry_id: str
    question: str = Field(description="The entry's standard question.")
    matched_question: str = Field(description="The standard or similar question closest to the message.")
    answer: str
    score: float = Field(description="Cosine similarity of message and matched question (higher is better).")
    category: str


class SuggestResponse(BaseModel):
    request_id: str
    shop_id: str
    kb_version: int
    suggestions: list[SuggestionPublic]
    timings_ms: dict[str, float]


class Health(BaseModel):
    status: str
    encoder: str
    encoder_backend: str
    dim: int
