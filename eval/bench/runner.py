"""One benchmark run: generate a shop, start the real server(s) and the naive baseline, upload the FAQ
through the HTTP API, drive bounded loopback load at several concurrencies, report side by side."""

from __future__ import annotations

import json
import logging
import platform
import secrets
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from .load import LoadResult, run_load
from .servers import free_port, memory_of, running_process, work_folder
from .shopgen import generate_queries, generate_shop, shop_csv_bytes

__all__ = ["BenchConfig", "run_bench", "format_report"]

logger = logging.getLogger(__name__)


@dataclass
class BenchConfig:
    entries: int = 5000
    phrasings: int = 4
    queries: int = 2000  # distinct paraphrase messages, reused round-robin
    concurrency: Sequence[int] = (1, 4, 16, 32)
    requests: int = 2000  # per concurrency level and target (upper bound)
    seconds: float = 20.0  # per concurrency level and target (upper bound)
    workers: Sequence[int] = (1, 2)  # our server is measured once per worker count
    naive: bool = True
    naive_requests: int = 400
    seed: int = 0
    top_k: int = 3
    work_dir: Path | None = None  # default: a temporary folder, removed afterwards
    # extra SMARTREPLY_* for our server; a 1 s active-version TTL is the recommended serving setting
    # One key drives the whole load: the per-key rate limit (a tenant guard) is off for the benchmark.
    server_env: dict[str, str] = field(default_factory=lambda: {"SMARTREPLY_ACTIVE_VERSION_TTL": "1",
                                                                "SMARTREPLY_RATE_LIMIT_PER_SECOND": "0"})
    # Through HAProxy (issue 16): a local cluster of this many replicas (0 = none), and/or an existing
    # front at ``url`` driven with ``url_key`` (an operator key there).
    cluster: int = 0
    url: str = ""
    url_key: str = ""
    hash_balance_factor: int = 125
    server_maxconn: int = 32
    # The cache experiment (0 shops = skipped): many small shops, Zipf traffic, hash vs random routing.
    cluster_shops: int = 0
    cluster_shop_entries: int = 50
    cluster_cache_mib: float = 48.0
    cluster_requests: int = 3000
    cluster_zipf: float = 1.0
    # Low, so a hot shop seldom spills to a second replica (HAProxy's bounded load), which the model ignores.
    cluster_concurrency: int = 4


def _say(progress: Callable[[str], None] | None, msg: str) -> None:
    logger.info("%s", msg)
    if progress is not None:
        progress(msg)


def run_bench(cfg: BenchConfig, progress: Callable[[str], None] | None = None) -> dict:
    """Run everything and return the report as a JSON-able dict."""
    with work_folder(cfg.work_dir, "smartreply-bench-") as work:
        return _run(cfg, work, progress)


