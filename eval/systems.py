"""Systems under evaluation: how a run names them, builds them, and plugs them into one runner.

A system spec is ``NAME[:OPTION,OPTION…]`` where an option is ``key=value``, ``+flag`` (true) or
``-flag`` (false)::

    bm25                      bm25:k1=1.2,b=0.75
    tfidf-char                tfidf-char:ngram_max=2
    dense                     dense:precision=fp32
    pipeline                  pipeline:candidates=10,precision=fp32

``pipeline`` is the product: the options are :class:`service.config.Settings` fields (with the
short aliases ``precision`` and ``backend``) and the steps of :class:`models.normalize.Normalisation`
(``pipeline:-fillers``, ``pipeline:-traditional``), so when a later change adds a pipeline setting,
its ablation is one option here with no change to the harness. The spec text is the system's name
in ``metrics.json`` and reports.
"""

from __future__ import annotations

import itertools
import logging
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from knowledge_base.analytics import EventLog
from knowledge_base.importer import import_entries
from knowledge_base.manager import KnowledgeBase
from knowledge_base.schema import FaqEntry
from knowledge_base.store import KbStore
from models.encoder import Encoder
from models.normalize import Normalisation, normalize_text
from service.pipeline import (
    PipelineParts,
    Settings,
    SuggestContext,
    Suggester,
    Suggestion,
    SuggestionLog,
    SuggestRequest,
    build_pipeline,
    encoder_from,
    parse_limits_from,
    pipeline_parts,
)

from .errors import EvalConfigError

__all__ = [
    "Ranker",
    "SystemSpec",
    "parse_system",
    "Resources",
    "PipelineRanker",
    "EvalPipeline",
    "build_ranker",
    "RANKER_SYSTEMS",
    "typed_options",
    "PIPELINE_ALIASES",
]

logger = logging.getLogger(__name__)


@runtime_checkable
class Ranker(Protocol):
    """Ranks the entries of a knowledge base for a query (every score "higher is better")."""

    name: str

    def fit(self, entries: Sequence[FaqEntry]) -> Ranker:
        """Index ``entries`` (only enabled ones are served); returns self."""
        ...

    def rank(self, query: str, k: int) -> list[tuple[str, float]]:
        """Up to ``k`` (entry id, confidence) pairs, best first."""
        ...

    def config(self) -> dict: ...


@dataclass(frozen=True)
class SystemSpec:
    name: str
    options: dict[str, Any] = field(default_factory=dict)
    label: str = ""

    def __post_init__(self) -> None:
        if not self.label:
            object.__setattr__(self, "label", format_spec(self.name, self.options))


def format_spec(name: str, options: dict[str, Any]) -> str:
    if not options:
        return name
    parts = []
    for k, v in options.items():
        parts.append(("+" if v else "-") + k if isinstance(v, bool) else f"{k}={v}")
    return f"{name}:{','.join(parts)}"


def parse_system(text: str, extra: dict[str, Any] | None = None) -> SystemSpec:
    """Parse ``NAME[:k=v,+flag,-flag]``; ``extra`` options (from ``--set``) are added to ``pipeline``."""
    name, _, rest = text.strip().partition(":")
    name = name.strip()
    if not name:
        raise EvalConfigError(f"empty system name in {text!r}")
    options: dict[str, Any] = {}
    for part in (p.strip() for p in rest.split(",")):
        if not part:
            continue
        if "=" in part:
            key, value = (s.strip() for s in part.split("=", 1))
            options[key] = value
        elif part[0] in "+-" and len(part) > 1:
            options[part[1:]] = part[0] == "+"
        else:
            raise EvalConfigError(f"system option {part!r} in {text!r} is not key=value, +flag or -flag")
    if extra and name in ("pipeline", "intent-model"):
        options.update(extra)
    return SystemSpec(name, options)


# Short names for the Settings fields an ablation most often touches.
PIPELINE_ALIASES = {"precision": "onnx_precision", "backend": "encoder_backend", "threads": "encoder_threads"}
# Settings that decide where things live or how the server listens: not a property of the pipeline.
_NOT_PIPELINE = {"data_dir", "database_url", "artifacts_dir", "host", "port", "log_level", "max_upload_bytes",
                 "max_rows", "max_message_chars", "max_top_k"}
_ENCODER_FIELDS = ("encoder", "encoder_backend", "onnx_precision", "encoder_threads")


