"""``smartreply serve``: run the HTTP API."""

from __future__ import annotations

from typing import Annotated

import typer

from .common import cli_errors, runtime_with_encoder, settings_from, setup_logging


def serve(
    host: Annotated[str | None, typer.Option(help="Bind address.", envvar="SMARTREPLY_HOST", show_default="127.0.0.1")] = None,
    port: Annotated[int | None, typer.Option(help="Port.", envvar="SMARTREPLY_PORT", show_default="8000")] = None,
    demo: Annotated[bool, typer.Option(help="Load the bundled demo shop (shop id 'demo') at start-up.",
                                       envvar="SMARTREPLY_DEMO")] = False,
    data_dir: Annotated[str | None, typer.Option(help="Folder of the SQLite database and indexes.",
                                                 envvar="SMARTREPLY_DATA_DIR", show_default="var")] = None,
) -> None:
    """Serve the JSON API (OpenAPI docs at /docs)."""
    import uvicorn

    from ..app import create_app

    settings = settings_from(host=host, port=port, data_dir=data_dir)
    setup_logging(settings)
    with cli_errors():
        runtime = runtime_with_encoder(settings)
        app = create_app(runtime=runtime, demo=demo)
        typer.echo(f"smartreply serving on http://{settings.host}:{settings.port} (docs: /docs)", err=True)
        uvicorn.run(app, host=settings.host, port=settings.port, log_level=settings.log_level.lower(),
                    timeout_graceful_shutdown=10)
