"""Auto-reply rule semantics (pure functions): match modes, windows, holidays, cooldown, priority."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from knowledge_base.rules import (
    Rule,
    RuleLimits,
    Schedule,
    TimeWindow,
    Trigger,
    check_rule,
    evaluate,
    rule_from_spec,
    rule_to_spec,
    window_contains,
)

SH = timezone(timedelta(hours=8))


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SH)


def codes(rule: Rule, message: str, when: str = "2025-01-06T10:00", **kw) -> list[str]:
    (decision,) = evaluate([rule], message, at(when), **kw).decisions
    return [r.code for r in decision.reasons]


@pytest.mark.parametrize(("mode", "keywords", "message", "expected"), [
    ("any", ("包邮", "运费"), "运费怎么算", []),
    ("any", ("包邮", "运费"), "什么时候发货", ["keyword_missing"]),
    ("all", ("退货", "运费"), "退货运费谁出", []),
    ("all", ("退货", "运费"), "退货怎么弄", ["keyword_missing"]),
    ("exact", ("在吗",), " 在吗？", []),
    ("exact", ("在吗",), "在吗 我想问下", ["not_exact"]),
    ("contains", ("什么时候", "发货"), "什么时候能发货", []),
    ("contains", ("什么时候", "发货"), "发货什么时候", ["keyword_order"]),
    ("any", ("ＱＱ群",), "有qq群吗", []),  # width and case are ignored
    ("any", ("包邮",), "包 邮吗", []),  # so are spaces
])
def test_match_modes(mode, keywords, message, expected):
    assert codes(Rule("r", "r", Trigger(mode, keywords), "好的"), message) == expected


def test_reasons_name_the_missing_keyword_and_explain_exact_mode():
    rule = Rule("r", "退货运费", Trigger("all", ("退货", "运费", "谁出")), "x")
    (d,) = evaluate([rule], "退货怎么弄", at("2025-01-06T10:00")).decisions
    assert [r.message for r in d.reasons] == ["keyword '运费' is missing", "keyword '谁出' is missing"]
    assert d.matched == ["keyword '退货' found"]
    (d,) = evaluate([Rule("e", "在吗", Trigger("exact", ("在吗",)), "x")], "在吗在吗", at("2025-01-06T10:00")).decisions
    assert "it contains '在吗', but exact mode needs the whole message" in d.reasons[0].message


def test_window_across_midnight_belongs_to_the_day_it_starts():
    friday_night = TimeWindow("22:00", "02:00", (5,))
    assert window_contains(friday_night, at("2025-01-03T22:00"))  # Friday 22:00
    assert window_contains(friday_night, at("2025-01-04T01:59"))  # Saturday 01:59
    assert not window_contains(friday_night, at("2025-01-04T02:00"))  # end is exclusive
    assert not window_contains(friday_night, at("2025-01-04T23:00"))  # Saturday night: not listed
    assert not window_contains(friday_night, at("2025-01-03T01:00"))  # Friday early: Thursday's night
    assert window_contains(TimeWindow("00:00", "24:00", (1,)), at("2025-01-06T23:59"))


def test_outside_window_and_excluded_dates():
    rule = Rule("n", "夜间", Trigger("any", ("发货",)), "x",
                Schedule((TimeWindow("22:00", "08:00"),), (date(2025, 10, 1),)))
    assert codes(rule, "发货", "2025-01-06T23:30") == []
    (d,) = evaluate([rule], "发货", at("2025-01-06T12:00")).decisions
    assert [r.code for r in d.reasons] == ["outside_window"]
    assert d.reasons[0].message == ("Mon 12:00 (Asia/Shanghai) is outside every window of the rule: "
                                    "every day 22:00–08:00 next day")
    assert d.reasons[0].msg.text("zh") == "周一 12:00（Asia/Shanghai） 不在该规则的任何时间段内：每天 22:00–次日08:00"
    assert codes(rule, "发货", "2025-10-01T23:00") == ["excluded_date"]


def test_time_zone_of_the_shop_decides():
    rule = Rule("w", "工作时间", Trigger("any", ("在吗",)), "x", Schedule((TimeWindow("09:00", "18:00", (1, 2, 3, 4, 5)),)))
    utc_morning = datetime(2025, 1, 6, 2, 0, tzinfo=timezone.utc)  # 10:00 in Shanghai, 03:00 in Berlin
    assert evaluate([rule], "在吗", utc_morning).decisions[0].fires
    assert not evaluate([rule], "在吗", utc_morning, timezone="Europe/Berlin").decisions[0].fires
    naive = datetime(2025, 1, 6, 10, 0)  # no offset: the shop's local time
    assert evaluate([rule], "在吗", naive, timezone="Europe/Berlin").decisions[0].fires


def test_priority_and_ties_and_disabled():
    low = Rule("low", "通用", Trigger("any", ("发货",)), "a", priority=1)
    high = Rule("high", "大促", Trigger("any", ("发货",)), "b", priority=9)
    same = Rule("same", "同级", Trigger("any", ("发货",)), "c", priority=9)
    off = Rule("off", "关闭", Trigger("any", ("发货",)), "d", priority=99, enabled=False)
    e = evaluate([low, high, same, off], "发货了吗", at("2025-01-06T10:00"))
    assert [(d.rule.id, d.fires) for d in e.decisions] == [("off", False), ("high", True), ("same", False),
                                                           ("low", False)]
    assert e.winner.rule.id == "high"
    by_id = {d.rule.id: d.reasons for d in e.decisions}
    assert by_id["off"][0].code == "disabled"
    assert by_id["same"][0].message == "rule '大促' also matches and has the same priority (9) and comes first in the list"
    assert by_id["low"][0].message == "rule '大促' also matches and has a higher priority (9 > 1)"


def test_cooldown_per_conversation():
    rule = Rule("r", "r", Trigger("any", ("在",)), "x", cooldown_seconds=600)
    fired = at("2025-01-06T10:00")
    assert codes(rule, "在吗", "2025-01-06T10:05", last_fired={"r": fired}) == ["cooldown"]
    assert codes(rule, "在吗", "2025-01-06T10:10", last_fired={"r": fired}) == []
    assert codes(rule, "在吗", "2025-01-06T10:05", last_fired={}) == []
    assert evaluate([rule], "在吗", fired).notes == ["no conversation_id: cooldowns were not checked"]


def test_semantic_trigger_uses_the_given_similarity():
    rule = Rule("s", "催发货", Trigger("semantic", examples=("怎么还不发货",), threshold=0.8), "x")
    assert codes(rule, "m", similarities={"s": (0.91, "怎么还不发货")}) == []
    (d,) = evaluate([rule], "m", at("2025-01-06T10:00"), similarities={"s": (0.5, "怎么还不发货")}).decisions
    assert d.reasons[0].message == "the closest example '怎么还不发货' has similarity 0.500, below the threshold 0.80"


def test_validation_and_spec_round_trip():
    bad = Rule("r", "", Trigger("any", ()), "", Schedule((TimeWindow("25:00", "02:00", (8,)), TimeWindow("09:00", "09:00"))),
               cooldown_seconds=-1)
    assert [(p.column, p.code) for p in check_rule(bad, RuleLimits())] == [
        ("name", "missing_name"), ("trigger.keywords", "missing_keywords"), ("reply", "missing_reply"),
        ("schedule.windows[0]", "bad_time"), ("schedule.windows[0]", "bad_days"), ("schedule.windows[1]", "bad_time"),
        ("cooldown_seconds", "bad_cooldown")]
    good = Rule("r", "夜间", Trigger("contains", ("发货",)), "好的", Schedule((TimeWindow("22:00", "02:00", (5, 6)),),
                                                                          (date(2025, 10, 1),)), 3, False, 60)
    assert check_rule(good, RuleLimits()) == []
    assert rule_from_spec("r", rule_to_spec(good)) == good
