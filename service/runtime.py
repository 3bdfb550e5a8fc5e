"""Builds the long-lived parts (store, encoder, suggester) from settings, for the app and the CLI."""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from knowledge_base.analytics import EventLog, Feedback, SuggestionEvent
from knowledge_base.desk import DeskLog
from knowledge_base.importer import ImportMode, ImportResult, RecoveryReport, UploadMode, file_digest
from knowledge_base.index import index_dir
from knowledge_base.jobs import BuildWorker, SubmittedImport, submit_import
from knowledge_base.manager import KnowledgeBase
from knowledge_base.parsing import ParseLimits
from knowledge_base.quick_phrases import QuickPhraseBook, QuickPhraseLimits
from knowledge_base.export import export_learned
from knowledge_base.keys import KeyRing
from knowledge_base.learning import LearnedExample, LearningBook
from knowledge_base.rulebook import RuleBook
from knowledge_base.routing import RoutingBook
from knowledge_base.rules import RuleLimits, rule_from_spec
from knowledge_base.store import BuildJob, KbStore
from models.batching import BatchingEncoder
from models.encoder import Encoder, load_encoder
from models.errors import ArtifactMismatch, BuildFailed, Conflict, InvalidRequest, NotFound, SmartReplyError
from models.escalation import Escalation, EscalationDetector, EscalationModel
from models.intent import IntentClassifier, intent_tag
from models.messages import M
from models.quick_phrase_scorer import QuickPhraseScorer
from models.normalize import normalize_text

from .config import Settings
from .desk import DeskAnnotator
from .observability import Metrics
from .pipeline import RuleHit, Suggester, SuggestResult
from .ranking import PipelineOptions, SuggestContext
from .ratelimit import RateLimiter

__all__ = ["Runtime", "WarmedShop", "DEMO_SHOP_ID", "DEMO_FAQ_PATH"]

logger = logging.getLogger(__name__)

DEMO_SHOP_ID = "demo"
DEMO_FAQ_PATH = Path(__file__).resolve().parent.parent / "knowledge_base" / "demo" / "demo_shop.csv"
# Team-written examples, so the consoles and the README's explain example show something at once.
DEMO_QUICK_PHRASES_PATH = DEMO_FAQ_PATH.with_name("demo_quick_phrases.csv")
DEMO_RULES_PATH = DEMO_FAQ_PATH.with_name("demo_rules.json")


@dataclass(frozen=True)
class WarmedShop:
    shop_id: str
    version: int | None  # the active version loaded (None: it could not be)
    phrasings: int
    seconds: float
    error: str | None = None


