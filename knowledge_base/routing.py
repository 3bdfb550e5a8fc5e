"""Routing (分流): which group of the shop's staff a buyer message goes to, and why.

A shop's routing table names its groups (默认 售前 pre-sales and 售后 after-sales) and maps platform
intents, the shop's own KB categories and keyword rules to them; 转人工 goes to the group the shop
names (``handoff_group``) and, if the shop names one, escalated messages to ``escalation_group``.
``route`` is a pure function over the table and what the pipeline already knows about the message
(its intent, the category of the best FAQ answer, whether it is escalated); the first rule that
applies decides, in this order:

1. a keyword rule whose keyword occurs in the message (``reason="keyword"``);
2. the message is escalated and the shop has an escalation group (``"escalation"``);
3. the buyer asks for a person, intent 转人工 (``"handoff"``);
4. the category of the best FAQ answer is mapped (``"category"``);
5. the message's intent is mapped (``"intent"``);
6. otherwise the default group (``"default"``).

Intent rules (3 and 5) need the intent model's confidence to reach ``min_intent_confidence``.
Tables are stored per shop (``shop_desk_settings.routing``, JSON); a shop without one routes by
``DEFAULT_TABLE``. ``RoutingBook`` caches each shop's table for ``ttl`` seconds, so a suggestion
costs no database read.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from models.errors import InvalidItem, ValidationProblem
from models.messages import M, Msg

from .store import KbStore

__all__ = ["KeywordRoute", "RoutingTable", "RouteDecision", "DEFAULT_TABLE", "DEFAULT_INTENT_GROUPS", "HANDOFF_INTENT",
           "ROUTE_REASONS", "RoutingLimits", "route", "table_from_spec", "table_to_spec", "check_table", "RoutingBook"]

HANDOFF_INTENT = "转人工"
PRE_SALES, AFTER_SALES = "售前", "售后"
ROUTE_REASONS = ("keyword", "escalation", "handoff", "category", "intent", "default")

# Before the order is paid (or while it can still change before shipping): 售前. Once it ships, and
# anything about money back, faults or complaints: 售后. 问候 / 感谢 say nothing: the default group.
DEFAULT_INTENT_GROUPS: dict[str, str] = {
    **dict.fromkeys(("发货时间", "尺码推荐", "商品咨询", "库存/补货", "优惠券", "满减活动", "议价", "赠品", "运费",
                     "支付问题", "使用方法", "修改地址", "修改订单", "取消订单"), PRE_SALES),
    **dict.fromkeys(("物流查询", "催发货", "退换货", "退货流程", "换货", "退款进度", "催退款", "仅退款", "价保", "发票",
                     "质量问题", "漏发错发", "售后维修", "好评返现", "投诉"), AFTER_SALES),
}


@dataclass(frozen=True)
class KeywordRoute:
    keywords: tuple[str, ...]
    group: str


@dataclass(frozen=True)
class RoutingTable:
    groups: tuple[str, ...] = (PRE_SALES, AFTER_SALES)
    default_group: str = PRE_SALES
    handoff_group: str = AFTER_SALES  # where 转人工 goes
    escalation_group: str | None = AFTER_SALES  # where escalated messages go; None: routed like any other
    intents: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_INTENT_GROUPS))
    categories: Mapping[str, str] = field(default_factory=dict)
    keywords: tuple[KeywordRoute, ...] = ()
    min_intent_confidence: float = 0.5


DEFAULT_TABLE = RoutingTable()


@dataclass(frozen=True)
class RouteDecision:
    group: str
    reason: str  # one of ROUTE_REASONS
    intent: str | None = None  # the intent that decided (handoff, intent)
    category: str | None = None  # the KB category that decided
    keyword: str | None = None  # the keyword that matched
    confidence: float | None = None  # the intent's confidence (handoff, intent)


def route(table: RoutingTable, message: str, *, intent: str | None = None, intent_confidence: float = 0.0,
          category: str | None = None, escalated: bool = False) -> RouteDecision:
    """The group for a message (normalised text), and the rule that chose it."""
    for rule in table.keywords:
        for word in rule.keywords:
            if word and word in message:
                return RouteDecision(rule.group, "keyword", keyword=word)
    if escalated and table.escalation_group:
        return RouteDecision(table.escalation_group, "escalation")
    sure = intent is not None and intent_confidence >= table.min_intent_confidence
    if sure and intent == HANDOFF_INTENT:
        return RouteDecision(table.handoff_group, "handoff", intent=intent, confidence=round(intent_confidence, 4))
    if category and category in table.categories:
        return RouteDecision(table.categories[category], "category", category=category)
    if sure and intent in table.intents:
        return RouteDecision(table.intents[intent], "intent", intent=intent, confidence=round(intent_confidence, 4))
    return RouteDecision(table.default_group, "default")


# -- the stored form, and its checks --------------------------------------------------------------
def table_to_spec(table: RoutingTable) -> dict[str, Any]:
    return {"groups": list(table.groups), "default_group": table.default_group, "handoff_group": table.handoff_group,
            "escalation_group": table.escalation_group, "intents": dict(table.intents),
            "categories": dict(table.categories),
            "keywords": [{"keywords": list(k.keywords), "group": k.group} for k in table.keywords],
            "min_intent_confidence": table.min_intent_confidence}


def table_from_spec(spec: Mapping[str, Any]) -> RoutingTable:
    return RoutingTable(
        groups=tuple(spec.get("groups") or DEFAULT_TABLE.groups),
        default_group=spec.get("default_group") or DEFAULT_TABLE.default_group,
        handoff_group=spec.get("handoff_group") or DEFAULT_TABLE.handoff_group,
        escalation_group=spec.get("escalation_group") or None,
        intents=dict(spec.get("intents") if spec.get("intents") is not None else DEFAULT_INTENT_GROUPS),
        categories=dict(spec.get("categories") or {}),
        keywords=tuple(KeywordRoute(tuple(k.get("keywords") or ()), k.get("group", "")) for k in spec.get("keywords") or ()),
        min_intent_confidence=float(spec.get("min_intent_confidence", DEFAULT_TABLE.min_intent_confidence)))


@dataclass(frozen=True)
class RoutingLimits:
    max_groups: int = 20
    max_group_chars: int = 32
    max_keyword_rules: int = 50
    max_keywords_per_rule: int = 20
    max_keyword_chars: int = 20
    max_categories: int = 500


def check_table(table: RoutingTable, *, intents: Sequence[str] | None = None,
                limits: RoutingLimits = RoutingLimits()) -> list[ValidationProblem]:
    """Every problem of ``table``, each naming its field (``column``) and value. ``intents``: the
    platform intents a rule may name (None: not checked)."""
    problems: list[ValidationProblem] = []

    def bad(column: str, msg: Msg, value: object = None, code: str = "invalid_routing") -> None:
        problems.append(ValidationProblem.of(msg, column=column, value=None if value is None else str(value)[:200],
                                             code=code))

    groups = list(table.groups)
    if not groups:
        bad("groups", M("routing.groups_empty"))
    if len(groups) > limits.max_groups:
        bad("groups", M("routing.groups_max", limit=limits.max_groups), len(groups))
    for i, g in enumerate(groups):
        if not isinstance(g, str) or not g.strip() or g != g.strip():
            bad(f"groups[{i}]", M("routing.group_name"), g)
        elif len(g) > limits.max_group_chars:
            bad(f"groups[{i}]", M("routing.group_too_long", limit=limits.max_group_chars), g)
    for g in {g for g in groups if groups.count(g) > 1}:
        bad("groups", M("routing.group_twice", group=g), g, "duplicate_group")
    known = set(groups)

    def member(column: str, group: object) -> None:
        if group not in known:
            bad(column, M("routing.unknown_group", group=str(group), groups=groups), group, "unknown_group")

    member("default_group", table.default_group)
    member("handoff_group", table.handoff_group)
    if table.escalation_group is not None:
        member("escalation_group", table.escalation_group)
    for intent, group in table.intents.items():
        if intents is not None and intent not in intents:
            bad(f"intents.{intent}", M("routing.unknown_intent", intent=intent), intent, "unknown_intent")
        if intent == HANDOFF_INTENT:
            bad(f"intents.{intent}", M("routing.handoff_in_intents"), intent, "handoff_in_intents")
        member(f"intents.{intent}", group)
    if len(table.categories) > limits.max_categories:
        bad("categories", M("routing.categories_max", limit=limits.max_categories), len(table.categories))
    for category, group in table.categories.items():
        if not category.strip():
            bad("categories", M("routing.category_empty"), category)
        member(f"categories.{category}", group)
    if len(table.keywords) > limits.max_keyword_rules:
        bad("keywords", M("routing.keyword_rules_max", limit=limits.max_keyword_rules), len(table.keywords))
    for i, rule in enumerate(table.keywords):
        words = list(rule.keywords)
        if not words or not any(w.strip() for w in words):
            bad(f"keywords[{i}].keywords", M("routing.keywords_empty"))
        if len(words) > limits.max_keywords_per_rule:
            bad(f"keywords[{i}].keywords", M("routing.keywords_max", limit=limits.max_keywords_per_rule), len(words))
        for w in words:
            if len(w) > limits.max_keyword_chars or not w.strip():
                bad(f"keywords[{i}].keywords", M("routing.keyword_length", limit=limits.max_keyword_chars), w)
        member(f"keywords[{i}].group", rule.group)
    if not 0.0 <= table.min_intent_confidence <= 1.0:
        bad("min_intent_confidence", M("routing.confidence_range"), table.min_intent_confidence)
    return problems


class RoutingBook:
    """Read and replace shops' routing tables; ``table`` is cached ``ttl`` seconds per shop (a change
    made through this object is seen at once, one made by another replica within ``ttl``)."""

    def __init__(self, store: KbStore, *, ttl: float = 5.0, intents: Sequence[str] | None = None,
                 limits: RoutingLimits = RoutingLimits(), normalise=lambda s: s) -> None:  # noqa: ANN001
        self.store = store
        self.ttl = ttl
        self.intents = list(intents) if intents is not None else None
        self.limits = limits
        self.normalise = normalise
        self._cache: dict[str, tuple[RoutingTable, float]] = {}
        self._lock = threading.Lock()

    def table(self, shop_id: str) -> RoutingTable:
        now = time.monotonic()
        cached = self._cache.get(shop_id)
        if cached is not None and cached[1] > now:
            return cached[0]
        spec = self.store.desk_settings(shop_id).get("routing")
        table = table_from_spec(spec) if spec else DEFAULT_TABLE
        if self.ttl > 0:
            with self._lock:
                self._cache[shop_id] = (table, now + self.ttl)
        return table

    def stored(self, shop_id: str) -> tuple[RoutingTable, bool, Any]:
        """(table, is_default, updated_at) straight from the database."""
        self.store.require_shop(shop_id)
        settings = self.store.desk_settings(shop_id)
        spec = settings.get("routing")
        return (table_from_spec(spec) if spec else DEFAULT_TABLE), not spec, settings.get("updated_at")

    def replace(self, shop_id: str, table: RoutingTable) -> RoutingTable:
        """Check and store ``table`` as the shop's routing (all or nothing)."""
        self.store.require_shop(shop_id)
        # Keywords are matched against the normalised message, so they are stored normalised too.
        table = RoutingTable(
            groups=table.groups, default_group=table.default_group, handoff_group=table.handoff_group,
            escalation_group=table.escalation_group, intents=dict(table.intents), categories=dict(table.categories),
            keywords=tuple(KeywordRoute(tuple(self.normalise(w) for w in k.keywords), k.group) for k in table.keywords),
            min_intent_confidence=table.min_intent_confidence)
        problems = check_table(table, intents=self.intents, limits=self.limits)
        if problems:
            raise InvalidItem(M("item.invalid", subject=M("item.routing"), n=len(problems)), problems)
        self.store.set_desk_settings(shop_id, routing=table_to_spec(table))
        self.forget(shop_id)
        return table

    def reset(self, shop_id: str) -> RoutingTable:
        """Back to ``DEFAULT_TABLE``."""
        self.store.require_shop(shop_id)
        self.store.set_desk_settings(shop_id, routing=None)
        self.forget(shop_id)
        return DEFAULT_TABLE

    def forget(self, shop_id: str) -> None:
        with self._lock:
            self._cache.pop(shop_id, None)
