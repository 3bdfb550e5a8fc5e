"""``smartreply bench``: the load/latency benchmark against the naive baseline, in one run."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

__all__ = ["bench", "bench_shops", "capacity"]


def _ints(value: str) -> list[int]:
    try:
        out = [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise typer.BadParameter(f"expected comma-separated integers, got {value!r}") from None
    if not out or min(out) < 1:
        raise typer.BadParameter("expected positive integers")
    return out


def bench(
    entries: Annotated[int, typer.Option(min=1, help="FAQ entries of the generated shop.")] = 5000,
    phrasings: Annotated[int, typer.Option(min=1, max=4, help="Phrasings per entry (standard + similar).")] = 4,
    concurrency: Annotated[str, typer.Option(help="Comma-separated concurrency levels.")] = "1,4,16,32",
    requests: Annotated[int, typer.Option(min=1, help="Most requests per level against our server.")] = 2000,
    naive_requests: Annotated[int, typer.Option(min=1, help="Most requests per level against the naive baseline.")] = 400,
    seconds: Annotated[float, typer.Option(min=0.1, help="Most seconds per level and target.")] = 20.0,
    workers: Annotated[str, typer.Option(help="Comma-separated worker counts to measure our server with.")] = "1,2",
    naive: Annotated[bool, typer.Option(help="Also measure the naive baseline (needs sentence-transformers).")] = True,
    queries: Annotated[int, typer.Option(min=1, help="Distinct paraphrased buyer messages.")] = 2000,
    seed: Annotated[int, typer.Option(help="Seed of the shop and query generator.")] = 0,
    out: Annotated[Path | None, typer.Option(help="Write the JSON report here.")] = None,
    plot: Annotated[Path | None, typer.Option(help="Write a latency-vs-concurrency PNG here (matplotlib).")] = None,
    work_dir: Annotated[Path | None, typer.Option(help="Keep shops, data and server logs here (default: temp).")] = None,
    cluster: Annotated[int, typer.Option(
        min=0, max=16, help="Also measure through HAProxy in front of this many replicas sharing a throwaway "
                            "PostgreSQL (scripts/cluster.sh's setup; needs haproxy and postgresql).")] = 0,
    url: Annotated[str, typer.Option(help="Also measure through an existing front, e.g. the HAProxy of "
                                          "`bash scripts/cluster.sh start` (http://127.0.0.1:8080).")] = "",
    key: Annotated[str, typer.Option(envvar="SMARTREPLY_BENCH_KEY",
                                     help="Operator key of the --url front (var/cluster/operator-key).")] = "",
    hash_balance_factor: Annotated[int, typer.Option(min=0, help="HAProxy's bounded-load factor (--cluster).")] = 125,
    server_maxconn: Annotated[int, typer.Option(min=1, help="Requests HAProxy sends one replica at once.")] = 32,
    cluster_shops: Annotated[int, typer.Option(
        min=0, help="Cache experiment: this many small shops over the cluster's replicas, Zipf traffic, hit rates "
                    "under hash and random routing beside the capacity model's prediction (0 = skip).")] = 0,
    cluster_shop_entries: Annotated[int, typer.Option(min=1, help="Entries of each cache-experiment shop.")] = 50,
    cluster_cache_mib: Annotated[float, typer.Option(min=1, help="Index memory budget per replica there.")] = 48.0,
    cluster_requests: Annotated[int, typer.Option(min=10, help="Measured requests per routing there.")] = 3000,
    cluster_zipf: Annotated[float, typer.Option(min=0, help="Zipf exponent of shop popularity there.")] = 1.0,
) -> None:
    """Generate a shop, start the real server(s) and a naive baseline on 127.0.0.1, upload the FAQ over
    HTTP, drive bounded load at each concurrency, and print p50/p95/p99, throughput, errors, RSS, ratios."""
    from eval.bench.runner import BenchConfig, format_report, run_bench

    if url and not key:
        raise typer.BadParameter("--url needs --key (an operator key of that front)")
    cfg = BenchConfig(entries=entries, phrasings=phrasings, queries=queries, concurrency=_ints(concurrency),
                      requests=requests, naive_requests=naive_requests, seconds=seconds, workers=_ints(workers),
                      naive=naive, seed=seed, work_dir=work_dir, cluster=cluster, url=url, url_key=key,
                      hash_balance_factor=hash_balance_factor, server_maxconn=server_maxconn,
                      cluster_shops=cluster_shops, cluster_shop_entries=cluster_shop_entries,
                      cluster_cache_mib=cluster_cache_mib, cluster_requests=cluster_requests, cluster_zipf=cluster_zipf)
    report = _run_and_report(lambda: run_bench(cfg, progress=_say), format_report, out)
    if plot is not None:
        from eval.bench.plot import plot_latency

        plot_latency(report, plot)
        typer.echo(f"plot written to {plot}", err=True)


def bench_shops(
    shops: Annotated[int, typer.Option(min=1, help="Generated shops served by one process.")] = 1000,
    entries: Annotated[int, typer.Option(min=1, help="FAQ entries per shop.")] = 500,
    phrasings: Annotated[int, typer.Option(min=1, max=4, help="Phrasings per entry.")] = 4,
    memory_budget_mib: Annotated[int, typer.Option(min=1, help="SMARTREPLY_INDEX_MEMORY_BUDGET_BYTES, in MiB.")] = 512,
    hot_shops: Annotated[int, typer.Option(min=1, help="Shops in the warm phase (loaded beforehand).")] = 20,
    requests: Annotated[int, typer.Option(min=1, help="Most requests per warm / mixed level.")] = 2000,
    seconds: Annotated[float, typer.Option(min=0.1, help="Most seconds per warm / mixed level.")] = 30.0,
    zipf: Annotated[float, typer.Option(min=0.0, help="Zipf exponent of shop popularity in the mixed phase.")] = 1.1,
    build_processes: Annotated[int, typer.Option(min=1, help="Processes building the shops.")] = 2,
    seed: Annotated[int, typer.Option(help="Seed of the shops, queries and traffic.")] = 0,
    out: Annotated[Path | None, typer.Option(help="Write the JSON report here.")] = None,
    work_dir: Annotated[Path | None, typer.Option(
        help="Keep (and on the next run reuse) the built shops here; default: a temporary folder.")] = None,
) -> None:
    """Many small shops in one server process under an index memory budget (LRU): build them, then
    measure the cold-shop first suggestion, warm latency, Zipf-mixed traffic, cache hits and RSS."""
    from eval.bench.many_shops import ManyShopsConfig, format_many_shops, run_many_shops

    cfg = ManyShopsConfig(shops=shops, entries=entries, phrasings=phrasings, memory_budget_mib=memory_budget_mib,
                          hot_shops=hot_shops, requests=requests, seconds=seconds, zipf_s=zipf,
                          build_processes=build_processes, seed=seed, work_dir=work_dir)
    _run_and_report(lambda: run_many_shops(cfg, progress=_say), format_many_shops, out)


def capacity(
    shops: Annotated[str, typer.Option(help="Comma-separated shop counts.")] = "10000,1000000,10000000",
    rps: Annotated[str, typer.Option(help="Comma-separated suggestion requests per second.")] = "1000,10000,100000",
    zipf: Annotated[float, typer.Option(min=0.0, help="Zipf exponent of shop popularity.")] = 1.0,
    memory_budget_mib: Annotated[float | None, typer.Option(
        min=1, help="Index memory budget per replica (SMARTREPLY_INDEX_MEMORY_BUDGET_BYTES), MiB.")] = None,
    disk_budget_gib: Annotated[float | None, typer.Option(min=0.001, help="Local index cache per replica, GiB.")] = None,
    phrasings_median: Annotated[float | None, typer.Option(min=1, help="Median phrasings of a shop.")] = None,
    cpu_ms: Annotated[float | None, typer.Option(min=0.01, help="CPU per warm request, ms (default: measured).")] = None,
    derive_ms: Annotated[float | None, typer.Option(
        min=0.0, help="Fixed cost of a version's first load on a replica (reranker fit), ms (default: measured); "
                      "0 = derived files fetched like the index files.")] = None,
    uploads_per_shop_per_day: Annotated[float | None, typer.Option(min=0.0, help="FAQ uploads per shop per day.")] = None,
    hit_target: Annotated[float, typer.Option(
        min=0.0, max=1.0, help="If > 0, add replicas (hash routing) until this share of requests hits.")] = 0.0,
    bench_dir: Annotated[Path, typer.Option(help="Benchmark reports to read measured inputs from.")] = Path("docs/bench"),
    out: Annotated[Path | None, typer.Option(help="Write the inputs and every plan as JSON here.")] = None,
) -> None:
    """The capacity model (docs/scaling.md): replicas, hit rates, cold loads and PostgreSQL load for S shops
    at Q req/s, under consistent-hash and random routing, from the measured inputs in docs/bench/."""
    import json
    from dataclasses import asdict, replace

    from eval.bench.capacity import format_table, measured_inputs, scaling_table

    inputs = measured_inputs(bench_dir)
    overrides = {"memory_budget_bytes": memory_budget_mib and memory_budget_mib * 2**20,
                 "disk_budget_bytes": disk_budget_gib and disk_budget_gib * 2**30,
                 "phrasings_median": phrasings_median, "cpu_ms_per_request": cpu_ms, "hit_target": hit_target,
                 "derive_ms_fixed": derive_ms, "uploads_per_shop_per_day": uploads_per_shop_per_day}
    inputs = replace(inputs, **{k: v for k, v in overrides.items() if v is not None})
    rows = scaling_table(inputs, shops=_ints(shops), rates=[float(r) for r in _ints(rps)], zipf_s=zipf)
    typer.echo(format_table(rows))
    typer.echo("")
    for name, value in asdict(inputs).items():
        if name != "source":
            typer.echo(f"{name} = {value:g}" + (f"   ({inputs.source[name]})" if name in inputs.source else ""))
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"inputs": asdict(inputs), "zipf_s": zipf, "rows": rows}, indent=2,
                                  default=str), "utf-8")
        typer.echo(f"written to {out}", err=True)


def _say(message: str) -> None:
    typer.echo(message, err=True)


def _run_and_report(run: Callable[[], dict], fmt: Callable[[dict], str], out: Path | None) -> dict:
    """Run a benchmark, print its table, write its JSON report; a server that fails is exit 1."""
    from eval.bench.runner import write_report

    try:
        report = run()
    except (RuntimeError, TimeoutError) as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(fmt(report))
    if out is not None:
        write_report(report, out)
        typer.echo(f"report written to {out}", err=True)
    return report
