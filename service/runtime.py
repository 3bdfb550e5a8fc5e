"""The composition root: builds the long-lived parts from settings, for the app and the CLI, and wires
them together. Nothing else: what a part does lives in its own module (the pipeline in
``service/pipeline/``, uploads in ``knowledge_base/uploads.py``, the learned-example review in
``knowledge_base/learned_review.py``, the demo shop in ``service/demo_shop.py``).

Each part is made on first use (``cached_property``), so a CLI command that needs the store never loads
the encoder. Tests substitute a part by passing it in (``Runtime(settings, encoder=fake)``) or, for a
route, through FastAPI's ``dependency_overrides`` (``service/api/deps.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import cached_property
from pathlib import Path

from knowledge_base.analytics import EventLog
from knowledge_base.desk import DeskLog
from knowledge_base.jobs import BuildWorker
from knowledge_base.keys import KeyRing
from knowledge_base.learned_review import LearnedReview
from knowledge_base.learning import LearningBook
from knowledge_base.manager import KnowledgeBase
from knowledge_base.quick_phrases import QuickPhraseBook
from knowledge_base.routing import RoutingBook
from knowledge_base.rulebook import RuleBook
from knowledge_base.shop_settings import ShopSettingsBook
from knowledge_base.store import BuildJob, KbStore
from knowledge_base.tablefile import ParseLimits
from knowledge_base.unanswered import UnansweredReview
from knowledge_base.uploads import Uploads
from models.encoder import Encoder
from models.errors import SmartReplyError
from models.escalation import EscalationDetector
from models.intent import IntentClassifier
from models.normalize import normalize_text
from models.quick_phrase_scorer import QuickPhraseScorer

from .config import Settings
from .demo_shop import DemoShop
from .observability import Metrics
from .pipeline import (
    PipelineParts,
    Suggester,
    SuggestionLog,
    build_pipeline,
    encoder_from,
    index_root_for,
    learning_book,
    load_escalation_model,
    load_intent_model,
    load_quick_phrase_scorer,
    parse_limits_from,
    quick_phrase_book,
    routing_book,
    rule_book,
)
from .pipeline.desk import EscalationCheck
from .ratelimit import RateLimiter

__all__ = ["Runtime"]

logger = logging.getLogger(__name__)


class Runtime:
    def __init__(self, settings: Settings, *, encoder: Encoder | None = None, store: KbStore | None = None) -> None:
        self.settings = settings
        # Set on SIGTERM when a drain period is configured: /healthz answers 503 so load balancers stop
        # sending requests, while the process still answers those already sent (service/cli/serve.py).
        self.draining = False
        # Parts given by the caller take the place of the ones the settings describe.
        if encoder is not None:
            self.__dict__["encoder"] = encoder
        if store is not None:
            self.__dict__["store"] = store

    def made(self, part: str) -> bool:
        """Whether ``part`` was made already (shutdown closes only what exists)."""
        return part in self.__dict__

    # -- foundations ---------------------------------------------------------------------------------
    @cached_property
    def store(self) -> KbStore:
        if self.settings.database_url.startswith("sqlite:///"):
            Path(self.settings.database_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        return KbStore(self.settings.database_url, artifacts=self.settings.index_artifacts)

    @cached_property
    def encoder(self) -> Encoder:
        return encoder_from(self.settings, on_batch=self.metrics.encoder_batch.observe)

    @cached_property
    def index_root(self) -> Path:
        return index_root_for(self.settings, self.store, self.encoder)

    @cached_property
    def metrics(self) -> Metrics:
        return Metrics()

    @cached_property
    def parse_limits(self) -> ParseLimits:
        return parse_limits_from(self.settings)

    # -- models --------------------------------------------------------------------------------------
    @cached_property
    def intent_model(self) -> IntentClassifier | None:
        return load_intent_model(self.settings, self.encoder)

    @cached_property
    def escalation_detector(self) -> EscalationDetector | None:
        if not self.settings.escalation:
            return None
        return EscalationDetector(load_escalation_model(self.settings, self.encoder))

    @cached_property
    def quick_phrase_scorer(self) -> QuickPhraseScorer | None:
        return load_quick_phrase_scorer(self.settings, self.encoder, self.intent_model)

    # -- a shop's data -------------------------------------------------------------------------------
    @cached_property
    def kb(self) -> KnowledgeBase:
        """Imports, versions, single-entry edits, diff, rollback, export of every shop's FAQ."""
        return KnowledgeBase(self.store, self.index_root, self.encoder, self.parse_limits,
                             normalise=normalize_text, on_change=self._active_version_changed,
                             confirm_remove_over=self.settings.upload_confirm_remove_over)

    @cached_property
    def uploads(self) -> Uploads:
        s = self.settings
        jobs = s.build_jobs == "on" or (s.build_jobs == "auto" and s.database_url.startswith("postgresql"))
        return Uploads(self.store, self.kb, self._build_worker, encoder_id=self.encoder.model_id,
                       index_root=self.index_root, limits=self.parse_limits, confirm_limit=s.upload_confirm_remove_over,
                       jobs=jobs, wait_seconds=s.build_wait_seconds, metrics=self.metrics,
                       on_change=self._active_version_changed)

    def _build_worker(self, on_done: Callable[[BuildJob, bool], None]) -> BuildWorker:
        s = self.settings
        return BuildWorker(self.store, self.index_root, self.encoder, lease_seconds=s.build_lease_seconds,
                           poll_seconds=s.build_poll_seconds, normalise=normalize_text, on_done=on_done)

    @cached_property
    def quick_phrases(self) -> QuickPhraseBook:
        return quick_phrase_book(self.settings, self.store, on_change=self._quick_phrases_changed)

    @cached_property
    def rules(self) -> RuleBook:
        return rule_book(self.settings, self.store, self.encoder)

    @cached_property
    def routing(self) -> RoutingBook:
        return routing_book(self.settings, self.store, self.intent_model)

    @cached_property
    def learning(self) -> LearningBook:
        return learning_book(self.store, self.encoder, normalize_text, on_change=self._learning_changed)

    @cached_property
    def learned_review(self) -> LearnedReview:
        return LearnedReview(self.learning, self.kb)

    @cached_property
    def keys(self) -> KeyRing:
        return KeyRing(self.store)

    @cached_property
    def events(self) -> EventLog:
        """Suggestion requests and agents' feedback, for analytics (written off the request path)."""
        return EventLog(self.store)

    @cached_property
    def desk(self) -> DeskLog:
        """Desk events, response-time targets, conversation states, 客服绩效, routing/escalation counts."""
        return DeskLog(self.store, flush=self.events.flush)

    @cached_property
    def shop_settings(self) -> ShopSettingsBook:
        return ShopSettingsBook(self.store, self.desk, self.rules, self.learning)

    @cached_property
    def unanswered(self) -> UnansweredReview:
        s = self.settings
        return UnansweredReview(self.events, self.kb, self.encoder, low_confidence=s.unanswered_confidence,
                                threshold=s.unanswered_cluster_threshold, max_similar=s.max_similar_per_entry)

    @cached_property
    def demo(self) -> DemoShop:
        return DemoShop(self.store, self.keys, self.uploads, self.quick_phrases, self.rules,
                        encoder_id=self.encoder.model_id, keys_path=self.settings.data_dir / "demo-keys.json")

    @cached_property
    def rate_limiter(self) -> RateLimiter:
        return RateLimiter(self.settings.rate_limit_per_second, self.settings.rate_limit_burst)

    # -- the suggestion pipeline ---------------------------------------------------------------------
    @property
    def pipeline_parts(self) -> PipelineParts:
        """This process's own parts (the ones the routes edit), so a change is served at once."""
        return PipelineParts(intent_model=self.intent_model, escalation_detector=self.escalation_detector,
                             routing=self.routing, rules=self.rules, learning=self.learning,
                             quick_phrases=self.quick_phrases, quick_phrase_scorer=self.quick_phrase_scorer)

    def new_pipeline(self, memory_budget: int | None = None) -> Suggester:
        """A pipeline on this process's parts (``memory_budget`` 1: one shop at a time, for warming)."""
        return build_pipeline(self.settings, self.store, self.encoder, parts=self.pipeline_parts,
                              index_root=self.index_root, memory_budget=memory_budget,
                              on_cache_event=self.metrics.cache_event if memory_budget is None else None)

    @cached_property
    def suggester(self) -> Suggester:
        return self.new_pipeline()

    @cached_property
    def suggestions(self) -> SuggestionLog:
        """The agent UI's loop: suggestions recorded for analytics, feedback, learned examples."""
        return SuggestionLog(self.suggester, self.events, self.learning if self.settings.learning else None,
                             analytics=self.settings.analytics, on_confidence=self.metrics.confidence.observe)

    @cached_property
    def escalation_check(self) -> EscalationCheck:
        return EscalationCheck(self.escalation_detector, self.encoder)

    # -- wiring between parts ------------------------------------------------------------------------
    def _active_version_changed(self, shop_id: str) -> None:
        if self.made("suggester"):
            self.suggester.forget(shop_id)
            # Load the new version (and fit its ranker) now, in the upload's request, so the next
            # buyer message does not pay for it.
            try:
                self.suggester.kb(shop_id)
            except SmartReplyError as exc:
                logger.warning("shop %s: could not warm the new version: %s", shop_id, exc.message)

    def _quick_phrases_changed(self, shop_id: str) -> None:
        # Encoding a shop's phrases is quick (no ranker refit): the merchant's edit is live at its next
        # message. Other replicas see it within version_ttl, built in the background.
        if self.made("suggester"):
            try:
                self.suggester.refresh(shop_id)
            except SmartReplyError as exc:
                logger.warning("shop %s: could not load its new quick phrases: %s", shop_id, exc.message)

    def _learning_changed(self, shop_id: str) -> None:
        if self.made("suggester"):
            self.suggester.forget(shop_id)

    def fail_own_builds(self) -> list[tuple[str, int]]:
        """Mark the builds this process is still running as failed (at shutdown)."""
        return self.uploads.fail_own_builds() if self.made("store") else []

    def close(self) -> None:
        if self.made("uploads") and self.uploads.has_worker:
            self.uploads.worker.stop()
        if self.made("events"):
            self.events.close()
        if self.made("store"):
            self.store.close()
