"""The many-shops benchmark end to end with tiny numbers: real build, real server, real LRU; no timed asserts."""

from __future__ import annotations

import random

import pytest

from eval.bench.many_shops import ManyShopsConfig, format_many_shops, run_many_shops, zipf_shops

pytestmark = pytest.mark.slow


def test_zipf_traffic_favours_the_first_shops():
    picks = zipf_shops(100, 5000, 1.1, random.Random(0))
    assert picks.count(0) > picks.count(1) > picks.count(10) and set(picks) <= set(range(100))


def test_a_tiny_run_builds_once_and_reports_cold_warm_and_mixed(tmp_path, real_encoder):
    # 6 shops of 20 entries (~0.5 MB each with the reranker) under a 2 MiB budget: evictions must happen,
    # and the two hot shops fit.
    cfg = ManyShopsConfig(shops=6, entries=20, memory_budget_mib=2, hot_shops=2, requests=30, seconds=30,
                          build_processes=2, work_dir=tmp_path)
    report = run_many_shops(cfg)
    assert report["build"] == {**report["build"], "shops": 6, "built": 6, "reused": 0}
    phases = [(p["target"], p["concurrency"]) for p in report["phases"]]
    assert phases == [("cold", 1), ("warm", 1), ("warm", 16), ("mixed", 16)]
    cold, warm1, warm16, mixed = report["phases"]
    for p in report["phases"]:
        assert p["errors"] == 0 and p["ok"] == p["sent"], p["error_samples"]
        assert p["memory"]["rss_mib"] > 0 and p["memory"]["peak_rss_mib"] >= p["memory"]["rss_mib"] * 0.9
    assert cold["ok"] == 6 and cold["cache"]["miss"] == 6 and cold["cache"]["hit"] == 0
    assert cold["cache"]["evict"] >= 1  # the budget holds fewer than 6 shops
    assert warm1["cache"]["miss"] == warm16["cache"]["miss"] == 0  # two hot shops fit the budget
    assert mixed["cache"]["hit"] + mixed["cache"]["miss"] == mixed["ok"]
    assert "| cold | 1 | 6 | 0 |" in format_many_shops(report)

    again = run_many_shops(ManyShopsConfig(shops=6, entries=20, memory_budget_mib=2, hot_shops=2, requests=10,
                                           seconds=30, work_dir=tmp_path))
    assert (again["build"]["built"], again["build"]["reused"]) == (0, 6)
