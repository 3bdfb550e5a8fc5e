"""The capacity model's logic against closed forms and against real LRU caches (eval/bench/capacity.py)."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest

from eval.bench.capacity import (
    Inputs,
    Workload,
    che_hit_rate,
    cluster_hit_rate,
    format_table,
    measured_inputs,
    plan,
    scaling_table,
    simulate_lru,
    upload_cpu_s_per_s,
    zipf_bins,
)
from tests.conftest import REPO

# One size of shop, no disk misses, no derivation: the cases where the closed forms hold.
FLAT = Inputs(phrasings_median=1000, phrasings_sigma=0, shop_overhead_bytes=0, bytes_per_phrasing=1000,
              disk_budget_bytes=1e18, memory_budget_bytes=100e6, cpu_ms_per_request=5.0, load_ms_fixed=0,
              load_ms_per_phrasing=0.01, max_utilisation=0.5, hash_balance_factor=1.0, derive_ms_fixed=0.0,
              uploads_per_shop_per_day=0.0)
SHOP_BYTES = 1000 * 1000  # 1 MB a shop: a replica holds 100


def test_zipf_bins_are_a_distribution_and_binning_keeps_it():
    p, n = zipf_bins(1000, 1.0)
    assert len(p) == 1000 and np.allclose(n, 1) and math.isclose(p.sum(), 1.0)
    harmonic = sum(1 / k for k in range(1, 1001))
    assert math.isclose(p[0], 1 / harmonic) and math.isclose(p[9], 1 / (10 * harmonic))
    # log-spaced bins over a million shops: the same total and the same head as the exact sum
    exact_p, _ = zipf_bins(1_000_000, 0.9, exact_below=10**9)
    binned_p, counts = zipf_bins(1_000_000, 0.9, exact_below=1000)
    assert counts.sum() == 1_000_000 and len(counts) < 5000
    assert math.isclose(float((binned_p * counts).sum()), 1.0, rel_tol=1e-9)
    assert math.isclose(binned_p[0], exact_p[0], rel_tol=1e-6)
    top = int(np.searchsorted(np.cumsum(counts), 1000))  # the share of the first ~1000 ranks
    assert math.isclose(float((binned_p[:top + 1] * counts[:top + 1]).sum()),
                        float(exact_p[:int(counts[:top + 1].sum())].sum()), rel_tol=1e-6)


def test_uniform_popularity_gives_the_lru_closed_form_capacity_over_shops():
    # IRM with equal rates and sizes: an LRU of C objects out of S hits exactly C / S.
    hit, per = che_hit_rate(np.full(400, 2.0), np.full(400, 1.0), np.ones(400), 100.0)
    assert math.isclose(hit, 0.25, rel_tol=1e-9) and np.allclose(per, 0.25)
    assert che_hit_rate(np.full(10, 1.0), np.full(10, 1.0), np.ones(10), 10.0)[0] == 1.0  # everything fits
    assert che_hit_rate(np.full(10, 1.0), np.full(10, 1.0), np.ones(10), 0.0)[0] == 0.0
    # shops nobody asks for take no room: 5 asked-for shops fit in 5, whatever else exists
    rates = np.array([1.0] * 5 + [0.0] * 5)
    assert che_hit_rate(rates, np.ones(10), np.ones(10), 5.0)[0] == 1.0


@pytest.mark.parametrize("replicas", [1, 2, 4, 8])
def test_hash_routing_pools_the_replicas_memory_and_random_routing_does_not(replicas):
    work = Workload(shops=1000, requests_per_s=1000, zipf_s=0.0)  # uniform: closed forms
    hashed = cluster_hit_rate(work, FLAT, replicas, "hash")["hit_rate"]
    randomly = cluster_hit_rate(work, FLAT, replicas, "random")["hit_rate"]
    assert math.isclose(hashed, min(1.0, replicas * 100 / 1000), rel_tol=1e-6)
    assert math.isclose(randomly, 100 / 1000, rel_tol=1e-6)


@pytest.mark.parametrize("routing", ["hash", "random"])
def test_the_approximation_matches_real_lru_caches_on_zipf_traffic(routing):
    shops, replicas = 2000, 4
    p, _ = zipf_bins(shops, 0.9)
    work = Workload(shops=shops, requests_per_s=1000, zipf_s=0.9)
    predicted = cluster_hit_rate(work, FLAT, replicas, routing)["hit_rate"]
    simulated = simulate_lru(p, [SHOP_BYTES] * shops, FLAT.memory_budget_bytes, 200_000, replicas=replicas,
                             routing=routing, seed=3)
    assert abs(predicted - simulated) < 0.02, (predicted, simulated)


def test_the_cpu_bound_without_misses_is_rate_times_cost_over_utilisation():
    inputs = replace(FLAT, memory_budget_bytes=1e12)  # every shop fits: no cold loads
    result = plan(Workload(shops=100, requests_per_s=1000), inputs)
    # 1000 req/s x 5 ms = 5 busy cores; at 50 % per core: 10 replicas
    assert (result.replicas, result.bound_by, result.hit_rate, result.cold_loads_per_s) == (10, "cpu", 1.0, 0.0)


def test_cold_loads_cost_cpu_and_hash_routing_needs_fewer_replicas_for_them():
    inputs = replace(FLAT, load_ms_per_phrasing=0.2)  # 200 ms a load: misses dominate
    work = Workload(shops=20_000, requests_per_s=1000, zipf_s=0.8)
    hashed, randomly = plan(work, inputs, "hash"), plan(work, inputs, "random")
    assert hashed.replicas < randomly.replicas and hashed.hit_rate > randomly.hit_rate
    for p in (hashed, randomly):  # the answer is the smallest count that keeps up with its own misses
        hit = cluster_hit_rate(work, inputs, p.replicas, p.routing)
        busy = work.requests_per_s * inputs.cpu_ms_per_request / 1000 + hit["cold_cpu_s_per_s"]
        assert busy <= p.replicas * inputs.utilisation
        fewer = cluster_hit_rate(work, inputs, p.replicas - 1, p.routing)
        assert work.requests_per_s * inputs.cpu_ms_per_request / 1000 + fewer["cold_cpu_s_per_s"] > (
            (p.replicas - 1) * inputs.utilisation)


def test_a_hit_rate_target_is_bought_with_replicas_under_hash_routing_only():
    inputs = replace(FLAT, hit_target=0.5)
    work = Workload(shops=1000, requests_per_s=100, zipf_s=0.0)
    hashed = plan(work, inputs, "hash")
    assert (hashed.replicas, hashed.bound_by) == (5, "memory")  # 5 x 100 shops = half of them
    assert plan(work, inputs, "random").bound_by == "unreachable"


def test_a_shop_hotter_than_one_core_is_held_by_several_replicas():
    inputs = replace(FLAT, memory_budget_bytes=1e12)
    work = Workload(shops=10, requests_per_s=10_000, zipf_s=2.0)  # the top shop gets ~61 % = 6,079 req/s
    hit = cluster_hit_rate(work, inputs, 200, "hash")
    per_replica = inputs.utilisation * 1000 / inputs.cpu_ms_per_request  # 100 req/s at 50 % of 5 ms
    p, _ = zipf_bins(10, 2.0)
    copies = sum(math.ceil(r / per_replica) - 1 for r in p * 10_000 if r > per_replica)
    assert hit["hot_copy_bytes"] == pytest.approx(copies * SHOP_BYTES)


def test_misses_beyond_the_disk_are_fetched_from_postgresql_and_derived():
    inputs = replace(FLAT, disk_budget_bytes=200 * 1000 * 2400.0, disk_bytes_per_phrasing=2400.0,
                     derive_ms_per_phrasing=0.5)
    work = Workload(shops=1000, requests_per_s=1000, zipf_s=0.0)
    hit = cluster_hit_rate(work, inputs, 1, "hash")  # memory 100 shops, disk 200 shops
    assert math.isclose(hit["hit_rate"], 0.1, rel_tol=1e-6) and math.isclose(hit["disk_hit_rate"], (0.2 - 0.1) / 0.9,
                                                                             rel_tol=1e-6)
    assert math.isclose(hit["fetches_per_s"], 800.0, rel_tol=1e-6)
    assert math.isclose(hit["fetch_bytes_per_s"], 800 * 1000 * inputs.artifact_bytes_per_phrasing, rel_tol=1e-6)


def test_uploads_cost_their_embedding_and_two_derivations():
    inputs = replace(FLAT, uploads_per_shop_per_day=86_400 / 1000, build_ms_per_phrasing=2.0, derive_ms_fixed=100.0)
    # 1000 shops, each uploading every 1000 s: 1 upload/s of 1000 phrasings = 2 s + 2 x 0.1 s of one core
    assert upload_cpu_s_per_s(Workload(shops=1000, requests_per_s=0.0), inputs) == pytest.approx(2.2)


def test_postgresql_reads_are_a_lookup_per_request_plus_shop_state_per_ttl():
    inputs = replace(FLAT, memory_budget_bytes=1e12, uploads_per_shop_per_day=0.0)
    work = Workload(shops=10, requests_per_s=1000, zipf_s=0.0)  # 100 req/s per shop: each refreshed every TTL
    hashed = plan(work, inputs, "hash").pg
    assert hashed["key_lookups_per_s"] == 1000
    assert hashed["shop_state_lookups_per_s"] == pytest.approx(10 * 3, rel=1e-6)  # 10 shops x 3 lookups / s
    assert hashed["rows_written_per_s"] == 1000  # one analytics row per request
    randomly = plan(work, inputs, "random")
    assert randomly.pg["shop_state_lookups_per_s"] == pytest.approx(randomly.replicas * 10 * 3, rel=0.05)


def test_measured_inputs_come_from_the_benchmark_reports(tmp_path):
    report = {"config": {"entries": 500, "phrasings": 4}, "memory": {"idle": {"rss_mib": 200.0}},
              "phases": [{"target": "cold", "concurrency": 1, "throughput": 30.0, "server_ms": {"mean": 30.0},
                          "cache": {"miss": 100, "evict": 0}, "memory": {"rss_mib": 200.0 + 1000.0}},
                         {"target": "warm", "concurrency": 1, "throughput": 150.0, "server_ms": {"mean": 6.0}},
                         {"target": "warm", "concurrency": 16, "throughput": 200.0, "server_ms": {"mean": 40.0}}]}
    (tmp_path / "many-shops.json").write_text(json.dumps(report), "utf-8")
    inputs = measured_inputs(tmp_path)
    assert inputs.cpu_ms_per_request == 5.0  # 1000 / 200 req/s
    assert inputs.bytes_per_phrasing == round(1000 * 2**20 / 100 / 2000)
    assert inputs.load_ms_per_phrasing == pytest.approx((30 - 6 - inputs.load_ms_fixed) / 2000)
    assert set(inputs.source) >= {"cpu_ms_per_request", "bytes_per_phrasing", "load_ms_per_phrasing"}
    (tmp_path / "report.json").write_text(json.dumps({"build": {"phrasings": 20000, "phrasings_per_s": 500.0}}))
    assert measured_inputs(tmp_path).build_ms_per_phrasing == 2.0
    assert measured_inputs(tmp_path / "none") == Inputs()  # nothing measured: the stated defaults
    first = [{"phrasings": 200, "first_load_ms": 1010.0, "disk_load_ms": 8.0},
             {"phrasings": 2000, "first_load_ms": 1100.0, "disk_load_ms": 26.0}]
    (tmp_path / "cluster.json").write_text(json.dumps({"cluster_cache": {"first_load": first}}), "utf-8")
    derived = measured_inputs(tmp_path)
    # derive = first - disk: 1002 ms at 200 phrasings, 1074 at 2000 → 0.04 ms per phrasing + 994 ms
    assert derived.derive_ms_per_phrasing == pytest.approx(0.04) and derived.derive_ms_fixed == pytest.approx(994.0)


def test_the_table_covers_every_size_and_rate_and_the_repo_reports_feed_it():
    inputs = measured_inputs(REPO / "docs" / "bench")
    rows = scaling_table(inputs, shops=(10_000, 100_000), rates=(1_000, 10_000))
    text = format_table(rows)
    assert len(rows) == 4 and text.count("\n") == 5 and "| 100,000 | 10,000 |" in text
    assert all(r["hash"]["replicas"] <= r["random"]["replicas"] for r in rows)