def _run(cfg: BenchConfig, work: Path, progress) -> dict:
    shop_id = "bench"
    shop = generate_shop(shop_id, cfg.entries, cfg.phrasings, seed=cfg.seed)
    queries = generate_queries(shop, cfg.queries, seed=cfg.seed)
    csv_bytes = shop_csv_bytes(shop)
    csv_path = work / "bench_shop.csv"
    csv_path.write_bytes(csv_bytes)
    messages = [q.message for q in queries]
    expected = [q.entry_id for q in queries]
    data_dir = work / "data"
    report: dict = {
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(cfg).items() if k != "url_key"},
        "machine": {"cpus": _cpus(), "python": sys.version.split()[0], "platform": platform.platform()},
        "shop": {"entries": len(shop.entries), "phrasings": shop.phrasings, "queries": len(messages),
                 "distinct_queries": len(set(messages))},
        "runs": [],
    }
    index_dir = None
    # The server needs a key; a throwaway operator key (one per run) acts on the benchmark shop.
    operator_key = secrets.token_urlsafe(24)
    auth = {"Authorization": f"Bearer {operator_key}"}
    for n_workers in cfg.workers:
        port = free_port()
        env = {"SMARTREPLY_DATA_DIR": str(data_dir), "SMARTREPLY_PORT": str(port), "SMARTREPLY_HOST": "127.0.0.1",
               "SMARTREPLY_LOG_LEVEL": "WARNING", "SMARTREPLY_OPERATOR_KEY": operator_key, **cfg.server_env}
        argv = [sys.executable, "-m", "service", "serve", "--workers", str(n_workers)]
        _say(progress, f"starting smartreply serve --workers {n_workers} on port {port}")
        with running_process(argv, env=env, port=port, log_path=work / f"serve-w{n_workers}.log") as srv:
            if "build" not in report:
                report["build"] = _upload(srv.base_url, shop_id, csv_bytes, shop.phrasings, auth)
                _say(progress, f"uploaded {shop.phrasings} phrasings in {report['build']['client_seconds']} s "
                               f"({report['build']['phrasings_per_s']} phrasings/s)")
                index_dir = data_dir / "indexes" / shop_id / f"v{report['build']['version']:06d}"
            url = f"{srv.base_url}/v1/shops/{shop_id}/suggestions"
            report.setdefault("memory", {})[f"ours_w{n_workers}_idle"] = memory_of(srv.pid)
            for c in cfg.concurrency:
                res = run_load(url, messages, expected=expected, concurrency=c, requests=cfg.requests,
                               seconds=cfg.seconds, top_k=cfg.top_k, target=f"ours_w{n_workers}",
                               warmup=min(20 * c, 200), headers=auth)
                report["runs"].append(res.as_dict())
                _say(progress, _line(res))
            report["memory"][f"ours_w{n_workers}_loaded"] = memory_of(srv.pid)
    if cfg.cluster:
        from .cluster_bench import bench_cluster, replicas_memory

        _say(progress, f"starting a cluster of {cfg.cluster} replicas behind HAProxy")
        with bench_cluster(work, cfg.cluster, replica_env=cfg.server_env, hash_balance_factor=cfg.hash_balance_factor,
                           server_maxconn=cfg.server_maxconn, say=lambda m: _say(progress, m)) as cl:
            report["cluster"] = {"replicas": cfg.cluster, "hash_balance_factor": cfg.hash_balance_factor,
                                 "server_maxconn": cfg.server_maxconn}
            auth_cl = {"Authorization": f"Bearer {cl['operator_key']}"}

            def warm_replicas() -> None:
                # Every replica loads the shop once before the clock starts (fetched from the database,
                # search graphs and reranker derived: tens of seconds for 20k phrasings on a busy machine),
                # as the single server's own upload warmed it: the bounded load sends a hot shop to all.
                for r in cl["replicas"]:
                    httpx.post(f"{r['url']}/v1/shops/{shop_id}/suggestions", json={"message": messages[0]},
                               headers=auth_cl, timeout=900).raise_for_status()

            _drive_front(report, cfg, cl["front"], auth_cl, f"cluster_r{cfg.cluster}", shop_id, csv_bytes,
                         shop.phrasings, messages, expected, lambda: replicas_memory(cl), progress, warm_replicas)
    if cfg.url:
        _drive_front(report, cfg, cfg.url.rstrip("/"), {"Authorization": f"Bearer {cfg.url_key}"}, "url", shop_id,
                     csv_bytes, shop.phrasings, messages, expected, lambda: {}, progress)
    if cfg.naive and index_dir is not None:
        port = free_port()
        argv = [sys.executable, "-m", "eval.bench.naive_app", "--index-dir", str(index_dir), "--faq", str(csv_path),
                "--port", str(port)]
        _say(progress, f"starting the naive baseline (PyTorch + default-threaded FAISS) on port {port}")
        with running_process(argv, env={}, port=port, log_path=work / "naive.log", health="/healthz") as srv:
            url = f"{srv.base_url}/v1/shops/{shop_id}/suggestions"
            for c in cfg.concurrency:
                res = run_load(url, messages, expected=expected, concurrency=c, requests=cfg.naive_requests,
                               seconds=cfg.seconds, top_k=cfg.top_k, target="naive", warmup=min(2 * c, 20))
                report["runs"].append(res.as_dict())
                _say(progress, _line(res))
            report.setdefault("memory", {})["naive_loaded"] = memory_of(srv.pid)
    if cfg.cluster_shops:
        from .cluster_bench import run_cluster_cache

        _say(progress, f"cache experiment: {cfg.cluster_shops} shops over {max(cfg.cluster, 2)} replicas")
        report["cluster_cache"] = run_cluster_cache(
            work, replicas=max(cfg.cluster, 2), shops=cfg.cluster_shops, entries=cfg.cluster_shop_entries,
            budget_mib=cfg.cluster_cache_mib, requests=cfg.cluster_requests, zipf_s=cfg.cluster_zipf,
            concurrency=cfg.cluster_concurrency, seed=cfg.seed, say=lambda m: _say(progress, m))
    report["summary"] = summarise(report["runs"])
    return report


