"""The desk around the suggestions: routing tables (分流), desk events from the agent UI, conversation
states, 客服绩效 (per-agent performance, JSON and CSV) and routing / escalation counts."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from knowledge_base.cells import csv_bytes
from knowledge_base.desk import AgentPerformance, DeskEvent, DeskLog, PerformanceReport
from knowledge_base.routing import HANDOFF_INTENT, KeywordRoute, RoutingBook, RoutingTable, table_to_spec
from models.errors import InvalidRequest
from models.messages import M

from .deps import AdminShop, AgentShop, DeskDep, RoutingDep, StoreDep
from .schemas import ErrorResponse, IsoDateTime, JsonNumber

router = APIRouter(prefix="/v1/shops/{shop_id}", tags=["desk: routing, conversations, performance"])
_ERRORS = {404: {"model": ErrorResponse}, 422: {"model": ErrorResponse}}
GroupName = Annotated[str, Field(min_length=1, max_length=32)]


# -- routing tables -------------------------------------------------------------------------------
class KeywordRouteModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    keywords: list[str] = Field(min_length=1, max_length=20, description="Any of these in the message routes it.")
    group: GroupName


class RoutingTableIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    groups: list[GroupName] = Field(min_length=1, max_length=20, description="The shop's groups, e.g. [\"售前\", \"售后\"].")
    default_group: GroupName = Field(description="Where a message no rule decides goes.")
    handoff_group: GroupName = Field(description=f"Where {HANDOFF_INTENT} (the buyer asks for a person) goes.")
    escalation_group: GroupName | None = Field(
        None, description="Where escalated messages go (e.g. a 投诉 / supervisors group); null: routed like others.")
    intents: dict[str, GroupName] = Field(default_factory=dict, description="Platform intent → group.")
    categories: dict[str, GroupName] = Field(default_factory=dict, description="The shop's KB category → group.")
    keywords: list[KeywordRouteModel] = Field(default_factory=list, max_length=50,
                                              description="Keyword rules, checked first, in order.")
    min_intent_confidence: JsonNumber = Field(0.5, ge=0.0, le=1.0,
                                         description="An intent rule applies only from this intent confidence.")


class RoutingTablePublic(RoutingTableIn):
    shop_id: str
    is_default: bool = Field(description="The shop has not saved a table: these are the platform defaults.")
    updated_at: datetime | None = None
    platform_intents: list[str] = Field(description="Intents a rule may name (the platform intent model's).")


def _table_public(shop_id: str, routing: RoutingBook) -> RoutingTablePublic:
    table, is_default, updated_at = routing.stored(shop_id)
    return RoutingTablePublic(shop_id=shop_id, is_default=is_default, updated_at=updated_at,
                              platform_intents=routing.intents or [], **table_to_spec(table))


@router.get("/routing", response_model=RoutingTablePublic, responses=_ERRORS)
def get_routing(shop_id: AdminShop, routing: RoutingDep) -> RoutingTablePublic:
    """The shop's routing table (the defaults until one is saved; docs/desk.md lists them)."""
    return _table_public(shop_id, routing)


@router.put("/routing", response_model=RoutingTablePublic, responses=_ERRORS)
def put_routing(shop_id: AdminShop, body: RoutingTableIn, routing: RoutingDep) -> RoutingTablePublic:
    """Replace the routing table (checked as a whole: every problem is listed and nothing changes)."""
    table = RoutingTable(groups=tuple(body.groups), default_group=body.default_group,
                         handoff_group=body.handoff_group, escalation_group=body.escalation_group,
                         intents=body.intents, categories=body.categories,
                         keywords=tuple(KeywordRoute(tuple(k.keywords), k.group) for k in body.keywords),
                         min_intent_confidence=body.min_intent_confidence)
    routing.replace(shop_id, table)
    return _table_public(shop_id, routing)


@router.delete("/routing", response_model=RoutingTablePublic, responses=_ERRORS)
def reset_routing(shop_id: AdminShop, routing: RoutingDep) -> RoutingTablePublic:
    """Back to the default table."""
    routing.reset(shop_id)
    return _table_public(shop_id, routing)


