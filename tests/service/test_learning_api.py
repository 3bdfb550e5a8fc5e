"""Learned examples through the real app (in process, fake encoder), on SQLite and PostgreSQL: feedback
makes them, the merchant reviews them, approved ones join retrieval, none enters a KB version unasked."""

from __future__ import annotations

import io

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from service.app import create_app
from service.config import Settings
from service.runtime import Runtime
from tests.conftest import OPERATOR_HEADERS, OPERATOR_KEY

FAQ = ("编号,标准问题,相似问题,答案,分类\nA,包邮吗,免运费吗|邮费多少,全场包邮,运费\n"
       "B,什么时候发货,几天发货|多久发货,48小时内发货,发货时间\nC,可以开发票吗,能开票吗,可以开电子发票,发票\n")


@pytest.fixture
def client(tmp_path, fake_encoder, database_url):
    runtime = Runtime(Settings(operator_key=OPERATOR_KEY, data_dir=tmp_path, database_url=database_url,
                               learning_refresh_seconds=0, reload_in_background=False), encoder=fake_encoder)
    with TestClient(create_app(runtime=runtime), headers={**OPERATOR_HEADERS, "Accept-Language": "en"}) as c:
        assert c.post("/v1/shops/s1/kb", files={"file": ("faq.csv", FAQ.encode(), "text/csv")}).status_code == 201
        c.runtime = runtime
        yield c


def ask(client, message: str) -> dict:
    r = client.post("/v1/shops/s1/suggestions", json={"message": message, "top_k": 3})
    assert r.status_code == 200, r.text
    return r.json()


def feedback(client, request_id: str, action: str, **extra) -> dict:
    r = client.post("/v1/shops/s1/feedback", json={"request_id": request_id, "action": action, "agent_id": "ag1",
                                                    **extra})
    assert r.status_code == 201, r.text
    return r.json()


