"""``smartreply suggest``: ask for suggestions in process, without a server."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from ..pipeline import SuggestRequest
from .common import cli_errors, runtime_with_encoder, settings_from, setup_logging


def suggest(
    message: Annotated[str, typer.Argument(help="The buyer's message.")],
    shop: Annotated[str, typer.Option("--shop", help="Shop id.", envvar="SMARTREPLY_SHOP")],
    top_k: Annotated[int, typer.Option(help="How many suggestions.", min=1, max=100)] = 3,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Print the best FAQ answers for MESSAGE from the shop's active knowledge base."""
    settings = settings_from()
    setup_logging(settings, quiet=True)
    with cli_errors():
        runtime = runtime_with_encoder(settings)
        result = runtime.suggester.suggest(SuggestRequest(shop, message, top_k=top_k))
    routing = vars(result.routing) if result.routing else None
    escalate = ({"level": result.escalate.level, "reasons": [vars(r) for r in result.escalate.reasons]}
                if result.escalate else None)
    if as_json:
        typer.echo(json.dumps({"kb_version": result.kb_version,
                               "suggestions": [vars(s) for s in result.suggestions],
                               "routing": routing, "escalate": escalate,
                               "timings_ms": result.timings_ms}, ensure_ascii=False, indent=2))
        return
    if not result.suggestions:
        typer.echo("(no suggestions)")
    for rank, s in enumerate(result.suggestions, start=1):
        typer.echo(f"{rank}. [{s.score:.3f}] {s.entry_id} {s.question}  (matched: {s.matched_question})")
        typer.echo(f"   {s.answer}")
    if routing:
        why = routing["intent"] or routing["category"] or routing["keyword"] or ""
        typer.echo(f"routing: {routing['group']} ({routing['reason']}{' ' + why if why else ''})")
    if escalate:
        typer.echo(f"escalate: {escalate['level']} ({', '.join(r['code'] for r in escalate['reasons'])}); "
                   "no suggestion is auto-replied")
