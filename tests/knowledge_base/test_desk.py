"""Desk events → conversation states and 客服绩效, with hand-computed numbers (SQLite and PostgreSQL)."""

from __future__ import annotations

import csv
import io

import pytest

from knowledge_base.analytics import EventLog, SuggestionEvent
from knowledge_base.desk import DEFAULT_TARGETS, DeskEvent, DeskLog, Targets
from knowledge_base.store import KbStore
from models.errors import InvalidItem, ShopNotFound

T0 = 1_780_000_000.0  # a fixed "now" for the tests (epoch seconds)


@pytest.fixture
def desk(tmp_path, database_url):
    store = KbStore(database_url or f"sqlite:///{tmp_path / 'd.db'}")
    store.ensure_shop("s1")
    events = EventLog(store)
    yield DeskLog(store, flush=events.flush), events
    events.close()
    store.close()


def ev(n: int, type_: str, at: float, conv: str, agent: str = "", **kw) -> DeskEvent:
    return DeskEvent(event_id=f"e{n}", type=type_, at=T0 + at, conversation_id=conv, agent_id=agent, **kw)


def test_record_checks_everything_first_and_ignores_duplicates(desk):
    log, _ = desk
    good = [ev(1, "message_shown", -60, "c1", "a1", message_at=T0 - 65), ev(2, "reply_sent", -50, "c1", "a1", action="accepted")]
    assert vars(log.record("s1", good, now=T0)) == {"accepted": 2, "duplicates": 0}
    assert vars(log.record("s1", good + [ev(3, "conversation_closed", -10, "c1")], now=T0)) == {"accepted": 1, "duplicates": 2}
    with pytest.raises(InvalidItem) as err:
        log.record("s1", [ev(4, "reply_sent", 600, "c2", "a1"),  # ahead of the server's clock
                          ev(5, "message_shown", -10, "c2"),  # no agent
                          ev(6, "reply_sent", -5, "c2", "a1", action="deleted"),
                          ev(7, "reply_sent", -5, "c2", "a1", message_at=T0 - 9)], now=T0)
    assert [(p["row"], p["column"], p["code"]) for p in err.value.details] == [
        (1, "at", "event_in_future"), (2, "agent_id", "bad_event"), (3, "action", "bad_event"), (4, "message_at", "bad_event")]
    assert vars(log.record("s1", [ev(4, "reply_sent", -1, "c2", "a1")], now=T0))["accepted"] == 1  # nothing was stored before
    with pytest.raises(ShopNotFound):
        log.record("nope", good, now=T0)


def test_conversation_states_waits_and_order(desk):
    log, events = desk
    # c-esc waits 40 s with an escalated message; c-long waits 300 s; c-new waits 10 s (under the target);
    # c-done was answered; c-closed was closed; c-old waits 30 h (past the 24 h warning, before 48 h).
    events.record(SuggestionEvent(shop_id="s1", request_id="r-esc", message="我要投诉", kb_version=1, entry_ids=[],
                                  scores=[], confidence=None, intent=None, latency_ms=1.0, ts=T0 - 40,
                                  escalate_level="high", escalate_reasons=("report_threat",)))
    log.record("s1", [
        ev(1, "message_shown", -300, "c-long", "a1"),
        ev(2, "message_shown", -40, "c-esc", "a2", request_id="r-esc"),
        ev(3, "message_shown", -10, "c-new", "a1"),
        ev(4, "message_shown", -100, "c-done", "a1"), ev(5, "reply_sent", -90, "c-done", "a1"),
        ev(6, "message_shown", -100, "c-closed", "a2"), ev(7, "reply_sent", -95, "c-closed", "a2"),
        ev(8, "conversation_closed", -80, "c-closed", "a2"),
        ev(9, "message_shown", -30 * 3600, "c-old", "a1", message_at=T0 - 30 * 3600 - 5),
    ], now=T0)
    targets, items = log.conversations("s1", now=T0)
    assert targets == DEFAULT_TARGETS
    assert [(c.conversation_id, c.state) for c in items] == [
        ("c-esc", "waiting"), ("c-old", "waiting"), ("c-long", "waiting"), ("c-new", "waiting"),
        ("c-done", "replied"), ("c-closed", "closed")]
    by_id = {c.conversation_id: c for c in items}
    assert by_id["c-esc"].escalate_level == "high" and by_id["c-esc"].escalate_reasons == ("report_threat",)
    assert (by_id["c-esc"].waiting_seconds, by_id["c-esc"].over_target) == (40.0, True)
    assert (by_id["c-new"].waiting_seconds, by_id["c-new"].over_target) == (10.0, False)
    old = by_id["c-old"]
    assert old.waiting_since == T0 - 30 * 3600 - 5 and old.deadline_warning and not old.past_deadline
    assert old.deadline_at == old.waiting_since + 48 * 3600
    assert by_id["c-done"].waiting_seconds is None and by_id["c-done"].escalate_level is None
    # a buyer message after the close opens the conversation again
    log.record("s1", [ev(10, "message_shown", -5, "c-closed", "a2")], now=T0)
    assert {c.conversation_id: c.state for c in log.conversations("s1", now=T0)[1]}["c-closed"] == "waiting"
    assert [c.conversation_id for c in log.conversations("s1", now=T0, state="replied")[1]] == ["c-done"]


