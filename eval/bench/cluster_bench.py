"""The benchmark through a local cluster (issue 16): HAProxy in front of N replicas sharing PostgreSQL.

``smartreply bench --cluster N`` adds, to the single-server and naive runs of the same command, the same
load against the HAProxy front of N replicas (``service.cluster``: one ``serve`` process each, a
throwaway PostgreSQL, rate limit off since one key drives everything); ``--url`` drives an existing
front instead. ``--cluster-shops K`` then measures what the capacity model predicts
(``eval/bench/capacity.py``): K small generated shops, Zipf traffic, each replica's index memory
budget holding a fraction of them; the replicas' cache hits and misses (from their ``/metrics``) under
consistent hashing on the shop and under random routing, beside Che's approximation for the same
shops, sizes and assignment.
"""

from __future__ import annotations

import random
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np

from .capacity import che_hit_rate
from .load import run_load
from .many_shops import zipf_shops
from .servers import memory_of
from .shopgen import generate_queries, generate_shop, shop_csv_bytes

__all__ = ["bench_cluster", "replicas_memory", "run_cluster_cache", "metric_values",
           "measure_first_load"]


@contextmanager
def bench_cluster(work: Path, replicas: int, *, name: str = "cluster", replica_env: dict[str, str] | None = None,
                  hash_balance_factor: int = 125, server_maxconn: int = 32,
                  say: Callable[[str], None] = lambda m: None) -> Iterator[dict]:
    """A throwaway cluster for one benchmark phase; yields its state with ``operator_key``."""
    from service.cluster import ClusterSpec, free_port_run, start_cluster, stop_cluster

    spec = ClusterSpec(directory=work / name, replicas=replicas, base_port=free_port_run(replicas + 2),
                       pg_port=free_port_run(1), rate_limit_per_second=0, hash_balance_factor=hash_balance_factor,
                       server_maxconn=server_maxconn, drain_seconds=0, haproxy_log_level="notice",
                       replica_env={"SMARTREPLY_LOG_LEVEL": "WARNING", **(replica_env or {})})
    state = start_cluster(spec, say=say)
    state["operator_key"] = Path(state["operator_key_file"]).read_text("utf-8").strip()
    try:
        yield state
    finally:
        stop_cluster(spec.directory, say=say)


def replicas_memory(state: dict) -> dict[str, float]:
    """RSS and PSS summed over the replicas (HAProxy's few MiB left out)."""
    total = {"rss_mib": 0.0, "pss_mib": 0.0, "processes": 0}
    for r in state["replicas"]:
        m = memory_of(r["pid"])
        for k in total:
            total[k] += m.get(k, 0)
    return {k: round(v, 1) if isinstance(v, float) else v for k, v in total.items()}


_SAMPLE = re.compile(r"^([a-z_]+)(\{[^}]*\})? ([0-9.eE+-]+)$", re.M)


def metric_values(base: str) -> dict[str, float]:
    """A replica's Prometheus samples, keyed ``name{labels}``."""
    text = httpx.get(f"{base}/metrics", timeout=10).text
    return {name + (labels or ""): float(v) for name, labels, v in _SAMPLE.findall(text)}


def _cache_counts(state: dict) -> dict[str, dict[str, float]]:
    keys = {"hit": 'smartreply_index_cache_total{result="hit"}', "miss": 'smartreply_index_cache_total{result="miss"}',
            "evict": "smartreply_index_cache_evictions_total", "fetch": 'smartreply_index_fetches_total{reason="missing"}',
            "load_s": "smartreply_index_load_duration_seconds_sum", "loads": "smartreply_index_load_duration_seconds_count"}
    out = {}
    for r in state["replicas"]:
        values = metric_values(r["url"])
        out[r["name"]] = {k: values.get(v, 0.0) for k, v in keys.items()}
    return out


