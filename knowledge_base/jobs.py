"""Index builds as jobs, for replicas sharing one PostgreSQL (and nothing else).

An upload parses and validates the file, then stores the version (``building``) and a ``queued``
job in one transaction (``submit_import``). A ``BuildWorker`` thread in every replica claims jobs
(``KbStore.claim_build_job``: ``SELECT … FOR UPDATE SKIP LOCKED``), embeds and indexes the version,
saves the index folder atomically and activates the version (never over a newer one) in the
transaction that also stores the index files in the database (``knowledge_base.artifacts``), renewing its
lease with every progress report. A worker that dies leaves its job ``running`` with a lease that
expires; the next claim after that builds it again (up to ``max_attempts``).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from models.encoder import Encoder
from models.errors import ValidationProblem

from .artifacts import index_artifacts
from .editing import VersionDiff
from .importer import ImportMode, UploadMode, check_removals, plan_upload, shop_lock
from .index import build_index, save_index
from .store import BuildJob, KbStore
from .tablefile import ParseLimits

__all__ = ["SubmittedImport", "submit_import", "run_build_job", "BuildWorker", "LeaseLost", "worker_name"]

logger = logging.getLogger(__name__)


class LeaseLost(Exception):
    """The worker's lease on a job expired and another worker claimed it (internal)."""


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


@dataclass
class SubmittedImport:
    shop_id: str
    version: int
    job_id: str
    entries: int
    enabled_entries: int
    phrasings: int
    warnings: list[ValidationProblem] = field(default_factory=list)
    skipped: list[ValidationProblem] = field(default_factory=list)
    skipped_rows: int = 0
    mode: str = "reject"
    upload_mode: str = "replace"
    base_version: int | None = None
    no_changes: bool = False  # identical to the active version: nothing stored, no job (job_id "")
    diff: VersionDiff | None = None


def submit_import(store: KbStore, encoder_id: str, shop_id: str, filename: str, data: bytes, *,
                  limits: ParseLimits | None = None, mode: ImportMode = "reject", upload_mode: UploadMode = "replace",
                  confirm_remove: int | None = None, confirm_limit: int | None = None) -> SubmittedImport:
    """Validate ``data`` exactly as ``import_kb_file`` does, then store the version and queue its build."""
    with shop_lock(shop_id):
        plan = plan_upload(store, shop_id, filename, data, limits=limits, mode=upload_mode, on_error=mode)
        entries = plan.entries
        job_id, version = "", plan.base_version
        if not plan.no_changes:
            if confirm_limit is not None:
                check_removals(plan, confirm_remove, confirm_limit)
            job_id = uuid.uuid4().hex
            version = store.create_version(shop_id, entries, source=plan.source, encoder_id=encoder_id,
                                           note=plan.note, job_id=job_id, base_version=plan.base_version)
            logger.info("shop %s: version %d queued as build job %s", shop_id, version, job_id)
    return SubmittedImport(shop_id=shop_id, version=version, job_id=job_id, entries=len(entries),
                           enabled_entries=sum(e.enabled for e in entries),
                           phrasings=sum(len(e.phrasings) for e in entries if e.enabled),
                           warnings=plan.warnings, skipped=plan.errors, skipped_rows=plan.skipped_rows, mode=mode,
                           upload_mode=upload_mode, base_version=plan.base_version, no_changes=plan.no_changes,
                           diff=plan.diff)


def run_build_job(store: KbStore, index_root: Path, encoder: Encoder, job: BuildJob, *, worker: str,
                  lease_seconds: float, normalise: Callable[[str], str] = lambda s: s) -> bool:
    """Build, save and activate a claimed job's version. Returns whether this worker finished it.

    A failure marks the version and the job failed (the active version keeps serving); a lost lease
    (another worker took the job over) stops quietly and leaves the job to its new holder.
    """
    def progress(done: int, total: int) -> None:
        if not store.build_job_progress(job.job_id, worker, done, total, lease_seconds):
            raise LeaseLost(job.job_id)

    try:
        entries = store.entries(job.shop_id, job.version)
        shop_index = build_index(job.shop_id, job.version, entries, encoder, progress=progress, normalise=normalise)
        progress(shop_index.size, shop_index.size)  # a last lease check before the folder is written
        path = save_index(index_root, shop_index)
        active = store.activate(job.shop_id, job.version, only_if_newer=True, artifacts=index_artifacts(store, path))
    except LeaseLost:
        logger.warning("build job %s (shop %s v%d): lease lost to another worker; stopped", job.job_id,
                       job.shop_id, job.version)
        return False
    except Exception as exc:
        reason = f"{type(exc).__name__}: {exc}"
        logger.exception("build job %s (shop %s v%d) failed", job.job_id, job.shop_id, job.version)
        store.mark_failed(job.shop_id, job.version, reason)
        store.finish_build_job(job.job_id, worker, ok=False, error=reason)
        return False
    store.finish_build_job(job.job_id, worker, ok=True, active=active)
    logger.info("build job %s: shop %s version %d built (%d phrasings)%s", job.job_id, job.shop_id, job.version,
                shop_index.size, ", active" if active else "")
    return True


class BuildWorker:
    """A daemon thread that claims and runs build jobs until ``stop()``; ``wake()`` skips the poll wait."""

    def __init__(self, store: KbStore, index_root: Path, encoder: Encoder, *, lease_seconds: float = 60.0,
                 poll_seconds: float = 1.0, max_attempts: int = 3, normalise: Callable[[str], str] = lambda s: s,
                 on_done: Callable[[BuildJob, bool], None] = lambda job, ok: None) -> None:
        self.store = store
        self.index_root = index_root
        self.encoder = encoder
        self.lease_seconds = lease_seconds
        self.poll_seconds = poll_seconds
        self.max_attempts = max_attempts
        self.normalise = normalise
        self.on_done = on_done
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="smartreply-build-worker", daemon=True)
            self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def run_once(self) -> BuildJob | None:
        """Claim and run one job if there is one (the thread's loop body; tests call it directly)."""
        worker = worker_name()
        job = self.store.claim_build_job(worker, self.lease_seconds, max_attempts=self.max_attempts,
                                         encoder_id=self.encoder.model_id)
        if job is None:
            return None
        ok = run_build_job(self.store, self.index_root, self.encoder, job, worker=worker,
                           lease_seconds=self.lease_seconds, normalise=self.normalise)
        self.on_done(job, ok)
        return job

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                job = self.run_once()
            except Exception:  # the database is away for a moment: log, wait, try again
                logger.exception("build worker: claiming a job failed")
                job = None
            if job is None:
                self._wake.wait(self.poll_seconds)
                self._wake.clear()
