"""Storage of shops, knowledge-base versions and their entries, quick phrases and auto-reply rules
(SQLAlchemy Core): ``KbStore``, the repository the books and the importer share. The tables are in
``tables.py``, the engine and the migrations in ``engine.py``.

SQLite (WAL) by default; the same statements run on PostgreSQL (no dialect-specific SQL). A version
is written as ``building`` and only becomes the shop's active version by one UPDATE once its index
is on disk, so readers never see a half-built knowledge base. ``kb_builds`` records which process is
building which version, so a restart can tell an interrupted build from a live one. When the store
keeps the index files (PostgreSQL by default: ``kb_artifacts``), they are written in the transaction
that makes the version ready (``knowledge_base/artifacts.py`` fetches them onto each replica's disk).

Quick phrases and rules are small per-shop collections versioned the same way: every change writes
the whole collection as a new revision (rows keyed by revision) and moves the shop's pointer in the
same transaction, so history, diff and restore come for free and a reader never sees half a change.
"""

from __future__ import annotations

import hashlib
import json
import time
from datetime import UTC, datetime
from pathlib import Path

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO, Literal

from sqlalchemy import Table, and_, delete, func, insert, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from models.errors import (
    ItemNotFound,
    NoActiveKnowledgeBase,
    ShopNotFound,
    VersionNotActivatable,
    VersionNotFound,
)

from models.messages import M, Msg

from .engine import make_engine, migrate
from .schema import FaqEntry, KbVersion
from .tables import (
    ARTIFACT_CHUNK_BYTES,
    COLLECTION_KINDS,
    DESK_SETTINGS,
    collection_revisions,
    kb_artifact_chunks,
    kb_artifacts,
    kb_build_jobs,
    kb_builds,
    kb_entries,
    kb_versions,
    rule_fires,
    shop_collections,
    shop_desk_settings,
    shop_learning,
    shop_settings,
    shops,
)

__all__ = ["KbStore", "BuildRecord", "BuildJob", "Revision", "ArtifactFile", "ArtifactsMode", "ServingState"]

@dataclass(frozen=True)
class BuildRecord:
    shop_id: str
    version: int
    host: str | None  # None: a building version without a record (made before records existed)
    pid: int | None


@dataclass(frozen=True)
class BuildJob:
    job_id: str
    shop_id: str
    version: int
    status: str  # queued | running | done | failed
    created_at: datetime
    updated_at: datetime
    worker: str
    lease_until: float | None
    attempts: int
    done: int
    total: int
    active: bool | None
    error: str


def _job(row) -> BuildJob:  # noqa: ANN001 - a Row of kb_build_jobs
    return BuildJob(job_id=row.job_id, shop_id=row.shop_id, version=row.version, status=row.status,
                    created_at=row.created_at, updated_at=row.updated_at, worker=row.worker,
                    lease_until=row.lease_until, attempts=row.attempts, done=row.done, total=row.total,
                    active=row.active, error=row.error)


@dataclass(frozen=True)
class ArtifactFile:
    """One built index file of a version: name, size and sha256; ``path`` is where it is on disk when it is
    being stored (the chunks are read from there)."""

    name: str
    size: int
    sha256: str
    path: Path | None = None
    encoder_id: str = ""  # of a stored file: the encoder whose vectors the version holds


# Where built indexes live: "database" (kb_artifacts, cached on each replica's disk), "files" (only on the
# local disk: one machine, or a volume every replica mounts), "auto" (database on PostgreSQL, else files).
ArtifactsMode = Literal["auto", "database", "files"]


@dataclass(frozen=True)
class ServingState:
    """What a suggestion is served from: the active KB version and the revisions of what joins it."""

    version: int
    learning_revision: int = 0
    quick_phrase_revision: int | None = None


@dataclass(frozen=True)
class Revision:
    shop_id: str
    kind: str
    revision: int
    created_at: datetime
    action: str
    item_count: int
    current: bool


def _now() -> datetime:
    return datetime.now(UTC)


