"""Import an uploaded FAQ file as a new knowledge-base version: parse → store → embed → index → activate.

Nothing replaces the active version until the new one is validated, stored, embedded and its index
is on disk; activation is then one database UPDATE. A failure at any step marks the new version
``failed`` and leaves the active one untouched.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from models.errors import InvalidUpload, ValidationProblem

from .index import TextEncoder, build_index, save_index
from .parsing import ParseLimits, parse_kb_file
from .schema import FaqEntry
from .store import KbStore

__all__ = ["ImportResult", "import_kb_file", "import_entries", "file_digest"]

logger = logging.getLogger(__name__)

# Uploads of one shop are serialised in-process so versions are built and activated in order;
# across processes the version numbers come from the database and activation never goes backwards.
_shop_locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)
_locks_guard = threading.Lock()


def _lock_for(shop_id: str) -> threading.Lock:
    with _locks_guard:
        return _shop_locks[shop_id]


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


def file_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def import_kb_file(
    store: KbStore,
    index_root: Path,
    encoder: TextEncoder,
    shop_id: str,
    filename: str,
    data: bytes,
    *,
    limits: ParseLimits | None = None,
    normalise: Callable[[str], str] = lambda s: s,
    progress: Callable[[int, int], None] | None = None,
) -> ImportResult:
    """Parse ``data`` and import it; raises ``InvalidUpload`` (nothing stored) if any row is invalid."""
    parsed = parse_kb_file(filename, data, limits)
    errors = parsed.errors
    if errors:
        raise InvalidUpload(
            f"{filename}: {len(errors)} problem(s) found; nothing was imported. Fix the rows listed and upload again.",
            parsed.problems,
        )
    if not parsed.entries:
        raise InvalidUpload(f"{filename}: no entries found; nothing was imported", parsed.problems)
    source = f"{filename} sha256:{file_digest(data)[:16]}"
    result = import_entries(store, index_root, encoder, shop_id, parsed.entries, source=source,
                            normalise=normalise, progress=progress)
    result.warnings = [p for p in parsed.problems if p.severity != "error"]
    return result


def import_entries(
    store: KbStore,
    index_root: Path,
    encoder: TextEncoder,
    shop_id: str,
    entries: list[FaqEntry],
    *,
    source: str,
    normalise: Callable[[str], str] = lambda s: s,
    progress: Callable[[int, int], None] | None = None,
) -> ImportResult:
    started = time.perf_counter()
    with _lock_for(shop_id):
        version = store.create_version(shop_id, entries, source=source, encoder_id=encoder.model_id)
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
