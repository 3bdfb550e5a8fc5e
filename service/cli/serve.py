"""``smartreply serve``: run the HTTP API (one process, or several worker processes)."""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Annotated

import typer

from .common import cli_errors, runtime_with_encoder, settings_from, setup_logging

__all__ = ["serve", "worker_app", "draining_server"]

logger = logging.getLogger(__name__)


def serve(
    host: Annotated[str | None, typer.Option(help="Bind address.", envvar="SMARTREPLY_HOST", show_default="127.0.0.1")] = None,
    port: Annotated[int | None, typer.Option(help="Port.", envvar="SMARTREPLY_PORT", show_default="8000")] = None,
    demo: Annotated[bool, typer.Option(help="Load the bundled demo shop (shop id 'demo') at start-up.",
                                       envvar="SMARTREPLY_DEMO")] = False,
    data_dir: Annotated[str | None, typer.Option(help="Folder of the SQLite database and indexes.",
                                                 envvar="SMARTREPLY_DATA_DIR", show_default="var")] = None,
    workers: Annotated[int, typer.Option(
        min=1, max=64, envvar="SMARTREPLY_WORKERS",
        help="Worker processes sharing the port, each with its own encoder on one thread. "
             "About one per core: on 2 cores, 2 workers nearly double throughput under load.")] = 1,
) -> None:
    """Serve the JSON API (OpenAPI docs at /docs)."""
    import uvicorn

    from ..app import create_app

    # --demo also serves the demo keys to the consoles on this machine (GET /v1/demo/keys, loopback only).
    settings = settings_from(host=host, port=port, data_dir=data_dir, demo_keys_route=True if demo else None)
    setup_logging(settings)
    limit_malloc_arenas(settings.malloc_arenas)
    with cli_errors():
        runtime = runtime_with_encoder(settings)
        if workers == 1:
            app = create_app(runtime=runtime, demo=demo, freeze_gc=True)
            typer.echo(f"smartreply serving on http://{settings.host}:{settings.port} (docs: /docs)", err=True)
            config = uvicorn.Config(app, host=settings.host, port=settings.port, log_level=settings.log_level.lower(),
                                    timeout_graceful_shutdown=10)
            draining_server(config, runtime, settings.shutdown_drain_seconds).run()
            return
        # Several workers: the demo shop is imported once here, not raced by every worker; then the
        # workers (fresh processes) rebuild the settings from the environment set below.
        if demo:
            runtime.demo.ensure()
        runtime.close()
        del runtime  # the supervisor serves nothing: let its encoder go
        os.environ.update({"SMARTREPLY_HOST": settings.host, "SMARTREPLY_PORT": str(settings.port),
                           "SMARTREPLY_DATA_DIR": str(settings.data_dir),
                           "SMARTREPLY_DATABASE_URL": settings.database_url,
                           "SMARTREPLY_DEMO_KEYS_ROUTE": "true" if settings.demo_keys_route else "false"})
        typer.echo(f"smartreply serving on http://{settings.host}:{settings.port} with {workers} workers "
                   "(docs: /docs)", err=True)
        raise typer.Exit(_run_workers(workers, settings.host, settings.port, settings.log_level.lower(),
                                      settings.shutdown_drain_seconds))


def limit_malloc_arenas(arenas: int) -> None:
    """Cap glibc's malloc arenas for this process and the workers it starts (0: leave the default).

    glibc gives each thread that allocates its own arena (up to 8 per core), and memory freed in one
    is not returned while others hold pages: with shops loaded and evicted by 16 request threads the
    server's RSS ran 1.8 GB over its index budget; with 2 arenas, 0.75 GB (docs/benchmarks.md).
    """
    if arenas <= 0 or not sys.platform.startswith("linux"):
        return
    os.environ.setdefault("MALLOC_ARENA_MAX", str(arenas))  # read by worker processes at start
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").mallopt(-8, arenas)  # M_ARENA_MAX, for this already-running process
    except (OSError, AttributeError):  # not glibc (e.g. musl): nothing to tune
        pass


