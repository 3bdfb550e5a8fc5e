"""``smartreply train …``: build model artifacts (needs the training extras: torch, sentence-transformers)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import cli_errors, settings_from

app = typer.Typer(help="Export and train models.", no_args_is_help=True)


@app.command("export-onnx")
def export_onnx(
    encoder: Annotated[str | None, typer.Option(help="Encoder: 'm3e-small' or a local sentence-transformers folder.",
                                                envvar="SMARTREPLY_ENCODER", show_default="m3e-small")] = None,
    artifacts_dir: Annotated[Path | None, typer.Option(help="Where artifacts go.", envvar="SMARTREPLY_ARTIFACTS_DIR",
                                                       show_default="artifacts")] = None,
    force: Annotated[bool, typer.Option(help="Export again even if a verified artifact exists.")] = False,
) -> None:
    """Export the encoder to ONNX (fp32 + int8), verify it against sentence-transformers, cache it."""
    settings = settings_from(encoder=encoder, artifacts_dir=artifacts_dir)
    with cli_errors():
        try:
            from training.export_onnx import export_encoder
        except ImportError as exc:
            typer.echo(f"Error: exporting needs the training extras: pip install -e '.[train]' ({exc})", err=True)
            raise typer.Exit(1) from exc
        result = export_encoder(settings.encoder, settings.artifacts_dir, force=force,
                                progress=lambda m: typer.echo(m, err=True))
    state = "cached" if result.cached else f"exported in {result.seconds:.1f}s"
    typer.echo(f"{result.artifact_dir} ({state}); mean cosine to sentence-transformers: "
               f"fp32 {result.mean_cosine_fp32:.4f}, int8 {result.mean_cosine_int8:.4f} "
               f"(min int8 {result.min_cosine_int8:.4f})")
