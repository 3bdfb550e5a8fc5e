"""The one public way to build the suggestion pipeline: :func:`build_pipeline` (settings + store +
encoder → :class:`Suggester`), and the loaders of what it is built from.

The service (``service/runtime.py``), ``smartreply suggest`` and the evaluation all build it here, so
they run the same pipeline with the same switches and limits. The parts it is built from
(:class:`PipelineParts`: the platform models and the shop's rules, routing table, learned examples and
quick phrases) are made from the same three inputs by :func:`pipeline_parts`; the service passes its own
instances instead (the ones its routes edit), so a change through a route is seen at once.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from knowledge_base.learning import LearningBook
from knowledge_base.quick_phrases import QuickPhraseBook, QuickPhraseLimits
from knowledge_base.routing import RoutingBook
from knowledge_base.rulebook import RuleBook
from knowledge_base.rules import RuleLimits
from knowledge_base.store import KbStore
from knowledge_base.tablefile import ParseLimits
from models.batching import BatchingEncoder
from models.encoder import Encoder, load_encoder
from models.errors import ArtifactMismatch, NotFound
from models.escalation import EscalationDetector, EscalationModel
from models.intent import IntentClassifier, intent_tag
from models.normalize import normalize_text
from models.quick_phrase_scorer import QuickPhraseScorer

from ..config import Settings
from .desk import DeskAnnotator
from .options import limits_from, options_from
from .suggester import Suggester

__all__ = ["build_pipeline", "PipelineParts", "pipeline_parts", "encoder_from", "index_root_for", "parse_limits_from",
           "load_intent_model", "load_escalation_model", "load_quick_phrase_scorer", "rule_book", "routing_book",
           "quick_phrase_book", "learning_book"]

logger = logging.getLogger(__name__)


@dataclass
class PipelineParts:
    """What the pipeline is built from besides the settings, store and encoder."""

    intent_model: IntentClassifier | None
    escalation_detector: EscalationDetector | None
    routing: RoutingBook
    rules: RuleBook
    learning: LearningBook
    quick_phrases: QuickPhraseBook
    quick_phrase_scorer: QuickPhraseScorer | None


def build_pipeline(settings: Settings, store: KbStore, encoder: Encoder, *, parts: PipelineParts | None = None,
                   index_root: Path | None = None, normalise: Callable[[str], str] = normalize_text,
                   memory_budget: int | None = None, on_cache_event: Callable[..., None] | None = None) -> Suggester:
    """The suggestion pipeline the settings describe (switches, thresholds, limits, caches).

    ``parts``: the service's own instances (default: made by :func:`pipeline_parts`); ``index_root``:
    default :func:`index_root_for`; ``normalise``: the text normalisation of index and queries (an
    evaluation ablation passes another); ``memory_budget``: default ``index_memory_budget_bytes``."""
    s = settings
    own_parts = parts is None
    parts = parts or pipeline_parts(settings, store, encoder)
    if not s.compliance_guard:
        logger.warning("SMARTREPLY_COMPLIANCE_GUARD is off: suggestions are not checked against the "
                       "platform's rules (for evaluation ablations only)")
    pipeline = Suggester(store, index_root or index_root_for(settings, store, encoder), encoder,
                          candidates=s.candidates, normalise=normalise, search_threads=s.encoder_threads,
                          version_ttl=s.active_version_ttl,
                          memory_budget=s.index_memory_budget_bytes if memory_budget is None else memory_budget,
                          on_cache_event=on_cache_event, intent_model=parts.intent_model, options=options_from(s),
                          limits=limits_from(s), rules=parts.rules, graph_min_phrasings=s.search_graph_min_phrasings,
                          desk=DeskAnnotator(parts.escalation_detector, parts.routing),
                          learning=parts.learning if s.learning else None, learning_refresh=s.learning_refresh_seconds,
                          quick_phrases=parts.quick_phrases if s.quick_phrases_in_suggestions else None,
                          quick_phrase_scorer=parts.quick_phrase_scorer, reload_in_background=s.reload_in_background)
    if own_parts:  # a learned example approved through these parts is served at once
        parts.learning.on_change = pipeline.forget
    return pipeline


def pipeline_parts(settings: Settings, store: KbStore, encoder: Encoder) -> PipelineParts:
    """Every part the settings name, loaded or made afresh (the books normalise text as the service does)."""
    intent_model = load_intent_model(settings, encoder)
    escalation = EscalationDetector(load_escalation_model(settings, encoder)) if settings.escalation else None
    return PipelineParts(intent_model=intent_model, escalation_detector=escalation,
                              routing=routing_book(settings, store, intent_model),
                              rules=rule_book(settings, store, encoder), learning=learning_book(store, encoder),
                              quick_phrases=quick_phrase_book(settings, store),
                              quick_phrase_scorer=load_quick_phrase_scorer(settings, encoder, intent_model))


def encoder_from(settings: Settings, on_batch: Callable[[int], None] | None = None) -> Encoder:
    """The sentence encoder the settings name (micro-batching when ``encoder_max_batch`` > 1), with this
    process's FAISS and BLAS threads pinned to ``encoder_threads``."""
    _pin_threads(settings.encoder_threads)
    encoder = load_encoder(settings.encoder, backend=settings.encoder_backend, precision=settings.onnx_precision,
                                artifacts_dir=settings.artifacts_dir, threads=settings.encoder_threads)
    if settings.encoder_max_batch > 1:
        encoder = BatchingEncoder(encoder, max_batch=settings.encoder_max_batch, on_batch=on_batch)
    return encoder


