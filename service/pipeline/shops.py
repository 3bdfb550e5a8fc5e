"""The shop cache: each shop's active version loaded once (its index, entries, approved learned
examples, quick phrases and reranker), kept within a memory budget, least recently used dropped first,
and replaced when another version becomes active or what joins it changes. No web framework in here.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import faiss
import numpy as np

from knowledge_base.artifacts import Fetch, load_version
from knowledge_base.derived import attach_graph
from knowledge_base.index import ShopIndex
from knowledge_base.learning import LearnedLayer
from knowledge_base.schema import FaqEntry
from knowledge_base.store import KbStore, ServingState
from models.encoder import Encoder
from models.errors import SmartReplyError
from models.intent import IntentClassifier
from models.normalize import normalize_text
from models.quick_phrase_scorer import PhraseTable

from .options import PipelineOptions
from .ranking import ShopRanking, attach_centroid_graph, build_shop_ranking

__all__ = ["ShopCache", "LoadedKb", "ServedEntries", "ServedPhrases", "LearnedIndex", "QuickPhraseSource",
           "LearnedSource", "WarmedShop", "warm"]

logger = logging.getLogger(__name__)


class ServedEntries(Mapping[str, FaqEntry]):
    """What a suggestion needs of a version's entries (id, question, first answer, category), as
    columns; ``entries[id]`` makes the ``FaqEntry`` on access, without similar questions.

    Columns for the reason of ``PhrasingTable``: hundreds of loaded shops kept hundreds of thousands
    of entry objects in every full garbage collection; lists of strings and a str -> int dict cost
    the collector nothing.
    """

    __slots__ = ("_row", "_questions", "_answers", "_categories")

    def __init__(self, entries: Iterable[FaqEntry]) -> None:
        self._row: dict[str, int] = {}
        self._questions: list[str] = []
        self._answers: list[str] = []
        self._categories: list[str] = []
        for e in entries:
            self._row[e.id] = len(self._questions)
            self._questions.append(e.question)
            self._answers.append(e.answer)
            self._categories.append(e.category)

    def __getitem__(self, entry_id: str) -> FaqEntry:
        i = self._row[entry_id]
        return FaqEntry(id=entry_id, question=self._questions[i], answers=(self._answers[i],),
                        category=self._categories[i])

    def __iter__(self) -> Iterator[str]:
        return iter(self._row)

    def __len__(self) -> int:
        return len(self._row)

    @property
    def text_bytes(self) -> int:
        return sum(len(q) * 4 + len(a) * 4 + 200 for q, a in zip(self._questions, self._answers))


class QuickPhraseSource(Protocol):
    """A shop's quick phrases (``knowledge_base.quick_phrases.QuickPhraseBook``)."""

    def list(self, shop_id: str, revision: int | None = None) -> tuple[int | None, list]: ...


@dataclass
class ServedPhrases:
    """A shop's quick phrases at one revision, with what the scorer reads (``PhraseTable``)."""

    revision: int | None
    ids: list[str]
    texts: list[str]  # as written (the suggestion's answer)
    groups: list[str]
    table: PhraseTable


class LearnedSource(Protocol):
    """Where a shop's approved learned examples come from (``knowledge_base.learning.LearningBook``)."""

    def layer(self, shop_id: str, revision: int | None = None) -> LearnedLayer: ...


@dataclass
class LearnedIndex:
    """A shop's approved learned examples, searched beside its version's index: example ``i`` is phrasing
    ``offset + i``. A flat scan of their own: they are few next to the merchant's phrasings, and a version's
    index (and its HNSW graph, cached on disk) stays exactly as built."""

    layer: LearnedLayer
    offset: int
    index: faiss.Index

    @classmethod
    def of(cls, layer: LearnedLayer, offset: int) -> LearnedIndex:
        index = faiss.IndexFlatIP(layer.vectors.shape[1])
        index.add(np.ascontiguousarray(layer.vectors, dtype=np.float32))
        return cls(layer=layer, offset=offset, index=index)