class KbStore:
    """All reads and writes of shops, versions and entries. Safe to share between threads."""

    def __init__(self, url: str, *, artifacts: ArtifactsMode = "auto") -> None:
        if artifacts not in ("auto", "database", "files"):
            raise ValueError(f"artifacts must be 'auto', 'database' or 'files', not {artifacts!r}")
        self.url = url
        self.engine = make_engine(url)
        # Whether built index files are stored here too (written when a version becomes ready), so that
        # replicas share nothing but this database.
        self.keeps_artifacts = artifacts == "database" or (artifacts == "auto" and self.engine.dialect.name != "sqlite")
        migrate(self.engine)

    @classmethod
    def for_sqlite_file(cls, path: Path, *, artifacts: ArtifactsMode = "auto") -> KbStore:
        path.parent.mkdir(parents=True, exist_ok=True)
        return cls(f"sqlite:///{path}", artifacts=artifacts)

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
            raise ShopNotFound(M("nf.shop", shop=shop_id))
        return row.active_version

    def shops_with_active_version(self) -> set[str]:
        with self.engine.connect() as conn:
            return set(conn.execute(select(shops.c.id).where(shops.c.active_version.is_not(None))).scalars())

    def require_active_version(self, shop_id: str) -> int:
        version = self.active_version(shop_id)
        if version is None:
            raise NoActiveKnowledgeBase(M("nf.no_active_kb", shop=shop_id))
        return version

    def serving_state(self, shop_id: str) -> ServingState:
        """The active version, learning revision and quick-phrase revision in one query: what a replica
        compares with what it has loaded, on every request (or every ``active_version_ttl`` seconds)."""
        qp = shop_collections.alias("qp")
        with self.engine.connect() as conn:
            row = conn.execute(
                select(shops.c.active_version, shop_learning.c.revision, qp.c.current_revision)
                .select_from(shops.outerjoin(shop_learning, shop_learning.c.shop_id == shops.c.id)
                             .outerjoin(qp, and_(qp.c.shop_id == shops.c.id, qp.c.kind == "quick_phrases")))
                .where(shops.c.id == shop_id)).first()
        if row is None:
            raise ShopNotFound(M("nf.shop", shop=shop_id))
        if row[0] is None:
            raise NoActiveKnowledgeBase(M("nf.no_active_kb", shop=shop_id))
        return ServingState(int(row[0]), int(row[1] or 0), row[2])

    # -- versions ----------------------------------------------------------------------------
    def create_version(
        self, shop_id: str, entries: list[FaqEntry], *, source: str | Msg, encoder_id: str,
        builder: tuple[str, int] | None = None, note: str | Msg = "", job_id: str | None = None,
        base_version: int | None = None,
    ) -> int:
        """Store entries as a new ``building`` version and return its number.

        ``builder`` (host, pid) records the process that will build the index, for crash recovery.
        ``job_id`` instead queues a build job for it in the same transaction (any replica builds it).
        """
        self.ensure_shop(shop_id)
        with self.engine.begin() as conn:
            # UPDATE first: it takes the write lock (SQLite) / row lock (PostgreSQL) before the read,
            # so two concurrent uploads get consecutive, distinct numbers.
            conn.execute(update(shops).where(shops.c.id == shop_id).values(last_version=shops.c.last_version + 1))
            version = conn.execute(select(shops.c.last_version).where(shops.c.id == shop_id)).scalar_one()
            conn.execute(insert(kb_versions).values(
                shop_id=shop_id, version=version, status="building", created_at=_now(), source=str(source)[:300],
                entry_count=len(entries), phrasing_count=sum(len(e.phrasings) for e in entries if e.enabled),
                encoder_id=encoder_id, note=str(note)[:2000], base_version=base_version,
                source_msg=_msg_json(source), note_msg=_msg_json(note)))
            if builder is not None:
                conn.execute(insert(kb_builds).values(shop_id=shop_id, version=version, host=builder[0][:255],
                                                      pid=builder[1], started_at=_now()))
            if job_id is not None:
                conn.execute(insert(kb_build_jobs).values(
                    job_id=job_id, shop_id=shop_id, version=version, status="queued", created_at=_now(),
                    updated_at=_now(), worker="", lease_until=None, attempts=0, done=0,
                    total=sum(len(e.phrasings) for e in entries if e.enabled), active=None, error=""))
            if entries:
                conn.execute(insert(kb_entries), [
                    {"shop_id": shop_id, "version": version, "entry_id": e.id, "position": i,
                     "question": e.question, "similar": list(e.similar), "answers": list(e.answers),
                     "category": e.category, "enabled": e.enabled}
                    for i, e in enumerate(entries)
                ])
        return version

    def mark_failed(self, shop_id: str, version: int, note: str | Msg) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(kb_versions)
                         .where(kb_versions.c.shop_id == shop_id, kb_versions.c.version == version)
                         .values(status="failed", note=str(note)[:2000], note_msg=_msg_json(note)))
            self._end_build(conn, shop_id, version)

    @staticmethod
    def _end_build(conn: Connection, shop_id: str, version: int) -> None:
        conn.execute(delete(kb_builds).where(kb_builds.c.shop_id == shop_id, kb_builds.c.version == version))

    def building_versions(self) -> list[BuildRecord]:
        """Every version still marked ``building``, with the process that claimed it (if recorded)."""
        query = (select(kb_versions.c.shop_id, kb_versions.c.version, kb_builds.c.host, kb_builds.c.pid)
                 .select_from(kb_versions.outerjoin(kb_builds, (kb_builds.c.shop_id == kb_versions.c.shop_id)
                                                    & (kb_builds.c.version == kb_versions.c.version)))
                 .where(kb_versions.c.status == "building")
                 # A version with a queued or running job is the jobs' business (leases), not recovery's.
                 .where(~select(kb_build_jobs.c.job_id)
                        .where(kb_build_jobs.c.shop_id == kb_versions.c.shop_id,
                               kb_build_jobs.c.version == kb_versions.c.version,
                               kb_build_jobs.c.status.in_(("queued", "running"))).exists())
                 .order_by(kb_versions.c.shop_id, kb_versions.c.version))
        with self.engine.connect() as conn:
            return [BuildRecord(r.shop_id, r.version, r.host, r.pid) for r in conn.execute(query)]

    def activate(self, shop_id: str, version: int, *, only_if_newer: bool = False,
                 artifacts: Sequence[ArtifactFile] = ()) -> bool:
        """Make a built version the active one (also used for rollback). One atomic UPDATE.

        With ``only_if_newer`` (imports) an older build finishing late never replaces a newer
        active version; the version is still marked ready. Returns whether it became active.
        A version still ``building`` is marked ready here; when the database keeps the index files,
        ``artifacts`` (the built files on disk) are stored in this same transaction, so no replica can
        see a ready version whose files are missing.
        """
        with self.engine.begin() as conn:
            # Take the shop row's write lock first, as in create_version.
            conn.execute(update(shops).where(shops.c.id == shop_id).values(last_version=shops.c.last_version))
            row = conn.execute(select(kb_versions.c.status, kb_versions.c.encoder_id).where(
                kb_versions.c.shop_id == shop_id, kb_versions.c.version == version)).first()
            if row is None:
                raise VersionNotFound(M("nf.version", shop=shop_id, version=version))
            if row.status == "building":
                if self.keeps_artifacts:
                    if not artifacts:
                        raise ValueError(f"shop {shop_id!r} v{version}: this database keeps the index files, "
                                         "but none were given to store with the version")
                    self._write_artifacts(conn, shop_id, version, row.encoder_id, artifacts)
                conn.execute(update(kb_versions)
                             .where(kb_versions.c.shop_id == shop_id, kb_versions.c.version == version)
                             .values(status="ready"))
                self._end_build(conn, shop_id, version)
            elif row.status != "ready":
                raise VersionNotActivatable(M("version.not_ready", shop=shop_id, version=version, status=row.status))
            current = conn.execute(select(shops.c.active_version).where(shops.c.id == shop_id)).scalar_one()
            if only_if_newer and current is not None and current > version:
                return False
            conn.execute(update(shops).where(shops.c.id == shop_id).values(active_version=version))
            return True

    # -- index artifacts ---------------------------------------------------------------------
    def artifacts(self, shop_id: str, version: int) -> list[ArtifactFile]:
        """The index files stored for a version (empty: none stored, e.g. a version built before)."""
        a = kb_artifacts.c
        with self.engine.connect() as conn:
            rows = conn.execute(select(a.name, a.size, a.sha256, a.encoder_id)
                                .where(a.shop_id == shop_id, a.version == version).order_by(a.name)).all()
        return [ArtifactFile(name=r.name, size=r.size, sha256=r.sha256, encoder_id=r.encoder_id) for r in rows]

    def read_artifact(self, shop_id: str, version: int, name: str, out: BinaryIO) -> int:
        """Write a stored file's content to ``out``, chunk by chunk (bounded memory); returns its bytes."""
        written = 0
        for data in self._chunks(shop_id, version, name):
            out.write(data)
            written += len(data)
        return written

    def _chunks(self, shop_id: str, version: int, name: str) -> Iterator[bytes]:
        c = kb_artifact_chunks.c
        query = (select(c.data).where(c.shop_id == shop_id, c.version == version, c.name == name)
                 .order_by(c.seq))
        with self.engine.connect() as conn:
            # A server-side cursor on PostgreSQL: a 100 MB index never sits in memory at once.
            for (data,) in conn.execution_options(stream_results=True, yield_per=4).execute(query):
                yield bytes(data)

    def add_artifacts(self, shop_id: str, version: int, encoder_id: str, artifacts: Sequence[ArtifactFile]) -> bool:
        """Store the files of a ready version that has none yet (one built before the database kept
        them); ``False`` if it has some already (another replica was first)."""
        with self.engine.begin() as conn:
            conn.execute(update(shops).where(shops.c.id == shop_id).values(last_version=shops.c.last_version))
            status = conn.execute(select(kb_versions.c.status).where(
                kb_versions.c.shop_id == shop_id, kb_versions.c.version == version)).scalar_one_or_none()
            if status != "ready":
                raise VersionNotActivatable(M("version.not_ready", shop=shop_id, version=version,
                                              status=status or "missing"))
            if conn.execute(select(kb_artifacts.c.name).where(
                    kb_artifacts.c.shop_id == shop_id, kb_artifacts.c.version == version).limit(1)).first():
                return False
            self._write_artifacts(conn, shop_id, version, encoder_id, artifacts)
        return True

    @staticmethod
    def _write_artifacts(conn: Connection, shop_id: str, version: int, encoder_id: str,
                         artifacts: Sequence[ArtifactFile]) -> None:
        for artifact in artifacts:
            if artifact.path is None:
                raise ValueError(f"artifact {artifact.name}: no file to store")
            chunks, size, digest = 0, 0, hashlib.sha256()
            with open(artifact.path, "rb") as fh:
                while True:
                    # A few chunks per statement: one round trip per 4 MiB, never the whole file in memory.
                    batch = []
                    for _ in range(4):
                        data = fh.read(ARTIFACT_CHUNK_BYTES)
                        if not data:
                            break
                        digest.update(data)
                        size += len(data)
                        batch.append({"shop_id": shop_id, "version": version, "name": artifact.name,
                                      "seq": chunks + len(batch), "data": data})
                    if not batch:
                        break
                    conn.execute(insert(kb_artifact_chunks), batch)
                    chunks += len(batch)
            if (size, digest.hexdigest()) != (artifact.size, artifact.sha256):
                # The transaction rolls back: the version is not marked ready with files that changed.
                raise ValueError(f"{artifact.path} changed while it was stored ({size} bytes, sha256 "
                                 f"{digest.hexdigest()[:12]}…; expected {artifact.size}, {artifact.sha256[:12]}…)")
            conn.execute(insert(kb_artifacts).values(
                shop_id=shop_id, version=version, name=artifact.name, encoder_id=encoder_id, size=artifact.size,
                sha256=artifact.sha256, chunks=chunks, created_at=_now()))

    # -- build jobs ---------------------------------------------------------------------------
    def claim_build_job(self, worker: str, lease_seconds: float, *, max_attempts: int = 3,
                        encoder_id: str | None = None, now: float | None = None) -> BuildJob | None:
        """Claim the oldest queued job, or a running one whose lease expired; ``None`` if there is none.

        ``SELECT … FOR UPDATE SKIP LOCKED`` (PostgreSQL): concurrent claimers each lock a different row
        and never wait for one another. The UPDATE is also guarded by the attempt count it read, so a
        back end without row locks (SQLite) cannot hand one job to two claimers either. A job already
        tried ``max_attempts`` times fails (with its version) instead of being claimed again. With
        ``encoder_id`` only versions stored for that encoder are claimed (a replica running another
        encoder leaves them to the others).
        """
        now = time.time() if now is None else now
        jobs = kb_build_jobs.c
        query = select(kb_build_jobs).where(
            or_(jobs.status == "queued", and_(jobs.status == "running", jobs.lease_until < now)))
        if encoder_id is not None:
            query = query.where(select(kb_versions.c.version)
                                .where(kb_versions.c.shop_id == jobs.shop_id, kb_versions.c.version == jobs.version,
                                       kb_versions.c.encoder_id == encoder_id).exists())
        with self.engine.begin() as conn:
            row = conn.execute(query.order_by(jobs.created_at, jobs.job_id).limit(1)
                               .with_for_update(skip_locked=True, of=kb_build_jobs)).first()
            if row is None:
                return None
            if row.attempts >= max_attempts:
                note = (f"build job {row.job_id} failed: its worker stopped {row.attempts} time(s) before finishing "
                        f"(last: {row.worker}); the previous active version stayed in service")
                conn.execute(update(kb_build_jobs).where(jobs.job_id == row.job_id)
                             .values(status="failed", error=note, lease_until=None, updated_at=_now()))
                conn.execute(update(kb_versions).where(kb_versions.c.shop_id == row.shop_id,
                                                       kb_versions.c.version == row.version,
                                                       kb_versions.c.status == "building")
                             .values(status="failed", note=note))
                return None
            claimed = conn.execute(
                update(kb_build_jobs)
                .where(jobs.job_id == row.job_id, jobs.attempts == row.attempts, jobs.status == row.status)
                .values(status="running", worker=worker[:300], lease_until=now + lease_seconds,
                        attempts=row.attempts + 1, updated_at=_now())).rowcount
            if claimed != 1:
                return None
            fresh = conn.execute(select(kb_build_jobs).where(jobs.job_id == row.job_id)).one()
        return _job(fresh)

    def build_job_progress(self, job_id: str, worker: str, done: int, total: int, lease_seconds: float, *,
                           now: float | None = None) -> bool:
        """Record progress and renew the lease; ``False`` if ``worker`` no longer holds the job."""
        now = time.time() if now is None else now
        with self.engine.begin() as conn:
            return conn.execute(
                update(kb_build_jobs)
                .where(kb_build_jobs.c.job_id == job_id, kb_build_jobs.c.worker == worker[:300],
                       kb_build_jobs.c.status == "running")
                .values(done=done, total=total, lease_until=now + lease_seconds, updated_at=_now())).rowcount == 1

    def finish_build_job(self, job_id: str, worker: str, *, ok: bool, active: bool | None = None,
                         error: str = "") -> bool:
        """Mark a held job done or failed; ``False`` if ``worker`` no longer held it."""
        values: dict = {"status": "done" if ok else "failed", "lease_until": None, "updated_at": _now(),
                        "error": error[:2000]}
        if ok:
            values["active"] = active
            values["done"] = kb_build_jobs.c.total
        with self.engine.begin() as conn:
            return conn.execute(
                update(kb_build_jobs)
                .where(kb_build_jobs.c.job_id == job_id, kb_build_jobs.c.worker == worker[:300],
                       kb_build_jobs.c.status == "running")
                .values(**values)).rowcount == 1

    def get_build_job(self, shop_id: str, job_id: str) -> BuildJob:
        with self.engine.connect() as conn:
            row = conn.execute(select(kb_build_jobs).where(kb_build_jobs.c.job_id == job_id,
                                                           kb_build_jobs.c.shop_id == shop_id)).first()
        if row is None:
            raise ItemNotFound(M("nf.build_job", shop=shop_id, job=job_id))
        return _job(row)

    def get_version(self, shop_id: str, version: int) -> KbVersion:
        for v in self.list_versions(shop_id, version=version):
            return v
        raise VersionNotFound(M("nf.version", shop=shop_id, version=version))

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
                      encoder_id=r.encoder_id, active=r.version == active, note=r.note, base_version=r.base_version,
                      source_msg=_msg_of(r.source_msg), note_msg=_msg_of(r.note_msg))
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

    def require_shop(self, shop_id: str) -> None:
        if not self.shop_exists(shop_id):
            raise ShopNotFound(M("nf.shop", shop=shop_id))

    # -- shop settings -----------------------------------------------------------------------
    def shop_timezone(self, shop_id: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(select(shop_settings.c.timezone)
                                .where(shop_settings.c.shop_id == shop_id)).scalar_one_or_none()

    def set_shop_timezone(self, shop_id: str, timezone: str) -> None:
        self.ensure_shop(shop_id)
        with self.engine.begin() as conn:
            done = conn.execute(update(shop_settings).where(shop_settings.c.shop_id == shop_id)
                                .values(timezone=timezone, updated_at=_now())).rowcount
            if not done:
                conn.execute(insert(shop_settings).values(shop_id=shop_id, timezone=timezone, updated_at=_now()))

    # -- the desk: routing table and response-time targets ------------------------------------
    def desk_settings(self, shop_id: str) -> dict:
        """The shop's stored desk settings (``routing``, the targets, ``updated_at``); {} if none."""
        with self.engine.connect() as conn:
            row = conn.execute(select(shop_desk_settings).where(shop_desk_settings.c.shop_id == shop_id)).first()
        if row is None:
            return {}
        out = dict(row._mapping)
        if isinstance(out.get("routing"), str):  # some drivers hand JSON back as text
            out["routing"] = json.loads(out["routing"])
        out["updated_at"] = _aware(out["updated_at"])
        return out

    def set_desk_settings(self, shop_id: str, **values: object) -> None:
        """Set the given columns of ``DESK_SETTINGS`` (None: back to the default); others are kept."""
        unknown = set(values) - set(DESK_SETTINGS)
        if unknown:
            raise ValueError(f"unknown desk settings {sorted(unknown)}")
        self.ensure_shop(shop_id)
        self._upsert(shop_desk_settings, {"shop_id": shop_id}, {**values, "updated_at": _now()})

    def _upsert(self, table: Table, key: dict[str, object], values: dict[str, object]) -> None:
        """Portable upsert: UPDATE the row with ``key``, else INSERT it; a concurrent INSERT → UPDATE again."""
        where = and_(*(table.c[k] == v for k, v in key.items()))
        for _ in range(2):
            try:
                with self.engine.begin() as conn:
                    if conn.execute(update(table).where(where).values(**values)).rowcount:
                        return
                    conn.execute(insert(table).values(**key, **values))
                    return
            except IntegrityError:
                continue

    # -- revisioned collections (quick phrases, rules) ---------------------------------------
    def current_revision(self, shop_id: str, kind: str) -> int | None:
        with self.engine.connect() as conn:
            return conn.execute(select(shop_collections.c.current_revision).where(
                shop_collections.c.shop_id == shop_id, shop_collections.c.kind == kind)).scalar_one_or_none()

    def collection(self, shop_id: str, kind: str, revision: int | None = None) -> tuple[int | None, list[dict]]:
        """(revision, items) of the current (or a given) revision; items are row dicts in position order."""
        table, _ = COLLECTION_KINDS[kind]
        with self.engine.connect() as conn:
            if revision is None:
                revision = conn.execute(select(shop_collections.c.current_revision).where(
                    shop_collections.c.shop_id == shop_id, shop_collections.c.kind == kind)).scalar_one_or_none()
                if revision is None:
                    return None, []
            elif conn.execute(select(collection_revisions.c.revision).where(
                    collection_revisions.c.shop_id == shop_id, collection_revisions.c.kind == kind,
                    collection_revisions.c.revision == revision)).first() is None:
                raise ItemNotFound(M("nf.revision", shop=shop_id, kind=kind.replace("_", " "), revision=revision))
            rows = conn.execute(select(table).where(table.c.shop_id == shop_id, table.c.revision == revision)
                                .order_by(table.c.position)).mappings().all()
        return revision, [{k: v for k, v in r.items() if k not in ("shop_id", "revision", "position")} for r in rows]

    def change_collection(
        self, shop_id: str, kind: str, change: Callable[[list[dict]], tuple[list[dict], str]],
    ) -> tuple[int, list[dict]]:
        """Apply ``change(current_items) → (new_items, action)`` and write the result as a new revision.

        Runs in one transaction that holds the shop collection's row lock from before the read, so
        two concurrent changes are applied one after the other, never to the same stale state. If
        ``change`` raises, nothing is written.
        """
        table, _ = COLLECTION_KINDS[kind]
        self.ensure_shop(shop_id)
        self._ensure_collection(shop_id, kind)
        key = (shop_collections.c.shop_id == shop_id) & (shop_collections.c.kind == kind)
        with self.engine.begin() as conn:
            conn.execute(update(shop_collections).where(key)
                         .values(last_revision=shop_collections.c.last_revision + 1))
            head = conn.execute(select(shop_collections.c.current_revision, shop_collections.c.last_revision)
                                .where(key)).one()
            items: list[dict] = []
            if head.current_revision is not None:
                rows = conn.execute(select(table).where(table.c.shop_id == shop_id,
                                                        table.c.revision == head.current_revision)
                                    .order_by(table.c.position)).mappings().all()
                items = [{k: v for k, v in r.items() if k not in ("shop_id", "revision", "position")} for r in rows]
            new_items, action = change(items)
            revision = head.last_revision
            conn.execute(insert(collection_revisions).values(
                shop_id=shop_id, kind=kind, revision=revision, created_at=_now(), action=action[:300],
                item_count=len(new_items)))
            if new_items:
                conn.execute(insert(table), [{**item, "shop_id": shop_id, "revision": revision, "position": i}
                                             for i, item in enumerate(new_items)])
            conn.execute(update(shop_collections).where(key).values(current_revision=revision))
        return revision, new_items

    def _ensure_collection(self, shop_id: str, kind: str) -> None:
        with self.engine.connect() as conn:
            if conn.execute(select(shop_collections.c.kind).where(
                    shop_collections.c.shop_id == shop_id, shop_collections.c.kind == kind)).first():
                return
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(shop_collections).values(shop_id=shop_id, kind=kind, current_revision=None,
                                                             last_revision=0))
        except IntegrityError:
            pass  # created concurrently

    def revisions(self, shop_id: str, kind: str) -> list[Revision]:
        with self.engine.connect() as conn:
            current = conn.execute(select(shop_collections.c.current_revision).where(
                shop_collections.c.shop_id == shop_id, shop_collections.c.kind == kind)).scalar_one_or_none()
            rows = conn.execute(select(collection_revisions).where(
                collection_revisions.c.shop_id == shop_id, collection_revisions.c.kind == kind)
                .order_by(collection_revisions.c.revision)).all()
        return [Revision(shop_id=r.shop_id, kind=r.kind, revision=r.revision, created_at=_aware(r.created_at),
                         action=r.action, item_count=r.item_count, current=r.revision == current) for r in rows]

    # -- rule fires (cooldowns) --------------------------------------------------------------
    def last_fires(self, shop_id: str, conversation_id: str) -> dict[str, datetime]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(rule_fires.c.rule_id, rule_fires.c.fired_ts).where(
                rule_fires.c.shop_id == shop_id, rule_fires.c.conversation_id == conversation_id)).all()
        return {r.rule_id: datetime.fromtimestamp(r.fired_ts, UTC) for r in rows}

    def record_fire(self, shop_id: str, conversation_id: str, rule_id: str, at: datetime) -> None:
        self._upsert(rule_fires, {"shop_id": shop_id, "conversation_id": conversation_id, "rule_id": rule_id},
                     {"fired_at": at.astimezone(UTC), "fired_ts": at.timestamp()})


def _msg_json(value: str | Msg) -> dict | None:
    if isinstance(value, Msg):
        return value.as_dict()
    return None


def _msg_of(value: object) -> Msg | None:
    if isinstance(value, str):  # some drivers hand JSON back as text
        value = json.loads(value)
    if isinstance(value, dict) and "code" in value:
        return Msg(value["code"], value.get("params") or {})
    return None


def _aware(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; every stored time is UTC.
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _json_list(value: object) -> list[str]:
    if isinstance(value, str):  # some drivers hand JSON back as text
        value = json.loads(value)
    return [str(v) for v in value or []]
