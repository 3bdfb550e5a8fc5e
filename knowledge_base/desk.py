"""The desk around the suggestions: response-time targets, conversation states and 客服绩效.

The agent UI reports what happened in each conversation as events, each with the UI's own time:
``message_shown`` (a buyer message appeared in an agent's desk; ``message_at`` is when the buyer
sent it), ``reply_sent`` (the agent answered) and ``conversation_closed``. Everything here is folded
from those events (and from the suggestion requests and feedback the UI already records), never
from the time a request happened to reach the server:

- a conversation is **待回复 waiting** while a buyer message has no reply after it, **已回复
  replied** once answered, **已关闭 closed** when closed (a new buyer message opens it again, as a
  new session); the wait counts from the first buyer message after the agent's last reply;
- a **session** runs from a buyer message in a new or closed conversation to its close; its *first
  response* is the time from that message to the first reply; each reply's *response time* is the
  time from the earliest buyer message it answers;
- a session is *assigned* to the agent its first message was shown to; a reply is credited to the
  agent who sent it.

Reports read the rows of one window (portable SQL, folded in Python, like ``analytics.py``).
"""

from __future__ import annotations

import statistics
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from models.errors import InvalidItem, ValidationProblem
from models.messages import M

from .store import KbStore
from .tables import desk_events, feedback_events, suggestion_events

__all__ = [
    "EVENT_TYPES", "REPLY_ACTIONS", "DeskEvent", "Targets", "DEFAULT_TARGETS", "RecordResult", "ConversationState",
    "AgentPerformance", "PerformanceReport", "DayCount", "IntentEscalations", "RoutingCounts", "EscalationCounts",
    "DeskLog", "fold_sessions", "Session", "Reply",
]

EVENT_TYPES = ("message_shown", "reply_sent", "conversation_closed")
REPLY_ACTIONS = ("accepted", "edited", "own_reply")  # what the sent reply was, for adoption
# Same timestamp: the message is shown before it is answered, and answered before the close.
_ORDER = {"message_shown": 0, "reply_sent": 1, "conversation_closed": 2}


@dataclass(frozen=True)
class DeskEvent:
    event_id: str
    type: str  # one of EVENT_TYPES
    at: float  # epoch seconds
    conversation_id: str
    agent_id: str = ""
    request_id: str | None = None
    message_at: float | None = None  # message_shown: when the buyer sent the message
    action: str | None = None  # reply_sent: one of REPLY_ACTIONS


@dataclass(frozen=True)
class Targets:
    """A shop's response-time targets (Feige judges shops on them)."""

    first_response_seconds: int = 30  # good shops answer a new buyer within ~30 s
    reply_deadline_hours: int = 48  # every message must be answered within 48 h
    deadline_warning_hours: int = 24  # warn this many hours before that deadline


DEFAULT_TARGETS = Targets()
_TARGET_LIMITS = {"first_response_seconds": (5, 3600), "reply_deadline_hours": (1, 168),
                  "deadline_warning_hours": (1, 167)}


@dataclass(frozen=True)
class RecordResult:
    accepted: int
    duplicates: int


@dataclass
class Session:
    conversation_id: str
    start: float  # when its first buyer message was sent
    assigned_agent: str  # the agent that message was shown to
    first_reply_at: float | None = None
    first_reply_agent: str | None = None
    closed_at: float | None = None
    pending_since: float | None = None  # the earliest buyer message without a reply after it
    pending_escalation: str | None = None  # medium | high: the level of the most urgent unanswered message
    pending_reasons: tuple[str, ...] = ()
    last_agent: str = ""
    last_event_at: float = 0.0
    last_message_at: float | None = None


@dataclass(frozen=True)
class Reply:
    conversation_id: str
    agent_id: str
    at: float
    response_seconds: float | None  # None: it answered no waiting message (seen in this window)
    escalation: str | None  # the level of the escalated message it answered, if any
    action: str | None


