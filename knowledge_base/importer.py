"""Every change of a knowledge base: import a file, edit one entry, roll back, recover after a crash.

Nothing replaces the active version until the new one is validated, stored, embedded and its index
is on disk; activation is then one database UPDATE. A failure at any step marks the new version
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

from models.errors import ArtifactMismatch, InvalidUpload, NotFound, ValidationProblem, VersionNotActivatable

from .editing import EntryEdit
from .index import (
    TextEncoder,
    build_index,
    derive_index,
    index_dir,
    load_index,
    remove_index,
    remove_orphans,
    save_index,
)
from .parsing import ParseLimits, ParsedKb, parse_kb_file
from .schema import FaqEntry, KbVersion
from .store import KbStore

__all__ = [
    "ImportMode", "ImportResult", "EditResult", "RecoveryReport", "import_kb_file", "import_entries", "edit_kb",
    "activate_version", "recover_interrupted_builds", "file_digest", "shop_lock",
]

logger = logging.getLogger(__name__)

ImportMode = Literal["reject", "partial"]

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
    mode: str = "reject"


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


def validate_upload(filename: str, data: bytes, *, limits: ParseLimits | None = None,
                    mode: ImportMode = "reject") -> tuple[ParsedKb, str, str]:
    """Parse and gate an upload: (parsed file, version source, version note), or ``InvalidUpload``.

    The one gate for both paths: building in the request and queueing a build job.
    """
    if mode not in ("reject", "partial"):
        raise ValueError(f"mode must be 'reject' or 'partial', not {mode!r}")
    parsed = parse_kb_file(filename, data, limits)
    errors = parsed.errors
    if errors and mode == "reject":
        raise InvalidUpload(
            f"{filename}: {len(errors)} problem(s) found; nothing was imported. Fix the rows listed and upload again "
            "(or import the valid rows with mode=partial).",
            parsed.problems,
        )
    if not parsed.entries:
        raise InvalidUpload(f"{filename}: no valid entries found; nothing was imported", parsed.problems)
    source = f"{filename} sha256:{file_digest(data)[:16]}"
    note = f"partial import: {parsed.rows_with_errors} row(s) with errors left out" if errors else ""
    return parsed, source, note


def import_kb_file(
    store: KbStore,
    index_root: Path,
    encoder: TextEncoder,
    shop_id: str,
    filename: str,
    data: bytes,
    *,
    limits: ParseLimits | None = None,
    mode: ImportMode = "reject",
    normalise: Callable[[str], str] = lambda s: s,
    progress: Callable[[int, int], None] | None = None,
) -> ImportResult:
    """Parse ``data`` and import it as a new version.

    ``mode="reject"`` (default): any error row rejects the file with ``InvalidUpload`` and nothing is
    stored. ``mode="partial"``: rows with errors are left out and reported in ``skipped``; the file is
    rejected only if no valid row remains.
    """
    parsed, source, note = validate_upload(filename, data, limits=limits, mode=mode)
    errors = parsed.errors
    result = import_entries(store, index_root, encoder, shop_id, parsed.entries, source=source, note=note,
                            normalise=normalise, progress=progress)
    result.warnings = [p for p in parsed.problems if p.severity != "error"]
    result.skipped = errors
    result.skipped_rows = parsed.rows_with_errors
    result.mode = mode
    return result


def import_entries(
    store: KbStore,
    index_root: Path,
    encoder: TextEncoder,
    shop_id: str,
    entries: list[FaqEntry],
    *,
    source: str,
    note: str = "",
    normalise: Callable[[str], str] = lambda s: s,
    progress: Callable[[int, int], None] | None = None,
) -> ImportResult:
    started = time.perf_counter()
    with shop_lock(shop_id):
        version = store.create_version(shop_id, entries, source=source, encoder_id=encoder.model_id,
                                       builder=_builder(), note=note)
        try:
            shop_index = build_index(shop_id, version, entries, encoder, progress=progress, normalise=normalise)
            path = save_index(index_root, shop_index)
            active = store.activate(shop_id, version, only_if_newer=True)
        except BaseException as exc:
            store.mark_failed(shop_id, version, f"{type(exc).__name__}: {exc}")
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
    encoder: TextEncoder,
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
        version = store.create_version(shop_id, edit.entries, source=f"edit of v{base}: {edit.action}",
                                       encoder_id=encoder.model_id, builder=_builder())
        try:
            try:
                previous = load_index(index_root, shop_id, base, encoder_id=encoder.model_id)
            except (NotFound, ArtifactMismatch) as exc:
                logger.warning("shop %s: cannot extend v%d (%s); rebuilding in full", shop_id, base, exc)
                shop_index = build_index(shop_id, version, edit.entries, encoder, normalise=normalise)
                embedded = shop_index.size
            else:
                shop_index, embedded = derive_index(previous, version, edit.entries, encoder, normalise=normalise)
            save_index(index_root, shop_index)
            active = store.activate(shop_id, version, only_if_newer=True)
        except BaseException as exc:
            store.mark_failed(shop_id, version, f"{type(exc).__name__}: {exc}")
            raise
    return EditResult(shop_id=shop_id, version=version, base_version=base, active=active, action=edit.action,
                      entry=edit.entry, phrasings=shop_index.size, embedded=embedded,
                      seconds=time.perf_counter() - started)


def activate_version(store: KbStore, index_root: Path, encoder_id: str, shop_id: str, version: int) -> KbVersion:
    """Make an older (or any ready) version the active one again: a rollback. Its index must still be on
    disk and built by the running encoder; nothing is rebuilt."""
    with shop_lock(shop_id):
        target = store.get_version(shop_id, version)
        if target.status != "ready":
            raise VersionNotActivatable(
                f"version {version} of shop {shop_id!r} is {target.status}; only ready versions can be activated")
        try:
            load_index(index_root, shop_id, version, encoder_id=encoder_id)
        except (NotFound, ArtifactMismatch) as exc:
            raise VersionNotActivatable(f"version {version} of shop {shop_id!r} cannot be served: {exc.message}; "
                                        "re-upload it instead") from exc
        store.activate(shop_id, version)
    logger.info("shop %s: version %d activated", shop_id, version)
    return store.get_version(shop_id, version)


def _pid_alive(pid: int) -> bool:
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
    is_alive: Callable[[int], bool] = _pid_alive,
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
        store.mark_failed(build.shop_id, build.version,
                          "abandoned: the process building this version stopped before it finished "
                          "(found at start-up); the previous active version stayed in service")
        if remove_index(index_root, build.shop_id, build.version):
            report.removed.append(index_dir(index_root, build.shop_id, build.version))
        report.failed.append(key)
        logger.warning("shop %s: version %d was abandoned mid-build; marked failed", *key)
    live = set(report.live)
    report.removed += remove_orphans(index_root, keep=lambda shop, version: (shop, version) in live)
    return report