def _drive_front(report: dict, cfg: BenchConfig, base: str, auth: dict[str, str], target: str, shop_id: str,
                 csv_bytes: bytes, phrasings: int, messages: list[str], expected: list[str],
                 memory: Callable[[], dict], progress, warm: Callable[[], None] = lambda: None) -> None:
    """Upload the shop through a front (HAProxy) and load it at every concurrency, as for one server."""
    report.setdefault("builds", {})[target] = build = _upload(base, shop_id, csv_bytes, phrasings, auth)
    _say(progress, f"{target}: uploaded {phrasings} phrasings in {build['client_seconds']} s")
    warm()
    report.setdefault("memory", {})[f"{target}_idle"] = memory()
    url = f"{base}/v1/shops/{shop_id}/suggestions"
    for c in cfg.concurrency:
        res = run_load(url, messages, expected=expected, concurrency=c, requests=cfg.requests, seconds=cfg.seconds,
                       top_k=cfg.top_k, target=target, warmup=min(20 * c, 200), headers=auth)
        report["runs"].append(res.as_dict())
        _say(progress, _line(res))
    report["memory"][f"{target}_loaded"] = memory()


def _upload(base: str, shop_id: str, csv_bytes: bytes, phrasings: int, headers: dict[str, str]) -> dict:
    t0 = time.perf_counter()
    r = httpx.post(f"{base}/v1/shops/{shop_id}/kb", files={"file": ("bench_shop.csv", csv_bytes, "text/csv")},
                   headers=headers, timeout=600)
    seconds = time.perf_counter() - t0
    if r.status_code != 201:
        raise RuntimeError(f"upload failed: HTTP {r.status_code}: {r.text[:500]}")
    body = r.json()
    return {"version": body["version"], "phrasings": body["phrasings"], "client_seconds": round(seconds, 2),
            "server_seconds": body.get("seconds"), "phrasings_per_s": round(phrasings / seconds, 1)}


def summarise(runs: Sequence[dict]) -> dict:
    """Best throughput per target, and ours over naive at each concurrency both ran."""
    by = {(r["target"], r["concurrency"]): r for r in runs}
    targets = sorted({r["target"] for r in runs})
    out: dict = {"best_throughput": {t: max(r["throughput"] for r in runs if r["target"] == t) for t in targets}}
    naive = out["best_throughput"].get("naive")
    ours = {t: v for t, v in out["best_throughput"].items() if t != "naive"}
    if naive and ours:
        out["ratio_best_vs_naive_best"] = round(max(ours.values()) / naive, 1)
    ratios = {}
    for (t, c), r in by.items():
        if t != "naive" and ("naive", c) in by and by[("naive", c)]["throughput"]:
            ratios[f"{t}@c{c}"] = round(r["throughput"] / by[("naive", c)]["throughput"], 1)
    out["ratio_same_concurrency"] = ratios
    if naive and ours:
        out["ratio_vs_naive_best"] = {t: round(v / naive, 1) for t, v in ours.items()}
    return out


