"""The ``smartreply`` command line (``python -m service`` works too)."""

from __future__ import annotations

import typer

from . import bench, cluster, kb, keys, serve, suggest, train
from . import eval as eval_cli

__all__ = ["app", "main"]

app = typer.Typer(
    name="smartreply",
    help="Reply suggestions for Chinese e-commerce customer service.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("serve")(serve.serve)
app.command("suggest")(suggest.suggest)
app.command("bench")(bench.bench)
app.command("bench-shops")(bench.bench_shops)
app.command("capacity")(bench.capacity)
app.add_typer(kb.app, name="kb")
app.add_typer(keys.app, name="keys")
app.add_typer(cluster.app, name="cluster")
app.add_typer(train.app, name="train")
app.add_typer(eval_cli.app, name="eval")


def main() -> None:
    app()
