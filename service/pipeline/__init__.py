"""The suggestion pipeline: a buyer message in, ranked reply suggestions out. No web framework in here.

The public contract (what the HTTP route, ``smartreply suggest`` and the evaluation use, the same way)::

    pipeline = build_pipeline(settings, store, encoder)          # factory.py
    result = pipeline.suggest(SuggestRequest(shop_id, message))  # contract.py → SuggestResult

``SuggestionLog`` (recording.py) adds what the agent UI's loop does around it: the request recorded
for analytics, the agent's feedback, learned examples. Modules, in request order: ``options`` (switches
and limits from the settings), ``shops`` (the shop cache), ``suggester`` (the request flow), ``ranking``
(the reranker's shop state and its cached files), ``candidates`` (rerank, quick phrases), ``decide``
(rules, threshold, template, render, guard), ``desk`` (escalation, routing), ``explain`` (the hit test's
reasons). Anything not exported here is internal to the package.
"""

from __future__ import annotations

from ..config import Settings
from .contract import (
    Blocked,
    RankedCandidate,
    RuleSource,
    SuggestContext,
    Suggestion,
    SuggestRequest,
    SuggestResult,
    Turn,
)
from .explain import why
from .factory import (
    PipelineParts,
    build_pipeline,
    encoder_from,
    index_root_for,
    learning_book,
    load_escalation_model,
    load_intent_model,
    load_quick_phrase_scorer,
    parse_limits_from,
    pipeline_parts,
    quick_phrase_book,
    routing_book,
    rule_book,
)
from .options import PipelineLimits, PipelineOptions
from .recording import SuggestionLog
from .shops import WarmedShop, warm
from .suggester import Suggester

__all__ = [
    # the contract
    "SuggestRequest", "SuggestResult", "SuggestContext", "Turn", "Suggestion", "Blocked", "RankedCandidate",
    "RuleSource", "Suggester", "SuggestionLog",
    # the factory and what it is built from
    "Settings", "build_pipeline", "PipelineParts", "pipeline_parts", "PipelineOptions", "PipelineLimits",
    "encoder_from", "index_root_for", "parse_limits_from", "load_intent_model", "load_escalation_model",
    "load_quick_phrase_scorer", "rule_book", "routing_book", "quick_phrase_book", "learning_book",
    # loading every shop once before traffic, and the hit test's reasons
    "warm", "WarmedShop", "why",
]
