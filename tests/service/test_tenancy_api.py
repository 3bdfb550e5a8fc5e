"""Tenancy and security through the real app (in process): keys and scopes, the tenant boundary on every
route, limits, rate limiting, validation bodies."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.config import Settings
from service.runtime import Runtime
from tests.conftest import OPERATOR_HEADERS, OPERATOR_KEY

SECRET_A = "秘密答案只属于甲店"
FAQ_A = f"编号,标准问题,相似问题,答案,分类\nA1,甲店包邮吗,免运费吗|邮费多少,{SECRET_A},运费\nA2,甲店什么时候发货,几天发货,甲店48小时内发货,发货时间\n"
FAQ_B = "编号,标准问题,相似问题,答案,分类\nB1,乙店包邮吗,免运费吗,乙店全场包邮,运费\n"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def all_routes(app):
    """Every route of the app, also inside included routers (FastAPI ≥ 0.16x wraps them)."""
    for route in app.routes:
        if hasattr(route, "effective_route_contexts"):
            yield from route.effective_route_contexts()
        else:
            yield route


@pytest.fixture
def world(tmp_path, fake_encoder, database_url):
    """Two shops with a KB, quick phrases, rules, a suggestion and feedback each; keys of each scope."""
    runtime = Runtime(Settings(operator_key=OPERATOR_KEY, data_dir=tmp_path, database_url=database_url,
                               rate_limit_per_second=0), encoder=fake_encoder)
    with TestClient(create_app(runtime=runtime)) as client:
        op = OPERATOR_HEADERS
        keys = {}
        for shop, faq in (("shop-a", FAQ_A), ("shop-b", FAQ_B)):
            assert client.post("/v1/shops", json={"id": shop, "name": f"{shop} 店"}, headers=op).status_code == 201
            admin = client.post(f"/v1/shops/{shop}/keys", json={"scopes": ["admin"], "name": "boss"}, headers=op)
            assert admin.status_code == 201, admin.text
            admin_key = admin.json()["key"]
            agent = client.post(f"/v1/shops/{shop}/keys", json={"scopes": ["agent"]}, headers=bearer(admin_key))
            assert agent.status_code == 201
            keys[shop] = {"admin": admin_key, "agent": agent.json()["key"], "agent_id": agent.json()["id"]}
            r = client.post(f"/v1/shops/{shop}/kb", files={"file": ("faq.csv", faq.encode(), "text/csv")},
                            headers=bearer(admin_key))
            assert r.status_code == 201, r.text
            client.post(f"/v1/shops/{shop}/quick-phrases", json={"text": f"{shop}的快捷短语{SECRET_A}"},
                        headers=bearer(admin_key))
            s = client.post(f"/v1/shops/{shop}/suggestions", json={"message": "包邮吗"}, headers=bearer(keys[shop]["agent"]))
            assert s.status_code == 200
            keys[shop]["request_id"] = s.json()["request_id"]
        yield client, runtime, keys


def test_scopes_admin_agent_operator(world):
    client, _, keys = world
    a = keys["shop-a"]
    assert client.get("/v1/shops/shop-a/kb/versions", headers=bearer(a["agent"])).status_code == 403
    assert client.get("/v1/shops/shop-a/kb/versions", headers=bearer(a["admin"])).status_code == 200
    assert client.get("/v1/shops/shop-a/kb/versions", headers={"X-API-Key": a["admin"]}).status_code == 200
    # admin includes agent
    assert client.post("/v1/shops/shop-a/suggestions", json={"message": "包邮吗"}, headers=bearer(a["admin"])).status_code == 200
    # only the operator creates shops
    r = client.post("/v1/shops", json={"id": "shop-c"}, headers=bearer(a["admin"]))
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    # no key, a wrong key
    r = client.get("/v1/shops/shop-a/kb/versions")
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    assert r.headers["www-authenticate"] == "Bearer"
    assert client.get("/v1/shops/shop-a/kb/versions", headers=bearer("sr_shop-a_guessed")).status_code == 401
    # shop-less routes still need a key
    assert client.post("/v1/compliance/check", json={"text": "你好"}).status_code == 401
    assert client.post("/v1/compliance/check", json={"text": "你好"}, headers=bearer(a["agent"])).status_code == 200
    assert client.get("/v1/kb/template").status_code == 401
    assert client.get("/healthz").status_code == 200  # liveness stays open


def test_keys_are_shown_once_stored_hashed_and_revocable(world):
    client, runtime, keys = world
    a = keys["shop-a"]
    listed = client.get("/v1/shops/shop-a/keys", headers=bearer(a["admin"])).json()["data"]
    assert len(listed) == 2 and all("key" not in k for k in listed)
    assert all(a["agent"] not in str(k) and a["admin"] not in str(k) for k in listed)
    assert listed[0]["prefix"].startswith("sr_shop-a_")
    from sqlalchemy import text

    with runtime.store.engine.connect() as conn:
        dump = str(conn.execute(text("SELECT * FROM api_keys")).all())
    assert a["agent"] not in dump and a["admin"] not in dump
    r = client.delete(f"/v1/shops/shop-a/keys/{a['agent_id']}", headers=bearer(a["admin"]))
    assert r.status_code == 200 and r.json()["revoked_at"]
    assert client.post("/v1/shops/shop-a/suggestions", json={"message": "包邮吗"},
                       headers=bearer(a["agent"])).status_code == 401
    # another shop's admin cannot revoke (or even see) shop-a's keys
    assert client.delete(f"/v1/shops/shop-a/keys/{a['agent_id']}",
                         headers=bearer(keys["shop-b"]["admin"])).status_code == 403


_FILL = {"version": "1", "entry_id": "A1", "phrase_id": "p1", "rule_id": "r1", "revision": "1", "key_id": "k1",
         "cluster_id": "c1"}


def _requests_for(path: str, method: str):
    url = path.replace("{shop_id}", "shop-a")
    url = re.sub(r"\{(\w+)\}", lambda m: _FILL.get(m.group(1), "x"), url)
    kwargs: dict = {}
    if method in ("POST", "PUT", "PATCH"):
        if url.endswith("/kb") or url.endswith("/import"):
            kwargs["files"] = {"file": ("faq.csv", FAQ_B.encode(), "text/csv")}
        else:
            kwargs["json"] = {"message": "包邮吗", "text": "x", "request_id": "x", "action": "ignored",
                              "agent_id": "x", "scopes": ["admin"], "entry_id": "A1", "answer": "x",
                              "question": "x", "answers": ["x"], "timezone": "Asia/Shanghai"}
    return url, kwargs


def test_every_shop_route_refuses_another_shops_keys(world):
    """Every route with {shop_id} in its path, every method: shop-b's admin and agent keys get 403/404
    on shop-a, and the error body carries none of shop-a's data. New routes are covered automatically."""
    client, _, keys = world
    checked = []
    for route in all_routes(client.app):
        if "{shop_id}" not in route.path:
            continue
        for method in sorted(route.methods - {"HEAD", "OPTIONS"}):
            url, kwargs = _requests_for(route.path, method)
            for scope in ("admin", "agent"):
                r = client.request(method, url, headers=bearer(keys["shop-b"][scope]), **kwargs)
                assert r.status_code in (403, 404), (method, url, scope, r.status_code, r.text)
                assert SECRET_A not in r.text and "甲店" not in r.text and keys["shop-a"]["request_id"] not in r.text
            checked.append((method, route.path))
    print(f"cross-tenant: {len(checked)} route x method pairs checked with 2 foreign keys each")
    assert len(checked) >= 40
    # and the owner's admin key does reach them (the refusals above are the tenant check, not a 404 route)
    assert client.get("/v1/shops/shop-a/kb/entries", headers=bearer(keys["shop-a"]["admin"])).status_code == 200