def _run_workers(workers: int, host: str, port: int, log_level: str, drain_seconds: float = 0.0) -> int:
    """Run ``workers`` processes, each with its own SO_REUSEPORT socket on ``host:port``.

    uvicorn's own ``workers=N`` shares one listening socket, and asyncio accepts every pending
    connection in one go: with keep-alive clients one worker took most connections (measured 37 s
    vs 7 s of CPU in one run). With SO_REUSEPORT the kernel spreads connections over the workers.
    Returns the exit status: 0 after SIGTERM/SIGINT, 1 if a worker died.
    """
    import multiprocessing
    import signal

    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_worker_main, args=(host, port, log_level), name=f"smartreply-worker-{i}")
             for i in range(workers)]
    for proc in procs:
        proc.start()
    stopping = False

    def _stop(signum, frame):  # noqa: ANN001, ARG001 - signal handler signature
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    status = 0
    while not stopping:
        if any(not p.is_alive() for p in procs):
            typer.echo("Error: a worker exited; stopping the others.", err=True)
            status = 1
            break
        procs[0].join(timeout=0.5)
    for proc in procs:
        if proc.is_alive():
            proc.terminate()  # uvicorn shuts down gracefully on SIGTERM
    for proc in procs:
        proc.join(timeout=drain_seconds + 15)  # a worker drains, then finishes its requests (10 s)
        if proc.is_alive():
            proc.kill()
            proc.join()
    return status


def _worker_main(host: str, port: int, log_level: str) -> None:
    import socket

    import uvicorn

    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    app = worker_app()
    config = uvicorn.Config(app, log_level=log_level, timeout_graceful_shutdown=10)
    runtime = app.state.runtime
    draining_server(config, runtime, runtime.settings.shutdown_drain_seconds).run(sockets=[sock])


def worker_app():  # noqa: ANN201 - FastAPI, imported lazily
    """The app of one worker process: settings from the environment."""
    from ..app import create_app
    from ..config import Settings

    settings = Settings()
    setup_logging(settings)
    return create_app(settings, freeze_gc=True)


def draining_server(config, runtime, drain_seconds: float):  # noqa: ANN001, ANN201 - uvicorn types, imported lazily
    """A uvicorn server that, on the first SIGTERM, drains before it stops.

    uvicorn alone, on SIGTERM, closes its listening socket at once, closes idle keep-alive connections
    and waits (up to ``timeout_graceful_shutdown``) for requests in flight. A load balancer only learns
    of it when a new connection is refused or a pooled one is closed under a request: the request is
    then lost, or retried if the balancer may. Draining first: ``/healthz`` answers 503 for
    ``drain_seconds`` while everything else is still served, so the balancer's health check takes the
    replica out of rotation; then uvicorn's own graceful shutdown runs. A second SIGTERM, or SIGINT,
    stops at once (uvicorn's behaviour).
    """
    import signal

    import uvicorn

    class DrainingServer(uvicorn.Server):
        drain_until: float | None = None
        drain_logged = False

        def handle_exit(self, sig: int, frame) -> None:  # noqa: ANN001 - a frame
            if sig == signal.SIGTERM and drain_seconds > 0 and self.drain_until is None and not self.should_exit:
                self.drain_until = time.monotonic() + drain_seconds
                runtime.draining = True  # a signal handler only sets flags; on_tick logs and acts
                return
            super().handle_exit(sig, frame)

        async def on_tick(self, counter: int) -> bool:
            if self.drain_until is not None and not self.should_exit:
                if not self.drain_logged:
                    self.drain_logged = True
                    logger.info("SIGTERM: draining for %.1fs (/healthz answers 503), then shutting down",
                                drain_seconds)
                if time.monotonic() >= self.drain_until:
                    super().handle_exit(signal.SIGTERM, None)
            return await super().on_tick(counter)

    return DrainingServer(config)