# -- events from the agent UI ---------------------------------------------------------------------
class EventIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    event_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$",
                          description="Chosen by the client, unique in the shop: a retried report is not counted twice.")
    type: Literal["message_shown", "reply_sent", "conversation_closed"] = Field(
        description="message_shown: a buyer message appeared in an agent's desk; reply_sent: the agent answered; "
        "conversation_closed: the conversation was closed (a later buyer message opens a new session).")
    at: IsoDateTime = Field(description="When it happened, as the agent UI saw it (ISO 8601; without an offset: UTC).")
    conversation_id: str = Field(min_length=1, max_length=128)
    agent_id: str = Field("", max_length=64, description="Required for message_shown and reply_sent.")
    request_id: str | None = Field(None, max_length=64, description="The suggestion request of the message "
                                                                    "(message_shown) or of the reply (reply_sent).")
    message_at: IsoDateTime | None = Field(None, description="message_shown: when the buyer sent it (default: at).")
    action: Literal["accepted", "edited", "own_reply"] | None = Field(
        None, description="reply_sent: a suggestion sent as is, edited, or the agent's own words.")


class EventBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    events: list[EventIn] = Field(min_length=1, max_length=100)


class EventsRecorded(BaseModel):
    accepted: int = Field(description="Events stored now.")
    duplicates: int = Field(description="Events whose event_id the shop already had (ignored).")


def _epoch(value: datetime) -> float:
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


@router.post("/events", response_model=EventsRecorded, responses=_ERRORS)
def post_events(shop_id: AgentShop, body: EventBatch | EventIn, desk: DeskDep) -> EventsRecorded:
    """Record what happened in conversations (one event, or ``{"events": [...]}``, up to 100): the
    conversation states and the performance report are computed from these and nothing else."""
    events = body.events if isinstance(body, EventBatch) else [body]
    result = desk.record(shop_id, [
        DeskEvent(event_id=e.event_id, type=e.type, at=_epoch(e.at), conversation_id=e.conversation_id,
                  agent_id=e.agent_id, request_id=e.request_id,
                  message_at=_epoch(e.message_at) if e.message_at else None, action=e.action) for e in events])
    return EventsRecorded(accepted=result.accepted, duplicates=result.duplicates)


# -- conversation states --------------------------------------------------------------------------
class EscalationSummary(BaseModel):
    level: Literal["medium", "high"]
    reasons: list[str]


class ConversationPublic(BaseModel):
    conversation_id: str
    state: Literal["waiting", "replied", "closed"] = Field(description="待回复 / 已回复 / 已关闭.")
    agent_id: str = Field(description="The agent of its latest event.")
    waiting_since: datetime | None = Field(description="waiting: the first buyer message since the last reply.")
    waiting_seconds: float | None
    over_target: bool = Field(description="Waiting longer than the shop's first-response target.")
    deadline_at: datetime | None = Field(description="waiting: when the reply deadline (48 h) passes.")
    deadline_warning: bool = Field(description="Within deadline_warning_hours of the deadline, or past it.")
    past_deadline: bool
    escalate: EscalationSummary | None = Field(description="waiting: the most urgent unanswered message's escalation.")
    last_message_at: datetime | None
    last_event_at: datetime


class ConversationList(BaseModel):
    shop_id: str
    now: datetime
    first_response_target_seconds: int
    reply_deadline_hours: int
    deadline_warning_hours: int
    counts: dict[str, int] = Field(description="Conversations per state.")
    data: list[ConversationPublic] = Field(description="Escalated waiting ones first, then the longest waits, then "
                                                       "replied and closed ones, most recent first.")


def _dt(ts: float | None) -> datetime | None:
    return datetime.fromtimestamp(ts, UTC) if ts is not None else None


