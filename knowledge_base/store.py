"""Storage of shops, knowledge-base versions and their entries (SQLAlchemy Core).

SQLite (WAL) by default; the same statements run on PostgreSQL. A version is written as
``building`` and only becomes the shop's active version by one UPDATE once its index is on disk,
so readers never see a half-built knowledge base.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Engine

from models.errors import NoActiveKnowledgeBase, NotFound, ShopNotFound

from .schema import FaqEntry, KbVersion

__all__ = ["KbStore", "metadata"]

metadata = MetaData()

shops = Table(
    "shops",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False, default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # Bumped before a version is inserted: the row lock serialises concurrent uploads of a shop.
    Column("last_version", Integer, nullable=False, default=0),
    Column("active_version", Integer, nullable=True),
)

kb_versions = Table(
    "kb_versions",
    metadata,
    Column("shop_id", String(64), ForeignKey("shops.id"), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("status", String(16), nullable=False),  # building | ready | failed
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("source", String(300), nullable=False, default=""),
    Column("entry_count", Integer, nullable=False, default=0),
    Column("phrasing_count", Integer, nullable=False, default=0),
    Column("encoder_id", String(200), nullable=False, default=""),
    Column("note", Text, nullable=False, default=""),
)

kb_entries = Table(
    "kb_entries",
    metadata,
    Column("shop_id", String(64), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("entry_id", String(128), primary_key=True),
    Column("position", Integer, nullable=False),
    Column("question", Text, nullable=False),
    Column("similar", JSON, nullable=False),
    Column("answers", JSON, nullable=False),
    Column("category", String(100), nullable=False, default=""),
    Column("enabled", Boolean, nullable=False, default=True),
)


def _now() -> datetime:
    return datetime.now(UTC)


class KbStore:
    """All reads and writes of shops, versions and entries. Safe to share between threads."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = _make_engine(url)
        metadata.create_all(self.engine)

    @classmethod
    def for_sqlite_file(cls, path: Path) -> KbStore:
        path.parent.mkdir(parents=True, exist_ok=True)
        return cls(f"sqlite:///{path}")

    def close(self) -> None:
        self.engine.dispose()

    # -- shops -------------------------------------------------------------------------------
    def ensure_shop(self, shop_id: str, name: str = "") -> None:
        with self.engine.begin() as conn:
            exists = conn.execute(select(shops.c.id).where(shops.c.id == shop_id)).first()
            if exists is None:
                conn.execute(insert(shops).values(
                    id=shop_id, name=name, created_at=_now(), last_version=0, active_version=None))

    def shop_exists(self, shop_id: str) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(select(shops.c.id).where(shops.c.id == shop_id)).first() is not None

    def active_version(self, shop_id: str) -> int | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(shops.c.active_version).where(shops.c.id == shop_id)).first()
        if row is None:
            raise ShopNotFound(f"shop {shop_id!r} does not exist; upload a knowledge base first")
        return row.active_version

    def require_active_version(self, shop_id: str) -> int:
        version = self.active_version(shop_id)
        if version is None:
            raise NoActiveKnowledgeBase(f"shop {shop_id!r} has no active knowledge base yet; upload one")
        return version

    # -- versions ----------------------------------------------------------------------------
    def create_version(self, shop_id: str, entries: list[FaqEntry], *, source: str, encoder_id: str) -> int:
        """Store entries as a new ``building`` version and return its number."""
        self.ensure_shop(shop_id)
        with self.engine.begin() as conn:
            # UPDATE first: it takes the write lock (SQLite) / row lock (PostgreSQL) before the read,
            # so two concurrent uploads get consecutive, distinct numbers.
            conn.execute(update(shops).where(shops.c.id == shop_id).values(last_version=shops.c.last_version + 1))
            version = conn.execute(select(shops.c.last_version).where(shops.c.id == shop_id)).scalar_one()
            conn.execute(insert(kb_versions).values(
                shop_id=shop_id, version=version, status="building", created_at=_now(), source=source[:300],
                entry_count=len(entries), phrasing_count=sum(len(e.phrasings) for e in entries if e.enabled),
                encoder_id=encoder_id, note=""))
            if entries:
                conn.execute(insert(kb_entries), [
                    {"shop_id": shop_id, "version": version, "entry_id": e.id, "position": i,
                     "question": e.question, "similar": list(e.similar), "answers": list(e.answers),
                     "category": e.category, "enabled": e.enabled}
                    for i, e in enumerate(entries)
                ])
        return version

    def mark_failed(self, shop_id: str, version: int, note: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(kb_versions)
                         .where(kb_versions.c.shop_id == shop_id, kb_versions.c.version == version)
                         .values(status="failed", note=note[:2000]))

    def activate(self, shop_id: str, version: int, *, only_if_newer: bool = False) -> bool:
        """Make a built version the active one (also used for rollback). One atomic UPDATE.

        With ``only_if_newer`` (imports) an older build finishing late never replaces a newer
        active version; the version is still marked ready. Returns whether it became active.
        """
        with self.engine.begin() as conn:
            # Take the shop row's write lock first, as in create_version.
            conn.execute(update(shops).where(shops.c.id == shop_id).values(last_version=shops.c.last_version))
            row = conn.execute(select(kb_versions.c.status).where(
                kb_versions.c.shop_id == shop_id, kb_versions.c.version == version)).first()
            if row is None:
                raise NotFound(f"shop {shop_id!r} has no version {version}")
            if row.status == "building":
                conn.execute(update(kb_versions)
                             .where(kb_versions.c.shop_id == shop_id, kb_versions.c.version == version)
                             .values(status="ready"))
            elif row.status != "ready":
                raise NotFound(f"version {version} of shop {shop_id!r} is {row.status}, it cannot be activated")
            current = conn.execute(select(shops.c.active_version).where(shops.c.id == shop_id)).scalar_one()
            if only_if_newer and current is not None and current > version:
                return False
            conn.execute(update(shops).where(shops.c.id == shop_id).values(active_version=version))
            return True

    def get_version(self, shop_id: str, version: int) -> KbVersion:
        for v in self.list_versions(shop_id, version=version):
            return v
        raise NotFound(f"shop {shop_id!r} has no version {version}")

    def list_versions(self, shop_id: str, *, version: int | None = None) -> list[KbVersion]:
        active = self.active_version(shop_id)
        query = select(kb_versions).where(kb_versions.c.shop_id == shop_id)
        if version is not None:
            query = query.where(kb_versions.c.version == version)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(kb_versions.c.version)).all()
        return [
            KbVersion(shop_id=r.shop_id, version=r.version, status=r.status, created_at=r.created_at,
                      source=r.source, entry_count=r.entry_count, phrasing_count=r.phrasing_count,
                      encoder_id=r.encoder_id, active=r.version == active, note=r.note)
            for r in rows
        ]

    def entries(self, shop_id: str, version: int) -> list[FaqEntry]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(kb_entries)
                                .where(kb_entries.c.shop_id == shop_id, kb_entries.c.version == version)
                                .order_by(kb_entries.c.position)).all()
        return [
            FaqEntry(id=r.entry_id, question=r.question, answers=tuple(_json_list(r.answers)),
                     similar=tuple(_json_list(r.similar)), category=r.category, enabled=bool(r.enabled))
            for r in rows
        ]

    def count_versions(self, shop_id: str) -> int:
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(kb_versions)
                                .where(kb_versions.c.shop_id == shop_id)).scalar_one()


def _json_list(value: object) -> list[str]:
    if isinstance(value, str):  # some drivers hand JSON back as text
        value = json.loads(value)
    return [str(v) for v in value or []]


def _make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # noqa: ANN001 - DB-API types
            cursor = dbapi_conn.cursor()
            # WAL: readers (suggestions) never wait for a writer (an upload).
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True)