@dataclass
class LoadedKb:
    index: ShopIndex
    entries: ServedEntries
    nbytes: int = 0  # estimated memory: vectors (ntotal x dim x 4) + phrasing and entry texts + the reranker
    ranking: ShopRanking | None = None
    learned: LearnedIndex | None = None
    learned_revision: int = 0
    loaded_at: float = field(default_factory=time.monotonic)
    phrases: ServedPhrases | None = None

    def phrasing_text(self, phrasing_id: int) -> str:
        if self.learned is not None and phrasing_id >= self.learned.offset:
            return self.learned.layer.texts[phrasing_id - self.learned.offset]
        return self.index.phrasings.texts[phrasing_id]

    def phrasing_entry(self, phrasing_id: int) -> str:
        if self.learned is not None and phrasing_id >= self.learned.offset:
            return self.learned.layer.entry_ids[phrasing_id - self.learned.offset]
        return self.index.phrasings.entry_ids[phrasing_id]

    def search(self, vector: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest phrasings, the version's and the learned examples' together: (scores, ids)."""
        scores, ids = self.index.search(vector, k)
        if self.learned is None:
            return scores, ids
        l_scores, l_ids = self.learned.index.search(np.ascontiguousarray(vector, dtype=np.float32),
                                                    min(k, self.learned.index.ntotal))
        l_ids = np.where(l_ids >= 0, l_ids + self.learned.offset, -1)
        all_scores = np.concatenate([scores, l_scores], axis=1)
        all_ids = np.concatenate([ids, l_ids], axis=1)
        all_scores = np.where(all_ids >= 0, all_scores, -np.inf)
        order = np.argsort(-all_scores, axis=1, kind="stable")[:, :k]
        return np.take_along_axis(all_scores, order, axis=1), np.take_along_axis(all_ids, order, axis=1)


def estimate_bytes(index: ShopIndex, entries: ServedEntries) -> int:
    vectors = index.size * index.dim * 4 + index.graph_nbytes
    texts = sum(len(t) * 4 + 100 for t in index.phrasings.texts)
    return vectors + texts + entries.text_bytes




class ShopCache:
    """Loads each shop's active version on first use and keeps it (``kb(shop_id)``)."""

    def __init__(
        self,
        store: KbStore,
        index_root: Path,
        encoder: Encoder,
        *,
        candidates: int = 50,
        normalise: Callable[[str], str] = normalize_text,
        version_ttl: float = 0.0,
        memory_budget: int = 0,
        on_cache_event: Callable[..., None] | None = None,
        intent_model: IntentClassifier | None = None,
        options: PipelineOptions | None = None,
        graph_min_phrasings: int = 0,
        learning: LearnedSource | None = None,
        learning_refresh: float = 0.0,
        quick_phrases: QuickPhraseSource | None = None,
        reload_in_background: bool = False,
    ) -> None:
        self.intent_model = intent_model
        # Approved learned examples join the shop's phrasings (None: the version's phrasings only).
        self.learning = learning
        # A shop whose learned examples changed is reloaded at most every ``learning_refresh`` seconds:
        # with auto-approve every accepted suggestion changes them, and a reload (the ranker's tables)
        # costs tens of milliseconds that would otherwise land on the next buyer's request.
        self.learning_refresh = learning_refresh
        self.reload_in_background = reload_in_background
        self._reloading: set[str] = set()
        self.quick_phrases = quick_phrases  # None: no quick phrases are loaded
        self.options = options or PipelineOptions()
        self.store = store
        self.index_root = index_root
        self.encoder = encoder
        self.candidates = candidates
        self.normalise = normalise
        # Loaded shop indexes, least recently used first; beyond ``memory_budget`` bytes (0 = no limit)
        # the least recently used shops are dropped and loaded again from disk when asked for.
        self._loaded: OrderedDict[str, LoadedKb] = OrderedDict()
        self.memory_budget = memory_budget
        self.on_cache_event = on_cache_event or (lambda event, **info: None)
        # One load at a time (a second request for the same shop waits and uses the first one's load).
        # Loads of different shops side by side were measured worse on 2 cores (bench-shops mixed phase:
        # p50 26 -> 124 ms, p95 993 -> 803 ms, 70 -> 66 req/s): a load is CPU work that then competes
        # with every warm request instead of queueing behind the other loads.
        self._load_lock = threading.Lock()
        self._cache_lock = threading.Lock()  # the LRU's own bookkeeping (touch, insert, evict), held briefly
        # Asking the database for the active version costs ~0.4 ms of a ~4 ms request; with
        # ``version_ttl`` > 0 the answer is reused for that many seconds (a switch made by another
        # process is then seen within the TTL; :meth:`forget` makes this process see it at once).
        self.version_ttl = version_ttl
        self._versions: dict[str, tuple[ServingState, float]] = {}
        # Shops with at least this many phrasings are searched through an HNSW graph instead of the
        # flat scan (0 = never): the scan reads every vector per message (40 MB at 20k phrasings).
        self.graph_min_phrasings = graph_min_phrasings

    def _fetched(self, fetch: Fetch) -> None:
        self.on_cache_event("fetch", bytes=fetch.bytes, seconds=fetch.seconds, reason=fetch.reason)

    def forget(self, shop_id: str) -> None:
        """Drop the cached serving state of ``shop_id`` (after an import, a rollback or a change to its
        learned examples in this process)."""
        self._versions.pop(shop_id, None)

    def _serving_state(self, shop_id: str) -> ServingState:
        """Active version, learning and quick-phrase revisions: from the database or reused for ``version_ttl``."""
        now = time.monotonic()
        if self.version_ttl > 0:
            cached = self._versions.get(shop_id)
            if cached is not None and cached[1] > now:
                return cached[0]
        if self.learning is not None or self.quick_phrases is not None:
            state = self.store.serving_state(shop_id)
        else:
            state = ServingState(self.store.require_active_version(shop_id))
        if self.version_ttl > 0:
            self._versions[shop_id] = (state, now + self.version_ttl)
        return state

    def kb(self, shop_id: str) -> LoadedKb:
        """The shop's active version (with its approved learned examples and its quick phrases), loaded
        once and replaced when another version becomes active or what joins it changes.

        A new version is loaded before it answers. When only what joins the version changed (learned
        examples, quick phrases), the shop keeps answering from what it has while the new state is
        built: in a background thread with ``reload_in_background`` (the service; a refit of the
        ranker takes seconds), in the request otherwise (the evaluation, which wants each change seen
        at once)."""
        state = self._serving_state(shop_id)
        version, revision = state.version, state.learning_revision
        phrases_revision = state.quick_phrase_revision if self.quick_phrases is not None else None
        loaded = self._loaded.get(shop_id)
        if loaded is not None and loaded.index.version == version:
            learned_due = loaded.learned_revision != revision and (
                time.monotonic() - loaded.loaded_at >= self.learning_refresh)
            phrases_due = (loaded.phrases.revision if loaded.phrases is not None else None) != phrases_revision
            if not (learned_due or phrases_due) or self.reload_in_background:
                if learned_due or phrases_due:
                    self._reload_later(shop_id)
                with self._cache_lock:
                    if shop_id in self._loaded:  # else evicted by another thread just now: still usable here
                        self._loaded.move_to_end(shop_id)
                self.on_cache_event("hit")
                return loaded
        return self._load_now(shop_id, version, revision, phrases_revision)

    def _load_now(self, shop_id: str, version: int, revision: int, phrases_revision: int | None) -> LoadedKb:
        with self._load_lock:
            loaded = self._loaded.get(shop_id)
            same_version = loaded is not None and loaded.index.version == version
            if not same_version or loaded.learned_revision != revision or (
                    (loaded.phrases.revision if loaded.phrases is not None else None) != phrases_revision):
                previous = loaded if same_version else None
                started = time.perf_counter()
                loaded = self._load(shop_id, version, revision, phrases_revision, previous)
                with self._cache_lock:
                    self._loaded[shop_id] = loaded
                    self._loaded.move_to_end(shop_id)
                    self._evict(keep=shop_id)
                logger.info("loaded shop %s v%d (%d phrasings, %d learned examples, %d quick phrases)", shop_id,
                            version, loaded.index.size, 0 if loaded.learned is None else len(loaded.learned.layer),
                            0 if loaded.phrases is None else len(loaded.phrases.ids))
                self.on_cache_event("miss", bytes=self.cache_bytes, shops=len(self._loaded),
                                    seconds=time.perf_counter() - started)
            else:
                self.on_cache_event("hit")
        return loaded

    def refresh(self, shop_id: str) -> None:
        """Build the shop's current state now if it is being served (a change made through this process:
        its next message sees it, and the request that made the change pays for the build)."""
        self.forget(shop_id)  # read the newest state, not the one cached for the TTL
        if shop_id not in self._loaded:
            return
        state = self._serving_state(shop_id)
        self._load_now(shop_id, state.version, state.learning_revision,
                       state.quick_phrase_revision if self.quick_phrases is not None else None)

    def _reload_later(self, shop_id: str) -> None:
        """Build the shop's current state in a background thread (one at a time per shop)."""
        with self._cache_lock:
            if shop_id in self._reloading:
                return
            self._reloading.add(shop_id)

        def run() -> None:
            try:
                self.refresh(shop_id)
            except Exception:  # noqa: BLE001 - the shop keeps answering from what it has; the next request retries
                logger.exception("shop %s: reloading its learned examples / quick phrases failed", shop_id)
            finally:
                with self._cache_lock:
                    self._reloading.discard(shop_id)

        threading.Thread(target=run, name=f"reload-{shop_id}", daemon=True).start()

    def _load(self, shop_id: str, version: int, revision: int, phrases_revision: int | None,
              previous: LoadedKb | None) -> LoadedKb:
        """Build what serves ``shop_id``; parts of ``previous`` (same version) that did not change are reused."""
        if previous is not None:
            index, entries = previous.index, previous.entries
        else:
            # From this replica's disk; when the database keeps the index files, what the disk lacks
            # (or holds damaged) is fetched from there first.
            index = load_version(self.store, self.index_root, shop_id, version, encoder_id=self.encoder.model_id,
                                 on_fetch=self._fetched)
            if self.graph_min_phrasings and index.size >= self.graph_min_phrasings:
                # efSearch below the number of candidates asked for would return fewer of them.
                attach_graph(self.index_root, index, ef_search=max(64, self.candidates))
            entries = ServedEntries(self.store.entries(shop_id, version))
        loaded = LoadedKb(index=index, entries=entries, nbytes=estimate_bytes(index, entries),
                          learned_revision=revision)
        if previous is not None and previous.learned_revision == revision:
            loaded.learned, loaded.ranking = previous.learned, previous.ranking
            loaded.nbytes = previous.nbytes - (previous.phrases.table.nbytes if previous.phrases else 0)
        else:
            layer = None
            if self.learning is not None and revision > 0:
                layer = self.learning.layer(shop_id, revision).restricted_to(set(entries))
                if len(layer):
                    loaded.learned = LearnedIndex.of(layer, offset=index.size)
                    loaded.nbytes += layer.vectors.nbytes + sum(len(t) * 4 + 100 for t in layer.texts)
            if self.options.rerank:
                loaded.ranking = build_shop_ranking(index, self.intent_model, self.options,
                                                    index_root=self.index_root, normalise=self.normalise,
                                                    learned=layer if loaded.learned is not None else None)
                if index.graph is not None:  # a large shop: its entries are many too
                    attach_centroid_graph(loaded.ranking, index, index_root=self.index_root)
                loaded.nbytes += loaded.ranking.ranker.nbytes
        if previous is not None and previous.phrases is not None and previous.phrases.revision == phrases_revision:
            loaded.phrases = previous.phrases
        elif self.quick_phrases is not None and phrases_revision is not None:
            loaded.phrases = self._served_phrases(shop_id, phrases_revision)
        if loaded.phrases is not None:
            loaded.nbytes += loaded.phrases.table.nbytes
        return loaded

    def _served_phrases(self, shop_id: str, revision: int) -> ServedPhrases | None:
        _, phrases = self.quick_phrases.list(shop_id, revision)
        if not phrases:
            return None
        texts = [self.normalise(p.text) for p in phrases]
        # Groups are few (发货, 售后 …): each distinct one is encoded once; a phrase without one
        # stands for itself. What the shop serves already is not encoded again: an edit of one phrase
        # in a few hundred encodes that phrase.
        groups = [self.normalise(p.group) if p.group.strip() else None for p in phrases]
        known = self._served_vectors(shop_id)
        new = sorted({*texts, *(g for g in groups if g is not None)} - known.keys())
        if new:
            known.update(zip(new, self.encoder.encode(new)))
        vectors = np.stack([known[t] for t in texts])
        by_group = np.stack([known[g] if g is not None else vectors[i] for i, g in enumerate(groups)])
        proba = self.intent_model.predict_proba(vectors) if self.intent_model is not None else None
        return ServedPhrases(revision=revision, ids=[p.id for p in phrases], texts=[p.text for p in phrases],
                             groups=[p.group for p in phrases], table=PhraseTable(texts, vectors, by_group, proba))

    def _served_vectors(self, shop_id: str) -> dict[str, np.ndarray]:
        """Normalised phrase and group texts -> vectors, from the quick phrases the shop serves now."""
        loaded = self._loaded.get(shop_id)
        served = loaded.phrases if loaded is not None else None
        if served is None:
            return {}
        known = dict(zip(served.table.texts, served.table.vectors))
        known.update((self.normalise(g), v) for g, v in zip(served.groups, served.table.group_vectors) if g.strip())
        return known

    @property
    def cache_bytes(self) -> int:
        with self._cache_lock:
            return self._bytes_held()

    def _bytes_held(self) -> int:  # with _cache_lock held
        return sum(kb.nbytes for kb in self._loaded.values())

    def loaded_shops(self) -> list[str]:
        """Shops whose index is in memory, least recently used first."""
        with self._cache_lock:
            return list(self._loaded)

    def clear(self) -> None:
        """Drop every loaded shop (the next request loads it again, as after an eviction)."""
        with self._cache_lock:
            self._loaded.clear()

    def _evict(self, keep: str) -> None:  # with _cache_lock held
        if self.memory_budget <= 0:
            return
        total = self._bytes_held()
        while total > self.memory_budget and len(self._loaded) > 1:
            shop_id, kb = next(iter(self._loaded.items()))
            if shop_id == keep:
                break
            del self._loaded[shop_id]
            total -= kb.nbytes
            logger.info("evicted shop %s v%d from memory (%d bytes; budget %d)", shop_id, kb.index.version,
                        kb.nbytes, self.memory_budget)
            self.on_cache_event("evict", bytes=total, shops=len(self._loaded))


@dataclass(frozen=True)
class WarmedShop:
    shop_id: str
    version: int | None  # the active version loaded (None: it could not be)
    phrasings: int
    seconds: float
    error: str | None = None


def warm(shops: ShopCache, shop_ids: Sequence[str] | None = None,
         progress: Callable[[int, int], None] | None = None) -> list[WarmedShop]:
    """Load each shop's active version once (default: every shop that has one), so the files a load
    derives for this code and these settings (ranker weights, gram tables, search graphs) are on disk
    before traffic arrives: after an upgrade that changes them, the first buyer of every shop would
    otherwise pay for it (~1 s per 500 entries). Give it a cache with a memory budget of 1 to keep only
    the shop being loaded. A shop that cannot be loaded is reported and the others go on.
    """
    ids = sorted(shops.store.shops_with_active_version()) if shop_ids is None else list(shop_ids)
    out: list[WarmedShop] = []
    for done, shop_id in enumerate(ids, start=1):
        started = time.perf_counter()
        try:
            kb = shops.kb(shop_id)
            out.append(WarmedShop(shop_id, kb.index.version, kb.index.size, time.perf_counter() - started))
        except SmartReplyError as exc:
            out.append(WarmedShop(shop_id, None, 0, time.perf_counter() - started, error=exc.message))
        except Exception as exc:  # noqa: BLE001 - anything else unreadable: report it, warm the rest
            logger.debug("warming shop %s failed", shop_id, exc_info=True)
            out.append(WarmedShop(shop_id, None, 0, time.perf_counter() - started,
                                  error=f"{type(exc).__name__}: {exc}"))
        if progress is not None:
            progress(done, len(ids))
    return out