def _day(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y%m%d")


@router.get("/conversations", response_model=ConversationList, responses=_ERRORS)
def conversations(shop_id: AgentShop, desk: DeskDep, store: StoreDep,
                  state: Literal["waiting", "replied", "closed"] | None = Query(None, description="Only this state."),
                  agent_id: str | None = Query(None, max_length=64, description="Only this agent's."),
                  limit: int = Query(200, ge=1, le=1000)) -> ConversationList:
    """Conversations with events within the reply deadline (plus a day), with their state and wait."""
    store.require_shop(shop_id)
    now = time.time()
    targets, items = desk.conversations(shop_id, now=now, agent_id=agent_id, limit=100_000)
    counts = {s: sum(1 for c in items if c.state == s) for s in ("waiting", "replied", "closed")}
    if state is not None:
        items = [c for c in items if c.state == state]
    return ConversationList(
        shop_id=shop_id, now=_dt(now), first_response_target_seconds=targets.first_response_seconds,
        reply_deadline_hours=targets.reply_deadline_hours, deadline_warning_hours=targets.deadline_warning_hours,
        counts=counts, data=[ConversationPublic(
            conversation_id=c.conversation_id, state=c.state, agent_id=c.agent_id, waiting_since=_dt(c.waiting_since),
            waiting_seconds=c.waiting_seconds, over_target=c.over_target, deadline_at=_dt(c.deadline_at),
            deadline_warning=c.deadline_warning, past_deadline=c.past_deadline,
            escalate=EscalationSummary(level=c.escalate_level, reasons=list(c.escalate_reasons))
            if c.escalate_level else None, last_message_at=_dt(c.last_message_at),
            last_event_at=_dt(c.last_event_at)) for c in items[:limit]])


# -- 客服绩效 -------------------------------------------------------------------------------------
class AgentPerformancePublic(BaseModel):
    agent_id: str = Field(description="The agent; '*' for the whole shop.")
    conversations: int = Field(description="Sessions the agent replied in (conversations handled).")
    sessions_assigned: int = Field(description="Sessions whose first buyer message was shown to the agent.")
    messages_shown: int
    replies: int
    first_response_seconds_median: float | None = Field(
        description="Assigned sessions: from the first buyer message to the first reply, median.")
    first_response_seconds_p90: float | None = Field(description="… 90th percentile (linear interpolation).")
    avg_response_seconds: float | None = Field(
        description="The agent's replies: from the earliest buyer message each one answers, mean.")
    within_target: int = Field(description="Assigned sessions first answered within the first-response target.")
    judged: int = Field(description="Assigned sessions answered, or left without a reply past the target.")
    reply_rate_within_target: float | None = Field(description="within_target / judged.")
    unanswered: int = Field(description="Assigned sessions without any reply in the window (waiting, or closed "
                                        "unanswered).")
    accepted: int = Field(description="Feedback: a suggestion sent as is.")
    edited: int = Field(description="Feedback: a suggestion sent edited.")
    ignored: int = Field(description="Feedback: the suggestions went unused.")
    own_reply: int = Field(description="Feedback: the agent wrote its own reply.")
    adoption_rate: float | None = Field(description="(accepted + edited) / feedback.")
    escalations_handled: int = Field(description="Replies to an escalated buyer message.")


class PerformanceResponse(BaseModel):
    shop_id: str
    since: datetime
    until: datetime
    first_response_target_seconds: int
    overall: AgentPerformancePublic
    agents: list[AgentPerformancePublic]


def _window(days: int | None, since: datetime | None, until: datetime | None) -> tuple[float, float]:
    end = _epoch(until) if until else time.time()
    start = _epoch(since) if since else end - (days or 7) * 86400
    if start >= end:
        raise InvalidRequest(M("request.window_order"))
    if end - start > 366 * 86400:
        raise InvalidRequest(M("request.window_max", days=366))
    return start, end


Days = Query(None, ge=1, le=90, description="The last N days (default 7); or give since / until.")
Since = Query(None, description="Window start (ISO 8601); default: until minus days.")
Until = Query(None, description="Window end, exclusive (ISO 8601); default: now.")


def _agent(a: AgentPerformance) -> AgentPerformancePublic:
    return AgentPerformancePublic(**vars(a))


def _report(desk: DeskLog, shop_id: str, days, since, until) -> PerformanceReport:  # noqa: ANN001
    start, end = _window(days, since, until)
    return desk.performance(shop_id, since=start, until=end)


@router.get("/performance", response_model=PerformanceResponse, responses=_ERRORS)
def performance(shop_id: AdminShop, desk: DeskDep, days: int | None = Days, since: IsoDateTime | None = Since,
                until: IsoDateTime | None = Until) -> PerformanceResponse:
    """客服绩效 per agent over the window, from the desk events and the feedback the agent UI reported."""
    r = _report(desk, shop_id, days, since, until)
    return PerformanceResponse(shop_id=shop_id, since=_dt(r.since), until=_dt(r.until),
                               first_response_target_seconds=r.targets.first_response_seconds,
                               overall=_agent(r.overall), agents=[_agent(a) for a in r.agents])


CSV_COLUMNS = [  # (field, zh header, en header)
    ("agent_id", "客服", "agent"), ("conversations", "接待会话数", "conversations handled"),
    ("sessions_assigned", "分配会话数", "sessions assigned"), ("replies", "回复数", "replies"),
    ("first_response_seconds_median", "首次响应中位数(秒)", "first response median (s)"),
    ("first_response_seconds_p90", "首次响应P90(秒)", "first response p90 (s)"),
    ("avg_response_seconds", "平均响应(秒)", "average response (s)"),
    ("reply_rate_within_target", "目标内回复率", "reply rate within target"),
    ("unanswered", "未回复会话", "unanswered sessions"), ("accepted", "直接采纳", "accepted"),
    ("edited", "修改后发送", "edited"), ("ignored", "未采用", "ignored"), ("own_reply", "自行回复", "own reply"),
    ("adoption_rate", "采纳率", "adoption rate"), ("escalations_handled", "处理升级数", "escalations handled"),
]


@router.get("/performance/export", responses={200: {"content": {"text/csv": {}}}, **_ERRORS},
            response_class=Response)
def performance_export(shop_id: AdminShop, desk: DeskDep, days: int | None = Days,
                       since: IsoDateTime | None = Since, until: IsoDateTime | None = Until,
                       accept_language: Annotated[str | None, Header()] = None) -> Response:
    """The performance report as CSV (UTF-8 with BOM, for Excel), one row per agent and a total row;
    headers in Chinese, or English when the client asks for it (Accept-Language)."""
    r = _report(desk, shop_id, days, since, until)
    english = (accept_language or "").lower().startswith("en")
    rows = []
    for a in [*r.agents, r.overall]:
        row = []
        for field, _, _ in CSV_COLUMNS:
            value = getattr(a, field)
            if field == "agent_id" and a is r.overall:
                value = "total" if english else "合计"
            row.append(value)
        rows.append(row)
    # The service's one CSV writer: agent ids come from the client, so "=HYPERLINK(…)" must stay text.
    data = csv_bytes([en if english else zh for _, zh, en in CSV_COLUMNS], rows)
    name = f"performance-{shop_id}-{_day(r.since)}-{_day(r.until)}.csv"
    return Response(data, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


# -- analytics: routing and escalation per day ---------------------------------------------------
class DayCountPublic(BaseModel):
    day: str = Field(description="UTC day, 2025-01-31.")
    key: str = Field(description="The group (routing) or the level (escalations).")
    count: int


class RoutingAnalytics(BaseModel):
    shop_id: str
    days: int
    requests: int = Field(description="Suggestion requests routed in the window.")
    series: list[DayCountPublic]
    by_group: dict[str, int]
    by_reason: dict[str, int]


class IntentEscalationPublic(BaseModel):
    intent: str
    requests: int
    escalated: int
    rate: float


class EscalationAnalytics(BaseModel):
    shop_id: str
    days: int
    requests: int
    escalated: int
    series: list[DayCountPublic]
    by_level: dict[str, int]
    by_reason: dict[str, int]
    by_intent: list[IntentEscalationPublic] = Field(description="The intents that escalate most (message intents).")


AnalyticsDays = Query(7, ge=1, le=90, description="The window: the last N days.")


@router.get("/analytics/routing", response_model=RoutingAnalytics, responses=_ERRORS,
            tags=["feedback and analytics"])
def routing_analytics(shop_id: AdminShop, desk: DeskDep, store: StoreDep, days: int = AnalyticsDays) -> RoutingAnalytics:
    """Suggestion requests per day and group, and which rule routed them."""
    store.require_shop(shop_id)
    r = desk.routing_counts(shop_id, days=days)
    return RoutingAnalytics(shop_id=shop_id, days=days, requests=r.requests,
                            series=[DayCountPublic(**vars(c)) for c in r.series], by_group=r.by_group,
                            by_reason=r.by_reason)


@router.get("/analytics/escalations", response_model=EscalationAnalytics, responses=_ERRORS,
            tags=["feedback and analytics"])
def escalation_analytics(shop_id: AdminShop, desk: DeskDep, store: StoreDep, days: int = AnalyticsDays) -> EscalationAnalytics:
    """Escalated requests per day and level, per reason, and the intents that escalate most."""
    store.require_shop(shop_id)
    r = desk.escalation_counts(shop_id, days=days)
    return EscalationAnalytics(
        shop_id=shop_id, days=days, requests=r.requests, escalated=r.escalated,
        series=[DayCountPublic(**vars(c)) for c in r.series], by_level=r.by_level, by_reason=r.by_reason,
        by_intent=[IntentEscalationPublic(intent=i.intent, requests=i.requests, escalated=i.escalated,
                                          rate=round(i.rate, 4)) for i in r.by_intent])