_LEVEL_RANK = {None: 0, "medium": 1, "high": 2}


def fold_sessions(events: Iterable, escalations: dict[str, tuple[str, tuple[str, ...]]]) -> tuple[list[Session], list[Reply]]:
    """Sessions and replies of the events (rows with type, ts, message_ts, conversation_id, agent_id,
    request_id, action), in conversation order. ``escalations``: request_id → (level, reasons)."""
    by_conversation: dict[str, list] = defaultdict(list)
    for e in events:
        by_conversation[e.conversation_id].append(e)
    sessions: list[Session] = []
    replies: list[Reply] = []
    for conversation_id, rows in by_conversation.items():
        rows.sort(key=lambda e: (e.ts, _ORDER.get(e.type, 9)))
        current: Session | None = None
        for e in rows:
            if e.type == "message_shown":
                sent = e.message_ts if e.message_ts is not None else e.ts
                if current is None or current.closed_at is not None:
                    current = Session(conversation_id, start=sent, assigned_agent=e.agent_id)
                    sessions.append(current)
                if current.pending_since is None:
                    current.pending_since = sent
                level, reasons = escalations.get(e.request_id or "", (None, ()))
                if _LEVEL_RANK[level] > _LEVEL_RANK[current.pending_escalation]:
                    current.pending_escalation, current.pending_reasons = level, tuple(reasons)
                current.last_message_at = sent
            elif current is None:
                continue  # a reply or close whose message is before the window
            elif e.type == "reply_sent":
                waited = e.ts - current.pending_since if current.pending_since is not None else None
                replies.append(Reply(conversation_id, e.agent_id, e.ts, None if waited is None else max(0.0, waited),
                                     current.pending_escalation, e.action))
                if current.first_reply_at is None:
                    current.first_reply_at, current.first_reply_agent = e.ts, e.agent_id
                current.pending_since, current.pending_escalation, current.pending_reasons = None, None, ()
            elif e.type == "conversation_closed":
                current.closed_at = e.ts
            if e.agent_id:
                current.last_agent = e.agent_id
            current.last_event_at = max(current.last_event_at, e.ts)
    return sessions, replies


@dataclass
class ConversationState:
    conversation_id: str
    state: str  # waiting | replied | closed
    agent_id: str
    waiting_since: float | None
    waiting_seconds: float | None
    over_target: bool  # waiting longer than the first-response target
    deadline_at: float | None  # waiting_since + the reply deadline
    deadline_warning: bool  # within deadline_warning_hours of the deadline (or past it)
    past_deadline: bool
    escalate_level: str | None
    escalate_reasons: tuple[str, ...]
    last_message_at: float | None
    last_event_at: float


@dataclass
class AgentPerformance:
    agent_id: str
    conversations: int = 0  # sessions the agent replied in
    sessions_assigned: int = 0  # sessions whose first message was shown to the agent
    messages_shown: int = 0
    replies: int = 0
    first_response_seconds_median: float | None = None
    first_response_seconds_p90: float | None = None
    avg_response_seconds: float | None = None
    within_target: int = 0  # assigned sessions first answered within the target
    judged: int = 0  # assigned sessions answered, or left without a reply past the target
    reply_rate_within_target: float | None = None  # within_target / judged
    unanswered: int = 0  # assigned sessions without any reply (waiting, or closed unanswered) in the window
    accepted: int = 0
    edited: int = 0
    ignored: int = 0
    own_reply: int = 0
    adoption_rate: float | None = None  # (accepted + edited) / feedback
    escalations_handled: int = 0  # replies to an escalated message


@dataclass
class PerformanceReport:
    since: float
    until: float
    targets: Targets
    agents: list[AgentPerformance]
    overall: AgentPerformance


@dataclass(frozen=True)
class DayCount:
    day: str  # UTC day
    key: str
    count: int


@dataclass(frozen=True)
class IntentEscalations:
    intent: str
    requests: int
    escalated: int

    @property
    def rate(self) -> float:
        return self.escalated / self.requests if self.requests else 0.0