def learned(client, **params) -> dict:
    r = client.get("/v1/shops/s1/learned-examples", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def test_feedback_makes_pending_examples_the_merchant_reviews(client):
    q1 = ask(client, "邮费多少")
    made = feedback(client, q1["request_id"], "accepted", suggestion_rank=1)
    assert made["learned_status"] == "pending" and made["learned_example_id"]
    q2 = ask(client, "发货要几天 我电话13812345678")
    feedback(client, q2["request_id"], "own_reply", entry_id="B", final_text="明天发")
    q3 = ask(client, "在吗")
    assert feedback(client, q3["request_id"], "ignored")["learned_example_id"] is None  # no label in it

    body = learned(client)
    assert body["counts"] == {"pending": 2, "approved": 0, "rejected": 0, "promoted": 0}
    assert body["auto_approve"] is False
    texts = {e["text"]: (e["entry_id"], e["origin"], e["status"]) for e in body["items"]}
    assert texts == {"邮费多少": ("A", "accepted", "pending"),
                     "发货要几天 我电话[电话]": ("B", "own_reply", "pending")}  # buyer PII never stored

    # Pending examples are not used: nothing changed in what is served.
    assert client.runtime.learning.revision("s1") == 0

    example = next(e for e in body["items"] if e["entry_id"] == "B")
    r = client.post(f"/v1/shops/s1/learned-examples/{example['id']}/decision", json={"action": "approve"})
    assert r.status_code == 200 and r.json()["status"] == "approved" and r.json()["decided_by"] == "merchant"
    other = next(e for e in body["items"] if e["id"] != example["id"])
    r = client.post(f"/v1/shops/s1/learned-examples/{other['id']}/decision", json={"action": "move", "entry_id": "C"})
    assert (r.json()["entry_id"], r.json()["status"]) == ("C", "approved")
    r = client.post(f"/v1/shops/s1/learned-examples/{other['id']}/decision", json={"action": "reject"})
    assert r.json()["status"] == "rejected"
    assert learned(client, status="approved")["counts"]["approved"] == 1
    assert [e["text"] for e in learned(client, status="approved")["items"]] == ["发货要几天 我电话[电话]"]


def test_review_errors_name_the_problem(client):
    q = ask(client, "邮费多少呀")
    made = feedback(client, q["request_id"], "accepted", suggestion_rank=1)
    url = f"/v1/shops/s1/learned-examples/{made['learned_example_id']}/decision"
    r = client.post(url, json={"action": "move"})
    assert r.status_code == 422 and r.json()["error"]["message"] == "entry_id: needed to move an example to another entry"
    r = client.post(url, json={"action": "move", "entry_id": "NOPE"})
    assert r.status_code == 422 and "no entry 'NOPE'" in r.json()["error"]["message"]
    r = client.post("/v1/shops/s1/learned-examples/abc/decision", json={"action": "approve"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "item_not_found"
    r = client.post(url, json={"action": "approve"}, headers={"Accept-Language": "zh"})
    assert r.status_code == 200
    r = client.post("/v1/shops/s1/learned-examples/abc/decision", json={"action": "approve"},
                    headers={"Accept-Language": "zh"})
    assert r.json()["error"]["message"] == "店铺「s1」没有学习样本「abc」"


def test_auto_approve_is_a_shop_setting_and_approved_examples_are_served(client):
    r = client.put("/v1/shops/s1/settings", json={"learning_auto_approve": True})
    assert r.status_code == 200 and r.json()["learning_auto_approve"] is True
    assert r.json()["timezone"]  # a field left out keeps its value
    assert client.get("/v1/shops/s1/settings").json()["learning_auto_approve"] is True

    message = "寄到新疆收不收运输费"
    q = ask(client, message)
    made = feedback(client, q["request_id"], "edited", entry_id="A", final_text="新疆也包邮")
    assert made["learned_status"] == "approved"
    again = ask(client, message)  # an approved example is a phrasing of its entry now
    top = again["suggestions"][0]
    assert (top["entry_id"], top["matched_question"]) == ("A", message)
    assert again["kb_version"] == q["kb_version"]  # no KB version was made
    versions = client.get("/v1/shops/s1/kb/versions").json()["data"]
    assert len(versions) == 1

    # The same message confirmed again counts, it does not duplicate.
    feedback(client, again["request_id"], "accepted", suggestion_rank=1)
    items = learned(client)["items"]
    assert [(e["text"], e["count"]) for e in items] == [(message, 2)]


def test_promote_copies_an_example_into_a_new_version_on_request(client):
    client.put("/v1/shops/s1/settings", json={"learning_auto_approve": True})
    q = ask(client, "运费怎么算的")
    example_id = feedback(client, q["request_id"], "edited", entry_id="A", final_text="包邮")["learned_example_id"]
    r = client.post(f"/v1/shops/s1/learned-examples/{example_id}/promote")
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 2 and r.json()["example"]["status"] == "promoted"
    entry = client.get("/v1/shops/s1/kb/entries/A").json()
    assert "运费怎么算的" in entry["similar"]
    r = client.post(f"/v1/shops/s1/learned-examples/{example_id}/promote")
    assert r.status_code == 409 and r.json()["error"]["code"] == "conflict"


def test_learned_examples_ride_along_in_the_xlsx_export_and_import_ignores_them(client):
    client.put("/v1/shops/s1/settings", json={"learning_auto_approve": True})
    q = ask(client, "=1+1 邮费多少")
    assert feedback(client, q["request_id"], "edited", entry_id="A", final_text="包邮")["learned_status"] == "approved"
    r = client.get("/v1/shops/s1/kb/export", params={"format": "xlsx"})
    wb = load_workbook(io.BytesIO(r.content))
    assert wb.sheetnames[:2] == ["FAQ", "学习样本"]
    rows = list(wb["学习样本"].iter_rows(values_only=True))
    assert rows[0] == ("样本编号", "买家消息", "条目编号", "状态", "来源", "确认次数", "记录时间")
    assert rows[1][1:6] == ("=1+1 邮费多少", "A", "已通过", "修改后发送", "1")
    assert wb["学习样本"]["B2"].data_type == "s"  # text, never a formula
    # Importing the export again reads the FAQ sheet only: identical content, no new version.
    again = client.post("/v1/shops/s1/kb", files={"file": ("kb.xlsx", r.content)})
    assert again.status_code in (200, 201), again.text
    assert len(client.get("/v1/shops/s1/kb/entries").json()["data"]) == 3
    csv_export = client.get("/v1/shops/s1/learned-examples/export", params={"format": "csv"})
    assert csv_export.status_code == 200 and "=1+1 邮费多少" in csv_export.content.decode("utf-8-sig")


def test_learning_off_records_feedback_only(tmp_path, fake_encoder):
    runtime = Runtime(Settings(operator_key=OPERATOR_KEY, data_dir=tmp_path, learning=False), encoder=fake_encoder)
    with TestClient(create_app(runtime=runtime), headers=OPERATOR_HEADERS) as c:
        c.post("/v1/shops/s1/kb", files={"file": ("faq.csv", FAQ.encode(), "text/csv")})
        q = c.post("/v1/shops/s1/suggestions", json={"message": "邮费多少呀"}).json()
        r = c.post("/v1/shops/s1/feedback", json={"request_id": q["request_id"], "action": "accepted",
                                                  "suggestion_rank": 1, "agent_id": "a"})
        assert r.status_code == 201 and r.json()["learned_example_id"] is None
        assert c.get("/v1/shops/s1/learned-examples").json()["counts"]["pending"] == 0


def test_the_service_rebuilds_a_changed_shop_in_the_background(tmp_path, fake_encoder):
    """Requests keep answering from what the shop has while its new learned examples are built in."""
    import time

    runtime = Runtime(Settings(operator_key=OPERATOR_KEY, data_dir=tmp_path, learning_refresh_seconds=0), encoder=fake_encoder)
    assert runtime.settings.reload_in_background  # the service's default
    with TestClient(create_app(runtime=runtime), headers=OPERATOR_HEADERS) as c:
        c.post("/v1/shops/s1/kb", files={"file": ("faq.csv", FAQ.encode(), "text/csv")})
        c.put("/v1/shops/s1/settings", json={"learning_auto_approve": True})
        message = "寄到新疆收不收运输费"
        q = c.post("/v1/shops/s1/suggestions", json={"message": message}).json()
        made = c.post("/v1/shops/s1/feedback", json={"request_id": q["request_id"], "action": "edited",
                                                     "entry_id": "A", "agent_id": "a", "final_text": "包邮"}).json()
        assert made["learned_status"] == "approved"
        deadline = time.monotonic() + 20
        while True:
            got = c.post("/v1/shops/s1/suggestions", json={"message": message}).json()["suggestions"]
            if got and got[0]["matched_question"] == message:
                break
            assert time.monotonic() < deadline, "the background reload never served the learned example"
            time.sleep(0.05)
        assert got[0]["entry_id"] == "A"
