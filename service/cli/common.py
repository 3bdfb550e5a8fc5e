"""What every command shares: settings from options + environment, one error handler, logging."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Callable, Iterator
from typing import Any

import typer

from models.errors import EncoderNotExported, SmartReplyError

from ..config import Settings
from ..runtime import Runtime

__all__ = ["settings_from", "cli_errors", "runtime_with_encoder", "setup_logging"]


def settings_from(**overrides: Any) -> Settings:
    """Settings from the environment, with the options the user actually gave on top."""
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValueError as exc:  # pydantic's ValidationError: show it as a sentence, not a traceback
        typer.echo(f"Error: invalid setting: {exc}", err=True)
        raise typer.Exit(1) from exc


def setup_logging(settings: Settings, *, quiet: bool = False) -> None:
    """Log to stderr. ``quiet`` commands (one-shot ones) log warnings only unless a level was set."""
    level = settings.log_level.upper()
    if quiet and "log_level" not in settings.model_fields_set:
        level = "WARNING"
    # Third-party libraries' INFO lines (Alembic's "Will assume non-transactional DDL", its plugin
    # set-up, httpx's request lines) are noise to an operator; their warnings still show.
    for name in _CHATTY:
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLevelName(level)))
    if settings.json_logs and not quiet:
        from ..observability import JsonFormatter

        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        logging.basicConfig(level=level, handlers=[handler], force=True)
        return
    from ..observability import TextFormatter

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(TextFormatter())
    logging.basicConfig(level=level, handlers=[handler], force=True)


_CHATTY = ("alembic", "alembic.runtime.migration", "alembic.runtime.plugins", "httpx", "httpcore", "jieba",
           "multipart", "python_multipart", "numexpr", "faiss", "faiss.loader")


@contextlib.contextmanager
def cli_errors() -> Iterator[None]:
    """Map the domain exception tree to one line on stderr and exit status 1."""
    try:
        yield
    except SmartReplyError as exc:
        typer.echo(f"Error: {exc.message}", err=True)
        for detail in exc.details[:50]:
            where = ", ".join(f"{k} {detail[k]}" for k in ("sheet", "row", "column") if k in detail)
            typer.echo(f"  - {where + ': ' if where else ''}{detail.get('reason', detail)}", err=True)
        if len(exc.details) > 50:
            typer.echo(f"  … and {len(exc.details) - 50} more", err=True)
        raise typer.Exit(1) from exc


def runtime_with_encoder(settings: Settings) -> Runtime:
    """A runtime whose encoder is loaded, exporting the ONNX encoder first if it was never built."""
    runtime = Runtime(settings)
    try:
        runtime.encoder  # noqa: B018 - loads it
    except EncoderNotExported:
        if settings.encoder_backend != "onnx":
            raise
        typer.echo(f"ONNX encoder for {settings.encoder!r} not built yet; exporting it once (about a minute)…",
                   err=True)
        from training.export_onnx import export_encoder

        export_encoder(settings.encoder, settings.artifacts_dir, progress=lambda m: typer.echo(m, err=True))
        runtime.encoder  # noqa: B018
    return runtime


@contextlib.contextmanager
def progress_bar(label: str) -> Iterator[Callable[[int, int], None]]:
    """A terminal progress bar, as the ``progress(done, total)`` callback the library functions take."""
    with typer.progressbar(length=1, label=label, file=None) as bar:
        def progress(done: int, total: int) -> None:
            bar.length = total
            bar.update(done - bar.pos)

        yield progress