def _line(r: LoadResult) -> str:
    s = r.server_ms
    return (f"{r.target:>9} c={r.concurrency:<3} {r.ok:>5} ok {r.errors} err {r.throughput:>7.1f}/s  client p50 "
            f"{r.client_ms.get('p50', 0):.1f} p99 {r.client_ms.get('p99', 0):.1f} ms  server p50 {s.get('p50', 0):.2f} "
            f"p99 {s.get('p99', 0):.2f} ms  top1 {r.top1_accuracy}")


def format_report(report: dict) -> str:
    """The report as a Markdown table plus build, memory and ratio lines."""
    rows = ["| target | conc. | ok | err | req/s | client p50 | p95 | p99 | server p50 | p95 | p99 | top-1 |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in report["runs"]:
        c, s = r["client_ms"], r["server_ms"]
        rows.append(f"| {r['target']} | {r['concurrency']} | {r['ok']} | {r['errors']} | {r['throughput']:.1f} | "
                    f"{c.get('p50', 0):.1f} | {c.get('p95', 0):.1f} | {c.get('p99', 0):.1f} | "
                    f"{s.get('p50', 0):.2f} | {s.get('p95', 0):.2f} | {s.get('p99', 0):.2f} | "
                    f"{r['top1_accuracy'] if r['top1_accuracy'] is not None else '-'} |")
    lines = ["\n".join(rows), ""]
    b = report.get("build")
    if b:
        lines.append(f"KB build through the API: {b['phrasings']} phrasings in {b['client_seconds']} s "
                     f"= {b['phrasings_per_s']} phrasings/s (server-side {b['server_seconds']} s)")
    for target, b in report.get("builds", {}).items():
        lines.append(f"KB build through {target}: {b['phrasings']} phrasings in {b['client_seconds']} s "
                     f"= {b['phrasings_per_s']} phrasings/s")
    for name, m in report.get("memory", {}).items():
        if m:
            lines.append(f"memory {name}: RSS {m['rss_mib']} MiB, PSS {m['pss_mib']} MiB ({m['processes']} processes)")
    summ = report.get("summary", {})
    lines.append(f"best throughput: {summ.get('best_throughput')}")
    if "ratio_best_vs_naive_best" in summ:
        lines.append(f"ours (best) / naive (best) throughput: {summ['ratio_best_vs_naive_best']}x")
    lines.append(f"ours / naive at the same concurrency: {summ.get('ratio_same_concurrency')}")
    if "ratio_vs_naive_best" in summ:
        lines.append(f"each target's best / naive best: {summ['ratio_vs_naive_best']}")
    cache = report.get("cluster_cache")
    if cache:
        cfg = cache["config"]
        lines += ["", f"cache experiment: {cfg['shops']} shops x {cfg['entries']} entries, {cfg['replicas']} replicas "
                      f"with {cfg['memory_budget_mib']} MiB each (~{cache.get('shops_per_replica_budget')} shops), "
                      f"Zipf {cfg['zipf_s']}, {cfg['requests']} requests after as many to warm up",
                  "| routing | hit rate (measured) | predicted (Che) | loads | files fetched | mean load ms | req/s "
                  "| client p50 / p99 ms |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
        for ph in cache["phases"]:
            routing = ph["target"].removeprefix("cache_")
            t = ph["cache"]["total"]
            lines.append(f"| {routing} | {ph['hit_rate']} | {cache.get('predicted', {}).get(routing)} | "
                         f"{int(t['miss'])} | {int(t['fetch'])} | {ph['cold_load_ms_mean']} | {ph['throughput']} | "
                         f"{ph['client_ms'].get('p50')} / {ph['client_ms'].get('p99')} |")
    return "\n".join(lines)


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def write_report(report: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, ensure_ascii=False, indent=2), "utf-8")
