"""Request dependencies as ``Annotated`` aliases; tests swap them with ``dependency_overrides``.

The tenant boundary lives here: ``AgentShop`` / ``AdminShop`` resolve the caller's API key, check its
scope, check that the key's shop is the path's shop (an operator key may act on any shop), apply the
key's rate limit, and only then hand the shop id to the route. Routes never see another shop's id.
"""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import Depends, Path, Request
from starlette.concurrency import run_in_threadpool

from knowledge_base.analytics import EventLog
from knowledge_base.desk import DeskLog
from knowledge_base.keys import ApiKey, KeyRing, matches_secret
from knowledge_base.learned_review import LearnedReview
from knowledge_base.learning import LearningBook
from knowledge_base.manager import KnowledgeBase
from knowledge_base.quick_phrases import QuickPhraseBook
from knowledge_base.routing import RoutingBook
from knowledge_base.rulebook import RuleBook
from knowledge_base.shop_settings import ShopSettingsBook
from knowledge_base.store import KbStore
from knowledge_base.unanswered import UnansweredReview
from knowledge_base.uploads import Uploads
from models.encoder import Encoder
from models.errors import Forbidden, RateLimited, Unauthorized
from models.messages import M, pick_language

from ..config import Settings
from ..demo_shop import DemoShop
from ..observability import Metrics
from ..pipeline import Suggester, SuggestionLog
from ..pipeline.desk import EscalationCheck
from ..runtime import Runtime

__all__ = ["ShopId", "EntryId", "ItemId", "get_runtime", "AgentShop", "AdminShop", "Operator",
           "AnyKey", "Caller", "OPERATOR", "VersionNo", "MAX_NUMBER", "Lang", "SettingsDep", "PipelineDep",
           "SuggestionsDep", "KbDep", "UploadsDep", "QuickPhrasesDep", "RulesDep", "RoutingDep", "LearningDep",
           "LearnedReviewDep", "KeysDep", "EventsDep", "DeskDep", "MetricsDep", "EncoderDep", "EscalationDep",
           "DemoDep", "StoreDep", "RuntimeDep", "ShopSettingsDep", "UnansweredDep"]


# The dependencies below are ``async def``: FastAPI runs a sync dependency in the thread pool, and
# three hops per suggestion request (runtime, caller, shop check) cost more than the checks themselves.
# Only the database lookup of a shop key runs in a thread.
async def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


# The whole composition root: for the dependencies below and the health route's draining flag only;
# a route asks for the parts it uses.
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def _part(name: str):  # noqa: ANN202 - a dependency
    async def part(request: Request):  # noqa: ANN202
        return getattr(request.app.state.runtime, name)

    part.__name__ = f"get_{name}"
    return part


# One getter and one alias per part a route may need; a test replaces a part with
# ``app.dependency_overrides[deps.get_<part>] = lambda: replacement``.
get_settings = _part("settings")
get_suggester = _part("suggester")
get_suggestions = _part("suggestions")
get_kb = _part("kb")
get_uploads = _part("uploads")
get_quick_phrases = _part("quick_phrases")
get_rules = _part("rules")
get_routing = _part("routing")
get_learning = _part("learning")
get_learned_review = _part("learned_review")
get_keys = _part("keys")
get_events = _part("events")
get_desk = _part("desk")
get_metrics = _part("metrics")
get_encoder = _part("encoder")
get_escalation_check = _part("escalation_check")
get_demo = _part("demo")
get_store = _part("store")
get_shop_settings = _part("shop_settings")
get_unanswered = _part("unanswered")