def test_performance_per_agent(desk):
    log, events = desk
    events.record(SuggestionEvent(shop_id="s1", request_id="r1", message="骗子", kb_version=1, entry_ids=[],
                                  scores=[], confidence=None, intent=None, latency_ms=1.0, ts=T0 - 500,
                                  escalate_level="medium", escalate_reasons=("anger",)))
    log.record("s1", [
        # c1 (assigned a1): first message at -1000, a1 answers at -980 (20 s, within 30 s); the buyer writes
        # twice more (-900, -890), a1 answers at -850 (50 s from -900).
        ev(1, "message_shown", -1000, "c1", "a1"), ev(2, "reply_sent", -980, "c1", "a1", action="accepted"),
        ev(3, "message_shown", -900, "c1", "a1"), ev(4, "message_shown", -890, "c1", "a1"),
        ev(5, "reply_sent", -850, "c1", "a1", action="own_reply"),
        # c2 (assigned a1): the escalated message at -500, a2 answers at -380 (120 s, past the target).
        ev(6, "message_shown", -500, "c2", "a1", request_id="r1", message_at=T0 - 510),
        ev(7, "reply_sent", -380, "c2", "a2", action="edited"),
        # c3 (assigned a2): never answered, waiting 200 s (past the target): judged, unanswered.
        ev(8, "message_shown", -200, "c3", "a2"),
        # c4 (assigned a2): waiting 5 s, not judged yet.
        ev(9, "message_shown", -5, "c4", "a2"),
        # c6 (assigned a2): closed without a reply: judged, unanswered.
        ev(12, "message_shown", -100, "c6", "a2"), ev(13, "conversation_closed", -50, "c6", "a2"),
        # outside the window: not counted
        ev(10, "message_shown", -9000, "c5", "a1"), ev(11, "reply_sent", -8990, "c5", "a1"),
    ], now=T0)
    report = log.performance("s1", since=T0 - 3600, until=T0)
    a1, a2 = report.agents
    assert (a1.agent_id, a1.sessions_assigned, a1.messages_shown, a1.replies, a1.conversations) == ("a1", 2, 4, 2, 1)
    # a1's sessions: c1 first response 20 s, c2 first response 130 s (from the message's own time, -510)
    assert (a1.first_response_seconds_median, a1.first_response_seconds_p90) == (75.0, 119.0)
    assert (a1.within_target, a1.judged, a1.reply_rate_within_target, a1.unanswered) == (1, 2, 0.5, 0)
    assert a1.avg_response_seconds == 35.0  # (20 + 50) / 2
    assert a1.escalations_handled == 0
    assert (a2.sessions_assigned, a2.replies, a2.conversations, a2.avg_response_seconds) == (3, 1, 1, 130.0)
    assert (a2.within_target, a2.judged, a2.unanswered, a2.reply_rate_within_target) == (0, 2, 3, 0.0)
    assert a2.escalations_handled == 1
    overall = report.overall
    assert (overall.sessions_assigned, overall.replies, overall.within_target, overall.judged) == (5, 3, 1, 4)
    assert overall.first_response_seconds_median == 75.0 and overall.avg_response_seconds == 66.667


