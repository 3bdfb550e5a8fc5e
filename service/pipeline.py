"""The suggestion pipeline: buyer message → ranked FAQ answers. No web framework in here.

``eval/`` runs this same object in process, so whatever the service does, the evaluation measures.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import faiss

from knowledge_base.index import ShopIndex, TextEncoder, load_index
from knowledge_base.schema import FaqEntry
from knowledge_base.store import KbStore
from models.normalize import normalize_text

__all__ = ["Suggestion", "SuggestResult", "Suggester", "LoadedKb"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Suggestion:
    entry_id: str
    question: str  # the entry's standard question
    matched_question: str  # the phrasing (standard or similar) closest to the message
    answer: str
    score: float  # cosine similarity of message and matched phrasing, higher is better
    category: str


@dataclass
class SuggestResult:
    shop_id: str
    kb_version: int
    suggestions: list[Suggestion]
    timings_ms: dict[str, float] = field(default_factory=dict)


@dataclass
class LoadedKb:
    index: ShopIndex
    entries: dict[str, FaqEntry]


class Suggester:
    """Answers suggestion requests for any shop, loading each shop's active index on first use."""

    def __init__(
        self,
        store: KbStore,
        index_root: Path,
        encoder: TextEncoder,
        *,
        candidates: int = 50,
        normalise: Callable[[str], str] = normalize_text,
        search_threads: int | None = None,
        version_ttl: float = 0.0,
    ) -> None:
        self.store = store
        self.index_root = index_root
        self.encoder = encoder
        self.candidates = candidates
        self.normalise = normalise
        self._loaded: dict[str, LoadedKb] = {}
        self._load_lock = threading.Lock()
        # OpenMP's thread count is per calling thread: faiss.omp_set_num_threads() in the main thread
        # does not reach the server's worker threads, whose FAISS search then runs 2 OpenMP threads and
        # is ~20x slower on 2 cores (measured 5.5 ms vs 0.26 ms per search). Each thread pins itself once.
        self.search_threads = search_threads
        self._pinned = threading.local()
        # Asking the database for the active version costs ~0.4 ms of a ~4 ms request; with
        # ``version_ttl`` > 0 the answer is reused for that many seconds (a switch made by another
        # process is then seen within the TTL; :meth:`forget` makes this process see it at once).
        self.version_ttl = version_ttl
        self._versions: dict[str, tuple[int, float]] = {}

    def forget(self, shop_id: str) -> None:
        """Drop the cached active version of ``shop_id`` (after an import or rollback in this process)."""
        self._versions.pop(shop_id, None)

    def _active_version(self, shop_id: str) -> int:
        if self.version_ttl <= 0:
            return self.store.require_active_version(shop_id)
        now = time.monotonic()
        cached = self._versions.get(shop_id)
        if cached is not None and cached[1] > now:
            return cached[0]
        version = self.store.require_active_version(shop_id)
        self._versions[shop_id] = (version, now + self.version_ttl)
        return version

    def kb(self, shop_id: str) -> LoadedKb:
        """The shop's active version, loaded once and replaced when another version becomes active."""
        version = self._active_version(shop_id)
        loaded = self._loaded.get(shop_id)
        if loaded is not None and loaded.index.version == version:
            return loaded
        with self._load_lock:
            loaded = self._loaded.get(shop_id)
            if loaded is None or loaded.index.version != version:
                index = load_index(self.index_root, shop_id, version, encoder_id=self.encoder.model_id)
                entries = {e.id: e for e in self.store.entries(shop_id, version)}
                loaded = LoadedKb(index=index, entries=entries)
                self._loaded[shop_id] = loaded
                logger.info("loaded shop %s v%d (%d phrasings)", shop_id, version, index.size)
        return loaded

    def suggest(self, shop_id: str, message: str, top_k: int = 3) -> SuggestResult:
        t0 = time.perf_counter()
        kb = self.kb(shop_id)
        t1 = time.perf_counter()
        query = self.normalise(message)
        vector = self.encoder.encode([query])
        t2 = time.perf_counter()
        if self.search_threads is not None and not getattr(self._pinned, "done", False):
            faiss.omp_set_num_threads(self.search_threads)
            self._pinned.done = True
        scores, ids = kb.index.search(vector, self.candidates)
        t3 = time.perf_counter()
        suggestions = self._best_per_entry(kb, scores[0], ids[0], top_k)
        t4 = time.perf_counter()
        return SuggestResult(
            shop_id=shop_id,
            kb_version=kb.index.version,
            suggestions=suggestions,
            timings_ms={
                "load": round((t1 - t0) * 1000, 3),
                "encode": round((t2 - t1) * 1000, 3),
                "search": round((t3 - t2) * 1000, 3),
                "rank": round((t4 - t3) * 1000, 3),
                "total": round((t4 - t0) * 1000, 3),
            },
        )

    @staticmethod
    def _best_per_entry(kb: LoadedKb, scores, ids, top_k: int) -> list[Suggestion]:
        # An entry is as good as its closest phrasing; FAISS returns phrasings best first, so the
        # first time an entry appears is its best score.
        out: list[Suggestion] = []
        seen: set[str] = set()
        for score, pid in zip(scores, ids):
            if pid < 0:
                break
            phrasing = kb.index.phrasings[pid]
            if phrasing.entry_id in seen:
                continue
            seen.add(phrasing.entry_id)
            entry = kb.entries[phrasing.entry_id]
            out.append(Suggestion(entry_id=entry.id, question=entry.question, matched_question=phrasing.text,
                                  answer=entry.answer, score=float(score), category=entry.category))
            if len(out) == top_k:
                break
        return out
