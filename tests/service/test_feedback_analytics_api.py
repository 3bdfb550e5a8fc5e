"""Feedback and analytics through the real app (in process, fake encoder), on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from service.app import create_app
from service.config import Settings
from service.runtime import Runtime
from tests.conftest import OPERATOR_HEADERS, OPERATOR_KEY

FAQ = ("编号,标准问题,相似问题,答案,分类\nA,包邮吗,免运费吗|邮费多少,全场包邮,运费\n"
       "B,什么时候发货,几天发货|多久发货,48小时内发货,发货时间\nC,可以开发票吗,能开票吗,可以开电子发票,发票\n")


@pytest.fixture
def client(tmp_path, fake_encoder, database_url):
    runtime = Runtime(Settings(operator_key=OPERATOR_KEY, data_dir=tmp_path, database_url=database_url,
                               unanswered_confidence=0.6, unanswered_cluster_threshold=0.5), encoder=fake_encoder)
    with TestClient(create_app(runtime=runtime), headers=OPERATOR_HEADERS) as c:
        assert c.post("/v1/shops/s1/kb", files={"file": ("faq.csv", FAQ.encode(), "text/csv")}).status_code == 201
        c.runtime = runtime
        yield c


def suggest(client, message: str) -> dict:
    r = client.post("/v1/shops/s1/suggestions", json={"message": message, "top_k": 3})
    assert r.status_code == 200, r.text
    return r.json()


def feedback(client, request_id: str, action: str, agent: str, ms: int | None, **extra) -> None:
    r = client.post("/v1/shops/s1/feedback", json={"request_id": request_id, "action": action, "agent_id": agent,
                                                    "time_to_reply_ms": ms, **extra})
    assert r.status_code == 201, r.text
    assert r.json()["request_id"] == request_id and len(r.json()["id"]) == 32


def test_feedback_adoption_hot_questions_and_entry_hits(client):
    asked = [suggest(client, m) for m in ["邮费多少", "邮费多少", "免运费吗", "几天发货", "可以开发票吗"]]
    feedback(client, asked[0]["request_id"], "accepted", "ag1", 4000, suggestion_rank=1)
    feedback(client, asked[1]["request_id"], "edited", "ag1", 6000, suggestion_rank=1, final_text="全场包邮哦")
    feedback(client, asked[2]["request_id"], "ignored", "ag2", 20000)
    feedback(client, asked[3]["request_id"], "own_reply", "ag2", 30000, final_text="明天发")
    r = client.post("/v1/shops/s1/feedback", json={"request_id": "nope", "action": "accepted", "agent_id": "a"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "request_not_found"

    adoption = client.get("/v1/shops/s1/analytics/adoption", params={"days": 7}).json()
    assert adoption["suggestions"] == 5
    assert adoption["overall"] | {} == {"agent_id": "*", "feedback": 4, "accepted": 1, "edited": 1, "ignored": 1,
                                        "own_reply": 1, "adoption_rate": 0.5, "edit_rate": 0.5}
    assert [(a["agent_id"], a["adoption_rate"]) for a in adoption["agents"]] == [("ag1", 1.0), ("ag2", 0.0)]
    assert adoption["median_ms_with_suggestion"] == 5000 and adoption["median_ms_without_suggestion"] == 25000

    hot = client.get("/v1/shops/s1/analytics/hot-questions", params={"by": "entry", "bucket": "hour"}).json()
    top = hot["data"][0]
    assert (top["key"], top["label"], top["total"], top["trend"]) == ("A", "包邮吗", 3, None)
    assert len(top["series"]) == 1 and top["series"][0]["bucket"].endswith(":00")
    by_intent = client.get("/v1/shops/s1/analytics/hot-questions", params={"by": "intent"}).json()["data"]
    assert by_intent[0]["total"] == 3 and by_intent[0]["series"][0]["count"] == 3

    hits = {h["entry_id"]: h for h in client.get("/v1/shops/s1/analytics/entries").json()["data"]}
    assert set(hits) == {"A", "B", "C"}
    assert (hits["A"]["top1"], hits["A"]["used"]) == (3, 2)
    assert hits["C"]["top1"] == 1


def test_unanswered_clusters_and_one_click_fixes(client):
    for m in ["退货地址是哪里", "退货地址在哪", "退货寄到什么地址", "邮费多少"]:
        body = suggest(client, m)
    # "邮费多少" is a phrasing of entry A: answered, so not listed even though the agent ignored it.
    feedback(client, body["request_id"], "ignored", "ag1", 1000)
    ignored = suggest(client, "运费到底要几块钱")
    feedback(client, ignored["request_id"], "ignored", "ag1", 1000)  # a good match counts when ignored
    clusters = client.get("/v1/shops/s1/analytics/unanswered").json()["data"]
    big = clusters[0]
    assert big["count"] == 3 and big["examples"][0] == "退货寄到什么地址" and len(big["examples"]) == 3
    assert not any("邮费多少" in c["examples"] for c in clusters)
    listed = next(c for c in clusters if c["examples"] == ["运费到底要几块钱"])
    assert listed["ignored"] == 1 and "cluster.ignored" in [r["code"] for r in listed["reasons"]]
    assert listed["reasons"][-1]["text"] == "1× an answer was suggested but the agent did not use it (it may be wrong)"

    r = client.post(f"/v1/shops/s1/analytics/unanswered/{big['id']}/add-as-entry",
                    json={"answer": "退货请寄回：仓库售后组", "category": "退换货"})
    assert r.status_code == 201, r.text
    entry = r.json()["entry"]
    assert entry["question"] == "退货寄到什么地址" and set(entry["similar"]) == {"退货地址是哪里", "退货地址在哪"}
    assert r.json()["version"] == 2
    # now in the KB: those messages are answered by the new entry; a new miss goes to an existing entry
    for m in ["开专票吗", "开专票可以吗"]:
        suggest(client, m)
    clusters = client.get("/v1/shops/s1/analytics/unanswered").json()["data"]
    invoice = next(c for c in clusters if "开专票吗" in c["examples"])
    r = client.post(f"/v1/shops/s1/analytics/unanswered/{invoice['id']}/add-as-similar", json={"entry_id": "C"})
    assert r.status_code == 200, r.text
    assert {"开专票吗", "开专票可以吗"} <= set(r.json()["entry"]["similar"]) and r.json()["version"] == 3
    # once added, the cluster is answered and leaves the list
    clusters = client.get("/v1/shops/s1/analytics/unanswered").json()["data"]
    assert not any("开专票吗" in c["examples"] for c in clusters)
    r = client.post("/v1/shops/s1/analytics/unanswered/nope/add-as-similar", json={"entry_id": "A"})
    assert r.status_code == 404


def test_pii_is_masked_before_it_is_stored(client):
    phone, order, name = "13812345678", "2024123100012345", "王小明"
    body = suggest(client, f"我叫{name}，电话{phone}，订单{order}寄到浙江省杭州市西湖区文三路100号3栋501室")
    feedback(client, body["request_id"], "own_reply", "ag1", 100, final_text=f"好的，收件人{name}，已备注{phone}")
    client.get("/v1/shops/s1/analytics/unanswered")
    with client.runtime.store.engine.connect() as conn:
        dump = " ".join(str(conn.execute(text(f"SELECT * FROM {t}")).all())
                        for t in ("suggestion_events", "feedback_events"))
    assert "[电话]" in dump and "[姓名]" in dump and "[地址]" in dump and "[订单号]" in dump
    for raw in (phone, order, name, "文三路"):
        assert raw not in dump
