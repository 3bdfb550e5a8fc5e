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


@app.command("intent")
def intent(
    data: Annotated[Path | None, typer.Option(help="Labelled examples: JSONL {text, intent} or CSV text,intent.",
                                              show_default="training/data/platform_intents.jsonl")] = None,
    test: Annotated[Path | None, typer.Option(help="Held-out labelled file to report accuracy and macro-F1 on.",
                                              show_default="training/data/platform_intents_test.jsonl")] = None,
    out: Annotated[Path | None, typer.Option(help="Output folder.", show_default="<artifacts>/intent/platform")] = None,
    c: Annotated[float, typer.Option("--c", help="Inverse regularisation strength of the logistic regression.")] = 10.0,
    force: Annotated[bool, typer.Option(help="Train again even if this data and encoder were trained on.")] = False,
) -> None:
    """Train the intent classifier (logistic regression over the encoder's sentence vectors)."""
    from models.normalize import normalize_text
    from training.train_intent import DEFAULT_INTENT_DATA, DEFAULT_INTENT_TEST, train_intent

    from .common import runtime_with_encoder

    settings = settings_from()
    with cli_errors():
        runtime = runtime_with_encoder(settings)
        data_path = data or DEFAULT_INTENT_DATA
        test_path = test if test is not None else (DEFAULT_INTENT_TEST if data is None else None)
        result = train_intent(data_path, runtime.encoder, out or settings.intent_dir, test=test_path, C=c,
                              force=force, normalise=normalize_text)
    state = "cached" if result.cached else f"trained in {result.seconds:.1f}s"
    line = f"{result.folder} ({state}): {result.examples} examples, {result.intents} intents"
    if result.test_accuracy is not None:
        line += f"; held-out accuracy {result.test_accuracy:.3f}, macro-F1 {result.test_macro_f1:.3f}"
    typer.echo(line)
