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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import faiss
import numpy as np

from models.encoder import Encoder
from models.errors import ArtifactMismatch, IndexDamaged, NotFound

from .schema import FaqEntry, Phrasing

__all__ = [
    "Encoder", "ShopIndex", "build_index", "derive_index", "index_dir", "load_index", "save_index",
    "remove_index", "remove_orphans", "hnsw_graph", "graph_nbytes", "PhrasingTable",
    "INDEX_FORMAT", "GRAPH_M",
]

logger = logging.getLogger(__name__)

INDEX_FORMAT = "smartreply-faq-index/1"
# HNSW parameters, measured on a generated 20k-phrasing shop (docs/benchmarks.md): against the flat
# scan, recall@50 0.98 and the same top-1 at efSearch 64, ~10x less search time; M 16 recalled
# 0.966 for half the build time. efConstruction 40 is FAISS's default.
GRAPH_M = 32
GRAPH_EF_CONSTRUCTION = 40


class PhrasingTable(Sequence[Phrasing]):
    """A version's phrasings, stored as columns; ``table[i]`` is the ``Phrasing`` with FAISS id ``i``.

    Columns, not a list of objects: a server holding hundreds of shops kept millions of ``Phrasing``
    objects, and the cyclic garbage collector walks every such object in each full collection
    (pauses up to 240 ms, the p99 of a cold shop load; docs/benchmarks.md). Four lists of plain
    values cost it nothing. Items are made on access.
    """

    __slots__ = ("entry_ids", "texts", "standard")

    def __init__(self, entry_ids: list[str], texts: list[str], standard: list[bool]) -> None:
        if not len(entry_ids) == len(texts) == len(standard):
            raise ValueError("phrasing columns of different lengths")
        self.entry_ids, self.texts, self.standard = entry_ids, texts, standard

    @classmethod
    def of(cls, phrasings: Sequence[Phrasing]) -> PhrasingTable:
        if any(p.id != i for i, p in enumerate(phrasings)):
            raise ValueError("phrasing ids must be their positions")
        return cls([p.entry_id for p in phrasings], [p.text for p in phrasings], [p.is_standard for p in phrasings])

    def __len__(self) -> int:
        return len(self.texts)

    def __getitem__(self, i):  # noqa: ANN001, ANN204 - int or slice, as for a list
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        return Phrasing(id=i, entry_id=self.entry_ids[i], text=self.texts[i], is_standard=self.standard[i])

    def __iter__(self) -> Iterator[Phrasing]:
        for i, (entry_id, text, standard) in enumerate(zip(self.entry_ids, self.texts, self.standard)):
            yield Phrasing(id=i, entry_id=entry_id, text=text, is_standard=standard)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PhrasingTable):
            return (self.entry_ids, self.texts, self.standard) == (other.entry_ids, other.texts, other.standard)
        return isinstance(other, Sequence) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment] - mutable lists inside

    def __repr__(self) -> str:
        return f"PhrasingTable({len(self)} phrasings)"