def test_feedback_for_another_shops_request_is_refused(world):
    client, _, keys = world
    body = {"request_id": keys["shop-a"]["request_id"], "action": "accepted", "suggestion_rank": 1, "agent_id": "b1"}
    assert client.post("/v1/shops/shop-b/feedback", json=body, headers=bearer(keys["shop-b"]["agent"])).status_code == 404
    assert client.post("/v1/shops/shop-a/feedback", json=body, headers=bearer(keys["shop-b"]["agent"])).status_code == 403
    r = client.post("/v1/shops/shop-a/feedback", json=body, headers=bearer(keys["shop-a"]["agent"]))
    assert r.status_code == 201 and r.json()["request_id"] == keys["shop-a"]["request_id"]


def test_rate_limit_429_with_retry_after(tmp_path, fake_encoder):
    runtime = Runtime(Settings(operator_key=OPERATOR_KEY, data_dir=tmp_path, rate_limit_per_second=1,
                               rate_limit_burst=3), encoder=fake_encoder)
    with TestClient(create_app(runtime=runtime), headers=OPERATOR_HEADERS) as client:
        key = client.post("/v1/shops/s1/keys", json={"scopes": ["agent"]}).json()["key"]
        codes = [client.post("/v1/compliance/check", json={"text": "你好"}, headers=bearer(key)).status_code
                 for _ in range(5)]
        assert codes[:2] == [200, 200] and codes[-1] == 429
        r = client.post("/v1/compliance/check", json={"text": "你好"}, headers=bearer(key))
        assert r.status_code == 429 and r.json()["error"]["code"] == "rate_limited"
        assert int(r.headers["retry-after"]) >= 1


