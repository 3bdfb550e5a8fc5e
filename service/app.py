"""``create_app(settings)``: the FastAPI application, built from settings, never at import time."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from .api import compliance, health, kb, quick_phrases, rules, shops, suggestions
from .api.errors import install_error_handlers
from .config import Settings
from .runtime import Runtime

__all__ = ["create_app"]

logger = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, *, runtime: Runtime | None = None, demo: bool = False) -> FastAPI:
    """Build the app. ``demo=True`` loads the bundled demo shop at start-up if it is not loaded yet."""
    runtime = runtime or Runtime(settings or Settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Load the encoder before taking traffic, so the first request is not the slow one and a
        # missing model fails the start, not a buyer's request.
        encoder = runtime.encoder
        logger.info("encoder %s (%s, %d-d) ready", encoder.model_id, runtime.settings.encoder_backend, encoder.dim)
        # A previous process killed mid-build left a `building` version: fail it, drop its files.
        report = runtime.recover()
        for shop_id, version in report.failed:
            logger.warning("recovered: shop %s version %d was abandoned mid-build and is marked failed",
                           shop_id, version)
        if demo:
            result = runtime.ensure_demo_shop()
            if result is not None:
                logger.info("demo shop loaded: version %d, %d entries, %d phrasings",
                            result.version, result.entries, result.phrasings)
        yield
        runtime.close()

    app = FastAPI(
        title="smartreply",
        summary="Reply suggestions for Chinese e-commerce customer service.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(kb.router)
    app.include_router(kb.template_router)
    app.include_router(quick_phrases.router)
    app.include_router(rules.router)
    app.include_router(shops.router)
    app.include_router(suggestions.router)
    app.include_router(compliance.router)
    return app
