"""Built indexes shared through the database, with a local disk cache on every replica.

When the store keeps the index files (``KbStore.keeps_artifacts``: PostgreSQL by default), a version's
``index.faiss``, ``phrasings.json`` and ``manifest.json`` are stored in ``kb_artifacts`` in the very
transaction that marks the version ready (``index_artifacts`` lists them for ``KbStore.activate``).
A replica loads a version from its own disk cache, ``<root>/<shop>/v<version>/``, where ``root`` is
per encoder (so the cache is keyed by shop, version and encoder); a file that is missing, or whose
size or sha256 differs from the database's (a damaged or partial copy), is fetched again from the
database, streamed to a temporary name, checked, then renamed into place. A replica with an empty disk
therefore serves any shop, and nothing but the database is shared between replicas.

Files derived on load (reranker weights, character-gram tables, HNSW graphs) stay in the local folder
only: each replica derives them once per version it serves.

With the store keeping no files (SQLite by default), the local folder is the only copy, exactly as
``knowledge_base.index`` writes it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from models.errors import ArtifactMismatch, IndexDamaged, NotFound, SmartReplyError
from models.messages import M

from .index import ShopIndex, index_dir, load_index
from .store import ArtifactFile, KbStore

__all__ = ["INDEX_FILES", "Fetch", "index_artifacts", "local_index", "load_version", "file_sha256"]

logger = logging.getLogger(__name__)

# What save_index writes and load_index reads: the files a version cannot be served without.
INDEX_FILES = ("index.faiss", "phrasings.json", "manifest.json")
_PART_MAX_AGE_SECONDS = 3600.0  # a temporary file older than this was left by a fetch that died


@dataclass(frozen=True)
class Fetch:
    """One file fetched from the database into the local cache."""

    shop_id: str
    version: int
    name: str
    bytes: int
    seconds: float
    reason: str  # missing | damaged (the local copy failed its checksum)


def file_sha256(path: Path) -> tuple[int, str]:
    """(size, hex sha256) of a file, read in 1 MiB blocks."""
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()


def index_artifacts(store: KbStore, folder: Path) -> list[ArtifactFile]:
    """The files of a freshly built index folder for ``KbStore.activate`` to store with the version
    ([] when the store keeps no files)."""
    if not store.keeps_artifacts:
        return []
    out = []
    for name in INDEX_FILES:
        size, sha = file_sha256(folder / name)
        out.append(ArtifactFile(name=name, size=size, sha256=sha, path=folder / name))
    return out


def local_index(store: KbStore, root: Path, shop_id: str, version: int, *, encoder_id: str,
                on_fetch: Callable[[Fetch], None] | None = None) -> list[ArtifactFile]:
    """Make ``root/<shop>/v<version>/`` hold the version's files exactly as the database stores them.

    Returns the stored files ([] when the database has none for this version, e.g. one built before it
    kept them: the local folder is then used as it is). A version built by another encoder is refused
    before anything is downloaded.
    """
    stored = store.artifacts(shop_id, version)
    if not stored:
        return []
    if stored[0].encoder_id != encoder_id:
        raise ArtifactMismatch(M("index.other_encoder", shop=shop_id, version=version, built=stored[0].encoder_id,
                                 running=encoder_id))
    folder = index_dir(root, shop_id, version)
    for artifact in stored:
        path = folder / artifact.name
        reason = "missing"
        if path.is_file():
            if file_sha256(path) == (artifact.size, artifact.sha256):
                continue
            reason = "damaged"
            logger.warning("local copy of %s does not match the database (size or sha256); fetching it again", path)
        fetched = _fetch(store, folder, shop_id, version, artifact, reason)
        if on_fetch is not None:
            on_fetch(fetched)
    return stored


def _fetch(store: KbStore, folder: Path, shop_id: str, version: int, artifact: ArtifactFile, reason: str) -> Fetch:
    folder.mkdir(parents=True, exist_ok=True)
    _remove_stale_parts(folder)
    started = time.perf_counter()
    # A unique temporary name: worker processes of one replica share the folder and may fetch at once;
    # every one of them writes the same bytes, and the rename is atomic.
    tmp = folder / f".{artifact.name}.{uuid.uuid4().hex[:12]}.part"
    try:
        with open(tmp, "wb") as fh:
            store.read_artifact(shop_id, version, artifact.name, fh)
            fh.flush()
            os.fsync(fh.fileno())
        got = file_sha256(tmp)
        if got != (artifact.size, artifact.sha256):
            raise IndexDamaged(M("index.database_copy_damaged", name=artifact.name, shop=shop_id, version=version,
                                 size=got[0], sha=got[1][:12], expected_size=artifact.size,
                                 expected_sha=artifact.sha256[:12]))
        os.replace(tmp, folder / artifact.name)
    finally:
        tmp.unlink(missing_ok=True)
    seconds = time.perf_counter() - started
    logger.info("fetched %s of shop %s v%d from the database (%d bytes, %.3fs, %s locally)", artifact.name,
                shop_id, version, artifact.size, seconds, reason)
    return Fetch(shop_id, version, artifact.name, artifact.size, seconds, reason)


def _remove_stale_parts(folder: Path) -> None:
    cutoff = time.time() - _PART_MAX_AGE_SECONDS
    for part in folder.glob(".*.part"):
        try:
            if part.stat().st_mtime < cutoff:
                part.unlink()
        except OSError:
            pass


def load_version(store: KbStore, root: Path, shop_id: str, version: int, *, encoder_id: str,
                 on_fetch: Callable[[Fetch], None] | None = None) -> ShopIndex:
    """Load a version's index: from the local folder, after fetching from the database what it lacks
    (when the database keeps the files). A version the database has no files for is loaded from the local
    folder and, once that worked, its files are stored (the first replica that still has them publishes
    an index built before the database kept them)."""
    if not store.keeps_artifacts:
        return load_index(root, shop_id, version, encoder_id=encoder_id)
    stored = local_index(store, root, shop_id, version, encoder_id=encoder_id, on_fetch=on_fetch)
    try:
        index = load_index(root, shop_id, version, encoder_id=encoder_id)
    except NotFound as exc:
        if stored:  # the folder went away between the fetch and the read (removed by hand): once more
            local_index(store, root, shop_id, version, encoder_id=encoder_id, on_fetch=on_fetch)
            return load_index(root, shop_id, version, encoder_id=encoder_id)
        raise NotFound(M("index.no_files", shop=shop_id, version=version,
                         folder=str(index_dir(root, shop_id, version)))) from exc
    if not stored:
        _publish_local(store, root, shop_id, version, encoder_id)
    return index


def _publish_local(store: KbStore, root: Path, shop_id: str, version: int, encoder_id: str) -> None:
    try:
        if store.add_artifacts(shop_id, version, encoder_id, index_artifacts(store, index_dir(root, shop_id, version))):
            logger.info("shop %s v%d: index files stored in the database from %s", shop_id, version, root)
    except (SmartReplyError, OSError) as exc:  # the index is usable here; storing it can wait for the next load
        logger.warning("shop %s v%d: could not store the local index files in the database: %s", shop_id, version,
                       exc)
