"""The suggestion pipeline: buyer message → ranked FAQ answers. No web framework in here.

``eval/`` runs this same object in process, so whatever the service does, the evaluation measures.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Protocol

import faiss
import numpy as np

from knowledge_base.artifacts import Fetch, load_version
from knowledge_base.index import ShopIndex, TextEncoder, attach_graph
from knowledge_base.learning import LearnedLayer
from knowledge_base.routing import RouteDecision
from knowledge_base.schema import FaqEntry
from knowledge_base.store import KbStore, ServingState
from models.escalation import Escalation
from models.intent import IntentClassifier, IntentPrediction
from models.normalize import normalize_text, understandable
from models.quick_phrase_scorer import QP_FEATURES, PhraseTable, QuickPhraseScorer, phrase_features

from .desk import DeskAnnotator
from .ranking import (
    PipelineOptions,
    ShopRanking,
    SuggestContext,
    attach_centroid_graph,
    blend_context,
    build_shop_ranking,
    guard,
    intent_template,
    render_variables,
)

__all__ = ["Suggestion", "SuggestResult", "Suggester", "LoadedKb", "ServedEntries", "Blocked", "RuleMatcher", "RuleHit",
           "RankedCandidate"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Suggestion:
    entry_id: str | None  # the FAQ entry (None for rule and template suggestions)
    question: str  # the entry's standard question (a rule's name, a template's intent)
    matched_question: str  # the phrasing (standard or similar) closest to the message
    answer: str  # ready to send: variables filled where the context had them
    score: float  # cosine similarity of message and matched phrasing, higher is better
    category: str
    confidence: float = 0.0  # calibrated probability that this is the right answer
    source: str = "kb"  # kb | quick_phrase | rule | template
    intent: str | None = None  # the entry's intent under the platform intent model
    auto_reply: bool = False  # confident enough to send without a human (auto_reply_threshold)
    variables_missing: tuple[str, ...] = ()  # placeholders the context could not fill: edit before sending
    features: dict[str, float] = field(default_factory=dict)  # why it ranks here (hit test)
    quick_phrase_id: str | None = None  # source quick_phrase: the shop's 快捷短语 suggested


@dataclass(frozen=True)
class Blocked:
    """A candidate the compliance guard removed, and why."""

    entry_id: str | None
    source: str
    reason: str
    kinds: list[str]


@dataclass(frozen=True)
class RuleHit:
    rule_id: str
    name: str
    reply: str


# (shop_id, message, at, conversation_id, normalised message vector) → the winning rule, if one fires.
RuleMatcher = Callable[[str, str, "datetime | None", "str | None", "np.ndarray | None"], "RuleHit | None"]


@dataclass(frozen=True)
class RankedCandidate:
    """One candidate of the full ranking (``suggest(..., full_ranking=True)``: the hit test) and what the
    decision did with it: ``suggested``, ``below_threshold`` (a near miss), ``duplicate`` (same reply as
    a better one: ``other`` names it), ``blocked`` (compliance: ``other`` is the reason) or
    ``beyond_top_k``."""

    suggestion: Suggestion
    rank: int  # 1-based, in the ranker's order
    status: str
    other: str | None = None
    auto_reply: bool = False  # confidence >= the auto-reply threshold applied


@dataclass
class SuggestResult:
    shop_id: str
    kb_version: int
    suggestions: list[Suggestion]
    timings_ms: dict[str, float] = field(default_factory=dict)
    intent: IntentPrediction | None = None  # the message's intent
    abstained: bool = False  # nothing in the knowledge base reached suggest_threshold
    blocked: list[Blocked] = field(default_factory=list)
    ranking: list[RankedCandidate] | None = None  # full_ranking: every candidate with its decision
    thresholds: tuple[float, float] | None = None  # (suggest, auto-reply) applied
    routing: RouteDecision | None = None  # the shop group the message goes to, and why
    escalate: Escalation | None = None  # a person must handle it now (never auto-replied)
    # Why it abstained: "nothing_to_understand" (no letter or digit left after normalisation: nothing
    # was encoded, no rule or template offered) or "no_confident_answer"; None when a KB answer is given.
    abstain_reason: str | None = None


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
        memory_budget: int = 0,
        on_cache_event: Callable[..., None] | None = None,
        intent_model: IntentClassifier | None = None,
        options: PipelineOptions | None = None,
        rule_matcher: RuleMatcher | None = None,
        graph_min_phrasings: int = 0,
        desk: DeskAnnotator | None = None,
        learning: LearnedSource | None = None,
        learning_refresh: float = 0.0,
        quick_phrases: QuickPhraseSource | None = None,
        quick_phrase_scorer: QuickPhraseScorer | None = None,
        reload_in_background: bool = False,
    ) -> None:
        self.desk = desk  # escalation and routing (service/desk.py); None: neither
        self.intent_model = intent_model
        # Approved learned examples join the shop's phrasings (None: the version's phrasings only).
        self.learning = learning
        # A shop whose learned examples changed is reloaded at most every ``learning_refresh`` seconds:
        # with auto-approve every accepted suggestion changes them, and a reload (the ranker's tables)
        # costs tens of milliseconds that would otherwise land on the next buyer's request.
        self.learning_refresh = learning_refresh
        self.reload_in_background = reload_in_background
        self._reloading: set[str] = set()
        # The shop's quick phrases are scored for every message when both are given.
        self.quick_phrases = quick_phrases if quick_phrase_scorer is not None else None
        self.quick_phrase_scorer = quick_phrase_scorer
        self.options = options or PipelineOptions()
        self.rule_matcher = rule_matcher
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
        # OpenMP's thread count is per calling thread: faiss.omp_set_num_threads() in the main thread
        # does not reach the server's worker threads, whose FAISS search then runs 2 OpenMP threads and
        # is ~20x slower on 2 cores (measured 5.5 ms vs 0.26 ms per search). Each thread pins itself once.
        self.search_threads = search_threads
        self._pinned = threading.local()
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
        vectors = self.encoder.encode(texts)
        # Groups are few (发货, 售后 …): each distinct one is encoded once; a phrase without one
        # stands for itself.
        groups = sorted({p.group for p in phrases if p.group.strip()})
        group_vectors = dict(zip(groups, self.encoder.encode([self.normalise(g) for g in groups]))) if groups else {}
        by_group = np.stack([group_vectors[p.group] if p.group in group_vectors else vectors[i]
                             for i, p in enumerate(phrases)])
        proba = self.intent_model.predict_proba(vectors) if self.intent_model is not None else None
        return ServedPhrases(revision=revision, ids=[p.id for p in phrases], texts=[p.text for p in phrases],
                             groups=[p.group for p in phrases], table=PhraseTable(texts, vectors, by_group, proba))

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

    def suggest(self, shop_id: str, message: str, top_k: int = 3, *, context: SuggestContext | None = None,
                min_confidence: float | None = None, auto_reply_threshold: float | None = None,
                full_ranking: bool = False) -> SuggestResult:
        """Ranked suggestions for ``message``. ``min_confidence`` overrides ``suggest_threshold`` (the
        evaluation passes 0 to see the full ranking) and ``auto_reply_threshold`` the auto-reply one:
        the hit test applies the thresholds a merchant types. ``full_ranking`` also returns every
        ranked candidate with its confidence and what the decision did with it (``ranking``)."""
        opts = self.options
        context = context or SuggestContext()
        threshold = opts.suggest_threshold if min_confidence is None else min_confidence
        auto_threshold = opts.auto_reply_threshold if auto_reply_threshold is None else auto_reply_threshold
        trace: dict[int, tuple[str, str | None]] | None = {} if full_ranking else None
        t0 = time.perf_counter()
        kb = self.kb(shop_id)
        t1 = time.perf_counter()
        query = self.normalise(message)
        if not understandable(query):  # only spaces, emoji, punctuation, invisible characters …
            # Nothing to route on either: the shop's default group takes it (no intent, no keyword).
            routing = self.desk.route(shop_id, query, None, [], None) if self.desk is not None else None
            return SuggestResult(shop_id=shop_id, kb_version=kb.index.version, suggestions=[], abstained=True,
                                 routing=routing,
                                 abstain_reason="nothing_to_understand", ranking=[] if full_ranking else None,
                                 thresholds=(threshold, auto_threshold),
                                 timings_ms={"load": round((t1 - t0) * 1000, 3),
                                             "total": round((time.perf_counter() - t0) * 1000, 3)})
        previous = context.previous_buyer_text() if opts.context_weight > 0 else None
        use_context = previous is not None and len(query) <= opts.context_max_chars
        vectors = self.encoder.encode([query, self.normalise(previous)] if use_context else [query])
        vector = blend_context(vectors[0], vectors[1] if use_context else None, opts.context_weight)
        t2 = time.perf_counter()
        intent_proba = intent = None
        if self.intent_model is not None:
            intent_proba = self.intent_model.predict_proba(vector[None, :])[0]
            intent = self.intent_model.prediction(intent_proba)
        escalate = self.desk.escalation(query, vectors[0], context) if self.desk is not None else None
        if self.search_threads is not None and not getattr(self._pinned, "done", False):
            faiss.omp_set_num_threads(self.search_threads)
            self._pinned.done = True
        scores, ids = kb.search(vector[None, :], self.candidates)
        t3 = time.perf_counter()
        if kb.ranking is not None:
            ranked = self._reranked(kb, vector, query, ids[0], intent_proba, top_k)
        else:
            ranked = self._best_per_entry(kb, scores[0], ids[0])
        if kb.phrases is not None and opts.quick_phrases:
            # The shop's quick phrases compete with the FAQ answers on their own calibrated confidence.
            ranked = sorted(ranked + self._phrase_candidates(kb.phrases, vector, query, intent_proba, top_k),
                            key=lambda s: -s.confidence)
        t4 = time.perf_counter()
        out, blocked = self._decide(shop_id, message, vectors[0], kb, ranked, intent, context, top_k, threshold,
                                    auto_threshold, trace)
        if escalate is not None:  # a person must answer it: nothing is safe to send unseen
            out = [replace(s, auto_reply=False) for s in out]
        routing = self.desk.route(shop_id, query, intent, out, escalate) if self.desk is not None else None
        t5 = time.perf_counter()
        ranking = None
        if trace is not None:
            ranking = [RankedCandidate(suggestion=s, rank=i, status=trace.get(id(s), ("beyond_top_k", None))[0],
                                       other=trace.get(id(s), (None, None))[1],
                                       auto_reply=s.confidence >= auto_threshold and escalate is None)
                       for i, s in enumerate(ranked, start=1)]
        abstained = not any(s.source in ("kb", "quick_phrase") for s in out)
        return SuggestResult(
            ranking=ranking, thresholds=(threshold, auto_threshold),
            shop_id=shop_id,
            kb_version=kb.index.version,
            suggestions=out,
            intent=intent,
            abstained=abstained,
            abstain_reason="no_confident_answer" if abstained else None,
            blocked=blocked,
            routing=routing,
            escalate=escalate,
            timings_ms={
                "load": round((t1 - t0) * 1000, 3),
                "encode": round((t2 - t1) * 1000, 3),
                "search": round((t3 - t2) * 1000, 3),
                "rank": round((t4 - t3) * 1000, 3),
                "decide": round((t5 - t4) * 1000, 3),
                "total": round((t5 - t0) * 1000, 3),
            },
        )

    def _phrase_candidates(self, phrases: ServedPhrases, vector: np.ndarray, query: str,
                           intent_proba: np.ndarray | None, top_k: int) -> list[Suggestion]:
        features = phrase_features(phrases.table, vector, query, intent_proba)
        confidence = self.quick_phrase_scorer.predict_proba(features)
        out = []
        for i in np.argsort(-confidence, kind="stable")[: top_k + 2]:
            out.append(Suggestion(entry_id=None, question=phrases.groups[i], matched_question="",
                                  answer=phrases.texts[i], score=float(features[i, 0]), category=phrases.groups[i],
                                  confidence=float(confidence[i]), source="quick_phrase",
                                  quick_phrase_id=phrases.ids[i],
                                  features=dict(zip(QP_FEATURES, map(float, features[i])))))
        return out

    def _reranked(self, kb: LoadedKb, vector, query: str, ids, intent_proba, top_k: int) -> list[Suggestion]:
        ranking = kb.ranking
        out = []
        # Room for answers the decision drops (same reply text as a better one, or blocked).
        for c in ranking.ranker.rank(vector, query, ids, intent_proba, limit=2 * top_k + 10):
            entry = kb.entries[ranking.entry_ids[c.entry]]
            out.append(Suggestion(
                entry_id=entry.id, question=entry.question, matched_question=kb.phrasing_text(c.best_phrasing),
                answer=entry.answer, score=c.features.get("dense_max", 0.0), category=entry.category,
                confidence=c.confidence, intent=ranking.entry_intents[c.entry], features=c.features))
        return out

    def _decide(self, shop_id: str, message: str, message_vector: np.ndarray, kb: LoadedKb, ranked: list[Suggestion],
                intent: IntentPrediction | None, context: SuggestContext, top_k: int,
                threshold: float, auto_threshold: float,
                trace: dict[int, tuple[str, str | None]] | None = None) -> tuple[list[Suggestion], list[Blocked]]:
        """Rules first, then confident KB answers (one per answer text), else an intent template;
        every text rendered and guarded. ``trace`` (the hit test) records, per ranked candidate
        (by ``id``), what happened to it and why."""
        opts = self.options
        candidates: list[Suggestion] = []
        if opts.rules and self.rule_matcher is not None:
            hit = self.rule_matcher(shop_id, message, context.at, context.conversation_id, message_vector)
            if hit is not None:
                candidates.append(Suggestion(entry_id=None, question=hit.name, matched_question="", answer=hit.reply,
                                             score=1.0, category="", confidence=1.0, source="rule"))
        candidates += [s for s in ranked if s.confidence >= threshold]
        if trace is not None:
            trace.update((id(s), ("below_threshold", None)) for s in ranked if s.confidence < threshold)
        if opts.templates and not any(s.source in ("kb", "quick_phrase") for s in candidates) and intent is not None:
            text = intent_template(intent.intent)
            if text is not None:
                candidates.append(Suggestion(entry_id=None, question=intent.intent, matched_question="", answer=text,
                                             score=0.0, category="", confidence=intent.confidence,
                                             source="template", intent=intent.intent))
        out: list[Suggestion] = []
        blocked: list[Blocked] = []
        seen_answers: dict[str, str | None] = {}
        for s in candidates:
            answer, missing = render_variables(s.answer, context.variables)
            if answer in seen_answers:  # diversity: never two suggestions with the same reply
                if trace is not None:
                    trace[id(s)] = ("duplicate", seen_answers[answer])
                continue
            allowed, reason, kinds = guard(answer) if opts.guard else (True, "", ())
            if not allowed:
                blocked.append(Blocked(entry_id=s.entry_id, source=s.source, reason=reason, kinds=list(kinds)))
                if trace is not None:
                    trace[id(s)] = ("blocked", ",".join(kinds))
                continue
            seen_answers[answer] = s.entry_id or s.question
            auto = s.confidence >= auto_threshold and not missing
            out.append(replace(s, answer=answer, variables_missing=missing, auto_reply=auto))
            if trace is not None:
                trace[id(s)] = ("suggested", None)
            if len(out) == top_k:
                break
        return out, blocked

    @staticmethod
    def _best_per_entry(kb: LoadedKb, scores, ids) -> list[Suggestion]:
        # Dense-only ranking (rerank off): an entry is as good as its closest phrasing; FAISS returns
        # phrasings best first, so the first time an entry appears is its best score.
        out: list[Suggestion] = []
        seen: set[str] = set()
        for score, pid in zip(scores, ids):
            if pid < 0:
                break
            entry_id = kb.phrasing_entry(int(pid))
            if entry_id in seen:
                continue
            seen.add(entry_id)
            entry = kb.entries[entry_id]
            out.append(Suggestion(entry_id=entry.id, question=entry.question, matched_question=kb.phrasing_text(int(pid)),
                                  answer=entry.answer, score=float(score), category=entry.category,
                                  confidence=float(score)))
        return out