def test_adoption_comes_from_feedback(desk):
    log, events = desk
    events.record(SuggestionEvent(shop_id="s1", request_id="r1", message="发货", kb_version=1, entry_ids=["E1"],
                                  scores=[0.9], confidence=0.9, intent=None, latency_ms=1.0, ts=T0 - 100))
    for action in ("accepted", "accepted", "edited", "ignored", "own_reply"):
        events.record_feedback("s1", request_id="r1", action=action, agent_id="a1", ts=T0 - 50)
    a1 = log.performance("s1", since=T0 - 3600, until=T0).agents[0]
    assert (a1.accepted, a1.edited, a1.ignored, a1.own_reply, a1.adoption_rate) == (2, 1, 1, 1, 0.6)


def test_targets_are_checked_together(desk):
    log, _ = desk
    assert log.targets("s1") == Targets(30, 48, 24)
    assert log.set_targets("s1", first_response_seconds=60) == Targets(60, 48, 24)
    with pytest.raises(InvalidItem) as err:
        log.set_targets("s1", first_response_seconds=2, deadline_warning_hours=48)
    assert {p["column"] for p in err.value.details} == {"first_response_seconds", "deadline_warning_hours"}
    assert log.targets("s1") == Targets(60, 48, 24)
    assert log.set_targets("s1", first_response_seconds=None, reply_deadline_hours=72, deadline_warning_hours=48) == \
        Targets(30, 72, 48)


def test_routing_and_escalation_counts(desk):
    log, events = desk
    rows = [("售前", "intent", "发货时间", None, ()), ("售后", "intent", "退款进度", None, ()),
            ("售后", "escalation", "投诉", "high", ("report_threat",)), ("售后", "escalation", "投诉", "medium", ("anger",)),
            ("售后", "escalation", "退款进度", "medium", ("refund_dispute",))]
    for i, (group, reason, intent, level, reasons) in enumerate(rows):
        events.record(SuggestionEvent(shop_id="s1", request_id=f"r{i}", message="m", kb_version=1, entry_ids=[],
                                      scores=[], confidence=None, intent=None, latency_ms=1.0,
                                      ts=T0 - 86400 * (i % 2) - 10, message_intent=intent, route_group=group,
                                      route_reason=reason, escalate_level=level, escalate_reasons=reasons))
    r = log.routing_counts("s1", days=7, now=T0)
    assert r.requests == 5 and r.by_group == {"售后": 4, "售前": 1} and r.by_reason == {"escalation": 3, "intent": 2}
    assert sum(c.count for c in r.series) == 5 and len({c.day for c in r.series}) == 2
    e = log.escalation_counts("s1", days=7, now=T0)
    assert (e.requests, e.escalated, e.by_level) == (5, 3, {"medium": 2, "high": 1})
    assert [(i.intent, i.requests, i.escalated) for i in e.by_intent] == [("投诉", 2, 2), ("退款进度", 2, 1)]
    assert e.by_reason == {"report_threat": 1, "anger": 1, "refund_dispute": 1}


def test_csv_cells_cannot_become_formulas():
    from knowledge_base.cells import csv_bytes

    data = csv_bytes(["h"], [["=HYPERLINK(\"x\")", "+1", "-2", "@a", "\tx", "a1", 3.5, -2, None]])
    assert list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))[1] == [
        "'=HYPERLINK(\"x\")", "'+1", "'-2", "'@a", "'\tx", "a1", "3.5", "-2", ""]