@dataclass
class RoutingCounts:
    requests: int
    series: list[DayCount]  # per day and group
    by_group: dict[str, int]
    by_reason: dict[str, int]


@dataclass
class EscalationCounts:
    requests: int
    escalated: int
    series: list[DayCount]  # per day and level
    by_level: dict[str, int]
    by_reason: dict[str, int]
    by_intent: list[IntentEscalations] = field(default_factory=list)  # most escalated first


def _percentile(values: Sequence[float], q: float) -> float | None:
    return round(float(np.percentile(np.asarray(values, dtype=np.float64), q)), 3) if values else None


def _day(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")


class DeskLog:
    """Records desk events and answers the desk's questions for any shop. ``flush`` waits for the
    suggestion requests still queued for the database (``EventLog.flush``)."""

    def __init__(self, store: KbStore, *, flush: Callable[[], None] = lambda: None,
                 max_future_seconds: float = 300.0, max_age_days: int = 90) -> None:
        self.store = store
        self.flush = flush
        self.max_future_seconds = max_future_seconds
        self.max_age_days = max_age_days

    # -- targets (shop settings) -------------------------------------------------------------
    def targets(self, shop_id: str) -> Targets:
        stored = self.store.desk_settings(shop_id)
        return Targets(**{k: stored.get(k) or getattr(DEFAULT_TARGETS, k) for k in _TARGET_LIMITS})

    def set_targets(self, shop_id: str, **values: int | None) -> Targets:
        """Change the given targets (None: back to the default); all checked before anything is stored."""
        self.check_targets(shop_id, **values)
        if values:
            self.store.set_desk_settings(shop_id, **values)
        return self.targets(shop_id)

    def check_targets(self, shop_id: str, **values: int | None) -> None:
        """Raise ``InvalidItem`` naming every target of ``values`` that is out of range."""
        self.store.require_shop(shop_id)
        merged = {**vars(self.targets(shop_id)), **{k: (v if v is not None else getattr(DEFAULT_TARGETS, k))
                                                     for k, v in values.items()}}
        problems = []
        for name, value in values.items():
            low, high = _TARGET_LIMITS[name]
            if value is not None and not low <= value <= high:
                problems.append(ValidationProblem.of(M("desk.target_range", low=low, high=high), column=name,
                                                     value=str(value), code="out_of_range"))
        if merged["deadline_warning_hours"] >= merged["reply_deadline_hours"]:
            problems.append(ValidationProblem.of(
                M("desk.warning_before_deadline", deadline=merged["reply_deadline_hours"]),
                column="deadline_warning_hours", value=str(merged["deadline_warning_hours"]), code="out_of_range"))
        if problems:
            raise InvalidItem(M("item.invalid", subject=M("item.shop_settings"), n=len(problems)), problems)

    # -- recording ---------------------------------------------------------------------------
    def record(self, shop_id: str, events: Sequence[DeskEvent], *, now: float | None = None) -> RecordResult:
        """Store ``events`` (all or nothing); one whose ``event_id`` the shop already has is a duplicate."""
        now = time.time() if now is None else now
        self.store.require_shop(shop_id)
        problems = []
        for i, e in enumerate(events):
            where = {"row": i + 1}
            if e.type not in EVENT_TYPES:
                problems.append(ValidationProblem.of(M("desk.event_type", types=list(EVENT_TYPES)), column="type",
                                                     value=e.type, code="bad_event", **where))
            if e.at > now + self.max_future_seconds:
                problems.append(ValidationProblem.of(
                    M("desk.event_future", ahead=round(e.at - now), limit=round(self.max_future_seconds)),
                    column="at", value=_iso(e.at), code="event_in_future", **where))
            if e.at < now - self.max_age_days * 86400:
                problems.append(ValidationProblem.of(M("desk.event_old", days=self.max_age_days), column="at",
                                                     value=_iso(e.at), code="event_too_old", **where))
            if e.message_at is not None and (e.type != "message_shown" or e.message_at > e.at + 1):
                problems.append(ValidationProblem.of(M("desk.message_at"), column="message_at",
                                                     value=_iso(e.message_at), code="bad_event", **where))
            if e.action is not None and (e.type != "reply_sent" or e.action not in REPLY_ACTIONS):
                problems.append(ValidationProblem.of(M("desk.action", actions=list(REPLY_ACTIONS)), column="action",
                                                     value=e.action, code="bad_event", **where))
            if e.type in ("message_shown", "reply_sent") and not e.agent_id:
                problems.append(ValidationProblem.of(M("desk.agent_needed", type=e.type), column="agent_id",
                                                     code="bad_event", **where))
        ids = [e.event_id for e in events]
        for dup in {i for i in ids if ids.count(i) > 1}:
            problems.append(ValidationProblem.of(M("desk.event_twice"), column="event_id", value=dup, code="bad_event"))
        if problems:
            raise InvalidItem(M("item.invalid", subject=M("item.events"), n=len(problems)), problems)
        with self.store.engine.connect() as conn:
            known = set(conn.execute(select(desk_events.c.event_id).where(
                desk_events.c.shop_id == shop_id, desk_events.c.event_id.in_(ids))).scalars()) if ids else set()
        rows = [{"id": uuid.uuid4().hex, "shop_id": shop_id, "event_id": e.event_id, "type": e.type, "ts": e.at,
                 "message_ts": e.message_at, "conversation_id": e.conversation_id, "agent_id": e.agent_id or "",
                 "request_id": e.request_id, "action": e.action, "received_ts": now}
                for e in events if e.event_id not in known]
        if not rows:
            return RecordResult(0, len(events))
        try:
            with self.store.engine.begin() as conn:
                conn.execute(insert(desk_events), rows)
            return RecordResult(len(rows), len(events) - len(rows))
        except IntegrityError:  # the same events sent twice at once: store what is new, one by one
            accepted = 0
            for row in rows:
                try:
                    with self.store.engine.begin() as conn:
                        conn.execute(insert(desk_events), [row])
                    accepted += 1
                except IntegrityError:
                    pass
            return RecordResult(accepted, len(events) - accepted)

    # -- reading -----------------------------------------------------------------------------
    def _rows(self, shop_id: str, since: float, until: float) -> list:
        with self.store.engine.connect() as conn:
            return conn.execute(select(desk_events).where(desk_events.c.shop_id == shop_id, desk_events.c.ts >= since,
                                                          desk_events.c.ts < until)).all()

    def _escalations(self, shop_id: str, request_ids: set[str]) -> dict[str, tuple[str, tuple[str, ...]]]:
        if not request_ids:
            return {}
        self.flush()
        out: dict[str, tuple[str, tuple[str, ...]]] = {}
        ids = sorted(request_ids)
        with self.store.engine.connect() as conn:
            for start in range(0, len(ids), 500):
                for r in conn.execute(select(suggestion_events.c.request_id, suggestion_events.c.escalate_level,
                                             suggestion_events.c.escalate_reasons).where(
                        suggestion_events.c.shop_id == shop_id, suggestion_events.c.request_id.in_(ids[start:start + 500]),
                        suggestion_events.c.escalate_level.is_not(None))):
                    out[r.request_id] = (r.escalate_level, tuple(filter(None, (r.escalate_reasons or "").split(","))))
        return out

    def _folded(self, shop_id: str, since: float, until: float) -> tuple[list, list[Session], list[Reply]]:
        rows = self._rows(shop_id, since, until)
        escalations = self._escalations(shop_id, {r.request_id for r in rows if r.type == "message_shown" and r.request_id})
        sessions, replies = fold_sessions(rows, escalations)
        return rows, sessions, replies

    def conversations(self, shop_id: str, *, now: float | None = None, state: str | None = None,
                      agent_id: str | None = None, limit: int = 200) -> tuple[Targets, list[ConversationState]]:
        """The state of every conversation with events since the reply deadline (plus a day) began:
        escalated waiting ones first (high before medium), then waiting by longest wait, then replied
        and closed ones, most recent first."""
        now = time.time() if now is None else now
        targets = self.targets(shop_id)
        since = now - (targets.reply_deadline_hours + 24) * 3600
        _, sessions, _ = self._folded(shop_id, since, now + self.max_future_seconds)
        last: dict[str, Session] = {}
        for s in sessions:
            last[s.conversation_id] = s  # sessions of a conversation come in time order
        out = []
        deadline = targets.reply_deadline_hours * 3600
        for s in last.values():
            kind = "closed" if s.closed_at is not None else "waiting" if s.pending_since is not None else "replied"
            waited = now - s.pending_since if kind == "waiting" and s.pending_since is not None else None
            out.append(ConversationState(
                conversation_id=s.conversation_id, state=kind, agent_id=s.last_agent,
                waiting_since=s.pending_since if kind == "waiting" else None,
                waiting_seconds=round(max(0.0, waited), 3) if waited is not None else None,
                over_target=waited is not None and waited > targets.first_response_seconds,
                deadline_at=s.pending_since + deadline if waited is not None else None,
                deadline_warning=waited is not None and waited >= deadline - targets.deadline_warning_hours * 3600,
                past_deadline=waited is not None and waited >= deadline,
                escalate_level=s.pending_escalation if kind == "waiting" else None,
                escalate_reasons=s.pending_reasons if kind == "waiting" else (),
                last_message_at=s.last_message_at, last_event_at=s.last_event_at))
        if state is not None:
            out = [c for c in out if c.state == state]
        if agent_id is not None:
            out = [c for c in out if c.agent_id == agent_id]
        rank = {"waiting": 0, "replied": 1, "closed": 2}
        out.sort(key=lambda c: (rank[c.state], -_LEVEL_RANK[c.escalate_level],
                                -(c.waiting_seconds or 0.0), -c.last_event_at))
        return targets, out[:limit]

    def performance(self, shop_id: str, *, since: float, until: float) -> PerformanceReport:
        """客服绩效 per agent over [since, until) (see the module docstring for each number)."""
        self.store.require_shop(shop_id)
        targets = self.targets(shop_id)
        target = targets.first_response_seconds
        rows, sessions, replies = self._folded(shop_id, since, until)
        agents: dict[str, AgentPerformance] = {}

        def agent(name: str) -> AgentPerformance:
            return agents.setdefault(name, AgentPerformance(agent_id=name))

        first: dict[str, list[float]] = defaultdict(list)
        response: dict[str, list[float]] = defaultdict(list)
        handled: dict[str, set[tuple[str, float]]] = defaultdict(set)
        for r in rows:
            if r.type == "message_shown":
                agent(r.agent_id).messages_shown += 1
        for s in sessions:
            a = agent(s.assigned_agent)
            a.sessions_assigned += 1
            if s.first_reply_at is not None:
                took = max(0.0, s.first_reply_at - s.start)
                first[s.assigned_agent].append(took)
                a.judged += 1
                a.within_target += took <= target
            elif until - s.start > target:
                a.judged += 1  # never answered (still waiting, or closed without a reply) past the target
            if s.first_reply_at is None:
                a.unanswered += 1
        session_of = {}
        for s in sessions:
            session_of.setdefault(s.conversation_id, []).append(s.start)
        for r in replies:
            a = agent(r.agent_id)
            a.replies += 1
            if r.response_seconds is not None:
                response[r.agent_id].append(r.response_seconds)
            if r.escalation is not None:
                a.escalations_handled += 1
            starts = [t for t in session_of.get(r.conversation_id, []) if t <= r.at]
            handled[r.agent_id].add((r.conversation_id, max(starts) if starts else 0.0))
        with self.store.engine.connect() as conn:
            feedback = conn.execute(select(feedback_events.c.agent_id, feedback_events.c.action).where(
                feedback_events.c.shop_id == shop_id, feedback_events.c.ts >= since,
                feedback_events.c.ts < until)).all()
        for f in feedback:
            a = agent(f.agent_id)
            setattr(a, f.action, getattr(a, f.action) + 1)
        for name, a in agents.items():
            a.conversations = len(handled[name])
            _finish(a, first[name], response[name])
        overall = AgentPerformance(agent_id="*")
        for a in agents.values():
            for k in ("conversations", "sessions_assigned", "messages_shown", "replies", "within_target", "judged",
                      "unanswered", "accepted", "edited", "ignored", "own_reply", "escalations_handled"):
                setattr(overall, k, getattr(overall, k) + getattr(a, k))
        _finish(overall, [x for v in first.values() for x in v], [x for v in response.values() for x in v])
        return PerformanceReport(since=since, until=until, targets=targets,
                                 agents=sorted(agents.values(), key=lambda a: a.agent_id), overall=overall)

    # -- analytics: routing and escalation of the suggestion requests -------------------------
    def _requests(self, shop_id: str, since: float) -> list:
        self.flush()
        columns = (suggestion_events.c.ts, suggestion_events.c.message_intent.label("intent"), suggestion_events.c.route_group,
                   suggestion_events.c.route_reason, suggestion_events.c.escalate_level,
                   suggestion_events.c.escalate_reasons)
        with self.store.engine.connect() as conn:
            return conn.execute(select(*columns).where(suggestion_events.c.shop_id == shop_id,
                                                       suggestion_events.c.ts >= since)).all()

    def routing_counts(self, shop_id: str, *, days: int, now: float | None = None) -> RoutingCounts:
        now = time.time() if now is None else now
        rows = [r for r in self._requests(shop_id, now - days * 86400) if r.route_group]
        series = Counter((_day(r.ts), r.route_group) for r in rows)
        return RoutingCounts(requests=len(rows),
                             series=[DayCount(d, g, n) for (d, g), n in sorted(series.items())],
                             by_group=dict(Counter(r.route_group for r in rows).most_common()),
                             by_reason=dict(Counter(r.route_reason for r in rows).most_common()))

    def escalation_counts(self, shop_id: str, *, days: int, now: float | None = None,
                          top_intents: int = 10) -> EscalationCounts:
        now = time.time() if now is None else now
        rows = self._requests(shop_id, now - days * 86400)
        escalated = [r for r in rows if r.escalate_level]
        series = Counter((_day(r.ts), r.escalate_level) for r in escalated)
        per_intent: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for r in rows:
            if r.intent:
                per_intent[r.intent][0] += 1
                per_intent[r.intent][1] += bool(r.escalate_level)
        by_intent = [IntentEscalations(i, n, e) for i, (n, e) in per_intent.items() if e]
        by_intent.sort(key=lambda x: (-x.escalated, -x.rate, x.intent))
        return EscalationCounts(
            requests=len(rows), escalated=len(escalated),
            series=[DayCount(d, lvl, n) for (d, lvl), n in sorted(series.items())],
            by_level=dict(Counter(r.escalate_level for r in escalated).most_common()),
            by_reason=dict(Counter(c for r in escalated for c in (r.escalate_reasons or "").split(",") if c).most_common()),
            by_intent=by_intent[:top_intents])


def _finish(a: AgentPerformance, first: list[float], response: list[float]) -> None:
    a.first_response_seconds_median = round(statistics.median(first), 3) if first else None
    a.first_response_seconds_p90 = _percentile(first, 90)
    a.avg_response_seconds = round(statistics.fmean(response), 3) if response else None
    a.reply_rate_within_target = round(a.within_target / a.judged, 4) if a.judged else None
    feedback = a.accepted + a.edited + a.ignored + a.own_reply
    a.adoption_rate = round((a.accepted + a.edited) / feedback, 4) if feedback else None


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")