@dataclass
class ShopIndex:
    shop_id: str
    version: int
    encoder_id: str
    dim: int
    index: faiss.Index
    phrasings: PhrasingTable  # position == FAISS id
    # An approximate search graph over the same vectors (large shops, see ``derived.attach_graph``); ``search``
    # uses it when present. Its ids are the phrasing ids too.
    graph: faiss.Index | None = None

    @property
    def size(self) -> int:
        return int(self.index.ntotal)

    def vectors(self) -> np.ndarray:
        """All vectors as an (n, dim) array whose row i is the phrasing with FAISS id i."""
        n = self.size
        out = np.zeros((n, self.dim), dtype=np.float32)
        if n:
            ids = faiss.vector_to_array(self.index.id_map)
            out[ids] = self.index.index.reconstruct_n(0, n)
        return out

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` phrasings for each row of ``query`` (n, dim): (scores, ids), -1 ids past the end."""
        k = max(1, min(k, self.size))
        if self.size == 0:
            n = query.shape[0]
            return np.zeros((n, 0), dtype=np.float32), np.zeros((n, 0), dtype=np.int64)
        return (self.graph or self.index).search(np.ascontiguousarray(query, dtype=np.float32), k)

    @property
    def graph_nbytes(self) -> int:
        """Estimated memory of the search graph: its own vector copy plus ~2M neighbour ids per vector."""
        return 0 if self.graph is None else graph_nbytes(self.size, self.dim)


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
    encoder: Encoder,
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
    texts = [normalise(p.text) for p in phrasings]
    # Encode in length order: a batch pads to its longest text, and FAQ files are not sorted, so
    # file-order batches spent most of their time on padding (2.5x slower on CSDS). Ids keep the
    # phrasings' positions whatever order the vectors are added in.
    order = sorted(range(total), key=lambda i: len(texts[i]))
    for start in range(0, total, batch_size):
        ids = order[start:start + batch_size]
        vectors = encoder.encode([texts[i] for i in ids], batch_size=batch_size)
        index.add_with_ids(vectors, np.asarray(ids, dtype=np.int64))
        if progress is not None:
            progress(start + len(ids), total)
    logger.info("indexed %d phrasings of shop %s v%d in %.2fs", total, shop_id, version,
                time.perf_counter() - started)
    return ShopIndex(shop_id=shop_id, version=version, encoder_id=encoder.model_id, dim=encoder.dim,
                     index=index, phrasings=PhrasingTable.of(phrasings))


def derive_index(
    previous: ShopIndex,
    version: int,
    entries: Sequence[FaqEntry],
    encoder: Encoder,
    *,
    batch_size: int = 64,
    normalise: Callable[[str], str] = lambda s: s,
) -> tuple[ShopIndex, int]:
    """The index of ``entries`` built from ``previous``: only phrasings it lacks are embedded.

    Used for single-entry edits. Every phrasing whose text is already in ``previous`` (built by the
    same encoder) reuses its vector; the rest — the edited entry's new or changed phrasings — go
    through the encoder. Ids stay contiguous positions in ``collect_phrasings`` order, exactly as a
    full ``build_index`` would number them, so ``phrasings.json`` and the FAISS ids agree and the
    result is identical to a full rebuild. Returns (index, number of phrasings embedded).
    """
    if previous.encoder_id != encoder.model_id or previous.dim != encoder.dim:
        raise ArtifactMismatch(f"index v{previous.version} was built by {previous.encoder_id!r}, "
                               f"not {encoder.model_id!r}; it cannot be extended")
    phrasings = collect_phrasings(entries)
    old_vectors = previous.vectors()
    known = {p.text: p.id for p in previous.phrasings}
    vectors = np.zeros((len(phrasings), encoder.dim), dtype=np.float32)
    missing: list[int] = []
    for p in phrasings:
        old = known.get(p.text)
        if old is None:
            missing.append(p.id)
        else:
            vectors[p.id] = old_vectors[old]
    for start in range(0, len(missing), batch_size):
        chunk = missing[start:start + batch_size]
        vectors[chunk] = encoder.encode([normalise(phrasings[i].text) for i in chunk], batch_size=batch_size)
    index = faiss.IndexIDMap2(faiss.IndexFlatIP(encoder.dim))
    if phrasings:
        index.add_with_ids(vectors, np.arange(len(phrasings), dtype=np.int64))
    logger.info("derived shop %s v%d from v%d: %d phrasings, %d embedded", previous.shop_id, version,
                previous.version, len(phrasings), len(missing))
    return ShopIndex(shop_id=previous.shop_id, version=version, encoder_id=encoder.model_id, dim=encoder.dim,
                     index=index, phrasings=PhrasingTable.of(phrasings)), len(missing)


def remove_index(root: Path, shop_id: str, version: int) -> bool:
    """Delete a version's index folder (of a failed build); returns whether there was one."""
    folder = index_dir(root, shop_id, version)
    if folder.exists():
        shutil.rmtree(folder)
        return True
    return False


def remove_orphans(root: Path, keep: Callable[[str, int], bool] = lambda shop, version: False) -> list[Path]:
    """Delete temporary folders left by a save interrupted mid-write (``.v000003.xxxx``).

    ``keep(shop, version)`` protects the temp folders of builds still running in another process.
    """
    removed: list[Path] = []
    if not root.is_dir():
        return removed
    for shop_dir in root.iterdir():
        if not shop_dir.is_dir():
            continue
        for child in shop_dir.iterdir():
            if child.is_dir() and child.name.startswith(".v"):
                try:
                    version = int(child.name[2:].split(".")[0])
                except ValueError:
                    version = -1
                if not keep(shop_dir.name, version):
                    shutil.rmtree(child, ignore_errors=True)
                    removed.append(child)
    return removed


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
    try:
        manifest = json.loads(manifest_path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise _damaged(folder, f"manifest.json: {exc}") from exc
    if manifest.get("format") != INDEX_FORMAT:
        raise ArtifactMismatch(f"{folder}: index format {manifest.get('format')!r}, expected {INDEX_FORMAT!r}")
    if manifest.get("encoder_id") != encoder_id:
        raise ArtifactMismatch(
            f"{folder}: index was built with encoder {manifest.get('encoder_id')!r} but the service runs "
            f"{encoder_id!r}; rebuild it with `smartreply kb reindex --shop {shop_id}` (or upload the FAQ again)")
    try:
        index = faiss.read_index(str(folder / "index.faiss"))
    except RuntimeError as exc:  # FAISS's C++ read error: which file is all a user can act on
        raise _damaged(folder, "index.faiss is not a readable FAISS index") from exc
    try:
        rows = json.loads((folder / "phrasings.json").read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise _damaged(folder, f"phrasings.json: {exc}") from exc
    if any(r["id"] != i for i, r in enumerate(rows)):
        raise ArtifactMismatch(f"{folder}: phrasings.json ids are not positions 0..n-1")
    phrasings = PhrasingTable([r["entry_id"] for r in rows], [r["text"] for r in rows], [r["standard"] for r in rows])
    if index.ntotal != len(phrasings) or index.d != manifest["dim"]:
        raise ArtifactMismatch(f"{folder}: index holds {index.ntotal} vectors of dim {index.d}, manifest says "
                               f"{len(phrasings)} of dim {manifest['dim']}")
    return ShopIndex(shop_id=shop_id, version=version, encoder_id=encoder_id, dim=index.d, index=index,
                     phrasings=phrasings)


def _damaged(folder: Path, problem: str) -> IndexDamaged:
    return IndexDamaged(f"{folder} cannot be read: {problem}; activate another version (`smartreply kb activate`) "
                        "or upload the FAQ again")


def hnsw_graph(shape: tuple[int, int], vectors: Callable[[], np.ndarray], path: Path | None, *,
               ef_search: int, what: str) -> faiss.Index:
    """An HNSW inner-product graph over the ``shape`` array ``vectors()`` (row i gets id i), read from
    ``path`` or built and saved there.

    The graph is derived data: a missing, damaged or mismatched file is rebuilt (a few seconds for
    20k vectors) and rewritten atomically; an unwritable folder only logs. ``vectors`` is called only
    when the file cannot be used (reconstructing them is not free).
    """
    graph = None
    if path is not None and path.is_file():
        try:
            graph = faiss.read_index(str(path))
        except RuntimeError as exc:
            logger.warning("ignoring unreadable %s (%s); rebuilding it", path, exc)
    if graph is not None and (graph.ntotal, graph.d) != tuple(shape):
        logger.warning("ignoring %s: it does not match the vectors; rebuilding it", path)
        graph = None
    if graph is None:
        data = vectors()
        started = time.perf_counter()
        graph = faiss.IndexHNSWFlat(data.shape[1], GRAPH_M, faiss.METRIC_INNER_PRODUCT)
        graph.hnsw.efConstruction = GRAPH_EF_CONSTRUCTION
        graph.add(np.ascontiguousarray(data, dtype=np.float32))
        logger.info("%s: %d vectors in %.2fs", what, data.shape[0], time.perf_counter() - started)
        if path is not None:
            try:
                tmp = path.with_suffix(".tmp")
                faiss.write_index(graph, str(tmp))
                tmp.replace(path)
            except (OSError, RuntimeError) as exc:
                logger.warning("could not cache the %s at %s: %s", what, path, exc)
    graph.hnsw.efSearch = ef_search
    return graph


def graph_nbytes(n: int, dim: int) -> int:
    """Estimated memory of an HNSW graph over n vectors: its own vector copy plus ~2M neighbour ids each."""
    return n * (dim * 4 + (2 * GRAPH_M + 2) * 4 + 16)


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
