"""Per-shop FAISS indexes over every standard and similar question of a knowledge-base version.

Each version's index is a folder ``<root>/<shop>/v<version>/`` with ``index.faiss``
(``IndexIDMap2`` over inner product: vectors are L2-normalised, so scores are cosines and higher
is better), ``phrasings.json`` (FAISS id → entry id and text) and ``manifest.json`` (encoder id,
dimension, counts). A folder is written under a temporary name and renamed into place, so a
crash never leaves a half index where a reader looks.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import faiss
import numpy as np

from models.errors import ArtifactMismatch, NotFound

from .schema import FaqEntry, Phrasing

__all__ = ["TextEncoder", "ShopIndex", "build_index", "index_dir", "load_index", "save_index", "INDEX_FORMAT"]

logger = logging.getLogger(__name__)

INDEX_FORMAT = "smartreply-faq-index/1"


class TextEncoder(Protocol):
    """What indexing needs from an encoder (``models.encoder.Encoder`` satisfies it)."""

    model_id: str
    dim: int

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray: ...


@dataclass
class ShopIndex:
    shop_id: str
    version: int
    encoder_id: str
    dim: int
    index: faiss.Index
    phrasings: list[Phrasing]  # position == FAISS id

    @property
    def size(self) -> int:
        return int(self.index.ntotal)

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` phrasings for each row of ``query`` (n, dim): (scores, ids), -1 ids past the end."""
        k = max(1, min(k, self.size))
        if self.size == 0:
            n = query.shape[0]
            return np.zeros((n, 0), dtype=np.float32), np.zeros((n, 0), dtype=np.int64)
        return self.index.search(np.ascontiguousarray(query, dtype=np.float32), k)


def index_dir(root: Path, shop_id: str, version: int) -> Path:
    return root / shop_id / f"v{version:06d}"


def collect_phrasings(entries: Sequence[FaqEntry]) -> list[Phrasing]:
    """Every phrasing of every enabled entry, standard question first; ids are positions."""
    out: list[Phrasing] = []
    for entry in entries:
        if not entry.enabled:
            continue
        for j, text in enumerate(entry.phrasings):
            out.append(Phrasing(id=len(out), entry_id=entry.id, text=text, is_standard=j == 0))
    return out


def build_index(
    shop_id: str,
    version: int,
    entries: Sequence[FaqEntry],
    encoder: TextEncoder,
    *,
    batch_size: int = 64,
    progress: Callable[[int, int], None] | None = None,
    normalise: Callable[[str], str] = lambda s: s,
) -> ShopIndex:
    """Embed all phrasings (in batches, reporting ``progress(done, total)``) into a new index.

    ``normalise`` is applied to each phrasing before encoding: it must be the same function the
    query side applies, or scores drift between the two.
    """
    phrasings = collect_phrasings(entries)
    index = faiss.IndexIDMap2(faiss.IndexFlatIP(encoder.dim))
    total = len(phrasings)
    started = time.perf_counter()
    for start in range(0, total, batch_size):
        chunk = phrasings[start:start + batch_size]
        vectors = encoder.encode([normalise(p.text) for p in chunk], batch_size=batch_size)
        index.add_with_ids(vectors, np.arange(start, start + len(chunk), dtype=np.int64))
        if progress is not None:
            progress(start + len(chunk), total)
    logger.info("indexed %d phrasings of shop %s v%d in %.2fs", total, shop_id, version,
                time.perf_counter() - started)
    return ShopIndex(shop_id=shop_id, version=version, encoder_id=encoder.model_id, dim=encoder.dim,
                     index=index, phrasings=phrasings)


def save_index(root: Path, shop_index: ShopIndex) -> Path:
    """Write the index folder atomically and return its final path."""
    final = index_dir(root, shop_index.shop_id, shop_index.version)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    try:
        faiss.write_index(shop_index.index, str(tmp / "index.faiss"))
        _write_json(tmp / "phrasings.json", [
            {"id": p.id, "entry_id": p.entry_id, "text": p.text, "standard": p.is_standard}
            for p in shop_index.phrasings
        ])
        _write_json(tmp / "manifest.json", {
            "format": INDEX_FORMAT,
            "shop_id": shop_index.shop_id,
            "version": shop_index.version,
            "encoder_id": shop_index.encoder_id,
            "dim": shop_index.dim,
            "metric": "inner_product",
            "count": shop_index.size,
            "faiss_version": faiss.__version__,
            "created_at": datetime.now(UTC).isoformat(),
        })
        _fsync_dir(tmp)
        if final.exists():  # left by a build that crashed after the rename but before activation
            shutil.rmtree(final)
        os.replace(tmp, final)
        _fsync_dir(final.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def load_index(root: Path, shop_id: str, version: int, *, encoder_id: str) -> ShopIndex:
    """Load a saved index, refusing one built by another encoder (its vectors would be meaningless)."""
    folder = index_dir(root, shop_id, version)
    manifest_path = folder / "manifest.json"
    if not manifest_path.is_file():
        raise NotFound(f"no index for shop {shop_id!r} version {version} at {folder}")
    manifest = json.loads(manifest_path.read_text("utf-8"))
    if manifest.get("format") != INDEX_FORMAT:
        raise ArtifactMismatch(f"{folder}: index format {manifest.get('format')!r}, expected {INDEX_FORMAT!r}")
    if manifest.get("encoder_id") != encoder_id:
        raise ArtifactMismatch(
            f"{folder}: index was built with encoder {manifest.get('encoder_id')!r} but the service runs "
            f"{encoder_id!r}; rebuild it (re-upload or `smartreply kb reindex`)")
    index = faiss.read_index(str(folder / "index.faiss"))
    rows = json.loads((folder / "phrasings.json").read_text("utf-8"))
    phrasings = [Phrasing(id=r["id"], entry_id=r["entry_id"], text=r["text"], is_standard=r["standard"]) for r in rows]
    if index.ntotal != len(phrasings) or index.d != manifest["dim"]:
        raise ArtifactMismatch(f"{folder}: index holds {index.ntotal} vectors of dim {index.d}, manifest says "
                               f"{len(phrasings)} of dim {manifest['dim']}")
    return ShopIndex(shop_id=shop_id, version=version, encoder_id=encoder_id, dim=index.d, index=index,
                     phrasings=phrasings)


def _write_json(path: Path, data: object) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(data, fh, ensure_ascii=False)
        fh.flush()
        os.fsync(fh.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
