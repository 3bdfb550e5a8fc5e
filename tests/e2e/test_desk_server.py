"""The desk around the suggestions through a real server (real encoder, escalation model, demo shop), on
SQLite and PostgreSQL: routing and escalation in the suggestion response, the routing table API, the
response-time targets, desk events → conversation states → 客服绩效 (JSON and CSV), and the analytics."""

from __future__ import annotations

import csv
import io
import json
import time
from datetime import UTC, datetime

import httpx
import pytest

from tests.conftest import fresh_postgres_database, postgres_dsn_or_skip
from tests.e2e.server import running_server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def live(request, tmp_path_factory, real_encoder):  # real_encoder: makes sure the ONNX export exists
    data_dir = tmp_path_factory.mktemp(f"desk-{request.param}")
    if request.param == "sqlite":
        with running_server(data_dir, "--demo") as (base, _):
            yield base, json.loads((data_dir / "demo-keys.json").read_text())
        return
    with fresh_postgres_database(postgres_dsn_or_skip()) as url:
        with running_server(data_dir, "--demo", env={"SMARTREPLY_DATABASE_URL": url}) as (base, _):
            yield base, json.loads((data_dir / "demo-keys.json").read_text())


def auth(keys: dict, scope: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {keys[scope]}"}


def ask(live, message: str, **body) -> dict:
    base, keys = live
    r = httpx.post(f"{base}/v1/shops/demo/suggestions", json={"message": message, **body}, headers=auth(keys, "agent"),
                   timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


def test_suggestions_say_where_a_message_goes_and_whether_a_person_must_handle_it(live):
    body = ask(live, "啥时候能发出来")
    assert body["routing"] == {"group": "售前", "reason": "intent", "intent": "发货时间", "category": None,
                               "keyword": None, "confidence": body["routing"]["confidence"]}
    assert body["routing"]["confidence"] >= 0.5 and body["escalate"] is None

    calm = ask(live, "转人工")
    assert calm["routing"]["group"] == "售后" and calm["routing"]["reason"] == "handoff"
    assert calm["escalate"] is None and any(s["auto_reply"] for s in calm["suggestions"])

    angry = ask(live, "转人工！你们这群骗子，我要去12315投诉")
    assert angry["escalate"]["level"] == "high"
    codes = {r["code"] for r in angry["escalate"]["reasons"]}
    assert {"report_threat", "insult"} <= codes
    assert {"code": "report_threat", "source": "lexicon", "evidence": "12315", "score": 1.0} in angry["escalate"]["reasons"]
    assert angry["suggestions"] and not any(s["auto_reply"] for s in angry["suggestions"])  # never auto-replied
    assert angry["routing"] == {"group": "售后", "reason": "escalation", "intent": None, "category": None,
                                "keyword": None, "confidence": None}

    safety = ask(live, "孩子把玩具上的小零件吞下去了，会有危险吗")
    assert safety["escalate"]["level"] == "high" and safety["escalate"]["reasons"][0]["code"] == "safety"

    now = time.time()
    turns = [{"role": "buyer", "text": "请问我的快递到哪了", "at": iso(now - 180)},
             {"role": "buyer", "text": "查一下物流", "at": iso(now - 120)}]
    repeated = ask(live, "到底有没有人", turns=turns, at=iso(now))
    assert "repeated_ask" in {r["code"] for r in repeated["escalate"]["reasons"]}


def test_routing_table_is_the_shops_to_edit(live):
    base, keys = live
    url = f"{base}/v1/shops/demo/routing"
    table = httpx.get(url, headers=auth(keys, "admin")).json()
    assert table["is_default"] is True and table["groups"] == ["售前", "售后"]
    assert table["intents"]["发货时间"] == "售前" and table["intents"]["退款进度"] == "售后"
    assert (table["default_group"], table["handoff_group"], table["escalation_group"]) == ("售前", "售后", "售后")
    assert "发货时间" in table["platform_intents"]
    assert httpx.get(url, headers=auth(keys, "agent")).status_code == 403  # admin scope

    new = {**{k: table[k] for k in ("groups", "default_group", "handoff_group", "escalation_group", "intents",
                                    "min_intent_confidence")},
           "groups": ["售前", "售后", "大客户"], "handoff_group": "大客户", "categories": {"价保": "大客户"},
           "keywords": [{"keywords": ["VIP", "企业采购"], "group": "大客户"}]}
    r = httpx.put(url, json=new, headers=auth(keys, "admin"))
    assert r.status_code == 200, r.text
    assert r.json()["is_default"] is False and r.json()["keywords"] == [{"keywords": ["vip", "企业采购"], "group": "大客户"}]

    assert ask(live, "我们是VIP客户，能优先发货吗")["routing"] == {
        "group": "大客户", "reason": "keyword", "intent": None, "category": None, "keyword": "vip", "confidence": None}
    assert ask(live, "转人工")["routing"]["group"] == "大客户"
    price = ask(live, "刚买完就降价了，能补差价吗")
    assert price["suggestions"][0]["category"] == "价保"
    assert price["routing"]["reason"] == "category" and price["routing"]["group"] == "大客户"

    bad = {**new, "default_group": "客服部", "intents": {**new["intents"], "天气": "售前"}}
    r = httpx.put(url, json=bad, headers=auth(keys, "admin"))
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_item"
    assert {d["column"] for d in r.json()["error"]["details"]} == {"default_group", "intents.天气"}
    assert httpx.get(url, headers=auth(keys, "admin")).json()["handoff_group"] == "大客户"  # unchanged
    assert httpx.put(url, json={**new, "colour": "red"}, headers=auth(keys, "admin")).status_code == 422

    r = httpx.delete(url, headers=auth(keys, "admin"))
    assert r.status_code == 200 and r.json()["is_default"] is True
    assert ask(live, "转人工")["routing"]["group"] == "售后"


def test_response_time_targets_are_shop_settings(live):
    base, keys = live
    url = f"{base}/v1/shops/demo/settings"
    got = httpx.get(url, headers=auth(keys, "agent")).json()  # the agent console reads them
    assert (got["first_response_target_seconds"], got["reply_deadline_hours"], got["deadline_warning_hours"]) == (30, 48, 24)
    assert httpx.put(url, json={"first_response_target_seconds": 45}, headers=auth(keys, "agent")).status_code == 403
    r = httpx.put(url, json={"first_response_target_seconds": 45, "deadline_warning_hours": 60}, headers=auth(keys, "admin"))
    assert r.status_code == 422 and [d["column"] for d in r.json()["error"]["details"]] == ["deadline_warning_hours"]
    r = httpx.put(url, json={"first_response_target_seconds": 45, "timezone": "Asia/Shanghai"}, headers=auth(keys, "admin"))
    assert r.status_code == 200 and r.json()["first_response_target_seconds"] == 45
    r = httpx.put(url, json={"first_response_target_seconds": None}, headers=auth(keys, "admin"))
    assert r.json()["first_response_target_seconds"] == 30


def test_events_make_the_conversation_states_and_the_performance_report(live):
    base, keys = live
    agent = auth(keys, "agent")
    now = time.time()
    escalated = ask(live, "你们太过分了，我要投诉", conversation_id="conv-esc")
    assert escalated["escalate"] is not None
    calm = ask(live, "可以开发票吗", conversation_id="conv-calm")
    events = [
        {"event_id": "ev-1", "type": "message_shown", "at": iso(now - 600), "conversation_id": "conv-calm",
         "agent_id": "=cmd|' /C calc'!A0", "request_id": calm["request_id"]},
        {"event_id": "ev-2", "type": "reply_sent", "at": iso(now - 590), "conversation_id": "conv-calm",
         "agent_id": "=cmd|' /C calc'!A0", "request_id": calm["request_id"], "action": "accepted"},
        {"event_id": "ev-3", "type": "message_shown", "at": iso(now - 120), "message_at": iso(now - 125),
         "conversation_id": "conv-esc", "agent_id": "xiaomei", "request_id": escalated["request_id"]},
        {"event_id": "ev-4", "type": "message_shown", "at": iso(now - 20), "conversation_id": "conv-new",
         "agent_id": "xiaomei"},
    ]
    r = httpx.post(f"{base}/v1/shops/demo/events", json={"events": events}, headers=agent)
    assert r.status_code == 200 and r.json() == {"accepted": 4, "duplicates": 0}
    r = httpx.post(f"{base}/v1/shops/demo/events", json=events[0], headers=agent)  # one event alone, sent again
    assert r.json() == {"accepted": 0, "duplicates": 1}
    r = httpx.post(f"{base}/v1/shops/demo/events", headers=agent, json={
        "event_id": "ev-x", "type": "reply_sent", "at": iso(now + 3600), "conversation_id": "conv-esc", "agent_id": "xiaomei"})
    assert r.status_code == 422 and r.json()["error"]["details"][0]["code"] == "event_in_future"

    states = httpx.get(f"{base}/v1/shops/demo/conversations", headers=agent).json()
    assert states["first_response_target_seconds"] == 30
    order = [(c["conversation_id"], c["state"]) for c in states["data"]]
    assert order[:3] == [("conv-esc", "waiting"), ("conv-new", "waiting"), ("conv-calm", "replied")]
    esc = states["data"][0]
    assert esc["escalate"]["level"] == "high" and esc["over_target"] is True and 120 <= esc["waiting_seconds"] < 200
    assert states["data"][1]["over_target"] is False and states["data"][1]["escalate"] is None
    assert states["counts"]["waiting"] >= 2

    r = httpx.post(f"{base}/v1/shops/demo/events", headers=agent, json={"events": [
        {"event_id": "ev-5", "type": "reply_sent", "at": iso(now - 60), "conversation_id": "conv-esc", "agent_id": "xiaomei",
         "action": "own_reply"},
        {"event_id": "ev-6", "type": "conversation_closed", "at": iso(now - 50), "conversation_id": "conv-esc",
         "agent_id": "xiaomei"}]})
    assert r.json()["accepted"] == 2
    closed = httpx.get(f"{base}/v1/shops/demo/conversations?state=closed", headers=agent).json()["data"]
    assert [c["conversation_id"] for c in closed] == ["conv-esc"]

    report = httpx.get(f"{base}/v1/shops/demo/performance?days=1", headers=auth(keys, "admin"))
    assert report.status_code == 200, report.text
    agents = {a["agent_id"]: a for a in report.json()["agents"]}
    mei = agents["xiaomei"]
    assert (mei["sessions_assigned"], mei["replies"], mei["conversations"], mei["escalations_handled"]) == (2, 1, 1, 1)
    assert mei["first_response_seconds_median"] == pytest.approx(65, abs=1)  # from the message time (now - 125)
    assert mei["within_target"] == 0 and mei["unanswered"] == 1
    assert agents["=cmd|' /C calc'!A0"]["first_response_seconds_median"] == pytest.approx(10, abs=0.01)
    assert httpx.get(f"{base}/v1/shops/demo/performance", headers=agent).status_code == 403

    r = httpx.get(f"{base}/v1/shops/demo/performance/export?days=1", headers=auth(keys, "admin"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"].startswith('attachment; filename="performance-demo-')
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["客服", "接待会话数", "分配会话数"] and rows[-1][0] == "合计"
    assert "'=cmd|' /C calc'!A0" in [row[0] for row in rows]  # a formula stays text
    english = httpx.get(f"{base}/v1/shops/demo/performance/export?days=1",
                        headers={**auth(keys, "admin"), "Accept-Language": "en-US,en;q=0.9"})
    assert english.content.decode("utf-8-sig").splitlines()[0].startswith('"agent","conversations handled"')
    r = httpx.get(f"{base}/v1/shops/demo/performance?since={iso(now)}&until={iso(now - 60)}".replace("+", "%2B"),
                  headers=auth(keys, "admin"))
    assert r.status_code == 422


def test_analytics_count_routing_and_escalation_per_day(live):
    base, keys = live
    ask(live, "你们卖假货，我要举报")
    routing = httpx.get(f"{base}/v1/shops/demo/analytics/routing?days=1", headers=auth(keys, "admin")).json()
    assert routing["requests"] >= 1 and sum(routing["by_group"].values()) == routing["requests"]
    assert sum(c["count"] for c in routing["series"]) == routing["requests"] and routing["by_reason"]
    esc = httpx.get(f"{base}/v1/shops/demo/analytics/escalations?days=1", headers=auth(keys, "admin")).json()
    assert esc["escalated"] >= 1 and sum(esc["by_level"].values()) == esc["escalated"]
    assert esc["by_intent"] and esc["by_intent"][0]["escalated"] >= esc["by_intent"][-1]["escalated"]
    assert esc["by_reason"]["report_threat"] >= 1


def test_no_auto_reply_rule_answers_an_escalated_message(live):
    base, keys = live
    rule = httpx.post(f"{base}/v1/shops/demo/rules", headers=auth(keys, "admin"), json={
        "name": "发票", "trigger": {"mode": "any", "keywords": ["发票"]}, "reply": "亲，可以开电子发票哦～"})
    assert rule.status_code == 201, rule.text
    try:
        calm = httpx.post(f"{base}/v1/shops/demo/rules/match", headers=auth(keys, "agent"),
                          json={"message": "可以开发票吗", "conversation_id": "rule-c1"}).json()
        assert calm["winner"]["name"] == "发票" and calm["escalate"] is None
        angry = httpx.post(f"{base}/v1/shops/demo/rules/match", headers=auth(keys, "agent"),
                           json={"message": "发票开错三次了，再不改我就去12315投诉", "conversation_id": "rule-c2"}).json()
        assert angry["winner"] is None and angry["escalate"]["level"] == "high"
        assert any("不会自动回复" in n for n in angry["notes"])  # Chinese by default (Accept-Language)
        assert any(d["fires"] for d in angry["rules"])  # the rule would fire; the escalation holds it back
        suggestion = ask(live, "发票开错三次了，再不改我就去12315投诉")
        rule_suggestions = [s for s in suggestion["suggestions"] if s["source"] == "rule"]
        assert rule_suggestions and not rule_suggestions[0]["auto_reply"]
    finally:
        httpx.delete(f"{base}/v1/shops/demo/rules/{rule.json()['rule']['id']}", headers=auth(keys, "admin"))
