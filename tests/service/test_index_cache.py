"""Loaded shop indexes are evicted least-recently-used beyond the memory budget, with metrics."""

from __future__ import annotations

from fastapi.testclient import TestClient

from service.app import create_app
from service.config import Settings
from service.pipeline import SuggestRequest, build_pipeline
from service.runtime import Runtime
from tests.conftest import OPERATOR_HEADERS, OPERATOR_KEY

FAQ = "编号,标准问题,相似问题,答案\nA,包邮吗,免运费吗|邮费多少,全场包邮\nB,什么时候发货,几天发货,48小时内发货\n"


def test_lru_eviction_under_a_memory_budget(tmp_path, fake_encoder):
    runtime = Runtime(Settings(operator_key=OPERATOR_KEY, data_dir=tmp_path, index_memory_budget_bytes=1), encoder=fake_encoder)
    with TestClient(create_app(runtime=runtime), headers=OPERATOR_HEADERS) as client:
        for shop in ("s1", "s2", "s3"):
            client.post(f"/v1/shops/{shop}/kb", files={"file": ("faq.csv", FAQ.encode(), "text/csv")})
        one = runtime.suggester.kb("s1").nbytes
        # phrasings (5) x dim (64) x 4 bytes of vectors, plus texts
        assert one >= 5 * fake_encoder.dim * 4
        runtime.suggester.shops.memory_budget = 2 * one + 10  # room for two shops
        for shop in ("s1", "s2", "s1", "s3"):
            assert client.post(f"/v1/shops/{shop}/suggestions", json={"message": "包邮吗"}).status_code == 200
        assert runtime.suggester.shops.loaded_shops() == ["s1", "s3"]  # s2 was the least recently used
        assert 'smartreply_index_cache_total{result="miss"} 3.0' in client.get("/metrics").text
        assert runtime.suggester.shops.cache_bytes <= runtime.suggester.shops.memory_budget
        metrics = client.get("/metrics").text
        assert "smartreply_index_cache_evictions_total 1.0" in metrics  # s2, when s3 came
        assert 'smartreply_index_cache_total{result="hit"}' in metrics
        assert "smartreply_index_cache_shops 2.0" in metrics
        # an evicted shop is loaded again on demand
        assert client.post("/v1/shops/s2/suggestions", json={"message": "包邮吗"}).json()["kb_version"] == 1


def test_concurrent_requests_over_more_shops_than_fit_stay_correct(tmp_path, fake_encoder):
    """16 threads ask for 8 shops under a budget of 2, so shops are loaded and evicted while others are
    read: every answer comes from the shop asked, and the LRU's accounting stays exact."""
    from concurrent.futures import ThreadPoolExecutor

    from knowledge_base.importer import import_kb_file

    runtime = Runtime(Settings(data_dir=tmp_path, index_memory_budget_bytes=1), encoder=fake_encoder)
    shops = [f"s{i}" for i in range(8)]
    for i, shop in enumerate(shops):
        faq = f"编号,标准问题,相似问题,答案\nA,包邮吗,免运费吗|邮费多少,{shop}全场包邮\nB,什么时候发货,几天发货,{i}天内发货\n"
        import_kb_file(runtime.store, runtime.settings.index_dir, fake_encoder, shop, "faq.csv", faq.encode())
    events = []
    suggester = build_pipeline(runtime.settings, runtime.store, runtime.encoder, parts=runtime.pipeline_parts,
                               memory_budget=1, on_cache_event=lambda event, **info: events.append(event))
    suggester.shops.memory_budget = 2 * suggester.kb("s0").nbytes + 10
    events.clear()

    def ask(n: int) -> tuple[str, str]:
        shop = shops[(n * 7) % len(shops)]
        return shop, suggester.suggest(SuggestRequest(shop, "邮费多少钱")).suggestions[0].answer

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(ask, range(400)))
    assert all(answer == f"{shop}全场包邮" for shop, answer in answers)
    assert len(suggester.shops.loaded_shops()) <= 2 and suggester.shops.cache_bytes <= suggester.shops.memory_budget
    assert events.count("hit") + events.count("miss") == 400 and events.count("miss") >= 8
    # Every shop loaded (s0 before, each miss since) is either still held or was evicted exactly once.
    assert events.count("evict") == 1 + events.count("miss") - len(suggester.shops.loaded_shops())
