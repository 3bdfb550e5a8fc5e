"""``create_app(settings)``: the FastAPI application, built from settings, never at import time."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from .api import (
    analytics,
    compliance,
    demo as demo_routes,
    desk,
    feedback,
    health,
    kb,
    keys,
    learned,
    pages,
    quick_phrases,
    rules,
    shops,
    suggestions,
)
from .api.deps import AnyKey
from .api.errors import install_error_handlers
from .api.openapi import install_openapi
from .config import Settings
from .observability import RequestMiddleware
from .demo_shop import DEMO_SHOP_ID
from .runtime import Runtime

__all__ = ["create_app"]

logger = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, *, runtime: Runtime | None = None, demo: bool = False,
               freeze_gc: bool = False) -> FastAPI:
    """Build the app. ``demo=True`` loads the bundled demo shop at start-up if it is not loaded yet.
    ``freeze_gc=True`` (``serve``) moves everything alive after start-up out of the garbage collector's
    reach (see the lifespan)."""
    runtime = runtime or Runtime(settings or Settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if runtime.settings.json_logs:
            _json_uvicorn_logs()
        # Load the encoder before taking traffic, so the first request is not the slow one and a
        # missing model fails the start, not a buyer's request.
        encoder = runtime.encoder
        logger.info("encoder %s (%s, %d-d) ready", encoder.model_id, runtime.settings.encoder_backend, encoder.dim)
        runtime.escalation_detector  # noqa: B018 - load the escalation model now (it warns here if it is missing)
        # A previous process killed mid-build left a `building` version: fail it, drop its files.
        report = runtime.uploads.recover()
        for shop_id, version in report.failed:
            logger.warning("recovered: shop %s version %d was abandoned mid-build and is marked failed",
                           shop_id, version)
        if runtime.uploads.jobs:
            # Claim index builds queued by any replica (before the demo import, which waits for one).
            runtime.uploads.worker.start()
        if demo:
            result = runtime.demo.ensure()
            if result is not None:
                logger.info("demo shop loaded: version %d, %d entries, %d phrasings",
                            result.version, result.entries, result.phrasings)
            # Load it (and its reranker) before the first buyer message, not during it.
            runtime.suggester.kb(DEMO_SHOP_ID)
        if freeze_gc:
            # What is alive now (modules, the encoder and intent model, the app: 160k-260k objects) lives as
            # long as the process. Each full collection walked all of it, ~70 ms with every request of
            # the worker stalled, about once per 1,000 requests: the p99 at concurrency 16. Frozen
            # objects are never walked again; garbage made later is collected as before.
            gc.collect()
            gc.freeze()
            runtime.metrics.gc_frozen.set(gc.get_freeze_count())
        yield
        # Graceful shutdown: uvicorn has stopped accepting and drained in-flight requests (a running
        # upload finished and activated its version, or failed and was marked failed); now flush the
        # analytics queue and release the database. A build still running after uvicorn's grace period
        # would be cut off with the process: mark it failed now (its thread can no longer activate it),
        # so no replica waits for it and the previous version keeps serving.
        for shop_id, version in runtime.fail_own_builds():
            logger.warning("shutdown: shop %s version %d was still building; marked failed", shop_id, version)
        runtime.close()

    app = FastAPI(
        title="smartreply",
        summary="Reply suggestions for Chinese e-commerce customer service.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    metrics = runtime.metrics
    app.state.metrics = metrics
    app.add_middleware(RequestMiddleware, metrics=metrics, max_body_bytes=runtime.settings.max_body_bytes,
                       max_upload_bytes=runtime.settings.max_upload_bytes)
    install_error_handlers(app)
    install_openapi(app, runtime.settings)
    app.include_router(health.router)

    @app.get("/metrics", tags=["operations"], include_in_schema=False)
    def prometheus_metrics() -> Response:
        """Prometheus metrics of this process (unauthenticated: bind it to a private network)."""
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    # The suggestion route first: a request is matched against the routes in order; behind the others
    # it took 92 µs per suggestion to match, first 10 µs.
    app.include_router(suggestions.router)
    app.include_router(keys.router)
    app.include_router(kb.router)
    app.include_router(kb.template_router, dependencies=[Depends(_any_key)])
    app.include_router(quick_phrases.router)
    app.include_router(rules.router)
    app.include_router(shops.router)
    app.include_router(compliance.router)
    app.include_router(feedback.router)
    app.include_router(learned.router)
    app.include_router(analytics.router)
    if demo or runtime.settings.demo_keys_route:
        app.include_router(demo_routes.router)  # the demo keys, to this machine only
    app.include_router(desk.router)  # routing tables, desk events, conversation states, 客服绩效
    app.include_router(pages.router)  # the console pages (service/static)
    return app


def _json_uvicorn_logs() -> None:
    """uvicorn configured its own text handlers: send its lines through the root (JSON) handler instead,
    and drop its access log (the request middleware writes one JSON line per request, with the request id)."""
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True


async def _any_key(caller: AnyKey) -> None:
    """Routes without a shop still need a valid key."""
