"""The HTTP API through the real app (in process), with the fast fake encoder."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from knowledge_base.index import index_dir
from knowledge_base.tables import kb_artifact_chunks
from service.app import create_app
from tests.conftest import OPERATOR_HEADERS, OPERATOR_KEY
from service.config import Settings
from service.runtime import Runtime

GOOD = "编号,标准问题,相似问题,答案,分类\nA,包邮吗,免运费吗|邮费多少,全场包邮,运费\nB,什么时候发货,几天发货,48小时内发货,发货时间\n"


@pytest.fixture
def client(tmp_path, fake_encoder, database_url):
    runtime = Runtime(Settings(operator_key=OPERATOR_KEY, data_dir=tmp_path, database_url=database_url, max_upload_bytes=4096, max_top_k=5, max_message_chars=50), encoder=fake_encoder)  # same seam as the real encoder
    with TestClient(create_app(runtime=runtime), headers=OPERATOR_HEADERS) as c:
        yield c


def upload(client, text: str, name: str = "faq.csv", shop: str = "s1"):
    return client.post(f"/v1/shops/{shop}/kb", files={"file": (name, text.encode(), "text/csv")})


def test_upload_then_suggest(client):
    r = upload(client, GOOD)
    assert r.status_code == 201
    body = r.json()
    assert {k: body[k] for k in ("shop_id", "version", "active", "entries", "enabled_entries", "phrasings")} == {
        "shop_id": "s1", "version": 1, "active": True, "entries": 2, "enabled_entries": 2, "phrasings": 5}
    r = client.post("/v1/shops/s1/suggestions", json={"message": "邮费多少钱", "top_k": 2})
    assert r.status_code == 200
    body = r.json()
    assert body["kb_version"] == 1 and len(body["request_id"]) == 32
    first = body["suggestions"][0]
    assert {k: first[k] for k in ("entry_id", "question", "matched_question", "answer", "category", "source",
                                  "variables_missing")} == {
        "entry_id": "A", "question": "包邮吗", "matched_question": "邮费多少", "answer": "全场包邮",
        "category": "运费", "source": "kb", "variables_missing": []}
    assert 0.1 <= first["confidence"] <= 1 and set(first["features"]) >= {"dense_max", "centroid", "lexical"}
    assert all(s["confidence"] <= first["confidence"] for s in body["suggestions"])
    assert body["abstained"] is False and body["blocked"] == []
    assert set(body["timings_ms"]) == {"load", "encode", "search", "rank", "decide", "total"}


def test_new_upload_replaces_what_is_served(client):
    upload(client, GOOD)
    upload(client, GOOD.replace("全场包邮", "满59包邮"))
    body = client.post("/v1/shops/s1/suggestions", json={"message": "包邮吗"}).json()
    assert body["kb_version"] == 2 and body["suggestions"][0]["answer"] == "满59包邮"
    versions = client.get("/v1/shops/s1/kb/versions").json()
    assert versions["active_version"] == 2
    assert [(v["version"], v["active"], v["status"]) for v in versions["data"]] == [(1, False, "ready"), (2, True, "ready")]


def test_invalid_upload_lists_every_problem_and_changes_nothing(client):
    upload(client, GOOD)
    r = upload(client, "标准问题,答案,备注\n包邮吗,,x\n,有\n")
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["code"] == "upload_invalid"
    assert "2 problem(s)" in error["message"] and "nothing was imported" in error["message"]
    assert [(d["row"], d["column"], d["severity"]) for d in error["details"]] == [
        (1, "备注", "warning"), (2, "答案", "error"), (3, "标准问题", "error")]
    assert client.post("/v1/shops/s1/suggestions", json={"message": "包邮吗"}).json()["kb_version"] == 1


@pytest.mark.parametrize(("request_kwargs", "status", "code"), [
    ({"files": {"file": ("faq.doc", b"x", "application/msword")}}, 400, "upload_unreadable"),
    ({"files": {"file": ("faq.csv", b"a" * 5000, "text/csv")}}, 413, "upload_too_large"),
    ({"data": {"x": "1"}}, 422, "invalid_request"),
])
def test_upload_errors_are_json_with_a_code(client, request_kwargs, status, code):
    r = client.post("/v1/shops/s1/kb", **request_kwargs)
    assert r.status_code == status
    assert r.json()["error"]["code"] == code
    assert r.json()["error"]["message"]


@pytest.mark.parametrize(("shop", "body", "status", "code", "message"), [
    ("nobody", {"message": "在吗"}, 404, "shop_not_found", "shop 'nobody' does not exist"),
    ("s1", {"message": ""}, 422, "invalid_request", "body.message"),
    ("s1", {"message": "在吗", "top_k": 0}, 422, "invalid_request", "body.top_k"),
    ("s1", {"message": "在吗", "top_k": 6}, 422, "invalid_request", "top_k: at most 5"),
    ("s1", {"message": "长" * 51}, 422, "invalid_request", "longer than 50 characters"),
    ("bad%20shop", {"message": "在吗"}, 422, "invalid_request", "path.shop_id"),
])
def test_suggestion_errors(client, shop, body, status, code, message):
    upload(client, GOOD)
    r = client.post(f"/v1/shops/{shop}/suggestions", json=body)
    assert r.status_code == status
    error = r.json()["error"]
    assert error["code"] == code and message in error["message"]


def test_why_a_field_is_invalid_in_the_readers_language(client):
    upload(client, GOOD)
    bad = {"message": "在吗", "top_k": "三", "test": 1}
    zh = client.post("/v1/shops/s1/suggestions", json=bad, headers={"Accept-Language": "zh-CN"}).json()["error"]
    en = client.post("/v1/shops/s1/suggestions", json=bad).json()["error"]
    reasons = {d["field"]: d["reason"] for d in zh["details"]}
    assert reasons["body.top_k"] == "应为整数" and reasons["body.test"] == "应为 true 或 false"
    assert {d["field"]: d["reason"] for d in en["details"]}["body.top_k"] == "must be an integer"
    assert zh["message"].startswith("body.") and "：" in zh["message"]
    assert {d["reason_code"] for d in zh["details"]} == {"invalid.int_type", "invalid.bool_type"}
    r = client.post("/v1/shops/s1/feedback", json={"request_id": "x", "action": "maybe", "agent_id": "a"},
                    headers={"Accept-Language": "zh"})
    action = next(d for d in r.json()["error"]["details"] if d["field"] == "body.action")
    assert action["reason"].startswith("只能是") and "accepted" in action["reason"]
    r = client.post("/v1/shops/s1/suggestions", json={}, headers={"Accept-Language": "zh"})
    assert r.json()["error"]["details"][0] == {"field": "body.message", "reason": "必填",
                                               "reason_code": "invalid.missing", "params": {}}


def test_a_validation_type_without_a_template_keeps_pydantics_sentence():
    from service.api.errors import validation_reason

    reason = validation_reason({"type": "uuid_parsing", "msg": "Input should be a valid UUID"})
    assert reason.text("zh") == "取值无效：Input should be a valid UUID"
    assert reason.text("en") == "Input should be a valid UUID"
    assert validation_reason({"type": "less_than_equal", "ctx": {"le": 5}}).text("zh") == "应不大于 5"


def test_a_route_gets_the_pipeline_through_its_dependency(client):
    """The hit test asks for the pipeline (``deps.get_suggester``), not the composition root: a pipeline
    put in its place with ``dependency_overrides`` answers, with its own limits, checked by the pipeline."""
    from service.api import deps
    from service.pipeline import build_pipeline

    upload(client, GOOD)
    runtime = client.app.state.runtime
    assert client.post("/v1/shops/s1/hit-test", json={"message": "包邮吗", "top_k": 3}).status_code == 200
    strict = build_pipeline(runtime.settings.model_copy(update={"max_top_k": 2}), runtime.store, runtime.encoder,
                            parts=runtime.pipeline_parts)
    client.app.dependency_overrides[deps.get_suggester] = lambda: strict
    try:
        r = client.post("/v1/shops/s1/hit-test", json={"message": "包邮吗", "top_k": 3})
        assert r.status_code == 422 and "top_k: at most 2" in r.json()["error"]["message"]
        r = client.post("/v1/shops/s1/hit-test", json={"message": "包邮吗", "top_k": 2})
        assert r.status_code == 200 and r.json()["ranking"][0]["entry_id"] == "A"
    finally:
        client.app.dependency_overrides.clear()


def test_health_and_openapi(client):
    assert client.get("/healthz").json() == {"status": "ok", "encoder": "fake-char-ngram",
                                             "encoder_backend": "onnx", "dim": 64}
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/healthz", "/v1/shops/{shop_id}/kb", "/v1/shops/{shop_id}/suggestions"} <= set(paths)
    assert client.get("/docs").status_code == 200
    assert client.get("/nope").json()["error"]["code"] == "not_found"


def test_compliance_check_of_a_draft(client):
    r = client.post("/v1/compliance/check", json={"text": "亲，加 V 138 1234 5678 私聊更便宜"},
                    headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert r.status_code == 200
    body = r.json()
    assert body["allowed"] is False
    assert [(v["kind"], v["matched"]) for v in body["violations"]] == [
        ("wechat", "加 V"), ("phone", "138 1234 5678"), ("off_platform", "私聊")]
    assert "微信" in body["reason"] and "电话" in body["reason"]
    en = client.post("/v1/compliance/check", json={"text": "亲，加 V 138 1234 5678 私聊更便宜"}).json()
    assert en["reason"] == ("contains a WeChat/VX handle or similar off-platform contact; contains a phone number "
                            "(the platform forbids off-platform contact details); invites private or off-platform trading")
    ok = client.post("/v1/compliance/check", json={"text": "亲，48小时内发货哦"}).json()
    assert ok == {"allowed": True, "reason": "", "violations": []}


def test_a_damaged_index_answers_503_with_what_to_do(tmp_path, fake_encoder, database_url):
    def app_client():
        runtime = Runtime(Settings(operator_key=OPERATOR_KEY, data_dir=tmp_path, database_url=database_url), encoder=fake_encoder)
        return TestClient(create_app(runtime=runtime), headers=OPERATOR_HEADERS)

    with app_client() as client:
        assert upload(client, GOOD).status_code == 201
        store = client.app.state.runtime.store
        index_file = index_dir(client.app.state.runtime.index_root, "s1", 1) / "index.faiss"
        if store.keeps_artifacts:  # the database's copy would heal the local file: damage that one
            with store.engine.begin() as conn:
                conn.execute(update(kb_artifact_chunks).where(kb_artifact_chunks.c.name == "index.faiss")
                             .values(data=b"\x00" * 16))
    index_file.write_bytes(b"\x00" * 16)
    with app_client() as client:  # a restarted process finds the file damaged
        r = client.post("/v1/shops/s1/suggestions", json={"message": "邮费多少钱"})
    assert r.status_code == 503
    error = r.json()["error"]
    assert error["code"] == "index_damaged" and "index.faiss" in error["message"]
    assert "smartreply kb activate" in error["message"]


def test_on_postgresql_a_replica_fetches_a_missing_or_damaged_index_from_the_database(tmp_path, fake_encoder,
                                                                                      postgres_url):
    def replica(name: str) -> TestClient:
        runtime = Runtime(Settings(operator_key=OPERATOR_KEY, data_dir=tmp_path / name, database_url=postgres_url), encoder=fake_encoder)
        return TestClient(create_app(runtime=runtime), headers=OPERATOR_HEADERS)

    with replica("a") as a:
        assert upload(a, GOOD).status_code == 201
    assert (tmp_path / "a" / "index-cache" / fake_encoder.model_id / "s1" / "v000001" / "index.faiss").is_file()
    with replica("b") as b:  # an empty disk
        assert b.post("/v1/shops/s1/suggestions", json={"message": "邮费多少钱"}).json()["kb_version"] == 1
        metrics = b.get("/metrics").text
        assert 'smartreply_index_fetches_total{reason="missing"} 3.0' in metrics
        assert "smartreply_index_load_duration_seconds_count 1.0" in metrics
    cached = tmp_path / "b" / "index-cache" / fake_encoder.model_id / "s1" / "v000001" / "index.faiss"
    cached.write_bytes(cached.read_bytes()[:-4] + b"\x00\x00\x80\x7f")  # one float becomes +inf
    with replica("b") as b:
        assert b.post("/v1/shops/s1/suggestions", json={"message": "邮费多少钱"}).status_code == 200
        assert 'smartreply_index_fetches_total{reason="damaged"} 1.0' in b.get("/metrics").text