SettingsDep = Annotated[Settings, Depends(get_settings)]
PipelineDep = Annotated[Suggester, Depends(get_suggester)]  # the suggestion pipeline
SuggestionsDep = Annotated[SuggestionLog, Depends(get_suggestions)]  # the pipeline + analytics + learning
KbDep = Annotated[KnowledgeBase, Depends(get_kb)]
UploadsDep = Annotated[Uploads, Depends(get_uploads)]
QuickPhrasesDep = Annotated[QuickPhraseBook, Depends(get_quick_phrases)]
RulesDep = Annotated[RuleBook, Depends(get_rules)]
RoutingDep = Annotated[RoutingBook, Depends(get_routing)]
LearningDep = Annotated[LearningBook, Depends(get_learning)]
LearnedReviewDep = Annotated[LearnedReview, Depends(get_learned_review)]
KeysDep = Annotated[KeyRing, Depends(get_keys)]
EventsDep = Annotated[EventLog, Depends(get_events)]
DeskDep = Annotated[DeskLog, Depends(get_desk)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
EncoderDep = Annotated[Encoder, Depends(get_encoder)]
EscalationDep = Annotated[EscalationCheck, Depends(get_escalation_check)]
DemoDep = Annotated[DemoShop, Depends(get_demo)]
ShopSettingsDep = Annotated[ShopSettingsBook, Depends(get_shop_settings)]
UnansweredDep = Annotated[UnansweredReview, Depends(get_unanswered)]
# The shop registry (does the shop exist, its build jobs): the repository itself.
StoreDep = Annotated[KbStore, Depends(get_store)]


async def get_language(request: Request) -> str:
    """zh or en from ``Accept-Language`` (Chinese when absent): the language of every sentence the
    response writes for a person."""
    return pick_language(request.headers.get("accept-language"))


Lang = Annotated[str, Depends(get_language)]
# Shop ids name folders on disk, so they are restricted to a safe alphabet.
ShopId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="Shop id: letters, digits, _ and -.")]
# FAQ entry ids come from merchants' files: letters (also CJK), digits and - _ . :
EntryId = Annotated[str, Path(pattern=r"^[\w\-.:]{1,64}$", description="FAQ entry id.")]
# Version and revision numbers (bounded: an out-of-range integer is a 422, not a database overflow).
MAX_NUMBER = 2_147_483_647
VersionNo = Annotated[int, Path(ge=1, le=MAX_NUMBER, description="Version or revision number.")]
# Quick phrase and rule ids.
ItemId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="Id: letters, digits, _ and -.")]

# The caller when auth is off, or when the configured operator key (SMARTREPLY_OPERATOR_KEY) is used.
OPERATOR = ApiKey(key_id="operator", shop_id=None, scopes=frozenset({"operator"}), name="operator (setting)",
                  prefix="", created_at=None)  # type: ignore[arg-type]


def _presented_key(request: Request) -> str | None:
    auth = request.headers.get("authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    return request.headers.get("x-api-key") or None


async def get_caller(request: Request, runtime: RuntimeDep) -> ApiKey:
    """The API key of this request (401 if missing, unknown or revoked), rate-limited per key."""
    settings = runtime.settings
    if settings.auth == "off":
        return OPERATOR
    key = _presented_key(request)
    if key is None:
        raise Unauthorized(M("auth.missing_key"))
    if matches_secret(key, settings.operator_key):
        caller = OPERATOR
    else:
        caller = await run_in_threadpool(runtime.keys.verify, key)
        if caller is None:
            raise Unauthorized(M("auth.unknown_key"))
    wait = runtime.rate_limiter.take(caller.key_id)
    if wait > 0:
        raise RateLimited(M("auth.rate_limited", rate=settings.rate_limit_per_second),
                          retry_after=max(1, math.ceil(wait)))
    request.state.caller = caller
    return caller


Caller = Annotated[ApiKey, Depends(get_caller)]


def _shop_for(scope: str):  # noqa: ANN202 - a dependency
    async def check(shop_id: ShopId, caller: Caller) -> str:
        if not caller.is_operator and caller.shop_id != shop_id:
            # Same answer whether the other shop exists or not: no probing of shop ids.
            raise Forbidden(M("auth.other_shop"))
        if not caller.allows(scope):
            raise Forbidden(M("auth.scope", scope=scope, scopes=sorted(caller.scopes)))
        return shop_id

    check.__name__ = f"require_{scope}_shop"
    return check


def _require(scope: str):  # noqa: ANN202 - a dependency
    async def check(caller: Caller) -> ApiKey:
        if not caller.allows(scope):
            raise Forbidden(M("auth.scope", scope=scope, scopes=sorted(caller.scopes)))
        return caller

    check.__name__ = f"require_{scope}"
    return check


# The path's shop, for a key of that shop with the agent scope (suggest, feedback) or admin scope.
AgentShop = Annotated[str, Depends(_shop_for("agent"))]
AdminShop = Annotated[str, Depends(_shop_for("admin"))]
# Routes without a shop: any valid key (agent scope), or the platform operator.
AnyKey = Annotated[ApiKey, Depends(_require("agent"))]
Operator = Annotated[ApiKey, Depends(_require("operator"))]
