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

import inspect
import itertools
import logging
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from knowledge_base.importer import import_entries
from knowledge_base.schema import FaqEntry
from models.encoder import Encoder

from .errors import EvalConfigError

__all__ = [
    "Ranker",
    "SystemSpec",
    "parse_system",
    "Resources",
    "PipelineRanker",
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

    def __init__(self, settings, workdir: Path | None = None) -> None:
        self.settings = settings
        self._tmp = None
        if workdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="smartreply-eval-")
            workdir = Path(self._tmp.name)
        self.workdir = Path(workdir)
        self._encoders: dict[tuple, Encoder] = {}
        self._counter = itertools.count(1)

    def pipeline_settings(self, options: dict[str, Any]):
        """Base settings with pipeline options applied; an unknown option is refused by name."""
        from service.config import Settings

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

    def encoder(self, settings=None) -> Encoder:
        """The encoder ``settings`` (default: the run's) name, loaded once per distinct configuration
        through :class:`service.runtime.Runtime` exactly as the service loads it."""
        from service.runtime import Runtime

        settings = settings or self.settings
        key = tuple(str(getattr(settings, f)) for f in _ENCODER_FIELDS) + (str(settings.artifacts_dir),)
        if key not in self._encoders:
            self._encoders[key] = Runtime(settings).encoder
        return self._encoders[key]

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

    def runtime(self, options: dict[str, Any]):
        """A fresh service Runtime (own SQLite + index folder) whose encoder is shared."""
        from service.runtime import Runtime

        settings = self.pipeline_settings(options)
        runtime = Runtime(settings)
        runtime.encoder = self.encoder(settings)  # the cached_property's slot: same object, loaded once
        steps = {k: _as_bool(k, v) for k, v in options.items() if k in _normalisation_steps()}
        if steps:  # an ablated normalisation: index and queries both go through it, as in the service
            from models.normalize import Normalisation

            runtime.suggester.normalise = Normalisation(**steps)
        return runtime

    def close(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


def _normalisation_steps() -> list[str]:
    try:
        from dataclasses import fields

        from models.normalize import Normalisation
    except ImportError:  # pragma: no cover - older normalisation without switches
        return []
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


class PipelineRanker:
    """The serving pipeline in process: entries imported like an upload (store → embed → FAISS index
    → activate) into a scratch store, queries answered by the very ``Suggester`` the API uses.

    ``rank`` asks for the full ranking (``min_confidence=0``: the evaluation, not the pipeline's
    ``suggest_threshold``, decides where to cut, which is what the coverage–precision curve needs)
    and keeps the knowledge-base suggestions (not rules or intent templates). The confidence of a
    suggestion is its calibrated ``confidence`` when the pipeline has one, else its ``score``.
    ``context`` (earlier turns of the conversation) is passed on when the pipeline takes it.
    """

    name = "pipeline"
    uses_context = True

    def __init__(self, runtime) -> None:
        self.runtime = runtime
        self.shop_: str | None = None
        self.last_timings: dict[str, float] = {}
        self._fits = itertools.count(1)
        params = inspect.signature(runtime.suggester.suggest).parameters
        self._full_ranking = "min_confidence" in params
        self._takes_context = "context" in params

    def fit(self, entries: Sequence[FaqEntry]) -> PipelineRanker:
        rt = self.runtime
        shop = f"eval{next(self._fits)}"
        import_entries(rt.store, rt.index_root, rt.encoder, shop, list(entries), source="smartreply eval",
                       normalise=rt.suggester.normalise)
        self.shop_ = shop
        rt.suggester.kb(shop)  # load (and fit the shop's reranker) now: that is part of fitting, not of a query
        return self

    def suggest(self, query: str, k: int, context: Sequence[Any] | None = None):
        if self.shop_ is None:
            raise RuntimeError("PipelineRanker is not fitted; call fit(entries) first")
        kwargs: dict[str, Any] = {}
        if self._full_ranking:
            kwargs["min_confidence"] = 0.0
        if self._takes_context and context:
            from service.ranking import SuggestContext, Turn

            kwargs["context"] = SuggestContext(turns=[Turn(role=t.speaker, text=t.text) for t in context])
        result = self.runtime.suggester.suggest(self.shop_, query, top_k=k, **kwargs)
        self.last_timings = result.timings_ms
        return [s for s in result.suggestions if getattr(s, "source", "kb") == "kb" and s.entry_id is not None]

    def rank(self, query: str, k: int, context: Sequence[Any] | None = None) -> list[tuple[str, float]]:
        return [(s.entry_id, float(getattr(s, "confidence", s.score))) for s in self.suggest(query, k, context)]

    def operating_points(self) -> dict[str, float]:
        """The pipeline's own thresholds on its confidence (where the service would cut)."""
        s = self.runtime.settings
        return {name: float(getattr(s, name)) for name in ("suggest_threshold", "auto_reply_threshold")
                if hasattr(s, name)}

    def config(self) -> dict:
        s = self.runtime.settings
        norm = self.runtime.suggester.normalise
        signature = norm.signature() if hasattr(norm, "signature") else getattr(norm, "__name__", "?")
        out = {"encoder": self.runtime.encoder.model_id, "encoder_backend": s.encoder_backend,
               "onnx_precision": s.onnx_precision, "candidates": s.candidates, "normalise": signature,
               "full_ranking": self._full_ranking, "context": self._takes_context}
        options = getattr(self.runtime.suggester, "options", None)
        if options is not None and is_dataclass(options):
            out["options"] = asdict(options)
        model = getattr(self.runtime.suggester, "intent_model", None)
        if options is not None:
            manifest = getattr(model, "manifest_", None) or {}
            out["intent_model"] = manifest.get("data_sha256", "loaded") if model is not None else None
        return out


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
        return PipelineRanker(resources.runtime(spec.options))
    raise EvalConfigError(f"unknown system {spec.name!r}; use one of {', '.join(RANKER_SYSTEMS)}")


RANKER_SYSTEMS = ("most-frequent", "bm25", "tfidf-char", "dense", "pipeline")