class Resources:
    """What systems of one run share: base settings, a scratch folder, encoders loaded once."""

    def __init__(self, settings: Settings, workdir: Path | None = None, *,
                 load_encoder: Callable[[Settings], Encoder] = encoder_from) -> None:
        self.settings = settings
        self.load_encoder = load_encoder  # the service's loader; a test passes its own
        self._tmp = None
        if workdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="smartreply-eval-")
            workdir = Path(self._tmp.name)
        self.workdir = Path(workdir)
        self._encoders: dict[tuple, Encoder] = {}
        self._counter = itertools.count(1)

    def pipeline_settings(self, options: dict[str, Any]) -> Settings:
        """Base settings with pipeline options applied; an unknown option is refused by name."""
        allowed = sorted(set(Settings.model_fields) - _NOT_PIPELINE)
        steps = _normalisation_steps()
        updates = {}
        for key, value in options.items():
            field_name = PIPELINE_ALIASES.get(key, key)
            if field_name in steps:
                continue
            if field_name not in allowed:
                raise EvalConfigError(f"pipeline has no switch {key!r}; known: "
                                      f"{', '.join(allowed + sorted(PIPELINE_ALIASES) + steps)}")
            updates[field_name] = value
        n = next(self._counter)
        data = self.settings.model_dump()
        data.update(updates)
        data["data_dir"] = self.workdir / f"pipeline-{n}"
        data["database_url"] = ""
        try:
            return Settings(**data)
        except ValueError as exc:
            raise EvalConfigError(f"invalid pipeline option: {exc}") from exc

    def encoder(self, settings: Settings | None = None) -> Encoder:
        """The encoder ``settings`` (default: the run's) name, loaded once per distinct configuration
        exactly as the service loads it (:func:`service.pipeline.encoder_from`)."""
        settings = settings or self.settings
        key = tuple(str(getattr(settings, f)) for f in _ENCODER_FIELDS) + (str(settings.artifacts_dir),)
        if key not in self._encoders:
            self._encoders[key] = self.load_encoder(settings)
        return self._encoders[key]

    @property
    def loaded_encoders(self) -> list[Encoder]:
        """Every encoder loaded so far (one per distinct configuration)."""
        return list(self._encoders.values())

    def encoder_with(self, options: dict[str, Any]) -> Encoder:
        """An encoder with ``precision`` / ``backend`` / ``encoder`` options applied (for baselines)."""
        unknown = set(options) - {"precision", "backend", "encoder", "onnx_precision", "encoder_backend"}
        if unknown:
            raise EvalConfigError(f"unknown encoder option(s) {sorted(unknown)}; use precision, backend, encoder")
        updates = {PIPELINE_ALIASES.get(k, k): v for k, v in options.items()}
        if not updates:
            return self.encoder()
        try:
            settings = self.settings.model_copy(update=updates)
            type(self.settings).model_validate(settings.model_dump())
        except ValueError as exc:
            raise EvalConfigError(f"invalid encoder option: {exc}") from exc
        return self.encoder(settings)

    def pipeline(self, options: dict[str, Any]) -> EvalPipeline:
        """A fresh service pipeline (own SQLite store + index folder) whose encoder is shared, built by
        the service's one factory."""
        settings = self.pipeline_settings(options)
        steps = {k: _as_bool(k, v) for k, v in options.items() if k in _normalisation_steps()}
        # An ablated normalisation: index and queries both go through it, as in the service.
        normalise = Normalisation(**steps) if steps else normalize_text
        return EvalPipeline.create(settings, self.encoder(settings), normalise)

    def close(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


def _normalisation_steps() -> list[str]:
    return [f.name for f in fields(Normalisation)]


def _as_bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise EvalConfigError(f"pipeline switch {key} takes true/false (or +{key} / -{key}), got {value!r}")


class EvalPipeline:
    """A scratch store and the service's pipeline over it, with the agent UI's loop (``log``: suggestions
    recorded, feedback, learned examples) and the knowledge base's import path (``kb``), all through
    :mod:`service.pipeline`'s public contract and the ``knowledge_base`` package."""

    def __init__(self, settings: Settings, store: KbStore, parts: PipelineParts, pipeline: Suggester,
                 normalise: Callable[[str], str]) -> None:
        self.settings = settings
        self.store = store
        self.parts = parts
        self.pipeline = pipeline
        self.learning = parts.learning
        self.log = SuggestionLog(pipeline, EventLog(store), parts.learning if settings.learning else None,
                                 analytics=settings.analytics)
        # Uploads as the service makes them: an import activates the version and loads it at once.
        self.kb = KnowledgeBase(store, pipeline.index_root, pipeline.encoder, parse_limits_from(settings),
                                normalise=normalise, on_change=self._activated,
                                confirm_remove_over=settings.upload_confirm_remove_over)

    @classmethod
    def create(cls, settings: Settings, encoder: Encoder,
               normalise: Callable[[str], str] = normalize_text) -> EvalPipeline:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        store = KbStore(settings.database_url, artifacts=settings.index_artifacts)
        parts = pipeline_parts(settings, store, encoder)
        pipeline = build_pipeline(settings, store, encoder, parts=parts, normalise=normalise)
        parts.learning.on_change = pipeline.forget  # an approved example is served at once
        return cls(settings, store, parts, pipeline, normalise)

    def _activated(self, shop_id: str) -> None:
        self.pipeline.forget(shop_id)
        self.pipeline.kb(shop_id)

    def fresh_pipeline(self, memory_budget: int | None = None) -> Suggester:
        """Another pipeline on the same store and parts, with an empty shop cache (a new process's)."""
        p = self.pipeline
        return build_pipeline(self.settings, self.store, p.encoder, parts=self.parts, index_root=p.index_root,
                              normalise=p.normalise, memory_budget=memory_budget)

    def import_entries(self, shop_id: str, entries: Sequence[FaqEntry]) -> None:
        """The entries imported like an upload (store → embed → FAISS index → activate) and loaded."""
        p = self.pipeline
        import_entries(self.store, p.index_root, p.encoder, shop_id, list(entries), source="smartreply eval",
                       normalise=p.normalise)
        p.kb(shop_id)  # load (and fit the shop's reranker) now: that is part of fitting, not of a query

    def close(self) -> None:
        self.log.events.close()  # the analytics writer's thread
        self.store.close()


class PipelineRanker:
    """The serving pipeline in process: entries imported like an upload into a scratch store, queries
    answered by the very pipeline the API uses, through its contract (``SuggestRequest`` →
    ``SuggestResult``).

    ``rank`` asks for the full ranking (``min_confidence=0``: the evaluation, not the pipeline's
    ``suggest_threshold``, decides where to cut, which is what the coverage–precision curve needs)
    and keeps the knowledge-base suggestions (not rules, quick phrases or intent templates), with their
    calibrated ``confidence``. ``context`` (earlier turns of the conversation) is passed on.
    """

    name = "pipeline"
    uses_context = True

    def __init__(self, served: EvalPipeline) -> None:
        self.served = served
        self.shop_: str | None = None
        self.last_timings: dict[str, float] = {}
        self._fits = itertools.count(1)

    def fit(self, entries: Sequence[FaqEntry]) -> PipelineRanker:
        shop = f"eval{next(self._fits)}"
        self.served.import_entries(shop, entries)
        self.shop_ = shop
        return self

    def suggest(self, query: str, k: int, context: Sequence[Any] | None = None) -> list[Suggestion]:
        if self.shop_ is None:
            raise RuntimeError("PipelineRanker is not fitted; call fit(entries) first")
        turns = list(context) if context else []
        result = self.served.pipeline.suggest(SuggestRequest(self.shop_, query, top_k=k, min_confidence=0.0,
                                                             context=SuggestContext(turns=turns)))
        self.last_timings = result.timings_ms
        return [s for s in result.suggestions if s.source == "kb" and s.entry_id is not None]

    def rank(self, query: str, k: int, context: Sequence[Any] | None = None) -> list[tuple[str, float]]:
        return [(s.entry_id, float(s.confidence)) for s in self.suggest(query, k, context)]

    def operating_points(self) -> dict[str, float]:
        """The pipeline's own thresholds on its confidence (where the service would cut)."""
        options = self.served.pipeline.options
        return {"suggest_threshold": float(options.suggest_threshold),
                "auto_reply_threshold": float(options.auto_reply_threshold)}

    def config(self) -> dict:
        p = self.served.pipeline
        s = self.served.settings
        norm = p.normalise
        signature = norm.signature() if hasattr(norm, "signature") else getattr(norm, "__name__", "?")
        model = p.intent_model
        return {"encoder": p.encoder.model_id, "encoder_backend": s.encoder_backend,
                "onnx_precision": s.onnx_precision, "candidates": p.candidates, "normalise": signature,
                "full_ranking": True, "context": True, "options": asdict(p.options),
                "intent_model": (getattr(model, "manifest_", None) or {}).get("data_sha256", "loaded")
                if model is not None else None}


def typed_options(spec: SystemSpec, allowed: dict[str, type]) -> dict[str, Any]:
    out = {}
    for key, value in spec.options.items():
        if key not in allowed:
            raise EvalConfigError(f"{spec.name} has no option {key!r}; known: {', '.join(sorted(allowed)) or 'none'}")
        try:
            out[key] = allowed[key](value)
        except (TypeError, ValueError) as exc:
            raise EvalConfigError(f"{spec.name}: option {key}={value!r} is not a {allowed[key].__name__}") from exc
    return out


def build_ranker(spec: SystemSpec, resources: Resources, *,
                 popularity: Callable[[FaqEntry], float] | None = None) -> Ranker:
    """A ranker for ``spec`` (one of :data:`RANKER_SYSTEMS`)."""
    from .baselines import BM25Ranker, DenseRanker, MostFrequentRanker, TfidfCharRanker

    if spec.name == "bm25":
        return BM25Ranker(**typed_options(spec, {"k1": float, "b": float}))
    if spec.name == "tfidf-char":
        return TfidfCharRanker(**typed_options(spec, {"ngram_min": int, "ngram_max": int}))
    if spec.name == "dense":
        return DenseRanker(resources.encoder_with(spec.options))
    if spec.name == "most-frequent":
        typed_options(spec, {})
        return MostFrequentRanker(popularity)
    if spec.name == "pipeline":
        return PipelineRanker(resources.pipeline(spec.options))
    raise EvalConfigError(f"unknown system {spec.name!r}; use one of {', '.join(RANKER_SYSTEMS)}")


RANKER_SYSTEMS = ("most-frequent", "bm25", "tfidf-char", "dense", "pipeline")
