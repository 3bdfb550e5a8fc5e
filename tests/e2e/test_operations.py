"""Operations through real `smartreply serve` processes: PII never reaches the logs or the database,
JSON request logs with request ids, /metrics, graceful shutdown; two replicas sharing PostgreSQL."""

from __future__ import annotations

import json
import re
import sqlite3
import time

import httpx
import pytest
from sqlalchemy import create_engine, inspect, text

from tests.conftest import DEMO_FAQ, postgres_dsn_or_skip, fresh_postgres_database
from tests.e2e.server import OPERATOR_HEADERS, start_server

# A first suggestion fits the shop's ranker (~1 s alone, several on a loaded machine): more than
# httpx's default 5 s may pass before it answers.
HTTP = httpx.Client(timeout=60.0)

pytestmark = pytest.mark.slow

PHONE, SPACED_PHONE, ORDER, NAME, STREET = "13912345678", "139 8765 4321", "3300112233445566", "赵小燕", "文三路"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def upload(base: str, shop: str) -> dict:
    with open(DEMO_FAQ, "rb") as fh:
        r = HTTP.post(f"{base}/v1/shops/{shop}/kb", files={"file": (DEMO_FAQ.name, fh, "text/csv")},
                       headers=OPERATOR_HEADERS, timeout=120)
    assert r.status_code == 201, r.text
    return r.json()