def test_limits_and_validation_bodies(tmp_path, fake_encoder):
    runtime = Runtime(Settings(operator_key=OPERATOR_KEY, data_dir=tmp_path, max_body_bytes=2048,
                               max_upload_bytes=4096, max_top_k=5, max_message_chars=50), encoder=fake_encoder)
    with TestClient(create_app(runtime=runtime), headers=OPERATOR_HEADERS) as client:
        client.post("/v1/shops/s1/kb", files={"file": ("faq.csv", FAQ_B.encode(), "text/csv")})
        r = client.post("/v1/shops/s1/suggestions", json={"message": "包" * 3000})
        assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"
        r = client.post("/v1/shops/s1/kb", files={"file": ("big.csv", b"x" * 200_000, "text/csv")})
        assert r.status_code == 413
        r = client.post("/v1/shops/s1/suggestions", json={"message": "包" * 51})
        assert r.status_code == 422 and "50" in r.json()["error"]["message"]
        r = client.post("/v1/shops/s1/suggestions", json={"message": "包邮吗", "top_k": 6})
        assert r.status_code == 422 and r.json()["error"]["message"] == "top_k: at most 5"
        r = client.post("/v1/shops/s1/feedback", json={"request_id": "x", "action": "maybe", "agent_id": "a"})
        assert r.status_code == 422
        assert r.json()["error"]["details"][0]["field"] == "body.action"
        r = client.post("/v1/shops/s1/keys", json={"scopes": ["operator"]})
        assert r.status_code == 422
        # request ids: echoed when given, generated otherwise
        r = client.post("/v1/shops/s1/suggestions", json={"message": "包邮吗"}, headers={"X-Request-ID": "abc-123"})
        assert r.headers["x-request-id"] == "abc-123" and r.json()["request_id"] == "abc-123"
        assert len(client.get("/healthz").headers["x-request-id"]) == 32


def test_auth_off_is_explicit(tmp_path, fake_encoder):
    runtime = Runtime(Settings(data_dir=tmp_path, auth="off"), encoder=fake_encoder)
    with TestClient(create_app(runtime=runtime)) as client:
        assert client.post("/v1/compliance/check", json={"text": "你好"}).status_code == 200
    assert Settings().auth == "on"
