"""``smartreply kb …``: manage a shop's knowledge base from the shell."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import cli_errors, runtime_with_encoder, settings_from, setup_logging

app = typer.Typer(help="Import and inspect knowledge bases.", no_args_is_help=True)


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="FAQ file: .xlsx, .csv, .json or .jsonl.", exists=True,
                                         dir_okay=False, readable=True)],
    shop: Annotated[str, typer.Option("--shop", help="Shop id.", envvar="SMARTREPLY_SHOP")],
) -> None:
    """Import FILE as a new version of the shop's knowledge base and activate it."""
    settings = settings_from()
    setup_logging(settings, quiet=True)
    with cli_errors():
        runtime = runtime_with_encoder(settings)
        with typer.progressbar(length=1, label="embedding", file=None) as bar:
            def progress(done: int, total: int) -> None:
                bar.length = total
                bar.update(done - bar.pos)

            result = runtime.import_file(shop, file.name, file.read_bytes(), progress=progress)
    for w in result.warnings:
        typer.echo(f"warning: row {w.row} column {w.column}: {w.reason}", err=True)
    typer.echo(f"shop {result.shop_id}: version {result.version} {'active' if result.active else 'stored'} — "
               f"{result.entries} entries ({result.enabled_entries} enabled), {result.phrasings} phrasings "
               f"indexed in {result.seconds:.1f}s")


@app.command("versions")
def versions(shop: Annotated[str, typer.Option("--shop", help="Shop id.", envvar="SMARTREPLY_SHOP")]) -> None:
    """List the shop's knowledge-base versions."""
    settings = settings_from()
    with cli_errors():
        from ..runtime import Runtime

        for v in Runtime(settings).store.list_versions(shop):
            mark = "*" if v.active else " "
            typer.echo(f"{mark} v{v.version:<4} {v.status:<8} {v.created_at:%Y-%m-%d %H:%M} "
                       f"{v.entry_count:>5} entries {v.phrasing_count:>6} phrasings  {v.source}")
