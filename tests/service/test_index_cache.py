"""Loaded shop indexes are evicted least-recently-used beyond the memory budget, with metrics."""

from __future__ import annotations

from fastapi.testclient import TestClient

from service.app import create_app
from service.config import Settings
from service.runtime import Runtime
from tests.conftest import OPERATOR_HEADERS, OPERATOR_KEY

FAQ = "编号,标准问题,相似问题,答案\nA,包邮吗,免运费吗|邮费多少,全场包邮\nB,什么时候发货,几天发货,48小时内发货\n"


def test_lru_eviction_under_a_memory_budget(tmp_path, fake_encoder):
    runtime = Runtime(Settings(operator_key=OPERATOR_KEY, data_dir=tmp_path, index_memory_budget_bytes=1))
    runtime.encoder = fake_encoder
    with TestClient(create_app(runtime=runtime), headers=OPERATOR_HEADERS) as client:
        for shop in ("s1", "s2", "s3"):
            client.post(f"/v1/shops/{shop}/kb", files={"file": ("faq.csv", FAQ.encode(), "text/csv")})
        one = runtime.suggester.kb("s1").nbytes
        # phrasings (5) x dim (64) x 4 bytes of vectors, plus texts
        assert one >= 5 * fake_encoder.dim * 4
        runtime.suggester.memory_budget = 2 * one + 10  # room for two shops
        for shop in ("s1", "s2", "s1", "s3"):
            assert client.post(f"/v1/shops/{shop}/suggestions", json={"message": "包邮吗"}).status_code == 200
        assert runtime.suggester.loaded_shops() == ["s1", "s3"]  # s2 was the least recently used
        assert 'smartreply_index_cache_total{result="miss"} 3.0' in client.get("/metrics").text
        assert runtime.suggester.cache_bytes <= runtime.suggester.memory_budget
        metrics = client.get("/metrics").text
        assert "smartreply_index_cache_evictions_total 1.0" in metrics  # s2, when s3 came
        assert 'smartreply_index_cache_total{result="hit"}' in metrics
        assert "smartreply_index_cache_shops 2.0" in metrics
        # an evicted shop is loaded again on demand
        assert client.post("/v1/shops/s2/suggestions", json={"message": "包邮吗"}).json()["kb_version"] == 1
