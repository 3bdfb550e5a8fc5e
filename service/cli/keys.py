"""``smartreply keys …``: create, list and revoke API keys (the secret is printed once, stored hashed)."""

from __future__ import annotations

from typing import Annotated

import typer

from .common import cli_errors, settings_from

app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)


def _ring():  # noqa: ANN202 - KeyRing
    from knowledge_base.keys import KeyRing

    from ..runtime import Runtime

    return KeyRing(Runtime(settings_from()).store)


@app.command("create-operator")
def create_operator(name: Annotated[str, typer.Option(help="What the key is for.")] = "operator") -> None:
    """Create a platform operator key (creates shops and their keys). Printed once: store it now."""
    with cli_errors():
        created = _ring().create(None, ["operator"], name)
    typer.echo(created.key)
    typer.echo(f"operator key {created.info.key_id} created; it is shown only this once.", err=True)


@app.command("create")
def create(
    shop: Annotated[str, typer.Option("--shop", help="Shop id.", envvar="SMARTREPLY_SHOP")],
    scope: Annotated[list[str], typer.Option("--scope", help="agent and/or admin (repeat the option).")],
    name: Annotated[str, typer.Option(help="What the key is for.")] = "",
) -> None:
    """Create a key of a shop. Printed once: store it now."""
    with cli_errors():
        created = _ring().create(shop, scope, name)
    typer.echo(created.key)
    typer.echo(f"key {created.info.key_id} of shop {shop} ({' '.join(sorted(created.info.scopes))}) created; "
               "it is shown only this once.", err=True)


@app.command("list")
def list_(shop: Annotated[str | None, typer.Option("--shop", help="Shop id (default: operator keys).")] = None) -> None:
    """List keys (never their secrets)."""
    with cli_errors():
        for k in _ring().list(shop):
            state = f"revoked {k.revoked_at:%Y-%m-%d}" if k.revoked_at else "active"
            typer.echo(f"{k.key_id}  {k.prefix}…  {' '.join(sorted(k.scopes)):<12} {state:<18} {k.name}")


@app.command("revoke")
def revoke(key_id: Annotated[str, typer.Argument(help="The key's id (from `keys list`).")],
           shop: Annotated[str | None, typer.Option("--shop", help="Shop id (omit for an operator key).")] = None) -> None:
    """Revoke a key: refused from the next request on, in every replica."""
    with cli_errors():
        k = _ring().revoke(shop, key_id)
    typer.echo(f"key {k.key_id} revoked")
