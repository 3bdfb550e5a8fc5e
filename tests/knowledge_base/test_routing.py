"""Routing (分流): the rule order, the checks of a table, and storage with its cache (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from knowledge_base.routing import (
    DEFAULT_INTENT_GROUPS,
    DEFAULT_TABLE,
    KeywordRoute,
    RouteDecision,
    RoutingBook,
    RoutingTable,
    check_table,
    route,
    table_from_spec,
    table_to_spec,
)
from knowledge_base.store import KbStore
from models.errors import InvalidItem, ShopNotFound

TABLE = RoutingTable(groups=("售前", "售后", "主管"), default_group="售前", handoff_group="主管", escalation_group="主管",
                     intents={"发货时间": "售前", "退款进度": "售后"}, categories={"发票": "售后"},
                     keywords=(KeywordRoute(("开票", "发票抬头"), "售后"),), min_intent_confidence=0.5)


def test_the_first_rule_that_applies_decides():
    assert route(TABLE, "发票抬头写错了", intent="发货时间", intent_confidence=0.9, category="发票", escalated=True) == \
        RouteDecision("售后", "keyword", keyword="发票抬头")
    assert route(TABLE, "我要投诉", intent="退款进度", intent_confidence=0.9, escalated=True) == \
        RouteDecision("主管", "escalation")
    assert route(TABLE, "转人工", intent="转人工", intent_confidence=0.95, category="发票") == \
        RouteDecision("主管", "handoff", intent="转人工", confidence=0.95)
    assert route(TABLE, "能开电子票吗", intent="发货时间", intent_confidence=0.9, category="发票") == \
        RouteDecision("售后", "category", category="发票")
    assert route(TABLE, "退款到哪了", intent="退款进度", intent_confidence=0.81234) == \
        RouteDecision("售后", "intent", intent="退款进度", confidence=0.8123)
    # an unsure intent and an unmapped category fall through to the default group
    assert route(TABLE, "嗯", intent="退款进度", intent_confidence=0.3, category="包装") == RouteDecision("售前", "default")
    # without an escalation group an escalated message is routed like any other
    no_group = RoutingTable(**{**vars(TABLE), "escalation_group": None})
    assert route(no_group, "我要投诉", intent="退款进度", intent_confidence=0.9, escalated=True).reason == "intent"


def test_defaults_send_pre_sales_and_after_sales_intents_to_their_groups():
    assert DEFAULT_TABLE.groups == ("售前", "售后") and DEFAULT_TABLE.default_group == "售前"
    assert DEFAULT_TABLE.handoff_group == "售后" and DEFAULT_TABLE.escalation_group == "售后"
    for intent in ("发货时间", "尺码推荐", "优惠券", "满减活动"):
        assert DEFAULT_INTENT_GROUPS[intent] == "售前"
    for intent in ("退款进度", "退换货", "质量问题", "投诉"):
        assert DEFAULT_INTENT_GROUPS[intent] == "售后"
    assert "转人工" not in DEFAULT_INTENT_GROUPS and "问候" not in DEFAULT_INTENT_GROUPS
    assert table_from_spec(table_to_spec(TABLE)) == TABLE


def test_every_problem_of_a_table_is_named():
    bad = RoutingTable(groups=("售前", "售前", ""), default_group="客服部", handoff_group="售前", escalation_group="投诉组",
                       intents={"发货时间": "售中", "转人工": "售前", "天气": "售前"}, categories={"发票": "财务"},
                       keywords=(KeywordRoute((), "售前"), KeywordRoute(("x" * 21,), "售前")), min_intent_confidence=1.5)
    problems = {(p.column, p.code) for p in check_table(bad, intents=list(DEFAULT_INTENT_GROUPS) + ["转人工"])}
    assert problems == {
        ("groups", "duplicate_group"), ("groups[2]", "invalid_routing"), ("default_group", "unknown_group"),
        ("escalation_group", "unknown_group"), ("intents.发货时间", "unknown_group"),
        ("intents.转人工", "handoff_in_intents"), ("intents.天气", "unknown_intent"), ("categories.发票", "unknown_group"),
        ("keywords[0].keywords", "invalid_routing"), ("keywords[1].keywords", "invalid_routing"),
        ("min_intent_confidence", "invalid_routing")}
    assert check_table(TABLE, intents=list(DEFAULT_INTENT_GROUPS)) == []


def test_tables_are_stored_per_shop_and_cached(tmp_path, database_url):
    store = KbStore(database_url or f"sqlite:///{tmp_path / 'r.db'}")
    store.ensure_shop("s1")
    store.ensure_shop("s2")
    book = RoutingBook(store, ttl=60, intents=list(DEFAULT_INTENT_GROUPS), normalise=str.lower)
    assert book.table("s1") is DEFAULT_TABLE and book.stored("s1")[1] is True
    saved = book.replace("s1", RoutingTable(**{**vars(TABLE), "keywords": (KeywordRoute(("VIP",), "主管"),)}))
    assert saved.keywords == (KeywordRoute(("vip",), "主管"),)  # matched against normalised text
    table, is_default, updated_at = book.stored("s1")
    assert table == saved and not is_default and updated_at is not None
    assert book.table("s1") == saved and book.table("s2") is DEFAULT_TABLE
    # another replica's cache sees the change only after its TTL; this one at once
    other = RoutingBook(store, ttl=60)
    assert other.table("s1") == saved
    book.replace("s1", TABLE)
    assert book.table("s1") == TABLE and other.table("s1") == saved
    other.forget("s1")
    assert other.table("s1") == TABLE
    # a bad table changes nothing
    with pytest.raises(InvalidItem) as err:
        book.replace("s1", RoutingTable(**{**vars(TABLE), "default_group": "客服部"}))
    assert [p["column"] for p in err.value.details] == ["default_group"]
    assert book.stored("s1")[0] == TABLE
    assert book.reset("s1") is DEFAULT_TABLE and book.stored("s1")[1] is True
    with pytest.raises(ShopNotFound):
        book.replace("nope", TABLE)
    store.close()
