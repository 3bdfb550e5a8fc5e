"""The suggestion pipeline's request flow: a :class:`SuggestRequest` in, a :class:`SuggestResult` out.

Stages, in order (each named in ``timings_ms``): limits → load the shop (``shops.ShopCache``) →
normalise (abstain when nothing is left to understand) → encode (blending the buyer's previous turn
into a short follow-up) → intent → escalation (``desk``) → retrieve (FAISS) → rerank
(``candidates``/``ranking``) → quick phrases → decide (``decide``: rules, threshold, template, render,
guard) → routing (``desk``). No web framework in here: the HTTP route, ``smartreply suggest`` and the
evaluation run this same object.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import faiss
import numpy as np

from knowledge_base.store import KbStore
from models.encoder import Encoder
from models.errors import InvalidRequest
from models.intent import IntentClassifier
from models.messages import M
from models.normalize import normalize_text, understandable
from models.quick_phrase_scorer import QuickPhraseScorer

from .candidates import best_per_entry, phrase_candidates, reranked
from .contract import RankedCandidate, RuleSource, SuggestRequest, SuggestResult
from .decide import Trace, decide
from .desk import DeskAnnotator
from .options import PipelineLimits, PipelineOptions
from .shops import LearnedSource, LoadedKb, QuickPhraseSource, ShopCache

__all__ = ["Suggester", "blend_context"]


class Suggester:
    """Answers suggestion requests for any shop, loading each shop's active index on first use
    (``shops``). Built by :func:`service.pipeline.build_pipeline` from the settings; tests may build it
    directly with the parts they need."""

    def __init__(
        self,
        store: KbStore,
        index_root: Path,
        encoder: Encoder,
        *,
        candidates: int = 50,
        normalise: Callable[[str], str] = normalize_text,
        search_threads: int | None = None,
        version_ttl: float = 0.0,
        memory_budget: int = 0,
        on_cache_event: Callable[..., None] | None = None,
        intent_model: IntentClassifier | None = None,
        options: PipelineOptions | None = None,
        limits: PipelineLimits | None = None,
        rules: RuleSource | None = None,
        graph_min_phrasings: int = 0,
        desk: DeskAnnotator | None = None,
        learning: LearnedSource | None = None,
        learning_refresh: float = 0.0,
        quick_phrases: QuickPhraseSource | None = None,
        quick_phrase_scorer: QuickPhraseScorer | None = None,
        reload_in_background: bool = False,
    ) -> None:
        self.store = store
        self.index_root = index_root
        self.encoder = encoder
        self.normalise = normalise
        self.candidates = candidates
        self.intent_model = intent_model
        self.options = options or PipelineOptions()
        self.limits = limits  # None: no request limits (a test's pipeline)
        self.rules = rules  # keyword auto-reply rules (None: none)
        self.desk = desk  # escalation and routing (desk.py); None: neither
        self.quick_phrase_scorer = quick_phrase_scorer
        # The shop's quick phrases are scored for every message when both are given.
        self.shops = ShopCache(
            store, index_root, encoder, candidates=candidates, normalise=normalise, version_ttl=version_ttl,
            memory_budget=memory_budget, on_cache_event=on_cache_event, intent_model=intent_model,
            options=self.options, graph_min_phrasings=graph_min_phrasings, learning=learning,
            learning_refresh=learning_refresh,
            quick_phrases=quick_phrases if quick_phrase_scorer is not None else None,
            reload_in_background=reload_in_background)
        # OpenMP's thread count is per calling thread: faiss.omp_set_num_threads() in the main thread
        # does not reach the server's worker threads, whose FAISS search then runs 2 OpenMP threads and
        # is ~20x slower on 2 cores (measured 5.5 ms vs 0.26 ms per search). Each thread pins itself once.
        self.search_threads = search_threads
        self._pinned = threading.local()

    # The shop cache, for callers that warm or invalidate it.
    def kb(self, shop_id: str) -> LoadedKb:
        return self.shops.kb(shop_id)

    def forget(self, shop_id: str) -> None:
        self.shops.forget(shop_id)

    def refresh(self, shop_id: str) -> None:
        """Build the shop's current state now if it is served (a change made through this process)."""
        self.shops.refresh(shop_id)

    def check(self, request: SuggestRequest) -> None:
        """The request limits (raises ``InvalidRequest``, naming the field and the limit)."""
        if self.limits is None:
            return
        if len(request.message) > self.limits.max_message_chars:
            raise InvalidRequest(M("request.too_long", field="message", limit=self.limits.max_message_chars))
        if request.top_k > self.limits.max_top_k:
            raise InvalidRequest(M("request.at_most", field="top_k", limit=self.limits.max_top_k))

    def suggest(self, request: SuggestRequest) -> SuggestResult:
        """Ranked suggestions for ``request.message`` from the shop's active knowledge base."""
        self.check(request)
        opts = self.options
        shop_id, message, top_k, context = request.shop_id, request.message, request.top_k, request.context
        threshold = opts.suggest_threshold if request.min_confidence is None else request.min_confidence
        auto_threshold = (opts.auto_reply_threshold if request.auto_reply_threshold is None
                          else request.auto_reply_threshold)
        trace: Trace | None = {} if request.full_ranking else None
        t0 = time.perf_counter()
        kb = self.shops.kb(shop_id)
        t1 = time.perf_counter()
        query = self.normalise(message)
        if not understandable(query):  # only spaces, emoji, punctuation, invisible characters …
            # Nothing to route on either: the shop's default group takes it (no intent, no keyword).
            routing = self.desk.route(shop_id, query, None, [], None) if self.desk is not None else None
            return SuggestResult(shop_id=shop_id, kb_version=kb.index.version, suggestions=[], abstained=True,
                                 routing=routing,
                                 abstain_reason="nothing_to_understand", ranking=[] if request.full_ranking else None,
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
            ranked = reranked(kb, vector, query, ids[0], intent_proba, top_k)
        else:
            ranked = best_per_entry(kb, scores[0], ids[0])
        if kb.phrases is not None and opts.quick_phrases:
            # The shop's quick phrases compete with the FAQ answers on their own calibrated confidence.
            ranked = sorted(ranked + phrase_candidates(self.quick_phrase_scorer, kb.phrases, vector, query,
                                                       intent_proba, top_k),
                            key=lambda s: -s.confidence)
        t4 = time.perf_counter()
        out, blocked = decide(shop_id, message, vectors[0], ranked, intent, context, top_k, threshold,
                              auto_threshold, opts, self.rules, trace)
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


def blend_context(vector: np.ndarray, context_vector: np.ndarray | None, weight: float) -> np.ndarray:
    """A short follow-up ("那要多久") borrows meaning from the buyer's previous turn."""
    if context_vector is None or weight <= 0:
        return vector
    mixed = vector + weight * context_vector
    norm = np.linalg.norm(mixed)
    return mixed / norm if norm > 0 else vector
