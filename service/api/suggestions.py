"""The agent UI's main call: a buyer message in, ranked reply suggestions out."""

from __future__ import annotations

from fastapi import APIRouter, Request

from models.errors import InvalidRequest
from models.messages import M, pick_language, render

from ..pipeline import SuggestContext, SuggestResult, Turn, why
from ..pipeline import SuggestRequest as PipelineRequest  # the API's body is schemas.SuggestRequest
from .deps import AdminShop, AgentShop, Lang, PipelineDep, SettingsDep, SuggestionsDep
from .openapi import error_responses
from .schemas import (
    BlockedPublic,
    HitTestRequest,
    HitTestResponse,
    IntentPublic,
    MessagePublic,
    RankedPublic,
    RoutingPublic,
    SuggestionPublic,
    SuggestRequest,
    SuggestResponse,
    escalation_public,
)

router = APIRouter(prefix="/v1/shops/{shop_id}", tags=["suggestions"])


def check_message(message: str, limit: int) -> None:
    """The message length limit of the routes outside the pipeline (the auto-reply rules' dry run); the
    suggestion routes meet it in the pipeline."""
    if len(message) > limit:
        raise InvalidRequest(M("request.too_long", field="message", limit=limit))


@router.post("/suggestions", response_model=SuggestResponse,
             responses=error_responses(404, 409, 422, 503))
def suggest(shop_id: AgentShop, body: SuggestRequest, suggestions: SuggestionsDep, request: Request) -> SuggestResponse:
    """Best FAQ answers for the message, best first, at most one per entry; where the message goes
    (``routing``) and whether a person must handle it now (``escalate``: then nothing is auto_reply).

    Each request is recorded for analytics with the buyer's PII masked; ``request_id`` is what
    ``POST …/feedback`` refers to.
    """
    context = SuggestContext(turns=[Turn(t.role, t.text, t.at) for t in body.turns], variables=body.variables,
                             conversation_id=body.conversation_id, at=body.at)
    request_id, result = suggestions.suggest(PipelineRequest(shop_id, body.message, top_k=body.top_k, context=context),
                                             test=body.test, request_id=getattr(request.state, "request_id", None),
                                             caller_request_id=getattr(request.state, "request_id_from_caller", False))
    # A reused X-Request-ID got a fresh id: the response header and the log line say that one.
    request.state.request_id = request_id
    return SuggestResponse(
        request_id=request_id,
        shop_id=shop_id,
        kb_version=result.kb_version,
        suggestions=[SuggestionPublic(**vars(s)) for s in result.suggestions],
        intent=IntentPublic(**vars(result.intent)) if result.intent else None,
        abstained=result.abstained,
        abstain_reason=result.abstain_reason,
        blocked=[BlockedPublic(entry_id=b.entry_id, source=b.source, kinds=b.kinds,
                               reason=_blocked_reason(b.kinds, b.reason, request)) for b in result.blocked],
        routing=RoutingPublic(**vars(result.routing)),
        escalate=escalation_public(result.escalate),
        timings_ms=result.timings_ms,
        test=body.test,
    )


def _blocked_reason(kinds: list[str], reason: str, request: Request) -> str:
    lang = pick_language(request.headers.get("accept-language"))
    return "；".join(render(f"compliance.{k}", {}, lang) for k in kinds) if lang != "zh" and kinds else reason


@router.post("/hit-test", response_model=HitTestResponse,
             responses=error_responses(404, 409, 422, 503))
def hit_test(shop_id: AdminShop, body: HitTestRequest, pipeline: PipelineDep, settings: SettingsDep,
             lang: Lang) -> HitTestResponse:
    """命中测试: the suggestion pipeline's own ranking for a test question, with the thresholds given
    applied by the server: every candidate with its confidence, what the thresholds did with it (near
    misses included) and why, one sentence per main reason. Never recorded for analytics."""
    suggest_t = settings.suggest_threshold if body.suggest_threshold is None else body.suggest_threshold
    auto_t = settings.auto_reply_threshold if body.auto_reply_threshold is None else body.auto_reply_threshold
    test = PipelineRequest(shop_id, body.message, top_k=body.top_k, min_confidence=suggest_t,
                           auto_reply_threshold=auto_t, full_ranking=True,
                           context=SuggestContext(conversation_id=body.conversation_id, at=body.at))
    pipeline.check(test)  # the request's limits come before the thresholds' order, as they always did
    if auto_t < suggest_t:
        raise InvalidRequest(M("request.threshold_order", auto=auto_t, suggest=suggest_t))
    result = pipeline.suggest(test)
    return HitTestResponse(
        shop_id=shop_id, kb_version=result.kb_version, message=body.message,
        thresholds={"suggest": suggest_t, "auto_reply": auto_t},
        intent=IntentPublic(**vars(result.intent)) if result.intent else None, abstained=result.abstained,
        suggestions=[SuggestionPublic(**vars(s)) for s in result.suggestions],
        ranking=_ranking(result, body.top_k, lang), timings_ms=result.timings_ms)


def _ranking(result: SuggestResult, top_k: int, lang: str) -> list[RankedPublic]:
    ranking = result.ranking or []
    message_intent = result.intent.intent if result.intent and result.intent.confidence >= 0.5 else None
    best = ranking[0].suggestion if ranking else None
    out = []
    for i, c in enumerate(ranking):
        s = c.suggestion
        following = ranking[i + 1].suggestion.confidence if i + 1 < len(ranking) else None
        reasons = why(c, message_intent=message_intent, neighbours=(following, best.confidence if best else None),
                      top_question=best.question if best else None, thresholds=result.thresholds, top_k=top_k)
        out.append(RankedPublic(
            rank=c.rank, entry_id=s.entry_id, question=s.question, matched_question=s.matched_question,
            answer=s.answer, confidence=s.confidence, score=s.score, intent=s.intent, status=c.status,
            passes=s.confidence >= result.thresholds[0], auto_reply=c.auto_reply, features=s.features,
            why=[MessagePublic.of(m, lang) for m in reasons]))
    return out