def test_pii_is_masked_in_logs_and_database_and_metrics_are_exported(tmp_path, real_encoder):
    server = start_server(tmp_path, env={"SMARTREPLY_LOG_LEVEL": "DEBUG"})
    try:
        base = server.base
        upload(base, "shop-p")
        agent = HTTP.post(f"{base}/v1/shops/shop-p/keys", json={"scopes": ["agent"]}, headers=OPERATOR_HEADERS).json()
        h = bearer(agent["key"])
        messages = [f"我的电话是{PHONE}，什么时候发货", f"收件人{NAME}，电话 {SPACED_PHONE}",
                    f"订单{ORDER}能改地址吗，改到浙江省杭州市西湖区{STREET}100号3栋501室", "可以开发票吗"]
        ids = []
        for m in messages:
            r = HTTP.post(f"{base}/v1/shops/shop-p/suggestions", json={"message": m}, headers=h)
            assert r.status_code == 200 and r.headers["x-request-id"] == r.json()["request_id"]
            ids.append(r.json()["request_id"])
        r = HTTP.post(f"{base}/v1/shops/shop-p/feedback", headers=h, json={
            "request_id": ids[0], "action": "edited", "suggestion_rank": 1, "agent_id": "ag-7",
            "final_text": f"亲，已备注联系人{NAME} {PHONE}", "time_to_reply_ms": 5300})
        assert r.status_code == 201
        # a request that fails validation (the message is echoed nowhere)
        assert HTTP.post(f"{base}/v1/shops/shop-p/suggestions", json={"message": f"{PHONE}", "top_k": 0},
                          headers=h).status_code == 422
        assert HTTP.get(f"{base}/v1/shops/shop-p/analytics/unanswered", headers=OPERATOR_HEADERS).status_code == 200

        metrics = HTTP.get(f"{base}/metrics").text
        assert 'smartreply_http_requests_total{method="POST",route="/v1/shops/{shop_id}/suggestions",status="200"} 4.0' in metrics
        assert 'smartreply_http_request_duration_seconds_bucket{le="0.05",method="POST",route="/v1/shops/{shop_id}/suggestions"}' in metrics
        counted = re.search(r"^smartreply_suggestion_confidence_count (\S+)$", metrics, re.M)
        assert counted and 1 <= float(counted.group(1)) <= 4  # requests that had a suggestion
        assert 'smartreply_index_cache_total{result="miss"} 1.0' in metrics
        assert 'smartreply_index_cache_total{result="hit"} 3.0' in metrics
        assert 'smartreply_index_builds_total{outcome="ok"} 1.0' in metrics
        batched = re.search(r"^smartreply_encoder_batch_requests_sum (\S+)$", metrics, re.M)
        assert batched and float(batched.group(1)) >= 4  # every suggestion went through the micro-batcher
        frozen = re.search(r"^smartreply_gc_frozen_objects (\S+)$", metrics, re.M)
        assert frozen and float(frozen.group(1)) > 10_000  # start-up objects are out of the collector's walks
        assert 'python_gc_collections_total{generation="2"}' in metrics
    finally:
        server.stop()  # SIGTERM: graceful shutdown
    log = server.log_path.read_text("utf-8")
    assert "Finished server process" in log or "Shutting down" in log
    requests = [json.loads(line) for line in log.splitlines() if line.startswith("{") and '"request"' in line]
    suggest_lines = [r for r in requests if r["route"] == "/v1/shops/{shop_id}/suggestions"]
    assert [r["request_id"] for r in suggest_lines[:4]] == ids
    assert all(r["shop"] == "shop-p" and r["status"] == 200 and r["latency_ms"] > 0 for r in suggest_lines[:4])
    db = sqlite3.connect(tmp_path / "smartreply.db")
    tables = [t for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    dump = " ".join(str(db.execute(f'SELECT * FROM "{t}"').fetchall()) for t in tables)
    assert "[电话]" in dump and "[姓名]" in dump and "[订单号]" in dump and "[地址]" in dump
    for raw in (PHONE, SPACED_PHONE, SPACED_PHONE.replace(" ", ""), ORDER, NAME, STREET):
        assert raw not in log, f"{raw} leaked into the log"
        assert raw not in dump, f"{raw} leaked into the database"


def test_two_replicas_share_only_postgres(tmp_path, real_encoder):
    """An upload through one replica is served by the other within seconds, from its own data folder (the
    index files come from the database); keys and revocations too."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with fresh_postgres_database(postgres_dsn_or_skip()) as url:
        env = {"SMARTREPLY_DATABASE_URL": url, "SMARTREPLY_ACTIVE_VERSION_TTL": "1"}
        a = start_server(tmp_path / "a", env=env)
        try:
            b = start_server(tmp_path / "b", env=env)
            try:
                admin = HTTP.post(f"{a.base}/v1/shops/multi/keys", json={"scopes": ["admin"]},
                                   headers=OPERATOR_HEADERS).json()
                h = bearer(admin["key"])
                # before any upload, replica B has nothing to serve (the shop exists: 409 no_active_kb)
                r = HTTP.post(f"{b.base}/v1/shops/multi/suggestions", json={"message": "可以开发票吗"}, headers=h)
                assert r.status_code == 409 and r.json()["error"]["code"] == "no_active_kb"
                with open(DEMO_FAQ, "rb") as fh:
                    r = HTTP.post(f"{a.base}/v1/shops/multi/kb", files={"file": (DEMO_FAQ.name, fh)}, headers=h,
                                   timeout=120)
                assert r.status_code == 201 and r.json()["version"] == 1
                uploaded = time.monotonic()
                # B sees the new active version within active_version_ttl; its first load fetches the index
                # from the database and fits the reranker (seconds on a busy machine)
                while True:
                    r = HTTP.post(f"{b.base}/v1/shops/multi/suggestions", json={"message": "可以开发票吗"},
                                  headers=h)
                    if r.status_code == 200:
                        break
                    assert time.monotonic() - uploaded < 30, r.text
                    time.sleep(0.1)
                assert r.json()["kb_version"] == 1 and r.json()["suggestions"][0]["category"] == "发票"
                # an edit through B is served by A
                r = HTTP.post(f"{b.base}/v1/shops/multi/kb/entries", headers=h, json={
                    "question": "你们支持花呗分期吗", "answers": ["支持花呗分期付款哦"], "category": "支付"})
                assert r.status_code == 201 and r.json()["version"] == 2
                deadline = time.monotonic() + 30
                while True:
                    body = HTTP.post(f"{a.base}/v1/shops/multi/suggestions", json={"message": "能用花呗分期吗"},
                                      headers=h).json()
                    if body["kb_version"] == 2:
                        break
                    assert time.monotonic() < deadline
                    time.sleep(0.1)
                assert body["suggestions"][0]["answer"] == "支持花呗分期付款哦"
                # feedback recorded on A for a request served by B
                rid = HTTP.post(f"{b.base}/v1/shops/multi/suggestions", json={"message": "可以开发票吗"},
                                 headers=h).json()["request_id"]
                fb = {"request_id": rid, "action": "accepted", "suggestion_rank": 1, "agent_id": "x"}
                deadline = time.monotonic() + 5
                while (r := HTTP.post(f"{a.base}/v1/shops/multi/feedback", json=fb, headers=h)).status_code == 404:
                    assert time.monotonic() < deadline  # B writes analytics within its flush interval
                    time.sleep(0.1)
                assert r.status_code == 201
                # a key revoked through B is refused by A at once
                HTTP.delete(f"{b.base}/v1/shops/multi/keys/{admin['id']}", headers=h)
                assert HTTP.get(f"{a.base}/v1/shops/multi/kb/versions", headers=h).status_code == 401
            finally:
                b.stop()
        finally:
            a.stop()
        engine = create_engine(url)
        try:
            assert "alembic_version" in inspect(engine).get_table_names()
            with engine.connect() as conn:
                versions = conn.execute(text("SELECT version, status FROM kb_versions ORDER BY version")).all()
            assert [tuple(v) for v in versions] == [(1, "ready"), (2, "ready")]
        finally:
            engine.dispose()
