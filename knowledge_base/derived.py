"""The files a load derives from a version's index and caches in its folder, and their formats, in one
place: the reranker's learned weights (``ranker.<digest>[.learned<n>].json``, ``EntryRanker.to_json``),
its character-gram tables with the normalised phrasings (``lexicon.<tag>.npz``), the entries' hubness
(``hub.npz``) and the HNSW graphs over the phrasings and the entry centroids
(``graph.hnsw32.faiss``, ``centroids.hnsw32.faiss``).

None of them is part of what a build stores (``index.py``: the index, its phrasings, its manifest):
each is made again when missing, unreadable or made with other settings, and written atomically.
"""

from __future__ import annotations

import hashlib
import logging
import math
import zipfile
from pathlib import Path

import numpy as np

from models.normalize import DEFAULT_NORMALISATION, Normalisation, normalize_text
from models.ranker import LEXICON_FORMAT

from .index import GRAPH_M, ShopIndex, hnsw_graph, index_dir

__all__ = ["attach_graph", "lexicon_file", "HUB_FILE", "PHRASING_GRAPH_FILE", "CENTROID_GRAPH_FILE", "ranker_file", "learned_bucket",
           "read_lexicon", "read_array", "write_cache", "ranker_weight_files", "derived_files"]

logger = logging.getLogger(__name__)

HUB_FILE = "hub.npz"
PHRASING_GRAPH_FILE = f"graph.hnsw{GRAPH_M}.faiss"
CENTROID_GRAPH_FILE = f"centroids.hnsw{GRAPH_M}.faiss"


def lexicon_file(normalise) -> str | None:  # noqa: ANN001 - a text -> text callable
    """The gram tables' file name for the normalisation the cached texts went through (None: do not cache)."""
    if normalise is normalize_text:
        normalise = DEFAULT_NORMALISATION
    if not isinstance(normalise, Normalisation):
        return None
    tag = hashlib.sha1(f"{LEXICON_FORMAT}|{normalise.signature()}".encode()).hexdigest()[:10]
    return f"lexicon.{tag}.npz"


def learned_bucket(n_learned: int) -> int:
    """0 without learned examples, then one bucket per ~25 % more of them (1, 2, 3, 4, 5, 7, 9, 11, 14 …)."""
    return 0 if n_learned <= 0 else 1 + int(math.log(n_learned) / math.log(1.25))


def ranker_file(features: tuple[str, ...], intent_tag: str, n_learned: int = 0) -> str:
    """The weights' file name. Weights depend on the feature set, on the intent model whose probabilities
    feed them, and on how many real messages they were fit on."""
    digest = hashlib.sha1(f"{','.join(features)}|{intent_tag}".encode()).hexdigest()[:10]
    bucket = learned_bucket(n_learned)
    return f"ranker.{digest}.json" if bucket == 0 else f"ranker.{digest}.learned{bucket}.json"


def ranker_weight_files(folder: Path) -> list[Path]:
    """The reranker weight files a version's folder holds (one per fit: at first load, then per bucket of
    learned examples)."""
    return sorted(Path(folder).glob("ranker.*.json"))


def derived_files(folder: Path) -> list[Path]:
    """The weight and gram-table files of a version's folder (what a replica that just fetched the index
    lacks)."""
    return [*ranker_weight_files(folder), *sorted(Path(folder).glob("lexicon.*.npz"))]


def read_lexicon(path: Path | None, phrasings: int) -> dict[str, np.ndarray] | None:
    if path is None or not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            lexicon = {k: data[k] for k in data.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        logger.warning("ignoring unreadable %s (%s); rebuilding it", path, exc)
        return None
    if len(lexicon.get("texts", ())) != phrasings or len(lexicon.get("indptr", ())) != phrasings + 1:
        logger.warning("ignoring %s: it does not match the index (%d phrasings)", path, phrasings)
        return None
    return lexicon


def write_cache(path: Path, data: bytes, what: str) -> None:
    """Write beside the index, atomically (a reader sees the old file or the whole new one)."""
    try:
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
    except OSError as exc:  # a read-only index volume: keep it in memory only
        logger.warning("could not cache the %s at %s: %s", what, path, exc)


def read_array(path: Path | None, name: str, length: int) -> np.ndarray | None:
    if path is None or not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            values = data[name]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        logger.warning("ignoring unreadable %s (%s); computing it again", path, exc)
        return None
    return values if len(values) == length else None


def attach_graph(root: Path | None, shop_index: ShopIndex, *, ef_search: int) -> ShopIndex:
    """Give ``shop_index`` an HNSW search graph, read from beside the index or built and saved there."""
    folder = index_dir(root, shop_index.shop_id, shop_index.version) if root is not None else None
    path = folder / PHRASING_GRAPH_FILE if folder is not None else None
    shop_index.graph = hnsw_graph(
        (shop_index.size, shop_index.dim), shop_index.vectors, path, ef_search=ef_search,
        what=f"search graph for shop {shop_index.shop_id} v{shop_index.version}")
    return shop_index
