"""Feedback and analytics (Feige 客服数据 / 咨询热点): what buyers ask, what the KB misses, what agents use.

Every suggestion request is recorded (PII-masked message, top entries, scores, confidence, version,
latency) by a background writer, so recording adds no database round trip to a suggestion; agents
then report what they did with it (``record_feedback``). Reports aggregate a time window in Python
over rows selected by an indexed time range: portable SQL on SQLite and PostgreSQL alike, and cheap at
the volumes one shop produces in a few weeks (10⁵ rows read in well under a second).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import statistics
import threading
import time
import uuid
from collections import Counter, OrderedDict, defaultdict
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

import numpy as np
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from models.encoder import Encoder
from models.errors import ItemNotFound, RequestNotFound
from models.messages import M
from models.normalize import understandable
from models.privacy import mask_pii

from .store import KbStore
from .tables import feedback_events, suggestion_events

__all__ = [
    "SuggestionEvent", "Feedback", "EventLog", "FEEDBACK_ACTIONS", "HotItem", "Cluster", "AdoptionReport",
    "AgentAdoption", "EntryHits", "leader_clusters",
]

logger = logging.getLogger(__name__)

FEEDBACK_ACTIONS = ("accepted", "edited", "ignored", "own_reply")
USED = ("accepted", "edited")  # the agent sent a suggestion (as is or edited)
_RECENT_IDS = 10_000
# Put on the writer's queue by ``flush``: write what is held now instead of waiting for batch-mates.
_FLUSH = object()


@dataclass(frozen=True)
class SuggestionEvent:
    shop_id: str
    request_id: str
    message: str  # raw: masked by ``EventLog.record``
    kb_version: int | None
    entry_ids: list[str]
    scores: list[float]
    confidence: float | None
    intent: str | None
    latency_ms: float
    ts: float = field(default_factory=time.time)
    conversation_id: str | None = None
    message_intent: str | None = None  # the message's intent (``intent`` is the top suggestion's entry's)
    escalate_level: str | None = None  # medium | high when the message was escalated
    escalate_reasons: tuple[str, ...] = ()
    route_group: str | None = None
    route_reason: str | None = None


@dataclass(frozen=True)
class Feedback:
    id: str
    request_id: str
    action: str
    entry_id: str | None = None  # the entry the agent used (given, or the suggestion at its rank)
    message: str = ""  # the buyer message of the request (PII-masked, as logged)


@dataclass
class HotItem:
    key: str
    label: str
    total: int
    previous_total: int  # the same-length window just before this one
    trend: float | None  # (total - previous) / previous; None when there was nothing before
    series: list[tuple[str, int]]


@dataclass
class Cluster:
    id: str  # the request id of its first (seed) message: stable while the window slides forward
    count: int
    examples: list[str]  # masked messages, most recent first
    suggested_entry_id: str | None
    low_confidence: int
    ignored: int
    entry_counts: list[tuple[str, int]] = field(default_factory=list)  # entries suggested for it, most often first


@dataclass
class AgentAdoption:
    agent_id: str
    feedback: int
    accepted: int
    edited: int
    ignored: int
    own_reply: int

    @property
    def adoption_rate(self) -> float | None:
        return (self.accepted + self.edited) / self.feedback if self.feedback else None

    @property
    def edit_rate(self) -> float | None:
        used = self.accepted + self.edited
        return self.edited / used if used else None


@dataclass
class AdoptionReport:
    overall: AgentAdoption
    agents: list[AgentAdoption]
    median_ms_with_suggestion: float | None
    median_ms_without_suggestion: float | None
    suggestions: int


@dataclass
class EntryHits:
    entry_id: str
    question: str
    top1: int  # requests whose best suggestion was this entry
    shown: int  # requests that showed it anywhere in the top-k
    used: int  # feedback accepted/edited with this entry


class EventLog:
    """Records suggestion requests (batched, off the request path) and feedback; answers the reports."""

    def __init__(self, store: KbStore, *, flush_interval: float = 0.2, max_batch: int = 500) -> None:
        self.store = store
        self.flush_interval = flush_interval
        self.max_batch = max_batch
        self._queue: queue.Queue[SuggestionEvent | object | None] = queue.Queue(maxsize=100_000)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._pending = 0
        # Caller-chosen request ids seen recently by this process (a bounded memory of them), so two
        # concurrent requests with one id are told apart before either event is in the database.
        self._recent_ids: OrderedDict[tuple[str, str], None] = OrderedDict()

    # -- recording -------------------------------------------------------------------------
    def record(self, event: SuggestionEvent) -> None:
        """Queue a suggestion event (never blocks the request; dropped with a warning if the queue is full)."""
        self._start()
        with self._lock:
            self._pending += 1
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            with self._lock:
                self._pending -= 1
            logger.warning("analytics queue full: one suggestion event dropped")

    def claim_request_id(self, shop_id: str, request_id: str) -> bool:
        """Reserve a caller-chosen request id for an event about to be recorded: False if this shop
        already used it (the caller then gets a fresh id, so no event is ever dropped as a duplicate
        and feedback always refers to the right request). Costs one primary-key lookup."""
        key = (shop_id, request_id)
        with self._lock:
            if key in self._recent_ids:
                return False
            self._recent_ids[key] = None
            if len(self._recent_ids) > _RECENT_IDS:
                self._recent_ids.popitem(last=False)
        with self.store.engine.connect() as conn:
            taken = conn.execute(select(suggestion_events.c.request_id).where(
                suggestion_events.c.shop_id == shop_id, suggestion_events.c.request_id == request_id)).first()
        return taken is None

    def flush(self, timeout: float = 5.0) -> None:
        """Wait until every queued event is in the database."""
        deadline = time.monotonic() + timeout
        with self._lock:
            pending = self._pending
        if pending:
            # Feedback right after its request (a replay, a fast agent) would otherwise wait up to
            # ``flush_interval`` for the writer to give up on more batch-mates.
            with contextlib.suppress(queue.Full):
                self._queue.put_nowait(_FLUSH)
        with self._idle:
            while self._pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._idle.wait(left)

    def close(self) -> None:
        if self._thread is not None:
            self.flush()
            self._queue.put(None)
            self._thread.join(timeout=5)
            self._thread = None

    def _start(self) -> None:
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="analytics-writer", daemon=True)
                    self._thread.start()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            if first is _FLUSH:  # nothing held: what it asked for is written already
                continue
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get(timeout=self.flush_interval if len(batch) < 2 else 0.001)
                except queue.Empty:
                    break
                if item is None:
                    self._write(batch)
                    return
                if item is _FLUSH:
                    break
                batch.append(item)
            self._write(batch)

    def _write(self, batch: list[SuggestionEvent]) -> None:
        rows = [_row(e) for e in batch]
        try:
            with self.store.engine.begin() as conn:
                conn.execute(insert(suggestion_events), rows)
        except IntegrityError:  # a repeated request id that two replicas claimed at once: one by one
            for row in rows:
                try:
                    with self.store.engine.begin() as conn:
                        conn.execute(insert(suggestion_events), [row])
                except IntegrityError:
                    fresh = uuid.uuid4().hex
                    logger.warning("suggestion event %s of shop %s: request id already recorded; recorded as %s",
                                   mask_pii(row["request_id"]), row["shop_id"], fresh)
                    try:
                        with self.store.engine.begin() as conn:
                            conn.execute(insert(suggestion_events), [{**row, "request_id": fresh}])
                    except Exception:
                        logger.exception("could not record suggestion event %s", fresh)
        except Exception:  # analytics must never take the service down
            logger.exception("could not record %d suggestion events", len(rows))
        finally:
            with self._idle:
                self._pending -= len(batch)
                self._idle.notify_all()

    def record_feedback(self, shop_id: str, *, request_id: str, action: str, agent_id: str,
                        suggestion_rank: int | None = None, entry_id: str | None = None,
                        final_text: str | None = None, time_to_reply_ms: int | None = None,
                        ts: float | None = None) -> Feedback:
        if action not in FEEDBACK_ACTIONS:
            raise ValueError(f"action must be one of {FEEDBACK_ACTIONS}")
        self.flush()
        with self.store.engine.connect() as conn:
            event = conn.execute(select(suggestion_events.c.entry_ids, suggestion_events.c.message).where(
                suggestion_events.c.shop_id == shop_id, suggestion_events.c.request_id == request_id)).first()
        if event is None:
            raise RequestNotFound(M("nf.request", shop=shop_id, request=request_id))
        entry_ids = _json(event.entry_ids)
        if entry_id is None and suggestion_rank is not None and 1 <= suggestion_rank <= len(entry_ids):
            entry_id = entry_ids[suggestion_rank - 1]
        feedback_id = uuid.uuid4().hex
        with self.store.engine.begin() as conn:
            conn.execute(insert(feedback_events).values(
                id=feedback_id, shop_id=shop_id, request_id=request_id, ts=ts or time.time(), action=action,
                suggestion_rank=suggestion_rank, entry_id=entry_id,
                final_text=mask_pii(final_text) if final_text else None, agent_id=agent_id,
                time_to_reply_ms=time_to_reply_ms))
        return Feedback(id=feedback_id, request_id=request_id, action=action, entry_id=entry_id,
                        message=event.message)

    # -- reading ---------------------------------------------------------------------------
    def _events(self, shop_id: str, since: float, until: float | None = None) -> list:
        self.flush()
        query = select(suggestion_events).where(suggestion_events.c.shop_id == shop_id,
                                                suggestion_events.c.ts >= since)
        if until is not None:
            query = query.where(suggestion_events.c.ts < until)
        with self.store.engine.connect() as conn:
            return conn.execute(query.order_by(suggestion_events.c.ts, suggestion_events.c.request_id)).all()

    def _feedback(self, shop_id: str, since: float) -> list:
        with self.store.engine.connect() as conn:
            return conn.execute(select(feedback_events).where(feedback_events.c.shop_id == shop_id,
                                                              feedback_events.c.ts >= since)
                                .order_by(feedback_events.c.ts)).all()

    def hot_questions(self, shop_id: str, *, days: int, by: Literal["entry", "intent"], bucket: Literal["day", "hour"],
                      labels: dict[str, str] | None = None, min_confidence: float = 0.0, limit: int = 20,
                      now: float | None = None) -> list[HotItem]:
        """Most asked entries (or intents) in the last ``days``, with a per-bucket series and the trend
        against the ``days`` before. ``by=intent`` uses the recorded intent, else the entry's category
        (``labels`` maps entry id → category for that)."""
        now = now or time.time()
        span = days * 86400
        current: dict[str, Counter[str]] = defaultdict(Counter)
        previous: Counter[str] = Counter()
        fmt = "%Y-%m-%d" if bucket == "day" else "%Y-%m-%dT%H:00"
        for row in self._events(shop_id, now - 2 * span):
            if row.top_entry_id is None or (row.top_confidence or 0.0) < min_confidence:
                continue
            key = row.top_entry_id if by == "entry" else (row.intent or (labels or {}).get(row.top_entry_id) or "")
            if not key:
                continue
            if row.ts >= now - span:
                current[key][datetime.fromtimestamp(row.ts, UTC).strftime(fmt)] += 1
            else:
                previous[key] += 1
        items = []
        for key, series in current.items():
            total = sum(series.values())
            before = previous.get(key, 0)
            items.append(HotItem(key=key, label=(labels or {}).get(key, key) if by == "entry" else key, total=total,
                                 previous_total=before, trend=(total - before) / before if before else None,
                                 series=sorted(series.items())))
        items.sort(key=lambda i: (-i.total, i.key))
        return items[:limit]

    def unanswered(self, shop_id: str, encoder: Encoder, *, days: int, low_confidence: float,
                   threshold: float = 0.8, normalise: Callable[[str], str] = lambda s: s, max_examples: int = 5,
                   now: float | None = None, max_messages: int = 5000,
                   covered: Collection[str] = ()) -> list[Cluster]:
        """Requests the KB did not answer — best confidence below ``low_confidence``, or feedback
        ``ignored`` / ``own_reply`` — clustered by meaning (leader clustering in time order at cosine
        ``threshold``), biggest first. Messages whose normalised text is in ``covered`` (the active
        version's phrasings) are answered now: once a cluster is added as an entry or as 相似问, it
        is no longer listed."""
        now = now or time.time()
        since = now - days * 86400
        missed = {f.request_id for f in self._feedback(shop_id, since) if f.action in ("ignored", "own_reply")}
        rows = [r for r in self._events(shop_id, since)
                if (r.request_id in missed or r.top_confidence is None or r.top_confidence < low_confidence)
                and normalise(r.message) not in covered]
        texts = [normalise(r.message) for r in rows]
        # A message with nothing to understand (only emoji, spaces …) is no question the KB missed.
        kept = [(r, t) for r, t in zip(rows, texts) if understandable(t)][-max_messages:]
        if not kept:
            return []
        rows = [r for r, _ in kept]
        vectors = encoder.encode([t for _, t in kept])
        groups = leader_clusters(vectors, threshold)
        clusters = []
        for members in groups:
            member_rows = [rows[i] for i in members]
            tops = Counter(r.top_entry_id for r in member_rows if r.top_entry_id)
            seen: list[str] = []
            for r in reversed(member_rows):
                if r.message not in seen:
                    seen.append(r.message)
                if len(seen) == max_examples:
                    break
            clusters.append(Cluster(
                id=member_rows[0].request_id, count=len(member_rows), examples=seen,
                suggested_entry_id=tops.most_common(1)[0][0] if tops else None,
                low_confidence=sum(1 for r in member_rows if r.top_confidence is None
                                   or r.top_confidence < low_confidence),
                ignored=sum(1 for r in member_rows if r.request_id in missed),
                entry_counts=tops.most_common(5)))
        clusters.sort(key=lambda c: (-c.count, c.id))
        return clusters

    def cluster(self, shop_id: str, cluster_id: str, encoder: Encoder, **kwargs) -> Cluster:
        for c in self.unanswered(shop_id, encoder, max_examples=50, **kwargs):
            if c.id == cluster_id:
                return c
        raise ItemNotFound(M("nf.cluster", shop=shop_id, cluster=cluster_id))

    def adoption(self, shop_id: str, *, days: int, now: float | None = None) -> AdoptionReport:
        """Adoption (accepted + edited over all feedback) and edit rate (edited over used), overall and per
        agent; median time to reply when a suggestion was used vs not."""
        now = now or time.time()
        since = now - days * 86400
        per_agent: dict[str, Counter[str]] = defaultdict(Counter)
        with_s: list[int] = []
        without_s: list[int] = []
        for f in self._feedback(shop_id, since):
            per_agent[f.agent_id][f.action] += 1
            if f.time_to_reply_ms is not None:
                (with_s if f.action in USED else without_s).append(f.time_to_reply_ms)

        def adoption(agent: str, counts: Counter[str]) -> AgentAdoption:
            return AgentAdoption(agent_id=agent, feedback=sum(counts.values()), accepted=counts["accepted"],
                                 edited=counts["edited"], ignored=counts["ignored"], own_reply=counts["own_reply"])

        total: Counter[str] = Counter()
        for counts in per_agent.values():
            total.update(counts)
        return AdoptionReport(
            overall=adoption("*", total),
            agents=[adoption(a, c) for a, c in sorted(per_agent.items())],
            median_ms_with_suggestion=statistics.median(with_s) if with_s else None,
            median_ms_without_suggestion=statistics.median(without_s) if without_s else None,
            suggestions=len(self._events(shop_id, since)))

    def entry_hits(self, shop_id: str, entries: list[tuple[str, str]], *, days: int,
                   now: float | None = None) -> list[EntryHits]:
        """Hits of every entry of ``entries`` ((id, question), e.g. the active version), zeros included."""
        now = now or time.time()
        since = now - days * 86400
        top1: Counter[str] = Counter()
        shown: Counter[str] = Counter()
        for r in self._events(shop_id, since):
            if r.top_entry_id:
                top1[r.top_entry_id] += 1
            shown.update(set(_json(r.entry_ids)))
        used = Counter(f.entry_id for f in self._feedback(shop_id, since) if f.action in USED and f.entry_id)
        out = [EntryHits(entry_id=eid, question=q, top1=top1[eid], shown=shown[eid], used=used[eid])
               for eid, q in entries]
        out.sort(key=lambda h: (-h.top1, -h.shown, h.entry_id))
        return out


def leader_clusters(vectors: np.ndarray, threshold: float) -> list[list[int]]:
    """Leader clustering of L2-normalised rows in order: each row joins the first cluster whose seed
    is within cosine ``threshold`` of it (the closest such seed), else starts a new one. Deterministic,
    and earlier seeds never change when rows are appended. O(n × clusters)."""
    seeds: list[int] = []
    members: list[list[int]] = []
    seed_matrix = np.zeros((0, vectors.shape[1]), dtype=np.float32)
    for i, v in enumerate(vectors):
        if seeds:
            sims = seed_matrix @ v
            best = int(np.argmax(sims))
            if sims[best] >= threshold:
                members[best].append(i)
                continue
        seeds.append(i)
        members.append([i])
        seed_matrix = np.vstack([seed_matrix, v[None, :].astype(np.float32)])
    return members


def _row(e: SuggestionEvent) -> dict:
    return {"shop_id": e.shop_id, "request_id": e.request_id, "ts": e.ts, "message": mask_pii(e.message)[:2000],
            "kb_version": e.kb_version, "entry_ids": list(e.entry_ids), "scores": [round(s, 4) for s in e.scores],
            "top_entry_id": e.entry_ids[0] if e.entry_ids else None, "top_confidence": e.confidence,
            "intent": e.intent, "latency_ms": e.latency_ms, "conversation_id": e.conversation_id,
            "message_intent": e.message_intent,
            "escalate_level": e.escalate_level, "escalate_reasons": ",".join(e.escalate_reasons)[:200] or None,
            "route_group": e.route_group, "route_reason": e.route_reason}


def _json(value: object) -> list:
    import json

    if isinstance(value, str):
        return json.loads(value)
    return list(value or [])
