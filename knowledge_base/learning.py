"""Learned examples: real buyer messages labelled with a FAQ entry by an agent's pick.

Every ``accepted`` or ``edited`` feedback on a suggestion (and an ``own_reply`` the agent links to an
entry) says "this buyer message is answered by that entry" — a label made by a person, on the
distribution the shop's suggestions are actually used on. They are kept per shop, outside the FAQ
versions:

- ``pending`` until the merchant approves, moves (to another entry) or rejects them, unless the shop
  auto-approves (a shop setting);
- ``approved`` examples join the shop's served index as extra phrasings of their entry and train the
  ranker and its calibration (``service/ranking.py``), without changing any KB version;
- only ``promote`` (a merchant's decision) copies one into a new KB version as a 相似问.

The same message confirmed again for the same entry raises its ``count`` instead of adding a row. Any
change to the approved set bumps the shop's learning ``revision``, which serving replicas compare
with what they loaded (like the active KB version).
"""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import numpy as np
from sqlalchemy import and_, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from models.encoder import Encoder
from models.errors import InvalidRequest, ItemNotFound
from models.messages import M
from models.privacy import mask_pii

from .store import KbStore
from .tables import learned_examples, shop_learning

__all__ = ["LearnedExample", "LearnedLayer", "LearningBook", "STATUSES", "ORIGINS", "LEARNING_ACTIONS",
           "encode_vector", "decode_vectors"]

STATUSES = ("pending", "approved", "rejected", "promoted")
ORIGINS = ("accepted", "edited", "own_reply", "manual")
# Feedback actions that label the buyer's message with an entry.
LEARNING_ACTIONS = ("accepted", "edited", "own_reply")
Status = Literal["pending", "approved", "rejected", "promoted"]


def encode_vector(vector: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(vector, dtype="<f4").tobytes()).decode("ascii")


def decode_vectors(texts: Sequence[str], dim: int) -> np.ndarray:
    if not texts:
        return np.zeros((0, dim), dtype=np.float32)
    raw = b"".join(base64.b64decode(t) for t in texts)
    return np.frombuffer(raw, dtype="<f4").reshape(-1, dim).astype(np.float32)


@dataclass(frozen=True)
class LearnedExample:
    id: str
    shop_id: str
    text: str  # PII-masked buyer message
    entry_id: str
    status: str
    origin: str
    count: int
    created_at: datetime
    decided_at: datetime | None
    decided_by: str | None
    agent_id: str | None
    request_id: str | None


@dataclass(frozen=True)
class LearnedLayer:
    """What serving needs: the approved examples of a shop at one learning revision, with vectors."""

    revision: int
    entry_ids: list[str]
    texts: list[str]  # normalised
    vectors: np.ndarray  # (n, dim) float32, L2-normalised
    counts: list[int]

    def __len__(self) -> int:
        return len(self.entry_ids)

    def restricted_to(self, entries: set[str]) -> LearnedLayer:
        """Only the examples whose entry exists (in the version being served)."""
        keep = [i for i, e in enumerate(self.entry_ids) if e in entries]
        if len(keep) == len(self.entry_ids):
            return self
        return LearnedLayer(self.revision, [self.entry_ids[i] for i in keep], [self.texts[i] for i in keep],
                            self.vectors[keep], [self.counts[i] for i in keep])


def _example(row) -> LearnedExample:  # noqa: ANN001 - a Row of learned_examples
    def ts(value: float | None) -> datetime | None:
        return None if value is None else datetime.fromtimestamp(value, UTC)

    return LearnedExample(id=row.id, shop_id=row.shop_id, text=row.text, entry_id=row.entry_id, status=row.status,
                          origin=row.origin, count=row.count, created_at=ts(row.created_ts),  # type: ignore[arg-type]
                          decided_at=ts(row.decided_ts), decided_by=row.decided_by, agent_id=row.agent_id,
                          request_id=row.request_id)