def index_root_for(settings: Settings, store: KbStore, encoder: Encoder) -> Path:
    """Where this process finds shop indexes: ``<data_dir>/indexes`` (the only copy) when the database
    keeps no index files, else this replica's cache of them, one folder per encoder."""
    if not store.keeps_artifacts:
        return settings.index_dir
    return settings.data_dir / "index-cache" / re.sub(r"[^A-Za-z0-9._-]", "_", encoder.model_id)


def load_intent_model(settings: Settings, encoder: Encoder) -> IntentClassifier | None:
    """The platform intent model (trained by set-up); without it the pipeline runs intent-free."""
    try:
        return IntentClassifier.load(settings.intent_dir, encoder_id=encoder.model_id)
    except (NotFound, ArtifactMismatch) as exc:
        logger.warning("no intent model (%s); run `smartreply train intent`", exc.message)
        return None


def load_escalation_model(settings: Settings, encoder: Encoder) -> EscalationModel | None:
    """The escalation model (trained by set-up); without it only the cue lexicon and the conversation
    rule escalate."""
    try:
        return EscalationModel.load(settings.escalation_dir, encoder_id=encoder.model_id)
    except (NotFound, ArtifactMismatch) as exc:
        logger.warning("no escalation model (%s); run `smartreply train escalation`", exc.message)
        return None


def load_quick_phrase_scorer(settings: Settings, encoder: Encoder,
                                  intent_model: IntentClassifier | None) -> QuickPhraseScorer | None:
    """Scores the shop's quick phrases against a message (trained by set-up); without it quick phrases
    are not suggested."""
    if not settings.quick_phrases_in_suggestions:
        return None
    try:
        return QuickPhraseScorer.load(settings.quick_phrase_scorer_dir, encoder_id=encoder.model_id,
                                           intent_tag=intent_tag(intent_model))
    except (NotFound, ArtifactMismatch) as exc:
        logger.warning("quick phrases are not suggested (%s)", exc.message)
        return None


def parse_limits_from(settings: Settings) -> ParseLimits:
    s = settings
    return ParseLimits(max_rows=s.max_rows, max_question_chars=s.max_question_chars,
                            max_answer_chars=s.max_answer_chars, max_similar=s.max_similar_per_entry,
                            max_answers=s.max_answers_per_entry, max_category_chars=s.max_category_chars,
                            max_xlsx_uncompressed_bytes=s.max_xlsx_uncompressed_bytes, max_xlsx_ratio=s.max_xlsx_ratio,
                            compliance_warning_kinds=frozenset(s.kb_compliance_warning_kinds))


def rule_book(settings: Settings, store: KbStore, encoder: Encoder) -> RuleBook:
    s = settings
    return RuleBook(store, encoder, normalise=normalize_text,
                    limits=RuleLimits(max_rules=s.max_rules, max_reply_chars=s.max_answer_chars),
                    parse_limits=parse_limits_from(s), state_ttl=s.active_version_ttl)


def routing_book(settings: Settings, store: KbStore, intent_model: IntentClassifier | None) -> RoutingBook:
    """Shops' routing tables (分流), cached per shop for ``routing_table_ttl`` seconds."""
    intents = [str(c) for c in intent_model.classes_] if intent_model is not None else None
    return RoutingBook(store, ttl=settings.routing_table_ttl, intents=intents, normalise=normalize_text)


def quick_phrase_book(settings: Settings, store: KbStore,
                      on_change: Callable[[str], None] | None = None) -> QuickPhraseBook:
    """``on_change(shop_id)``: told after every new revision (the pipeline serving the shop's phrases)."""
    s = settings
    return QuickPhraseBook(store, QuickPhraseLimits(max_phrases=s.max_quick_phrases, max_chars=s.max_quick_phrase_chars),
                           parse_limits_from(s), on_change=on_change)


def learning_book(store: KbStore, encoder: Encoder, normalise: Callable[[str], str] = normalize_text,
                  on_change: Callable[[str], None] | None = None) -> LearningBook:
    """Learned examples: buyer messages agents' picks labelled (knowledge_base/learning.py)."""
    return LearningBook(store, encoder, normalise, on_change=on_change)


def _pin_threads(threads: int) -> None:
    # FAISS's OpenMP pool makes a flat search 10-30x slower with 2 threads on 2 cores than with one;
    # one thread per process, and more processes, is the measured optimum. The same holds for the
    # BLAS behind numpy (the reranker's centroid product): with its default threads, 16 concurrent
    # requests oversubscribed 2 cores and throughput fell from 118/s at concurrency 1 to 70/s at 16.
    import faiss
    from threadpoolctl import threadpool_limits

    faiss.omp_set_num_threads(threads)
    threadpool_limits(limits=threads)
