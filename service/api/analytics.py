"""Analytics for merchants (Feige 客服数据 / 咨询热点): hot questions, unanswered clusters with one-click
fixes, per-entry hits, adoption. Admin keys only."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, ConfigDict, Field

from knowledge_base.analytics import AgentAdoption, Cluster
from models.messages import M

from .deps import AdminShop, EventsDep, ItemId, Lang, UnansweredDep
from .kb import _edit
from .openapi import error_responses
from .schemas import EntryEditResponse, JsonInt, MessagePublic

router = APIRouter(prefix="/v1/shops/{shop_id}/analytics", tags=["feedback and analytics"])
_ERRORS = error_responses(404, 409, 422)
Days = Query(7, ge=1, le=90, description="The window: the last N days.")


class BucketCount(BaseModel):
    bucket: str = Field(description="UTC day (2025-01-31) or hour (2025-01-31T14:00).")
    count: int


class HotItemPublic(BaseModel):
    key: str = Field(description="Entry id (by=entry) or intent / category (by=intent).")
    label: str = Field(description="The entry's standard question, or the intent.")
    total: int
    previous_total: int = Field(description="Count in the same-length window just before.")
    trend: float | None = Field(description="(total - previous_total) / previous_total; null if nothing before.")
    series: list[BucketCount]


class HotQuestions(BaseModel):
    shop_id: str
    days: int
    by: str
    bucket: str
    data: list[HotItemPublic]


class CandidateEntry(BaseModel):
    entry_id: str
    question: str = Field(description="The entry's standard question (what a merchant recognises it by).")
    count: int = Field(description="How often it was the best suggestion for the cluster's messages.")


class ClusterPublic(BaseModel):
    id: str = Field(description="Stable while its first message stays in the window; use it in the actions.")
    count: int
    examples: list[str] = Field(description="PII-masked buyer messages, most recent first.")
    suggested_entry_id: str | None = Field(description="The entry most often suggested (weakly) for them.")
    low_confidence: int
    ignored: int
    reasons: list[MessagePublic] = Field(default_factory=list, description="Why it is listed: no answer close "
                                         "enough, and/or an answer was suggested but the agent did not use it.")
    candidates: list[CandidateEntry] = Field(default_factory=list, description="Entries of the active version "
                                             "suggested for these messages, most often first: where to add them "
                                             "as 相似问 (any other entry may be chosen).")


class Unanswered(BaseModel):
    shop_id: str
    days: int
    data: list[ClusterPublic]


class AdoptionPublic(BaseModel):
    agent_id: str
    feedback: int
    accepted: int
    edited: int
    ignored: int
    own_reply: int
    adoption_rate: float | None = Field(description="(accepted + edited) / feedback.")
    edit_rate: float | None = Field(description="edited / (accepted + edited).")


class Adoption(BaseModel):
    shop_id: str
    days: int
    suggestions: int = Field(description="Suggestion requests in the window.")
    overall: AdoptionPublic
    agents: list[AdoptionPublic]
    median_ms_with_suggestion: float | None = Field(description="Median time to reply when a suggestion was "
                                                    "used (accepted or edited).")
    median_ms_without_suggestion: float | None = Field(description="… when none was (ignored, own_reply).")


class EntryHitsPublic(BaseModel):
    entry_id: str
    question: str
    top1: int = Field(description="Requests whose best suggestion was this entry.")
    shown: int = Field(description="Requests that showed it in their top-k.")
    used: int = Field(description="Feedback accepted/edited naming this entry.")


class EntryHitsList(BaseModel):
    shop_id: str
    days: int
    kb_version: int | None
    data: list[EntryHitsPublic]


class AddAsEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    answer: str = Field(min_length=1, max_length=2000, description="The answer of the new entry.")
    question: str | None = Field(None, max_length=200, description="Default: the cluster's most recent message.")
    category: str = Field("", max_length=50)
    days: JsonInt = Field(7, ge=1, le=90, description="The window the cluster was listed with.")


class AddAsSimilar(BaseModel):
    model_config = ConfigDict(extra="forbid")
    entry_id: str = Field(min_length=1, max_length=64, description="The entry that answers these messages.")
    days: JsonInt = Field(7, ge=1, le=90, description="The window the cluster was listed with.")


def _adoption(a: AgentAdoption) -> AdoptionPublic:
    return AdoptionPublic(agent_id=a.agent_id, feedback=a.feedback, accepted=a.accepted, edited=a.edited,
                          ignored=a.ignored, own_reply=a.own_reply, adoption_rate=a.adoption_rate,
                          edit_rate=a.edit_rate)


def _cluster(c: Cluster, questions: dict[str, str], threshold: float, lang: str) -> ClusterPublic:
    reasons = []
    if c.low_confidence:
        reasons.append(M("cluster.low_confidence", n=c.low_confidence, threshold=threshold))
    if c.ignored:
        reasons.append(M("cluster.ignored", n=c.ignored))
    return ClusterPublic(id=c.id, count=c.count, examples=c.examples, suggested_entry_id=c.suggested_entry_id,
                         low_confidence=c.low_confidence, ignored=c.ignored,
                         reasons=[MessagePublic.of(m, lang) for m in reasons],
                         candidates=[CandidateEntry(entry_id=e, question=questions[e], count=n)
                                     for e, n in c.entry_counts if e in questions])


@router.get("/hot-questions", response_model=HotQuestions, responses=_ERRORS)
def hot_questions(shop_id: AdminShop, events: EventsDep, review: UnansweredDep, days: int = Days,
                  by: Literal["entry", "intent"] = Query("entry", description="Group by FAQ entry or by intent."),
                  bucket: Literal["day", "hour"] = Query("day", description="Series bucket (UTC)."),
                  limit: int = Query(20, ge=1, le=200)) -> HotQuestions:
    """What buyers ask most (the best suggestion's entry, or its intent / category), per day or hour,
    with the trend against the previous window."""
    _, entries = review.active_entries(shop_id)
    labels = {e.id: e.question for e in entries} if by == "entry" else {e.id: e.category for e in entries}
    items = events.hot_questions(shop_id, days=days, by=by, bucket=bucket, labels=labels, limit=limit)
    return HotQuestions(shop_id=shop_id, days=days, by=by, bucket=bucket, data=[
        HotItemPublic(key=i.key, label=i.label, total=i.total, previous_total=i.previous_total, trend=i.trend,
                      series=[BucketCount(bucket=b, count=n) for b, n in i.series]) for i in items])


@router.get("/unanswered", response_model=Unanswered, responses=_ERRORS)
def unanswered(shop_id: AdminShop, review: UnansweredDep, lang: Lang, days: int = Days) -> Unanswered:
    """Messages the knowledge base did not answer (low confidence, or the agent ignored every suggestion /
    wrote its own reply), clustered by meaning, biggest cluster first, each with why it is listed and the
    entries suggested for it. A message the active version now has as a phrasing is answered: not listed."""
    clusters, entries = review.clusters(shop_id, days)
    questions = {e.id: e.question for e in entries}
    return Unanswered(shop_id=shop_id, days=days, data=[
        _cluster(c, questions, review.low_confidence, lang) for c in clusters])


@router.post("/unanswered/{cluster_id}/add-as-entry", status_code=status.HTTP_201_CREATED,
             response_model=EntryEditResponse, responses=_ERRORS)
def add_as_entry(shop_id: AdminShop, cluster_id: ItemId, body: AddAsEntry, review: UnansweredDep,
                 lang: Lang) -> EntryEditResponse:
    """A new FAQ entry from a cluster: its question (default the latest message), the cluster's other
    messages as 相似问, and the answer given. Makes a new KB version."""
    return _edit(review.add_as_entry(shop_id, cluster_id, days=body.days, answer=body.answer, question=body.question,
                                     category=body.category), lang)


@router.post("/unanswered/{cluster_id}/add-as-similar", response_model=EntryEditResponse, responses=_ERRORS)
def add_as_similar(shop_id: AdminShop, cluster_id: ItemId, body: AddAsSimilar, review: UnansweredDep,
                   lang: Lang) -> EntryEditResponse:
    """Add a cluster's messages as 相似问 of an existing entry. Makes a new KB version."""
    return _edit(review.add_as_similar(shop_id, cluster_id, days=body.days, entry_id=body.entry_id), lang)


@router.get("/adoption", response_model=Adoption, responses=_ERRORS)
def adoption(shop_id: AdminShop, events: EventsDep, days: int = Days) -> Adoption:
    """Suggestion adoption and edit rates, overall and per agent; median time to reply with vs without."""
    r = events.adoption(shop_id, days=days)
    return Adoption(shop_id=shop_id, days=days, suggestions=r.suggestions, overall=_adoption(r.overall),
                    agents=[_adoption(a) for a in r.agents], median_ms_with_suggestion=r.median_ms_with_suggestion,
                    median_ms_without_suggestion=r.median_ms_without_suggestion)


@router.get("/entries", response_model=EntryHitsList, responses=_ERRORS)
def entry_hits(shop_id: AdminShop, events: EventsDep, review: UnansweredDep, days: int = Days) -> EntryHitsList:
    """Hit counts of every entry of the active version (zeros included: entries nobody needs)."""
    version, entries = review.active_entries(shop_id)
    hits = events.entry_hits(shop_id, [(e.id, e.question) for e in entries], days=days)
    return EntryHitsList(shop_id=shop_id, days=days, kb_version=version, data=[
        EntryHitsPublic(entry_id=h.entry_id, question=h.question, top1=h.top1, shown=h.shown, used=h.used)
        for h in hits])