class LearningBook:
    """Storage and review of a shop's learned examples (SQLite or PostgreSQL, portable SQL)."""

    def __init__(self, store: KbStore, encoder: Encoder, normalise: Callable[[str], str], *,
                 max_chars: int = 500, on_change: Callable[[str], None] | None = None) -> None:
        self.store = store
        self.encoder = encoder
        self.normalise = normalise
        self.max_chars = max_chars
        self.on_change = on_change or (lambda shop_id: None)

    # -- settings and revision ------------------------------------------------------------------
    def _ensure(self, shop_id: str) -> None:
        with self.store.engine.connect() as conn:
            if conn.execute(select(shop_learning.c.shop_id).where(shop_learning.c.shop_id == shop_id)).first():
                return
        try:
            with self.store.engine.begin() as conn:
                conn.execute(insert(shop_learning).values(shop_id=shop_id, auto_approve=False, revision=0,
                                                          updated_at=datetime.now(UTC)))
        except IntegrityError:
            pass  # created concurrently

    def auto_approve(self, shop_id: str) -> bool:
        with self.store.engine.connect() as conn:
            value = conn.execute(select(shop_learning.c.auto_approve)
                                 .where(shop_learning.c.shop_id == shop_id)).scalar_one_or_none()
        return bool(value)

    def set_auto_approve(self, shop_id: str, value: bool) -> bool:
        self.store.require_shop(shop_id)
        self._ensure(shop_id)
        with self.store.engine.begin() as conn:
            conn.execute(update(shop_learning).where(shop_learning.c.shop_id == shop_id)
                         .values(auto_approve=bool(value), updated_at=datetime.now(UTC)))
        return bool(value)

    def revision(self, shop_id: str) -> int:
        """The shop's learning revision (0: never had an approved example)."""
        with self.store.engine.connect() as conn:
            value = conn.execute(select(shop_learning.c.revision)
                                 .where(shop_learning.c.shop_id == shop_id)).scalar_one_or_none()
        return int(value or 0)

    @staticmethod
    def _bump(conn, shop_id: str) -> None:  # noqa: ANN001 - a Connection inside the change's transaction
        conn.execute(update(shop_learning).where(shop_learning.c.shop_id == shop_id)
                     .values(revision=shop_learning.c.revision + 1, updated_at=datetime.now(UTC)))

    # -- recording -------------------------------------------------------------------------------
    def record(self, shop_id: str, text: str, entry_id: str, *, origin: str, agent_id: str | None = None,
               request_id: str | None = None, approve: bool | None = None) -> LearnedExample | None:
        """Keep ``text`` (a buyer message) as an example of ``entry_id``.

        ``approve`` None: the shop's auto-approve setting decides. Returns the (new or counted-again)
        example, or None when there is nothing to learn from (an empty message, or one the merchant
        already rejected for that entry).
        """
        if origin not in ORIGINS:
            raise ValueError(f"origin must be one of {ORIGINS}")
        text = mask_pii(text.strip())[: self.max_chars]
        norm = self.normalise(text)
        if not norm.strip():
            return None
        self._ensure(shop_id)
        if approve is None:
            approve = self.auto_approve(shop_id)
        now = time.time()
        key = and_(learned_examples.c.shop_id == shop_id, learned_examples.c.norm == norm,
                   learned_examples.c.entry_id == entry_id)
        with self.store.engine.begin() as conn:
            row = conn.execute(select(learned_examples).where(key)).first()
            if row is not None:
                if row.status == "rejected":
                    return None
                values: dict = {"count": learned_examples.c.count + 1}
                if approve and row.status == "pending":
                    values.update(status="approved", decided_ts=now, decided_by="auto")
                conn.execute(update(learned_examples).where(learned_examples.c.id == row.id).values(**values))
                if row.status == "approved" or values.get("status") == "approved":
                    self._bump(conn, shop_id)  # the count weighs in the ranker's prior
                row_id = row.id
            else:
                vector = self.encoder.encode([norm])[0]
                row_id = uuid.uuid4().hex
                conn.execute(insert(learned_examples).values(
                    id=row_id, shop_id=shop_id, text=text, norm=norm, entry_id=entry_id,
                    status="approved" if approve else "pending", origin=origin, count=1, request_id=request_id,
                    agent_id=agent_id, created_ts=now, decided_ts=now if approve else None,
                    decided_by="auto" if approve else None, vector=encode_vector(vector),
                    encoder_id=self.encoder.model_id))
                if approve:
                    self._bump(conn, shop_id)
        if approve:
            self.on_change(shop_id)
        return self.get(shop_id, row_id)

    # -- review ------------------------------------------------------------------------------------
    def get(self, shop_id: str, example_id: str) -> LearnedExample:
        with self.store.engine.connect() as conn:
            row = conn.execute(select(learned_examples).where(learned_examples.c.shop_id == shop_id,
                                                              learned_examples.c.id == example_id)).first()
        if row is None:
            raise ItemNotFound(M("nf.learned_example", shop=shop_id, item=example_id))
        return _example(row)

    def list(self, shop_id: str, *, status: str | None = None, entry_id: str | None = None, limit: int = 100,
             offset: int = 0) -> tuple[list[LearnedExample], dict[str, int]]:
        """Examples, newest first, and the shop's count per status."""
        if status is not None and status not in STATUSES:
            raise InvalidRequest(M("learning.bad_status", choices=list(STATUSES)))
        where = [learned_examples.c.shop_id == shop_id]
        if status is not None:
            where.append(learned_examples.c.status == status)
        if entry_id is not None:
            where.append(learned_examples.c.entry_id == entry_id)
        with self.store.engine.connect() as conn:
            rows = conn.execute(select(learned_examples).where(*where)
                                .order_by(learned_examples.c.created_ts.desc(), learned_examples.c.id)
                                .limit(limit).offset(offset)).all()
            counts = dict(conn.execute(select(learned_examples.c.status, func.count())
                                       .where(learned_examples.c.shop_id == shop_id)
                                       .group_by(learned_examples.c.status)).all())
        return [_example(r) for r in rows], {s: int(counts.get(s, 0)) for s in STATUSES}

    def decide(self, shop_id: str, example_id: str, action: Literal["approve", "reject", "move"], *,
               entry_id: str | None = None, known_entries: set[str] | None = None) -> LearnedExample:
        """The merchant's decision: approve (optionally for another entry), move (= approve for
        ``entry_id``) or reject. ``known_entries``: the active version's entry ids, to refuse a move to
        an entry that does not exist."""
        current = self.get(shop_id, example_id)
        if action == "move" and not entry_id:
            raise InvalidRequest(M("learning.move_needs_entry"))
        target = entry_id or current.entry_id
        if known_entries is not None and action != "reject" and target not in known_entries:
            raise InvalidRequest(M("learning.unknown_entry", entry=target))
        status = "rejected" if action == "reject" else "approved"
        self._ensure(shop_id)
        with self.store.engine.begin() as conn:
            if target != current.entry_id:
                clash = conn.execute(select(learned_examples.c.id).where(
                    learned_examples.c.shop_id == shop_id, learned_examples.c.entry_id == target,
                    learned_examples.c.norm == select(learned_examples.c.norm)
                    .where(learned_examples.c.id == example_id).scalar_subquery())).first()
                if clash is not None:
                    raise InvalidRequest(M("learning.duplicate", entry=target, other=clash.id))
            conn.execute(update(learned_examples).where(learned_examples.c.id == example_id).values(
                entry_id=target, status=status, decided_ts=time.time(), decided_by="merchant"))
            if current.status == "approved" or status == "approved":
                self._bump(conn, shop_id)
        self.on_change(shop_id)
        return self.get(shop_id, example_id)

    def mark_promoted(self, shop_id: str, example_id: str) -> LearnedExample:
        """The example is now a 相似问 of its entry in a KB version: it leaves the learned layer (the
        version's index has it), and stays listed as ``promoted``."""
        current = self.get(shop_id, example_id)
        self._ensure(shop_id)
        with self.store.engine.begin() as conn:
            conn.execute(update(learned_examples).where(learned_examples.c.id == example_id).values(
                status="promoted", decided_ts=time.time(), decided_by="merchant"))
            if current.status == "approved":
                self._bump(conn, shop_id)
        self.on_change(shop_id)
        return self.get(shop_id, example_id)

    def learn_from(self, shop_id: str, feedback, *, agent_id: str | None = None  # noqa: ANN001 - analytics.Feedback
                   ) -> LearnedExample | None:
        """The learned example an agent's feedback makes, if it labels the buyer's message with an entry
        (accepted / edited suggestion, or an own reply linked to an entry)."""
        if feedback.action not in LEARNING_ACTIONS or not feedback.entry_id or not feedback.message:
            return None
        return self.record(shop_id, feedback.message, feedback.entry_id, origin=feedback.action,
                           agent_id=agent_id, request_id=feedback.request_id)

    # -- serving -----------------------------------------------------------------------------------
    def layer(self, shop_id: str, revision: int | None = None) -> LearnedLayer:
        """The approved examples with their vectors (re-encoded where another encoder made them)."""
        if revision is None:
            revision = self.revision(shop_id)
        with self.store.engine.connect() as conn:
            rows = conn.execute(select(learned_examples.c.id, learned_examples.c.norm, learned_examples.c.entry_id,
                                       learned_examples.c.count, learned_examples.c.vector,
                                       learned_examples.c.encoder_id)
                                .where(learned_examples.c.shop_id == shop_id,
                                       learned_examples.c.status == "approved")
                                .order_by(learned_examples.c.created_ts, learned_examples.c.id)).all()
        dim = self.encoder.dim
        vectors = np.zeros((len(rows), dim), dtype=np.float32)
        stale = [i for i, r in enumerate(rows) if r.encoder_id != self.encoder.model_id or not r.vector]
        fresh = [i for i in range(len(rows)) if i not in set(stale)]
        if fresh:
            vectors[fresh] = decode_vectors([rows[i].vector for i in fresh], dim)
        if stale:  # after an encoder change: encode now, store for next time
            new = self.encoder.encode([rows[i].norm for i in stale])
            vectors[stale] = new
            with self.store.engine.begin() as conn:
                for i, v in zip(stale, new):
                    conn.execute(update(learned_examples).where(learned_examples.c.id == rows[i].id)
                                 .values(vector=encode_vector(v), encoder_id=self.encoder.model_id))
        return LearnedLayer(revision=revision, entry_ids=[r.entry_id for r in rows], texts=[r.norm for r in rows],
                            vectors=vectors, counts=[int(r.count) for r in rows])
