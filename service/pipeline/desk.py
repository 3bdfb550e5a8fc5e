"""What the suggestion pipeline adds for the desk around it: escalation and routing (no web framework).

``Suggester`` (suggester.py) calls ``escalation`` once the message is encoded (the detector reuses that vector; no
second model call) and ``route`` once the suggestions are decided (the best FAQ answer's category
can decide the group). Both are cheap: a few regular expressions, one 512 × 8 product, dictionary
lookups, and the shop's routing table from a cache.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from knowledge_base.routing import RouteDecision, RoutingBook, route
from models.encoder import Encoder
from models.escalation import Escalation, EscalationDetector
from models.intent import IntentPrediction
from models.normalize import normalize_text

from .contract import SuggestContext

__all__ = ["DeskAnnotator", "EscalationCheck"]


class DeskAnnotator:
    def __init__(self, detector: EscalationDetector | None, routing: RoutingBook) -> None:
        self.detector = detector
        self.routing = routing

    def escalation(self, query: str, vector, context: SuggestContext) -> Escalation | None:  # noqa: ANN001
        """``query``: the normalised message; ``vector``: its embedding without the context blend."""
        if self.detector is None:
            return None
        turns = [(t.role, t.text) for t in context.turns]
        times = [t.at.timestamp() if t.at is not None else None for t in context.turns]
        at = context.at.timestamp() if context.at is not None else None
        return self.detector.detect(query, vector, turns, times=times if any(times) else None, at=at)

    def route(self, shop_id: str, query: str, intent: IntentPrediction | None, suggestions: Sequence,
              escalation: Escalation | None) -> RouteDecision:
        top_kb = next((s for s in suggestions if s.source == "kb"), None)
        return route(self.routing.table(shop_id), query, intent=intent.intent if intent else None,
                     intent_confidence=intent.confidence if intent else 0.0,
                     category=top_kb.category if top_kb is not None and top_kb.category else None,
                     escalated=escalation is not None)


class EscalationCheck:
    """Whether a person must handle a message now, outside the suggestion pipeline (the auto-reply
    rules' dry run), and the normalised message's vector if it was encoded for that (reuse it)."""

    def __init__(self, detector: EscalationDetector | None, encoder: Encoder,
                 normalise: Callable[[str], str] = normalize_text) -> None:
        self.detector = detector
        self.encoder = encoder
        self.normalise = normalise

    def __call__(self, message: str) -> tuple[Escalation | None, np.ndarray | None]:
        if self.detector is None:
            return None, None
        text = self.normalise(message)
        vector = self.encoder.encode([text])[0] if self.detector.model is not None else None
        return self.detector.detect(text, vector), vector