def _delta(after: dict, before: dict) -> dict:
    per = {name: {k: after[name][k] - before[name][k] for k in after[name]} for name in after}
    total = {k: sum(p[k] for p in per.values()) for k in next(iter(per.values()))}
    return {"total": total, "per_replica": per}


def run_cluster_cache(work: Path, *, replicas: int, shops: int, entries: int, budget_mib: float, requests: int,
                      zipf_s: float, concurrency: int, seed: int, say: Callable[[str], None]) -> dict:
    """K shops, Zipf traffic, small budgets: hit rates by routing, measured and predicted."""
    from service.cluster import restart_haproxy

    ids = [f"c{i:04d}" for i in range(shops)]
    budget = int(budget_mib * 2**20)
    out: dict = {"config": {"replicas": replicas, "shops": shops, "entries": entries, "phrasings": 4,
                            "memory_budget_mib": budget_mib, "requests": requests, "zipf_s": zipf_s,
                            "concurrency": concurrency, "seed": seed}, "phases": []}
    env = {"SMARTREPLY_INDEX_MEMORY_BUDGET_BYTES": str(budget), "SMARTREPLY_ACTIVE_VERSION_TTL": "1",
           "SMARTREPLY_RATE_LIMIT_PER_SECOND": "0"}
    say("timing first loads (derived files missing) in process")
    out["first_load"] = measure_first_load(work, (entries, 500), seed=seed)
    with bench_cluster(work, replicas, name="cluster-cache", replica_env=env, say=say) as state:
        auth = {"Authorization": f"Bearer {state['operator_key']}"}
        front = state["front"]
        say(f"uploading {shops} shops of {entries} entries through HAProxy")
        started = time.perf_counter()
        shops_data = {sid: generate_shop(sid, entries, 4, seed=seed) for sid in ids}

        def upload(sid: str) -> None:
            r = httpx.post(f"{front}/v1/shops/{sid}/kb", headers=auth, timeout=600,
                           files={"file": ("faq.csv", shop_csv_bytes(shops_data[sid]), "text/csv")})
            if r.status_code != 201:
                raise RuntimeError(f"upload of {sid} failed: HTTP {r.status_code}: {r.text[:300]}")

        with ThreadPoolExecutor(4) as pool:
            list(pool.map(upload, ids))
        out["upload_seconds"] = round(time.perf_counter() - started, 1)
        queries = {sid: generate_queries(shops_data[sid], 4, seed=seed) for sid in ids}
        rng = random.Random(seed)
        picks = zipf_shops(shops, 2 * requests, zipf_s, rng)
        messages = [queries[ids[i]][n % 4].message for n, i in enumerate(picks)]
        expected = [queries[ids[i]][n % 4].entry_id for n, i in enumerate(picks)]
        paths = [f"/v1/shops/{ids[i]}/suggestions" for i in picks]
        home = _homes(front, ids, auth)
        url = f"{front}/v1/shops/{ids[0]}/suggestions"
        for routing in ("hash", "random"):
            if routing == "random":
                state = {**state, **restart_haproxy(Path(state["spec"]["directory"]), balance="random")}
            half = slice(0, requests)  # warm-up: the caches settle under this routing
            run_load(url, messages[half], paths=paths[half], concurrency=concurrency, requests=requests,
                     seconds=600, headers=auth)
            before = _cache_counts(state)
            rest = slice(requests, 2 * requests)
            res = run_load(url, messages[rest], expected=expected[rest], paths=paths[rest], concurrency=concurrency,
                           requests=requests, seconds=600, headers=auth, target=f"cache_{routing}").as_dict()
            res["cache"] = _delta(_cache_counts(state), before)
            total = res["cache"]["total"]
            looked = total["hit"] + total["miss"]
            res["hit_rate"] = round(total["hit"] / looked, 4) if looked else None
            res["cold_load_ms_mean"] = round(1000 * total["load_s"] / total["loads"], 1) if total["loads"] else None
            out["phases"].append(res)
            say(f"{routing}: hit rate {res['hit_rate']}, {int(total['miss'])} loads ({int(total['fetch'])} files "
                f"fetched), mean load {res['cold_load_ms_mean']} ms, {res['throughput']} req/s, "
                f"client p50 {res['client_ms'].get('p50')} p99 {res['client_ms'].get('p99')} ms")
        shop_bytes = _shop_bytes(state)
        out["shop_bytes"] = shop_bytes
        out["shops_per_replica_budget"] = round(budget / shop_bytes, 1) if shop_bytes else None
        out["predicted"] = _predicted(picks[requests:], ids, home, shop_bytes, budget, replicas)
        out["home_counts"] = dict(Counter(home.values()))
    return out