@dataclass
class Runtime:
    settings: Settings
    # Set on SIGTERM when a drain period is configured: /healthz answers 503 so load balancers stop
    # sending requests, while the process still answers those already sent (service/cli/serve.py).
    draining: bool = False

    @cached_property
    def store(self) -> KbStore:
        if self.settings.database_url.startswith("sqlite:///"):
            Path(self.settings.database_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        return KbStore(self.settings.database_url, artifacts=self.settings.index_artifacts)

    @cached_property
    def index_root(self) -> Path:
        """Where this process finds shop indexes: ``<data_dir>/indexes`` (the only copy) when the database
        keeps no index files, else this replica's cache of them, one folder per encoder."""
        if not self.store.keeps_artifacts:
            return self.settings.index_dir
        return self.settings.data_dir / "index-cache" / re.sub(r"[^A-Za-z0-9._-]", "_", self.encoder.model_id)

    @cached_property
    def encoder(self) -> Encoder:
        _pin_threads(self.settings.encoder_threads)
        encoder = load_encoder(
            self.settings.encoder,
            backend=self.settings.encoder_backend,
            precision=self.settings.onnx_precision,
            artifacts_dir=self.settings.artifacts_dir,
            threads=self.settings.encoder_threads,
        )
        if self.settings.encoder_max_batch > 1:
            encoder = BatchingEncoder(encoder, max_batch=self.settings.encoder_max_batch,
                                      on_batch=self.metrics.encoder_batch.observe)
        return encoder

    @cached_property
    def suggester(self) -> Suggester:
        if not self.settings.compliance_guard:
            logger.warning("SMARTREPLY_COMPLIANCE_GUARD is off: suggestions are not checked against the "
                           "platform's rules (for evaluation ablations only)")
        return self._new_suggester(self.settings.index_memory_budget_bytes, on_cache_event=self.metrics.cache_event)

    def _new_suggester(self, memory_budget: int, on_cache_event: Callable[..., None] | None = None) -> Suggester:
        return Suggester(self.store, self.index_root, self.encoder, candidates=self.settings.candidates,
                         normalise=normalize_text, search_threads=self.settings.encoder_threads,
                         version_ttl=self.settings.active_version_ttl, memory_budget=memory_budget,
                         on_cache_event=on_cache_event, intent_model=self.intent_model,
                         options=self.pipeline_options, rule_matcher=self._rule_hit,
                         graph_min_phrasings=self.settings.search_graph_min_phrasings,
                         desk=DeskAnnotator(self.escalation_detector, self.routing),
                         learning=self.learning if self.settings.learning else None,
                         learning_refresh=self.settings.learning_refresh_seconds,
                         quick_phrases=self.quick_phrases if self.settings.quick_phrases_in_suggestions else None,
                         quick_phrase_scorer=self.quick_phrase_scorer,
                         reload_in_background=self.settings.reload_in_background)

    def warm(self, shop_ids: Sequence[str] | None = None,
             progress: Callable[[int, int], None] | None = None) -> list[WarmedShop]:
        """Load each shop's active version once (default: every shop that has one), so the files a
        load derives for this code and these settings (ranker weights, gram tables, search graphs)
        are on disk before traffic arrives: after an upgrade that changes them, the first buyer of
        every shop would otherwise pay for it (~1 s per 500 entries). One shop is in memory at a
        time. A shop that cannot be loaded is reported and the others go on.
        """
        ids = sorted(self.store.shops_with_active_version()) if shop_ids is None else list(shop_ids)
        suggester = self._new_suggester(memory_budget=1)  # keeps only the shop being loaded
        out: list[WarmedShop] = []
        for done, shop_id in enumerate(ids, start=1):
            started = time.perf_counter()
            try:
                kb = suggester.kb(shop_id)
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

    @property
    def pipeline_options(self) -> PipelineOptions:
        s = self.settings
        return PipelineOptions(rerank=s.rerank, feature_centroid=s.feature_centroid,
                               feature_lexical=s.feature_lexical, feature_intent=s.feature_intent,
                               feature_prior=s.feature_prior, feature_hub=s.feature_hub,
                               suggest_threshold=s.suggest_threshold, auto_reply_threshold=s.auto_reply_threshold,
                               context_weight=s.context_weight, templates=s.intent_templates,
                               rules=s.rules_in_suggestions, quick_phrases=s.quick_phrases_in_suggestions,
                               guard=s.compliance_guard)

    @cached_property
    def intent_model(self) -> IntentClassifier | None:
        """The platform intent model (trained by set-up); without it the pipeline runs intent-free."""
        try:
            return IntentClassifier.load(self.settings.intent_dir, encoder_id=self.encoder.model_id)
        except (NotFound, ArtifactMismatch) as exc:
            logger.warning("no intent model (%s); run `smartreply train intent`", exc.message)
            return None

    @cached_property
    def escalation_model(self) -> EscalationModel | None:
        """The escalation model (trained by set-up); without it only the cue lexicon and the
        conversation rule escalate."""
        try:
            return EscalationModel.load(self.settings.escalation_dir, encoder_id=self.encoder.model_id)
        except (NotFound, ArtifactMismatch) as exc:
            logger.warning("no escalation model (%s); run `smartreply train escalation`", exc.message)
            return None

    @cached_property
    def escalation_detector(self) -> EscalationDetector | None:
        return EscalationDetector(self.escalation_model) if self.settings.escalation else None

    def escalation_of(self, message: str) -> tuple[Escalation | None, np.ndarray | None]:
        """Whether a person must handle ``message`` now, outside the suggestion pipeline (auto-reply
        rules), and the normalised message's vector if it was encoded for that (reuse it)."""
        detector = self.escalation_detector
        if detector is None:
            return None, None
        text = normalize_text(message)
        vector = self.encoder.encode([text])[0] if detector.model is not None else None
        return detector.detect(text, vector), vector

    @cached_property
    def routing(self) -> RoutingBook:
        """Shops' routing tables (分流), cached per shop for ``routing_table_ttl`` seconds."""
        intents = [str(c) for c in self.intent_model.classes_] if self.intent_model is not None else None
        return RoutingBook(self.store, ttl=self.settings.routing_table_ttl, intents=intents, normalise=normalize_text)

    @cached_property
    def desk(self) -> DeskLog:
        """Desk events, response-time targets, conversation states, 客服绩效, routing/escalation counts."""
        return DeskLog(self.store, flush=self.events.flush)

    @cached_property
    def quick_phrase_scorer(self) -> QuickPhraseScorer | None:
        """Scores the shop's quick phrases against a message (trained by set-up); without it quick phrases
        are not suggested."""
        if not self.settings.quick_phrases_in_suggestions:
            return None
        try:
            return QuickPhraseScorer.load(self.settings.quick_phrase_scorer_dir, encoder_id=self.encoder.model_id,
                                          intent_tag=intent_tag(self.intent_model))
        except (NotFound, ArtifactMismatch) as exc:
            logger.warning("quick phrases are not suggested (%s)", exc.message)
            return None

    def _rule_hit(self, shop_id: str, message: str, at, conversation_id, vector=None) -> RuleHit | None:
        _, explanation = self.rules.match(shop_id, message, at, conversation_id, query_vector=vector)
        winner = explanation.winner
        return None if winner is None else RuleHit(winner.rule.id, winner.rule.name, winner.rule.reply)

    @property
    def parse_limits(self) -> ParseLimits:
        s = self.settings
        return ParseLimits(max_rows=s.max_rows, max_question_chars=s.max_question_chars,
                           max_answer_chars=s.max_answer_chars, max_similar=s.max_similar_per_entry,
                           max_answers=s.max_answers_per_entry, max_category_chars=s.max_category_chars,
                           max_xlsx_uncompressed_bytes=s.max_xlsx_uncompressed_bytes, max_xlsx_ratio=s.max_xlsx_ratio,
                           compliance_warning_kinds=frozenset(s.kb_compliance_warning_kinds))

    @cached_property
    def kb(self) -> KnowledgeBase:
        """Imports, versions, single-entry edits, diff, rollback, export of every shop's FAQ."""
        return KnowledgeBase(self.store, self.index_root, self.encoder, self.parse_limits,
                             normalise=normalize_text, on_change=self._active_version_changed,
                             confirm_remove_over=self.settings.upload_confirm_remove_over)

    def _active_version_changed(self, shop_id: str) -> None:
        if "suggester" in self.__dict__:
            self.suggester.forget(shop_id)
            # Load the new version (and fit its ranker) now, in the upload's request, so the next
            # buyer message does not pay for it.
            try:
                self.suggester.kb(shop_id)
            except SmartReplyError as exc:
                logger.warning("shop %s: could not warm the new version: %s", shop_id, exc.message)

    # -- the agent UI's calls -----------------------------------------------------------------------
    def suggest(self, shop_id: str, message: str, *, top_k: int = 3, context: SuggestContext | None = None,
                test: bool = False, request_id: str | None = None,
                caller_request_id: bool = False) -> tuple[str, SuggestResult]:
        """What ``POST /v1/shops/{shop}/suggestions`` does: the request's limits checked, the pipeline's
        suggestions at the shop's thresholds, and (unless ``test``, or analytics is off) the request
        recorded with PII masked under the returned request id, which feedback then refers to.

        ``caller_request_id``: ``request_id`` came from the caller (X-Request-ID); if this shop already
        used it, the request gets a fresh id instead (a reused id would overwrite nothing and be dropped).
        The evaluation's replay calls this too, so its simulated agent sees what a real one would."""
        started = time.perf_counter()
        settings = self.settings
        if len(message) > settings.max_message_chars:
            raise InvalidRequest(M("request.too_long", field="message", limit=settings.max_message_chars))
        if top_k > settings.max_top_k:
            raise InvalidRequest(M("request.at_most", field="top_k", limit=settings.max_top_k))
        context = context or SuggestContext()
        result = self.suggester.suggest(shop_id, message, top_k=top_k, context=context)
        request_id = request_id or uuid.uuid4().hex
        # A test question (a merchant trying the knowledge base) is answered alike but never counted as a buyer's.
        if settings.analytics and not test and caller_request_id and not self.events.claim_request_id(shop_id,
                                                                                                     request_id):
            request_id = uuid.uuid4().hex
        if settings.analytics and not test:
            top = result.suggestions[0] if result.suggestions else None
            if top is not None:
                self.metrics.confidence.observe(float(top.confidence))
            self.events.record(SuggestionEvent(
                shop_id=shop_id, request_id=request_id, message=message, kb_version=result.kb_version,
                entry_ids=[s.entry_id for s in result.suggestions], scores=[s.score for s in result.suggestions],
                confidence=float(top.confidence) if top else None, intent=top.intent if top else None,
                latency_ms=round((time.perf_counter() - started) * 1000, 3),
                conversation_id=context.conversation_id,
                message_intent=result.intent.intent if result.intent else None,
                escalate_level=result.escalate.level if result.escalate else None,
                escalate_reasons=tuple(result.escalate.codes) if result.escalate else (),
                route_group=result.routing.group if result.routing else None,
                route_reason=result.routing.reason if result.routing else None))
        return request_id, result

    # -- learning from agents ----------------------------------------------------------------------
    @cached_property
    def learning(self) -> LearningBook:
        """Learned examples: buyer messages agents' picks labelled (knowledge_base/learning.py)."""
        return LearningBook(self.store, self.encoder, normalize_text, on_change=self._learning_changed)

    def _learning_changed(self, shop_id: str) -> None:
        if "suggester" in self.__dict__:
            self.suggester.forget(shop_id)

    def record_feedback(self, shop_id: str, **feedback) -> tuple[Feedback, LearnedExample | None]:
        """Record an agent's feedback; one that labels the buyer's message with an entry becomes a
        learned example (approved at once if the shop auto-approves)."""
        fb = self.events.record_feedback(shop_id, **feedback)
        learned = None
        if self.settings.learning:
            learned = self.learning.learn_from(shop_id, fb, agent_id=feedback.get("agent_id"))
        return fb, learned

    def decide_learned(self, shop_id: str, example_id: str, action, *, entry_id: str | None = None
                       ) -> LearnedExample:  # noqa: ANN001 - Literal action
        known = None
        if action != "reject":
            _, entries = self.kb.entries(shop_id)
            known = {e.id for e in entries}
        return self.learning.decide(shop_id, example_id, action, entry_id=entry_id, known_entries=known)

    def promote_learned(self, shop_id: str, example_id: str) -> tuple[LearnedExample, int]:
        """Copy an example into its entry's 相似问 as a new KB version (the merchant's decision)."""
        example = self.learning.get(shop_id, example_id)
        if example.status in ("rejected", "promoted"):
            raise Conflict(M("learning.not_promotable", item=example_id, status=M(f"learning.status.{example.status}")))
        _, entry = self.kb.entry(shop_id, example.entry_id)
        if example.text in entry.phrasings:
            version = self.store.require_active_version(shop_id)
        else:
            version = self.kb.update_entry(shop_id, example.entry_id,
                                           {"similar": [*entry.similar, example.text]}).version
        return self.learning.mark_promoted(shop_id, example_id), version

    def learning_export(self, shop_id: str, fmt: str) -> bytes:
        items, _ = self.learning.list(shop_id, limit=1_000_000)
        return export_learned(items, fmt)

    @cached_property
    def metrics(self) -> Metrics:
        return Metrics()

    @cached_property
    def keys(self) -> KeyRing:
        return KeyRing(self.store)

    @cached_property
    def events(self) -> EventLog:
        """Suggestion requests and agents' feedback, for analytics (written off the request path)."""
        return EventLog(self.store)

    @cached_property
    def rate_limiter(self) -> RateLimiter:
        return RateLimiter(self.settings.rate_limit_per_second, self.settings.rate_limit_burst)

    def ensure_demo_keys(self, path: Path | None = None) -> dict[str, str]:
        """Agent and admin keys of the demo shop, created once and kept in ``<data_dir>/demo-keys.json``
        (a local development convenience: that file holds secrets)."""
        path = path or self.settings.data_dir / "demo-keys.json"
        if path.exists():
            try:
                saved = json.loads(path.read_text("utf-8"))
                if all(self.keys.verify(saved.get(k, "")) for k in ("agent", "admin")):
                    return saved
            except ValueError:
                pass
        keys = {"shop_id": DEMO_SHOP_ID,
                "agent": self.keys.create(DEMO_SHOP_ID, ["agent"], name="demo agent (serve --demo)").key,
                "admin": self.keys.create(DEMO_SHOP_ID, ["admin"], name="demo admin (serve --demo)").key}
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(keys, indent=2) + "\n", "utf-8")
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
        logger.info("demo shop keys written to %s (agent key %s…, admin key %s…)", path, keys["agent"][:12],
                    keys["admin"][:12])
        return keys

    @cached_property
    def quick_phrases(self) -> QuickPhraseBook:
        s = self.settings
        return QuickPhraseBook(self.store, QuickPhraseLimits(max_phrases=s.max_quick_phrases,
                                                             max_chars=s.max_quick_phrase_chars), self.parse_limits,
                               on_change=self._quick_phrases_changed)

    def _quick_phrases_changed(self, shop_id: str) -> None:
        # Encoding a shop's phrases is quick (no ranker refit): the merchant's edit is live at its next
        # message. Other replicas see it within version_ttl, built in the background.
        if "suggester" in self.__dict__:
            try:
                self.suggester.refresh(shop_id)
            except SmartReplyError as exc:
                logger.warning("shop %s: could not load its new quick phrases: %s", shop_id, exc.message)

    @cached_property
    def rules(self) -> RuleBook:
        s = self.settings
        return RuleBook(self.store, self.encoder, normalise=normalize_text,
                        limits=RuleLimits(max_rules=s.max_rules, max_reply_chars=s.max_answer_chars),
                        parse_limits=self.parse_limits, state_ttl=s.active_version_ttl)

    # -- index builds as jobs (PostgreSQL replicas) ------------------------------------------
    @property
    def uses_build_jobs(self) -> bool:
        mode = self.settings.build_jobs
        return mode == "on" or (mode == "auto" and self.settings.database_url.startswith("postgresql"))

    @cached_property
    def build_worker(self) -> BuildWorker:
        s = self.settings
        return BuildWorker(self.store, self.index_root, self.encoder, lease_seconds=s.build_lease_seconds,
                           poll_seconds=s.build_poll_seconds, normalise=normalize_text, on_done=self._build_job_done)

    def _build_job_done(self, job: BuildJob, ok: bool) -> None:
        self.metrics.builds.labels(outcome="ok" if ok else "failed").inc()
        self._active_version_changed(job.shop_id)

    def submit_file(self, shop_id: str, filename: str, data: bytes, *, mode: ImportMode = "reject",
                    upload_mode: UploadMode = "replace", confirm_remove: int | None = None) -> SubmittedImport:
        """Validate and store the upload, queue its index build, and return at once (jobs path only)."""
        submitted = submit_import(self.store, self.encoder.model_id, shop_id, filename, data,
                                  limits=self.parse_limits, mode=mode, upload_mode=upload_mode,
                                  confirm_remove=confirm_remove, confirm_limit=self.settings.upload_confirm_remove_over)
        if not submitted.no_changes:
            self.build_worker.wake()
        return submitted

    def wait_for_build(self, shop_id: str, job_id: str, timeout: float | None = None) -> BuildJob:
        """The job once done or failed, or as it is after ``timeout`` seconds. Runs queued jobs itself when
        this process has no worker thread (the CLI), so a waiting upload never depends on a server."""
        deadline = time.monotonic() + (self.settings.build_wait_seconds if timeout is None else timeout)
        worker_running = "build_worker" in self.__dict__ and self.build_worker.running
        while True:
            job = self.store.get_build_job(shop_id, job_id)
            if job.status in ("done", "failed") or time.monotonic() >= deadline:
                return job
            if not worker_running and self.build_worker.run_once() is not None:
                continue
            time.sleep(0.05)

    def _import_as_job(self, shop_id: str, filename: str, data: bytes, mode: ImportMode, upload_mode: UploadMode,
                       confirm_remove: int | None) -> ImportResult:
        started = time.perf_counter()
        submitted = self.submit_file(shop_id, filename, data, mode=mode, upload_mode=upload_mode,
                                     confirm_remove=confirm_remove)
        extra = {"warnings": submitted.warnings, "skipped": submitted.skipped, "skipped_rows": submitted.skipped_rows,
                 "mode": mode, "upload_mode": upload_mode, "base_version": submitted.base_version,
                 "diff": submitted.diff}
        if submitted.no_changes:
            return ImportResult(shop_id=shop_id, version=submitted.version, active=True, entries=submitted.entries,
                                enabled_entries=submitted.enabled_entries, phrasings=submitted.phrasings,
                                seconds=time.perf_counter() - started, no_changes=True,
                                index_path=index_dir(self.index_root, shop_id, submitted.version), **extra)
        job = self.wait_for_build(shop_id, submitted.job_id)
        if job.status == "failed":
            raise BuildFailed(f"shop {shop_id!r}: building version {job.version} failed ({job.error}); the previous "
                              "active version is still served", details=[{"job_id": job.job_id}])
        if job.status != "done":
            raise BuildFailed(f"shop {shop_id!r}: version {job.version} is still building after "
                              f"{self.settings.build_wait_seconds:g}s (job {job.job_id}); follow it at "
                              f"/v1/shops/{shop_id}/kb/jobs/{job.job_id}", details=[{"job_id": job.job_id}])
        self._active_version_changed(shop_id)
        return ImportResult(shop_id=shop_id, version=job.version, active=bool(job.active), entries=submitted.entries,
                            enabled_entries=submitted.enabled_entries, phrasings=job.total,
                            seconds=time.perf_counter() - started,
                            index_path=index_dir(self.index_root, shop_id, job.version), **extra)

    def import_file(self, shop_id: str, filename: str, data: bytes, progress=None, *,
                    mode: ImportMode = "reject", upload_mode: UploadMode = "replace",
                    confirm_remove: int | None = None) -> ImportResult:
        """Import and activate an upload: built in this request (SQLite), or as a build job that any
        replica's worker claims, waiting for it (PostgreSQL, ``build_jobs``)."""
        if self.uses_build_jobs:
            return self._import_as_job(shop_id, filename, data, mode, upload_mode, confirm_remove)
        metrics = self.metrics
        metrics.builds_running.inc()
        started = time.perf_counter()
        try:
            result = self.kb.import_file(shop_id, filename, data, mode=mode, upload_mode=upload_mode,
                                         confirm_remove=confirm_remove, progress=progress)
        except Exception:
            metrics.builds.labels(outcome="failed").inc()
            raise
        finally:
            metrics.builds_running.dec()
        metrics.builds.labels(outcome="ok").inc()
        metrics.build_seconds.observe(time.perf_counter() - started)
        return result

    def recover(self) -> RecoveryReport:
        """Fail builds a killed process left behind and delete their files (run before serving)."""
        return self.kb.recover()

    def fail_own_builds(self) -> list[tuple[str, int]]:
        """Mark the builds this process is still running as failed (at shutdown)."""
        if "store" not in self.__dict__:
            return []
        host, pid = socket.gethostname(), os.getpid()
        failed = []
        for build in self.store.building_versions():
            if build.host == host and build.pid == pid:
                self.store.mark_failed(build.shop_id, build.version,
                                       "shutdown: the server stopped before this build finished")
                failed.append((build.shop_id, build.version))
        return failed

    def ensure_demo_shop(self) -> ImportResult | None:
        """Import the bundled demo FAQ unless the demo shop already serves this exact file; give the
        shop the example quick phrases and auto-reply rules the first time (never over the merchant's)."""
        self.ensure_demo_keys()
        result = self._ensure_demo_faq()
        if self.store.current_revision(DEMO_SHOP_ID, "quick_phrases") is None:
            self.quick_phrases.import_file(DEMO_SHOP_ID, DEMO_QUICK_PHRASES_PATH.name,
                                           DEMO_QUICK_PHRASES_PATH.read_bytes())
        if self.store.current_revision(DEMO_SHOP_ID, "rules") is None:
            for spec in json.loads(DEMO_RULES_PATH.read_text("utf-8")):
                self.rules.create(DEMO_SHOP_ID, rule_from_spec(spec["id"], spec))
        return result

    def _ensure_demo_faq(self) -> ImportResult | None:
        data = DEMO_FAQ_PATH.read_bytes()
        marker = f"sha256:{file_digest(data)[:16]}"
        if self.store.shop_exists(DEMO_SHOP_ID):
            active = self.store.active_version(DEMO_SHOP_ID)
            if active is not None:
                current = self.store.get_version(DEMO_SHOP_ID, active)
                if current.source.endswith(marker) and current.encoder_id == self.encoder.model_id:
                    logger.info("demo shop already serves %s (version %d)", DEMO_FAQ_PATH.name, active)
                    return None
        return self.import_file(DEMO_SHOP_ID, DEMO_FAQ_PATH.name, data)

    def close(self) -> None:
        if "build_worker" in self.__dict__:
            self.build_worker.stop()
        if "events" in self.__dict__:
            self.events.close()
        if "store" in self.__dict__:
            self.store.close()


def _pin_threads(threads: int) -> None:
    # FAISS's OpenMP pool makes a flat search 10-30x slower with 2 threads on 2 cores than with one;
    # one thread per process, and more processes, is the measured optimum. The same holds for the
    # BLAS behind numpy (the reranker's centroid product): with its default threads, 16 concurrent
    # requests oversubscribed 2 cores and throughput fell from 118/s at concurrency 1 to 70/s at 16.
    import faiss
    from threadpoolctl import threadpool_limits

    faiss.omp_set_num_threads(threads)
    threadpool_limits(limits=threads)
