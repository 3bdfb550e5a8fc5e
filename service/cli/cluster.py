"""``smartreply cluster start|stop|status``: a local cluster (PostgreSQL + N replicas + HAProxy) on
127.0.0.1. ``bash scripts/cluster.sh`` installs the Debian packages first, then runs these."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from .common import cli_errors

__all__ = ["app"]

app = typer.Typer(help="A local cluster: PostgreSQL, N replicas and HAProxy on 127.0.0.1 (docs/operations.md).",
                  no_args_is_help=True)

DirOption = Annotated[Path, typer.Option("--dir", help="The cluster's folder (state, logs, replica data).",
                                         envvar="SMARTREPLY_CLUSTER_DIR")]


def _say(message: str) -> None:
    typer.echo(message, err=True)


@app.command("start")
def start(
    replicas: Annotated[int, typer.Option(min=1, max=64, help="Replicas (one `smartreply serve` process each).",
                                          envvar="SMARTREPLY_CLUSTER_REPLICAS")] = 2,
    directory: DirOption = Path("var/cluster"),
    base_port: Annotated[int, typer.Option(
        min=1024, max=65000, envvar="SMARTREPLY_CLUSTER_BASE_PORT",
        help="The HAProxy front; +1 its stats page; +1+i replica i.")] = 8080,
    database_url: Annotated[str, typer.Option(
        envvar="SMARTREPLY_CLUSTER_DATABASE_URL",
        help="PostgreSQL URL; empty: start a throwaway one on --pg-port (scripts/install_postgres.sh).")] = "",
    pg_port: Annotated[int, typer.Option(envvar="SMARTREPLY_CLUSTER_PG_PORT",
                                         help="Port of the throwaway PostgreSQL.")] = 54330,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes per replica.")] = 1,
    rate_limit_per_second: Annotated[float, typer.Option(
        min=0.0, envvar="SMARTREPLY_RATE_LIMIT_PER_SECOND",
        help="Per-key limit HAProxy enforces across all replicas (0 = none).")] = 50.0,
    rate_limit_burst: Annotated[int, typer.Option(min=1, envvar="SMARTREPLY_RATE_LIMIT_BURST",
                                                  help="Requests a key may make at once.")] = 100,
    balance: Annotated[str, typer.Option(help="hash: consistent hashing on the shop id (bounded load); "
                                              "random: no shop affinity (to compare).")] = "hash",
    hash_balance_factor: Annotated[int, typer.Option(
        min=0, help="Bounded load: no replica above this % of the average in-flight requests (0 = off).")] = 125,
    server_maxconn: Annotated[int, typer.Option(
        min=1, help="Requests HAProxy sends one replica at once; more wait in HAProxy's queue.")] = 32,
    drain_seconds: Annotated[float, typer.Option(
        min=0.0, help="SMARTREPLY_SHUTDOWN_DRAIN_SECONDS of the replicas.")] = 2.0,
) -> None:
    """Start PostgreSQL, the replicas (each with its own data folder) and HAProxy; print the front's URL."""
    from ..cluster import ClusterSpec, start_cluster

    if balance not in ("hash", "random"):
        raise typer.BadParameter("balance must be 'hash' or 'random'")
    spec = ClusterSpec(directory=directory, replicas=replicas, base_port=base_port, database_url=database_url,
                       pg_port=pg_port, workers_per_replica=workers, rate_limit_per_second=rate_limit_per_second,
                       rate_limit_burst=rate_limit_burst, balance=balance, hash_balance_factor=hash_balance_factor,
                       server_maxconn=server_maxconn, drain_seconds=drain_seconds)
    with cli_errors():
        state = start_cluster(spec, say=_say)
    typer.echo(state["front"])


@app.command("stop")
def stop(directory: DirOption = Path("var/cluster")) -> None:
    """Stop HAProxy, then the replicas (each drains), then PostgreSQL if the cluster started it."""
    from ..cluster import stop_cluster

    with cli_errors():
        stop_cluster(directory, say=_say)
    _say("cluster stopped")


@app.command("status")
def status(directory: DirOption = Path("var/cluster"),
           as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Each replica (alive, its /healthz, HAProxy's view of it) and HAProxy; exit 1 if any part is down."""
    from ..cluster import cluster_status

    with cli_errors():
        st = cluster_status(directory)
    if as_json:
        typer.echo(json.dumps(st, indent=2))
    else:
        hp = st["haproxy"]
        typer.echo(f"front {st['front']}  stats {st['stats']}/  haproxy pid {hp['pid']} "
                   f"{'up' if hp['alive'] else 'DOWN'}  database {st['database_url']}")
        for r in st["replicas"]:
            seen = r["haproxy"]
            typer.echo(f"{r['name']:<4} {r['url']:<24} pid {r['pid']:<8} {'alive' if r['alive'] else 'DEAD':<6} "
                       f"healthz {r['healthz'] or '-'}  haproxy {seen.get('status', '-'):<6} "
                       f"in flight {seen.get('in_flight', '-')}  requests {seen.get('requests', '-')}")
    healthy = st["haproxy"]["alive"] and all(r["alive"] and r["healthz"] == 200 for r in st["replicas"])
    raise typer.Exit(0 if healthy else 1)
