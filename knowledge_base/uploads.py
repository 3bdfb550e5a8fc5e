"""Uploads: a validated FAQ file becomes the shop's active version, built in the request (SQLite, one
process) or as a build job any replica's worker claims (PostgreSQL, ``build_jobs``), waited for either
way. What ``POST /v1/shops/{shop}/kb`` and ``smartreply kb import`` call."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from models.errors import BuildFailed

from .importer import ImportMode, ImportResult, RecoveryReport, UploadMode
from .index import index_dir
from .jobs import BuildWorker, SubmittedImport, submit_import
from .manager import KnowledgeBase
from .store import BuildJob, KbStore
from .tablefile import ParseLimits

__all__ = ["Uploads", "BuildMetrics"]


class BuildMetrics(Protocol):
    """The build counters an upload updates (``service.observability.Metrics``: Prometheus metrics)."""

    builds: Any  # counter labelled by outcome
    builds_running: Any  # gauge
    build_seconds: Any  # histogram


class Uploads:
    """``jobs``: build as jobs (a worker thread claims them; the caller waits up to ``wait_seconds``);
    ``worker``: makes the build worker; ``on_change(shop_id)``: the shop's active version changed (the
    service reloads it)."""

    def __init__(self, store: KbStore, kb: KnowledgeBase,
                 worker: Callable[[Callable[[BuildJob, bool], None]], BuildWorker], *, encoder_id: str,
                 index_root: Path, limits: ParseLimits, confirm_limit: int, jobs: bool, wait_seconds: float,
                 metrics: BuildMetrics, on_change: Callable[[str], None] = lambda shop_id: None) -> None:
        self.store = store
        self.kb = kb
        # Made on first use, given ``job_done`` as its ``on_done``: only the jobs path and the server need one.
        self._worker = worker
        self._worker_made: BuildWorker | None = None
        self.encoder_id = encoder_id
        self.index_root = index_root
        self.limits = limits
        self.confirm_limit = confirm_limit
        self.jobs = jobs
        self.wait_seconds = wait_seconds
        self.metrics = metrics
        self.on_change = on_change

    @property
    def worker(self) -> BuildWorker:
        if self._worker_made is None:
            self._worker_made = self._worker(self.job_done)
        return self._worker_made

    @property
    def has_worker(self) -> bool:
        return self._worker_made is not None

    def job_done(self, job: BuildJob, ok: bool) -> None:
        """The worker's ``on_done``: count the build, serve the new version."""
        self.metrics.builds.labels(outcome="ok" if ok else "failed").inc()
        self.on_change(job.shop_id)

    def submit_file(self, shop_id: str, filename: str, data: bytes, *, mode: ImportMode = "reject",
                    upload_mode: UploadMode = "replace", confirm_remove: int | None = None) -> SubmittedImport:
        """Validate and store the upload, queue its index build, and return at once (jobs path only)."""
        submitted = submit_import(self.store, self.encoder_id, shop_id, filename, data, limits=self.limits, mode=mode,
                                  upload_mode=upload_mode, confirm_remove=confirm_remove,
                                  confirm_limit=self.confirm_limit)
        if not submitted.no_changes:
            self.worker.wake()
        return submitted

    def wait_for_build(self, shop_id: str, job_id: str, timeout: float | None = None) -> BuildJob:
        """The job once done or failed, or as it is after ``timeout`` seconds. Runs queued jobs itself when
        this process has no worker thread (the CLI), so a waiting upload never depends on a server."""
        deadline = time.monotonic() + (self.wait_seconds if timeout is None else timeout)
        worker_running = self.has_worker and self.worker.running
        while True:
            job = self.store.get_build_job(shop_id, job_id)
            if job.status in ("done", "failed") or time.monotonic() >= deadline:
                return job
            if not worker_running and self.worker.run_once() is not None:
                continue
            time.sleep(0.05)

    def _import_as_job(self, shop_id: str, filename: str, data: bytes, mode: ImportMode, upload_mode: UploadMode,
                       confirm_remove: int | None) -> ImportResult:
        started = time.perf_counter()
        submitted = self.submit_file(shop_id, filename, data, mode=mode, upload_mode=upload_mode,
                                     confirm_remove=confirm_remove)
        extra = {"warnings": submitted.warnings, "skipped": submitted.skipped, "skipped_rows": submitted.skipped_rows,
                 "mode": mode, "upload_mode": upload_mode, "base_version": submitted.base_version,
                 "diff": submitted.diff}
        if submitted.no_changes:
            return ImportResult(shop_id=shop_id, version=submitted.version, active=True, entries=submitted.entries,
                                enabled_entries=submitted.enabled_entries, phrasings=submitted.phrasings,
                                seconds=time.perf_counter() - started, no_changes=True,
                                index_path=index_dir(self.index_root, shop_id, submitted.version), **extra)
        job = self.wait_for_build(shop_id, submitted.job_id)
        if job.status == "failed":
            raise BuildFailed(f"shop {shop_id!r}: building version {job.version} failed ({job.error}); the previous "
                              "active version is still served", details=[{"job_id": job.job_id}])
        if job.status != "done":
            raise BuildFailed(f"shop {shop_id!r}: version {job.version} is still building after "
                              f"{self.wait_seconds:g}s (job {job.job_id}); follow it at "
                              f"/v1/shops/{shop_id}/kb/jobs/{job.job_id}", details=[{"job_id": job.job_id}])
        self.on_change(shop_id)
        return ImportResult(shop_id=shop_id, version=job.version, active=bool(job.active), entries=submitted.entries,
                            enabled_entries=submitted.enabled_entries, phrasings=job.total,
                            seconds=time.perf_counter() - started,
                            index_path=index_dir(self.index_root, shop_id, job.version), **extra)

    def import_file(self, shop_id: str, filename: str, data: bytes, progress=None, *,  # noqa: ANN001
                    mode: ImportMode = "reject", upload_mode: UploadMode = "replace",
                    confirm_remove: int | None = None) -> ImportResult:
        """Import and activate an upload: built in this request (SQLite), or as a build job that any
        replica's worker claims, waiting for it (PostgreSQL, ``build_jobs``)."""
        if self.jobs:
            return self._import_as_job(shop_id, filename, data, mode, upload_mode, confirm_remove)
        metrics = self.metrics
        metrics.builds_running.inc()
        started = time.perf_counter()
        try:
            result = self.kb.import_file(shop_id, filename, data, mode=mode, upload_mode=upload_mode,
                                         confirm_remove=confirm_remove, progress=progress)
        except Exception:
            metrics.builds.labels(outcome="failed").inc()
            raise
        finally:
            metrics.builds_running.dec()
        metrics.builds.labels(outcome="ok").inc()
        metrics.build_seconds.observe(time.perf_counter() - started)
        return result

    def recover(self) -> RecoveryReport:
        """Fail builds a killed process left behind and delete their files (run before serving)."""
        return self.kb.recover()

    def fail_own_builds(self) -> list[tuple[str, int]]:
        """Mark the builds this process is still running as failed (at shutdown)."""
        host, pid = socket.gethostname(), os.getpid()
        failed = []
        for build in self.store.building_versions():
            if build.host == host and build.pid == pid:
                self.store.mark_failed(build.shop_id, build.version,
                                       "shutdown: the server stopped before this build finished")
                failed.append((build.shop_id, build.version))
        return failed
