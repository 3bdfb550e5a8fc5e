"""``smartreply kb …``: manage a shop's knowledge base from the shell."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import cli_errors, runtime_with_encoder, settings_from, setup_logging

app = typer.Typer(help="Import, inspect, diff, export and roll back knowledge bases.", no_args_is_help=True)


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="FAQ file: .xlsx, .csv, .json or .jsonl.", exists=True,
                                         dir_okay=False, readable=True)],
    shop: Annotated[str, typer.Option("--shop", help="Shop id.", envvar="SMARTREPLY_SHOP")],
    partial: Annotated[bool, typer.Option("--partial", help="Import the valid rows and report the rest "
                                          "(default: any error row rejects the file).")] = False,
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

            result = runtime.import_file(shop, file.name, file.read_bytes(), progress=progress,
                                         mode="partial" if partial else "reject")
    for w in [*result.skipped, *result.warnings]:
        label = "skipped" if w.severity == "error" else "warning"
        typer.echo(f"{label}: row {w.row} column {w.column}: {w.reason}", err=True)
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


Shop = Annotated[str, typer.Option("--shop", help="Shop id.", envvar="SMARTREPLY_SHOP")]


@app.command("export")
def export(
    shop: Shop,
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write; .xlsx or .csv decides the format.",
                                         dir_okay=False)],
    version: Annotated[int | None, typer.Option(help="Version to export (default: the active one).")] = None,
) -> None:
    """Export a version's entries in the upload format (importing the file gives the same entries)."""
    fmt = output.suffix.lower().lstrip(".")
    if fmt not in ("xlsx", "csv"):
        typer.echo("Error: --output must end in .xlsx or .csv", err=True)
        raise typer.Exit(1)
    settings = settings_from()
    with cli_errors():
        from knowledge_base.export import export_faq

        from ..runtime import Runtime

        store = Runtime(settings).store
        number = version or store.require_active_version(shop)
        store.get_version(shop, number)
        output.write_bytes(export_faq(store.entries(shop, number), fmt))
    typer.echo(f"shop {shop}: version {number} written to {output}")


@app.command("diff")
def diff(
    shop: Shop,
    from_version: Annotated[int, typer.Argument(help="The older version.")],
    to_version: Annotated[int | None, typer.Argument(help="The newer version (default: the active one).")] = None,
) -> None:
    """Entries added (+), removed (-) and changed (~) between two versions."""
    settings = settings_from()
    with cli_errors():
        from knowledge_base.editing import diff_entries

        from ..runtime import Runtime

        store = Runtime(settings).store
        to_version = to_version or store.require_active_version(shop)
        for v in (from_version, to_version):
            store.get_version(shop, v)
        result = diff_entries(store.entries(shop, from_version), store.entries(shop, to_version))
    typer.echo(f"v{from_version} → v{to_version}: {len(result.added)} added, {len(result.removed)} removed, "
               f"{len(result.changed)} changed, {result.unchanged} unchanged")
    for e in result.added:
        typer.echo(f"+ {e.id} {e.question}")
    for e in result.removed:
        typer.echo(f"- {e.id} {e.question}")
    for c in result.changed:
        typer.echo(f"~ {c.entry_id} {c.after.question} ({', '.join(c.fields)})")


@app.command("activate")
def activate(shop: Shop, version: Annotated[int, typer.Argument(help="The version to serve again.")]) -> None:
    """Make an older version the active one again (rollback); atomic, nothing is rebuilt."""
    settings = settings_from()
    with cli_errors():
        runtime = runtime_with_encoder(settings)
        result = runtime.kb.activate(shop, version)
    typer.echo(f"shop {shop}: version {result.version} is active ({result.entry_count} entries, {result.source})")


@app.command("template")
def template(output: Annotated[Path, typer.Argument(help="faq-template.xlsx or .csv to write.", dir_okay=False)]) -> None:
    """Write the FAQ upload template (header, two examples and, for .xlsx, a 说明 sheet)."""
    from knowledge_base.export import template_file

    fmt = output.suffix.lower().lstrip(".")
    if fmt not in ("xlsx", "csv"):
        typer.echo("Error: the template file must end in .xlsx or .csv", err=True)
        raise typer.Exit(1)
    output.write_bytes(template_file(fmt))
    typer.echo(f"template written to {output}")
