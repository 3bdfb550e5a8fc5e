"""Quick phrases and auto-reply rules through the HTTP API (in-process app, fake encoder)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from tests.conftest import OPERATOR_HEADERS, OPERATOR_KEY
from service.config import Settings
from service.runtime import Runtime
from tests.conftest import REPO

DATA = REPO / "tests" / "data"
QP = "/v1/shops/s1/quick-phrases"
RULES = "/v1/shops/s1/rules"


@pytest.fixture
def client(tmp_path, fake_encoder, database_url):
    runtime = Runtime(Settings(operator_key=OPERATOR_KEY, data_dir=tmp_path, database_url=database_url, max_quick_phrases=5), encoder=fake_encoder)
    with TestClient(create_app(runtime=runtime), headers=OPERATOR_HEADERS) as c:
        yield c


# -- quick phrases -------------------------------------------------------------------------------
def test_quick_phrase_crud_groups_shortcuts_and_revisions(client):
    r = client.post(QP, json={"text": "亲，您好～", "group": "问候", "shortcut": "/hi"})
    assert r.status_code == 201 and r.json()["revision"] == 1
    pid = r.json()["phrase"]["id"]
    client.post(QP, json={"id": "thanks", "text": "感谢光临", "group": "问候"})
    client.post(QP, json={"id": "refund", "text": "退款1到3天到账", "group": "售后", "shortcut": "/tk"})
    assert [p["id"] for p in client.get(QP, params={"group": "问候"}).json()["data"]] == [pid, "thanks"]

    r = client.post(QP, json={"text": "另一个", "shortcut": "/HI"})
    assert r.status_code == 409 and r.json()["error"]["details"][0]["code"] == "duplicate_shortcut"  # taken: a conflict
    r = client.post(QP, json={"text": "加我微信 abc12345"})
    assert r.json()["error"]["details"][0]["code"] == "compliance"

    r = client.patch(f"{QP}/thanks", json={"text": "感谢您的光临"})
    assert (r.json()["revision"], r.json()["phrase"]["text"]) == (4, "感谢您的光临")
    assert client.delete(f"{QP}/refund").json()["revision"] == 5
    assert client.get(f"{QP}/refund").json()["error"]["code"] == "item_not_found"

    revisions = client.get(f"{QP}/revisions").json()
    assert [(r["revision"], r["action"], r["item_count"]) for r in revisions["data"]] == [
        (1, f"create {pid}", 1), (2, "create thanks", 2), (3, "create refund", 3), (4, "update thanks", 3),
        (5, "delete refund", 2)]
    restored = client.post(f"{QP}/revisions/3/restore").json()
    assert restored["revision"] == 6 and [p["id"] for p in restored["data"]] == [pid, "thanks", "refund"]
    assert client.get(QP).json()["data"][1]["text"] == "感谢光临"


def test_quick_phrase_limit_is_a_setting(client):
    for i in range(5):
        assert client.post(QP, json={"text": f"短语{i}"}).status_code == 201
    r = client.post(QP, json={"text": "第六个"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "limit_exceeded"
    assert "at most 5 quick phrases" in r.json()["error"]["message"]
    assert client.get(QP).json()["limit"] == 5


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_quick_phrase_import_export_round_trip(client, fmt):
    r = client.post(f"{QP}/import", files={"file": ("quick_phrases.csv", (DATA / "quick_phrases.csv").read_bytes())})
    assert r.status_code == 201, r.text
    assert r.json()["phrases"] == 4
    before = client.get(QP).json()["data"]
    assert [(p["group"], p["shortcut"]) for p in before] == [("问候", "/hi"), ("问候", "/bye"), ("售后", "/th"), ("售后", "")]
    exported = client.get(f"{QP}/export", params={"format": fmt})
    assert exported.status_code == 200
    r = client.post(f"{QP}/import", files={"file": (f"again.{fmt}", exported.content)})
    assert r.status_code == 201 and r.json()["revision"] == 2
    assert client.get(QP).json()["data"] == before  # same ids, groups, shortcuts, texts


def test_quick_phrase_import_reports_rows_and_enforces_the_limit(client):
    bad = "分组,快捷编码,内容\n问候,/a,你好\n问候,/a,重复编码\n问候,,\n售后,/x,电话13812345678\n"
    r = client.post(f"{QP}/import", files={"file": ("p.csv", bad.encode())})
    assert r.status_code == 422
    assert [(d["row"], d["column"], d["code"]) for d in r.json()["error"]["details"]] == [
        (3, "快捷编码", "duplicate_shortcut"), (4, "内容", "missing_text"), (5, "内容", "compliance")]
    r = client.post(f"{QP}/import", params={"mode": "partial"}, files={"file": ("p.csv", bad.encode())})
    assert r.status_code == 201 and r.json()["phrases"] == 1 and len(r.json()["skipped"]) == 3
    many = "内容\n" + "".join(f"短语{i}\n" for i in range(6))
    r = client.post(f"{QP}/import", files={"file": ("many.csv", many.encode())})
    assert r.status_code == 422 and r.json()["error"]["code"] == "limit_exceeded"


# -- rules ------------------------------------------------------------------------------------
NIGHT = {"name": "夜间自动回复", "trigger": {"mode": "any", "keywords": ["发货", "快递"]},
         "reply": "客服已下班，明早9点回复您", "priority": 10, "cooldown_seconds": 600,
         "schedule": {"windows": [{"days": [1, 2, 3, 4, 5], "start": "22:00", "end": "08:00"}],
                      "exclude_dates": ["2025-10-01"]}}
SHIPPING = {"id": "shipping", "name": "发货时间", "trigger": {"mode": "contains", "keywords": ["什么时候", "发货"]},
            "reply": "付款后48小时内发货", "priority": 5}
HELLO = {"id": "hello", "name": "问候", "trigger": {"mode": "exact", "keywords": ["在吗", "你好"]}, "reply": "在的亲"}


def explain(client, message: str, at: str, conversation_id: str | None = None, path: str = "explain",
            lang: str = "en") -> dict:
    r = client.post(f"{RULES}/{path}", json={"message": message, "at": at, "conversation_id": conversation_id},
                    headers={"Accept-Language": lang})
    assert r.status_code == 200, r.text
    return r.json()


def reasons(body: dict) -> dict[str, list[str]]:
    return {d["name"]: [r["code"] for r in d["reasons"]] for d in body["rules"]}


def test_rule_crud_and_explain_says_why_each_rule_does_or_does_not_fire(client):
    night = client.post(RULES, json=NIGHT)
    assert night.status_code == 201, night.text
    night_id = night.json()["rule"]["id"]
    client.post(RULES, json=SHIPPING)
    client.post(RULES, json=HELLO)

    # Friday 23:30 is inside Mon–Fri 22:00–次日08:00; the night rule outranks the shipping rule.
    body = explain(client, "什么时候发货呀", "2025-01-03T23:30:00")
    assert body["winner"] == {"rule_id": night_id, "name": "夜间自动回复", "reply": "客服已下班，明早9点回复您"}
    assert (body["timezone"], body["local_time"], body["weekday"]) == ("Asia/Shanghai", "2025-01-03T23:30:00+08:00", 5)
    assert [(d["name"], d["fires"]) for d in body["rules"]] == [("夜间自动回复", True), ("发货时间", False), ("问候", False)]
    by_name = {d["name"]: d for d in body["rules"]}
    assert by_name["发货时间"]["reasons"] == [{
        "code": "lower_priority", "data": {"winner": night_id},
        "message": "rule '夜间自动回复' also matches and has a higher priority (10 > 5)",
        "message_code": "rule.lower_priority", "params": {"winner_name": "夜间自动回复", "winner_priority": 10,
                                                          "priority": 5}}]
    assert by_name["问候"]["reasons"][0]["code"] == "not_exact"
    assert by_name["夜间自动回复"]["matched"] == ["Fri 23:30 (Asia/Shanghai) is inside Mon–Fri 22:00–08:00 next day",
                                             "keyword '发货' found"]
    zh = explain(client, "什么时候发货呀", "2025-01-03T23:30:00", lang="zh")
    zh_by_name = {d["name"]: d for d in zh["rules"]}
    assert zh_by_name["夜间自动回复"]["matched"] == ["周五 23:30（Asia/Shanghai） 在时间段 周一至周五 22:00–次日08:00 内",
                                                "找到关键词「发货」"]
    assert zh_by_name["发货时间"]["reasons"][0]["message"] == "规则「夜间自动回复」也匹配且优先级更高（10 > 5）"

    # Saturday 07:00: the window started on Friday night, so it still holds (across midnight).
    assert explain(client, "快递到哪了", "2025-01-04T07:00:00")["winner"]["name"] == "夜间自动回复"
    # Saturday 23:00: Saturday is not a start day.
    body = explain(client, "什么时候发货", "2025-01-04T23:00:00")
    assert reasons(body)["夜间自动回复"] == ["outside_window"] and body["winner"]["rule_id"] == "shipping"
    # A holiday (local date), and order in contains mode, and a disabled rule.
    assert reasons(explain(client, "发货了吗", "2025-10-01T23:00:00"))["夜间自动回复"] == ["excluded_date"]
    assert reasons(explain(client, "发货什么时候", "2025-01-06T12:00:00"))["发货时间"] == ["keyword_order"]
    client.patch(f"{RULES}/hello", json={"enabled": False})
    assert reasons(explain(client, "在吗", "2025-01-06T12:00:00"))["问候"] == ["disabled"]
    # An explicit offset is converted to the shop's zone: 15:30 UTC = 23:30 in Shanghai.
    assert explain(client, "发货", "2025-01-03T15:30:00Z")["local_time"] == "2025-01-03T23:30:00+08:00"

    assert client.get(RULES).json()["revision"] == 4
    assert client.delete(f"{RULES}/hello").json()["revision"] == 5
    assert client.get(f"{RULES}/hello").json()["error"]["code"] == "item_not_found"
    restored = client.post(f"{RULES}/revisions/3/restore").json()
    assert [r["id"] for r in restored["data"]][1:] == ["shipping", "hello"] and restored["data"][2]["enabled"] is True


def test_cooldown_is_per_conversation_and_recorded_by_match_only(client):
    client.post(RULES, json={**HELLO, "cooldown_seconds": 600})
    assert explain(client, "在吗", "2025-01-06T10:00:00", "c1")["winner"]["rule_id"] == "hello"
    assert explain(client, "在吗", "2025-01-06T10:01:00", "c1")["winner"] is not None  # explain records nothing
    assert explain(client, "在吗", "2025-01-06T10:00:00", "c1", path="match")["winner"]["rule_id"] == "hello"
    body = explain(client, "在吗", "2025-01-06T10:05:00", "c1")
    assert body["winner"] is None
    (reason,) = body["rules"][0]["reasons"]
    assert reason["code"] == "cooldown" and "cooldown is 600 s, 300 s left" in reason["message"]
    assert explain(client, "在吗", "2025-01-06T10:05:00", "c2")["winner"] is not None  # another conversation
    assert explain(client, "在吗", "2025-01-06T10:10:00", "c1")["winner"] is not None  # cooled down
    assert explain(client, "在吗", "2025-01-06T10:05:00")["notes"] == ["no conversation_id: cooldowns were not checked"]


def test_shop_time_zone_setting(client):
    client.post(RULES, json={**HELLO, "schedule": {"windows": [{"start": "09:00", "end": "18:00"}]}})
    at = "2025-01-06T02:00:00Z"  # 10:00 in Shanghai, 03:00 in Berlin
    assert explain(client, "在吗", at)["winner"] is not None
    assert client.put("/v1/shops/s1/settings", json={"timezone": "Europe/Berlin"}).json()["timezone"] == "Europe/Berlin"
    body = explain(client, "在吗", at)
    assert body["timezone"] == "Europe/Berlin" and reasons(body)["问候"] == ["outside_window"]
    r = client.put("/v1/shops/s1/settings", json={"timezone": "Mars/Olympus"})
    assert r.status_code == 422 and r.json()["error"]["details"][0]["code"] == "bad_timezone"


def test_rule_validation_errors_are_located(client):
    bad = {"name": "", "trigger": {"mode": "all", "keywords": []}, "reply": "详情加微信 abc12345",
           "schedule": {"windows": [{"start": "9:00", "end": "18:00"}, {"start": "10:00", "end": "10:00"}]}}
    r = client.post(RULES, json=bad)
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_item"
    assert [(d["column"], d["code"]) for d in r.json()["error"]["details"]] == [
        ("name", "missing_name"), ("trigger.keywords", "missing_keywords"), ("schedule.windows[0]", "bad_time"),
        ("schedule.windows[1]", "bad_time"), ("reply", "compliance")]
    assert client.post(RULES, json={**HELLO, "trigger": {"mode": "regex"}}).json()["error"]["code"] == "invalid_request"
    assert client.get("/v1/shops/nobody/rules").json()["error"]["code"] == "shop_not_found"