def measure_first_load(work: Path, entries: tuple[int, ...] = (50, 500), trials: int = 3, seed: int = 0) -> list[dict]:
    """Load time of a shop version on a replica that has its index files but not the files derived
    from them (a replica that just fetched it: ranker weights, gram tables), against a load with them
    on disk; in process, median of ``trials``. The capacity model's derive cost (docs/scaling.md)."""
    import statistics

    from knowledge_base.derived import derived_files
    from service.pipeline import Settings, encoder_from

    from ..systems import EvalPipeline

    settings = Settings(data_dir=work / "first-load")
    served = EvalPipeline.create(settings, encoder_from(settings))
    out = []
    try:
        for n in entries:
            sid = f"f{n}"
            served.kb.import_file(sid, "faq.csv", shop_csv_bytes(generate_shop(sid, n, 4, seed=seed)))
            folder = next((served.pipeline.index_root / sid).iterdir())
            first, again = [], []
            for _ in range(trials):
                for derived in derived_files(folder):
                    derived.unlink()
                for times in (first, again):
                    pipeline = served.fresh_pipeline(memory_budget=1)
                    started = time.perf_counter()
                    pipeline.kb(sid)
                    times.append(1000 * (time.perf_counter() - started))
            out.append({"phrasings": 4 * n, "first_load_ms": round(statistics.median(first), 1),
                        "disk_load_ms": round(statistics.median(again), 1)})
    finally:
        served.close()
    return out


def _homes(front: str, ids: list[str], auth: dict[str, str]) -> dict[str, str]:
    """Which replica HAProxy's consistent hash sends each shop to (X-Served-By of a cheap request)."""
    with httpx.Client(base_url=front, headers=auth, timeout=30) as client:
        return {sid: client.get(f"/v1/shops/{sid}/kb/versions").headers.get("x-served-by", "?") for sid in ids}


def _shop_bytes(state: dict) -> float:
    """Mean estimated memory of one loaded shop, as the replicas account for it."""
    held = used = 0.0
    for r in state["replicas"]:
        values = metric_values(r["url"])
        held += values.get("smartreply_index_cache_shops", 0.0)
        used += values.get("smartreply_index_cache_bytes", 0.0)
    return used / held if held else 0.0


def _predicted(picks: list[int], ids: list[str], home: dict[str, str], shop_bytes: float, budget: int,
               replicas: int) -> dict:
    """Che's approximation for these shops: rates from the traffic actually sent, sizes as measured,
    consistent hashing with the homes HAProxy actually chose, random routing as every replica seeing every
    shop at 1/R of its rate."""
    if not shop_bytes:
        return {}
    counts = Counter(picks)
    rates = np.array([counts.get(i, 0) for i in range(len(ids))], dtype=np.float64)
    sizes = np.full(len(ids), shop_bytes)
    ones = np.ones(len(ids))
    hit_hash = 0.0
    for name in set(home.values()):
        mine = np.array([home[sid] == name for sid in ids])
        if rates[mine].sum():
            h, _ = che_hit_rate(rates[mine], sizes[mine], ones[mine], budget)
            hit_hash += h * rates[mine].sum()
    hit_random, _ = che_hit_rate(rates / replicas, sizes, ones, budget)
    return {"hash": round(hit_hash / rates.sum(), 4), "random": round(float(hit_random), 4)}
