"""The pipeline's switches and limits, made from the settings in one place (:func:`options_from`,
:func:`limits_from`), so the service, the CLI and the evaluation run the same pipeline."""

from __future__ import annotations

from dataclasses import dataclass

from models.ranker import FEATURES

from ..config import Settings

__all__ = ["PipelineOptions", "PipelineLimits", "options_from", "limits_from"]


@dataclass(frozen=True)
class PipelineOptions:
    """The pipeline's switches (each a setting, so an evaluation ablation is one flag)."""

    rerank: bool = True
    feature_centroid: bool = True
    feature_lexical: bool = True
    feature_intent: bool = True
    feature_prior: bool = True
    feature_hub: bool = True
    suggest_threshold: float = 0.1
    auto_reply_threshold: float = 0.9
    context_weight: float = 0.5
    context_max_chars: int = 8
    templates: bool = True
    rules: bool = True
    quick_phrases: bool = True
    guard: bool = True

    def features(self) -> tuple[str, ...]:
        off = set()
        if not self.feature_centroid:
            off |= {"centroid", "gap_centroid"}
        if not self.feature_lexical:
            off.add("lexical")
        if not self.feature_intent:
            off.add("intent")
        if not self.feature_prior:
            off.add("prior")
        if not self.feature_hub:
            off.add("centroid_hub")
        return tuple(f for f in FEATURES if f not in off)


@dataclass(frozen=True)
class PipelineLimits:
    """What a request may ask for (settings ``max_message_chars``, ``max_top_k``): checked by the pipeline
    itself, so the CLI and the evaluation meet the same limits as the HTTP route."""

    max_message_chars: int
    max_top_k: int


def options_from(settings: Settings) -> PipelineOptions:
    s = settings
    return PipelineOptions(rerank=s.rerank, feature_centroid=s.feature_centroid,
                           feature_lexical=s.feature_lexical, feature_intent=s.feature_intent,
                           feature_prior=s.feature_prior, feature_hub=s.feature_hub,
                           suggest_threshold=s.suggest_threshold, auto_reply_threshold=s.auto_reply_threshold,
                           context_weight=s.context_weight, templates=s.intent_templates,
                           rules=s.rules_in_suggestions, quick_phrases=s.quick_phrases_in_suggestions,
                           guard=s.compliance_guard)


def limits_from(settings: Settings) -> PipelineLimits:
    return PipelineLimits(max_message_chars=settings.max_message_chars, max_top_k=settings.max_top_k)
