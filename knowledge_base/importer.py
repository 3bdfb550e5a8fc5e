"""Every change of a knowledge base: import a file, edit one entry, roll back, recover after a crash.

Nothing replaces the active version until the new one is validated, stored, embedded and its index
is on disk; activation is then one database transaction (which also stores the index files when the
database keeps them, ``knowledge_base.artifacts``). A failure at any step marks the new version
``failed`` and leaves the active one untouched. A process killed mid-build leaves a ``building``
version (and maybe a temporary index folder); ``recover_interrupted_builds`` at the next start marks
it failed and removes the leftovers, so the previous active version is served unchanged.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from models.encoder import Encoder
from models.errors import (
    ArtifactMismatch,
    ConfirmationRequired,
    InvalidUpload,
    NotFound,
    ValidationProblem,
    VersionNotActivatable,
)
from models.messages import M, Msg

from .artifacts import index_artifacts, load_version
from .editing import EntryEdit, VersionDiff, diff_entries
from .index import (
    build_index,
    derive_index,
    index_dir,
    remove_index,
    remove_orphans,
    save_index,
)
from .parsing import ParsedKb, parse_kb_file
from .schema import FaqEntry, KbVersion
from .store import KbStore
from .tablefile import ParseLimits
from .validation import KbConsistency

__all__ = [
    "ImportMode", "UploadMode", "ImportResult", "EditResult", "RecoveryReport", "UploadPlan", "plan_upload",
    "import_kb_file", "import_entries", "edit_kb", "activate_version", "recover_interrupted_builds", "file_digest",
    "shop_lock", "check_removals", "pid_alive",
]

logger = logging.getLogger(__name__)

ImportMode = Literal["reject", "partial"]  # what an error row does: reject the file, or leave the row out
UploadMode = Literal["replace", "merge"]  # replace the whole FAQ, or add and update entries by id, keeping the rest

# Changes of one shop (uploads, edits, rollbacks) are serialised in-process so versions are built
# and activated in order; across processes the version numbers come from the database and
# activation by an import never goes backwards.
_shop_locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)
_locks_guard = threading.Lock()


def shop_lock(shop_id: str) -> threading.Lock:
    with _locks_guard:
        return _shop_locks[shop_id]


def _builder() -> tuple[str, int]:
    return socket.gethostname(), os.getpid()


@dataclass
class ImportResult:
    shop_id: str
    version: int
    active: bool
    entries: int
    enabled_entries: int
    phrasings: int
    seconds: float
    index_path: Path
    warnings: list[ValidationProblem] = field(default_factory=list)
    skipped: list[ValidationProblem] = field(default_factory=list)  # errors of rows left out (partial mode)
    skipped_rows: int = 0
    mode: str = "reject"  # on_error: reject | partial
    upload_mode: str = "replace"
    base_version: int | None = None
    no_changes: bool = False  # identical to the active version: nothing was stored
    diff: VersionDiff | None = None  # against base_version


@dataclass
class UploadPlan:
    """What an upload would do, computed without storing anything (``?dry_run=true`` shows it)."""

    parsed: ParsedKb
    entries: list[FaqEntry]  # the new version's entries
    base_version: int | None  # the active version it is compared with (and would be based on)
    diff: VersionDiff
    source: Msg
    note: Msg | str
    mode: str
    on_error: str
    problems: list[ValidationProblem]  # every problem: the file's and the merge's
    skipped_rows: int

    @property
    def no_changes(self) -> bool:
        d = self.diff
        return self.base_version is not None and not (d.added or d.removed or d.changed)

    @property
    def errors(self) -> list[ValidationProblem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[ValidationProblem]:
        return [p for p in self.problems if p.severity != "error"]


@dataclass
class EditResult:
    shop_id: str
    version: int
    base_version: int
    active: bool
    action: str
    entry: FaqEntry | None
    phrasings: int
    embedded: int  # phrasings that went through the encoder (the rest were copied from the base index)
    seconds: float


@dataclass
class RecoveryReport:
    failed: list[tuple[str, int]] = field(default_factory=list)  # (shop, version) marked failed
    removed: list[Path] = field(default_factory=list)  # leftover folders deleted
    live: list[tuple[str, int]] = field(default_factory=list)  # builds of other live processes, left alone


def file_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def plan_upload(store: KbStore, shop_id: str, filename: str, data: bytes, *, limits: ParseLimits | None = None,
                mode: UploadMode = "replace", on_error: ImportMode = "reject") -> UploadPlan:
    """Parse and gate an upload and say what it would change against the active version, storing
    nothing; or ``InvalidUpload``. The one gate for every path: dry run, building in the request and
    queueing a build job.

    ``replace``: the file is the whole new FAQ. ``merge``: entries whose id is in the file are
    replaced by the file's, new ids are appended, every other entry is kept; a phrasing of the file
    that a kept entry already uses is a ``conflict`` problem like one inside a file.
    ``on_error="reject"``: any error rejects the upload; ``"partial"``: rows with errors are left out.
    """
    if on_error not in ("reject", "partial"):
        raise ValueError(f"on_error must be 'reject' or 'partial', not {on_error!r}")
    if mode not in ("replace", "merge"):
        raise ValueError(f"mode must be 'replace' or 'merge', not {mode!r}")
    parsed = parse_kb_file(filename, data, limits)
    base = store.active_version(shop_id) if store.shop_exists(shop_id) else None
    base_entries = store.entries(shop_id, base) if base is not None else []
    problems = list(parsed.problems)
    file_entries = list(parsed.entries)
    skipped_rows = parsed.rows_with_errors
    if mode == "merge" and base_entries:
        in_file = {e.id for e in file_entries}
        kept = KbConsistency([e for e in base_entries if e.id not in in_file])
        clean = []
        for entry in file_entries:
            clashes = [ValidationProblem.of(M("problem.merge_conflict", text=p.value, owner=_owner(p)),
                                            code="conflict", column=p.column, value=p.value,
                                            **parsed.locations.get(entry.id, {}))
                       for p in kept.check(entry, {}, {}) if p.code == "conflict"]
            problems += clashes
            skipped_rows += bool(clashes)
            if not clashes:
                clean.append(entry)
        file_entries = clean
    errors = [p for p in problems if p.severity == "error"]
    if errors and on_error == "reject":
        raise InvalidUpload(M("upload.invalid", filename=filename, n=len(errors)), problems)
    if not file_entries:
        raise InvalidUpload(M("upload.no_valid", filename=filename), problems)
    if mode == "merge":
        updates = {e.id: e for e in file_entries}
        entries = [updates.pop(e.id, e) for e in base_entries]
        entries += [e for e in file_entries if e.id in updates]
    else:
        entries = file_entries
    digest = file_digest(data)[:16]
    source = M("version.source.merge" if mode == "merge" else "version.source.file", filename=filename, digest=digest)
    note = M("version.note.partial", rows=skipped_rows) if errors else ""
    return UploadPlan(parsed=parsed, entries=entries, base_version=base, diff=diff_entries(base_entries, entries),
                      source=source, note=note, mode=mode, on_error=on_error, problems=problems,
                      skipped_rows=skipped_rows)


def _owner(problem: ValidationProblem) -> str:
    return str((problem.message.params if problem.message else {}).get("owner", ""))


def check_removals(plan: UploadPlan, confirm_remove: int | None, limit: int) -> None:
    """An upload removing more than ``limit`` entries needs ``confirm_remove`` equal to the number it
    removes (what the preview showed): ``ConfirmationRequired`` otherwise, and nothing is stored."""
    removed = len(plan.diff.removed)
    if removed <= limit or confirm_remove == removed:
        return
    details = [{"removed": removed, "limit": limit, "base_version": plan.base_version,
                "removed_ids": [e.id for e in plan.diff.removed[:50]]}]
    if confirm_remove is None:
        raise ConfirmationRequired(M("upload.confirm_remove", n=removed, limit=limit), details=details)
    raise ConfirmationRequired(M("upload.confirm_mismatch", n=removed, given=confirm_remove), details=details)


def import_kb_file(
    store: KbStore,
    index_root: Path,
    encoder: Encoder,
    shop_id: str,
    filename: str,
    data: bytes,
    *,
    limits: ParseLimits | None = None,
    mode: ImportMode = "reject",
    upload_mode: UploadMode = "replace",
    confirm_remove: int | None = None,
    confirm_limit: int | None = None,
    normalise: Callable[[str], str] = lambda s: s,
    progress: Callable[[int, int], None] | None = None,
) -> ImportResult:
    """Parse ``data`` and import it as a new version (see ``plan_upload`` for ``upload_mode``).

    ``mode="reject"`` (default): any error row rejects the file with ``InvalidUpload`` and nothing is
    stored. ``mode="partial"``: rows with errors are left out and reported in ``skipped``; the file is
    rejected only if no valid row remains. Content identical to the active version stores nothing
    (``no_changes``). With ``confirm_limit``, removing more entries than that needs ``confirm_remove``.
    """
    started = time.perf_counter()
    with shop_lock(shop_id):  # the plan's base must still be the active version when it is stored
        plan = plan_upload(store, shop_id, filename, data, limits=limits, mode=upload_mode, on_error=mode)
        if plan.no_changes:
            result = ImportResult(shop_id=shop_id, version=plan.base_version, active=True, entries=len(plan.entries),
                                  enabled_entries=sum(e.enabled for e in plan.entries),
                                  phrasings=sum(len(e.phrasings) for e in plan.entries if e.enabled),
                                  seconds=time.perf_counter() - started,
                                  index_path=index_dir(index_root, shop_id, plan.base_version), no_changes=True)
        else:
            if confirm_limit is not None:
                check_removals(plan, confirm_remove, confirm_limit)
            result = _import_locked(store, index_root, encoder, shop_id, plan.entries, source=plan.source,
                                    note=plan.note, base_version=plan.base_version, normalise=normalise,
                                    progress=progress)
    result.warnings = plan.warnings
    result.skipped = plan.errors
    result.skipped_rows = plan.skipped_rows
    result.mode = mode
    result.upload_mode = upload_mode
    result.base_version = plan.base_version
    result.diff = plan.diff
    return result


def import_entries(
    store: KbStore,
    index_root: Path,
    encoder: Encoder,
    shop_id: str,
    entries: list[FaqEntry],
    *,
    source: str | Msg,
    note: str | Msg = "",
    base_version: int | None = None,
    normalise: Callable[[str], str] = lambda s: s,
    progress: Callable[[int, int], None] | None = None,
) -> ImportResult:
    with shop_lock(shop_id):
        return _import_locked(store, index_root, encoder, shop_id, entries, source=source, note=note,
                              base_version=base_version, normalise=normalise, progress=progress)


def _import_locked(store: KbStore, index_root: Path, encoder: Encoder, shop_id: str, entries: list[FaqEntry], *,
                   source: str | Msg, note: str | Msg, base_version: int | None,
                   normalise: Callable[[str], str], progress: Callable[[int, int], None] | None) -> ImportResult:
    started = time.perf_counter()
    version = store.create_version(shop_id, entries, source=source, encoder_id=encoder.model_id,
                                   builder=_builder(), note=note, base_version=base_version)
    try:
        shop_index = build_index(shop_id, version, entries, encoder, progress=progress, normalise=normalise)
        path = save_index(index_root, shop_index)
        active = store.activate(shop_id, version, only_if_newer=True, artifacts=index_artifacts(store, path))
    except BaseException as exc:
        store.mark_failed(shop_id, version, M("version.note.failed", detail=f"{type(exc).__name__}: {exc}"))
        raise
    seconds = time.perf_counter() - started
    logger.info("shop %s: version %d imported (%d entries, %d phrasings) in %.2fs",
                shop_id, version, len(entries), shop_index.size, seconds)
    return ImportResult(shop_id=shop_id, version=version, active=active, entries=len(entries),
                        enabled_entries=sum(e.enabled for e in entries), phrasings=shop_index.size,
                        seconds=seconds, index_path=path)


def edit_kb(
    store: KbStore,
    index_root: Path,
    encoder: Encoder,
    shop_id: str,
    apply: Callable[[list[FaqEntry]], EntryEdit],
    *,
    normalise: Callable[[str], str] = lambda s: s,
) -> EditResult:
    """A new version = the active version with ``apply`` done to its entries (see ``editing``).

    The index is derived from the active version's index: only the changed entry's new phrasings are
    embedded. If that index cannot be used (missing, another encoder) it is rebuilt in full.
    """
    started = time.perf_counter()
    with shop_lock(shop_id):
        base = store.require_active_version(shop_id)
        edit = apply(store.entries(shop_id, base))  # raises InvalidItem / ItemNotFound: nothing stored
        actions = edit.actions or (edit.action,)
        source = (M("version.source.edit", base=base, action=actions[0]) if len(actions) == 1
                  else M("version.source.edits", base=base, n=len(actions), actions=list(actions)))
        version = store.create_version(shop_id, edit.entries, source=source, encoder_id=encoder.model_id,
                                       builder=_builder(), base_version=base)
        try:
            try:
                previous = load_version(store, index_root, shop_id, base, encoder_id=encoder.model_id)
            except (NotFound, ArtifactMismatch) as exc:
                logger.warning("shop %s: cannot extend v%d (%s); rebuilding in full", shop_id, base, exc)
                shop_index = build_index(shop_id, version, edit.entries, encoder, normalise=normalise)
                embedded = shop_index.size
            else:
                shop_index, embedded = derive_index(previous, version, edit.entries, encoder, normalise=normalise)
            path = save_index(index_root, shop_index)
            active = store.activate(shop_id, version, only_if_newer=True, artifacts=index_artifacts(store, path))
        except BaseException as exc:
            store.mark_failed(shop_id, version, M("version.note.failed", detail=f"{type(exc).__name__}: {exc}"))
            raise
    return EditResult(shop_id=shop_id, version=version, base_version=base, active=active,
                      action=actions[0] if len(actions) == 1 else source,
                      entry=edit.entry, phrasings=shop_index.size, embedded=embedded,
                      seconds=time.perf_counter() - started)


def activate_version(store: KbStore, index_root: Path, encoder_id: str, shop_id: str, version: int) -> KbVersion:
    """Make an older (or any ready) version the active one again: a rollback. Its index must still be on
    disk (or in the database, which keeps it) and built by the running encoder; nothing is rebuilt."""
    with shop_lock(shop_id):
        target = store.get_version(shop_id, version)
        if target.status != "ready":
            raise VersionNotActivatable(M("version.not_ready", shop=shop_id, version=version, status=target.status))
        try:
            load_version(store, index_root, shop_id, version, encoder_id=encoder_id)
        except (NotFound, ArtifactMismatch) as exc:
            raise VersionNotActivatable(M("version.unservable", shop=shop_id, version=version,
                                          detail=exc.message)) from exc
        store.activate(shop_id, version)
    logger.info("shop %s: version %d activated", shop_id, version)
    return store.get_version(shop_id, version)


def pid_alive(pid: int) -> bool:
    """Whether a process of this host is running (crash recovery; the local cluster's process checks)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recover_interrupted_builds(
    store: KbStore,
    index_root: Path,
    *,
    host: str | None = None,
    pid: int | None = None,
    is_alive: Callable[[int], bool] = pid_alive,
) -> RecoveryReport:
    """At start-up: fail every build whose process is gone and delete what it left on disk.

    A build is abandoned when it was recorded by this host and its process is not alive (or is this
    very process, which has not started any build yet), or when it has no record at all. Builds
    recorded by another host are left alone: with a shared database only that host can tell.
    """
    host = host or socket.gethostname()
    pid = pid or os.getpid()
    report = RecoveryReport()
    for build in store.building_versions():
        key = (build.shop_id, build.version)
        if build.host is not None and (build.host != host or (build.pid != pid and is_alive(build.pid))):
            report.live.append(key)
            continue
        store.mark_failed(build.shop_id, build.version, M("version.note.abandoned"))
        if remove_index(index_root, build.shop_id, build.version):
            report.removed.append(index_dir(index_root, build.shop_id, build.version))
        report.failed.append(key)
        logger.warning("shop %s: version %d was abandoned mid-build; marked failed", *key)
    live = set(report.live)
    report.removed += remove_orphans(index_root, keep=lambda shop, version: (shop, version) in live)
    return report
