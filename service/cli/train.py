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


@app.command("escalation")
def escalation(
    data: Annotated[Path | None, typer.Option(help="Labelled messages: JSONL {text, label, turns?}.",
                                              show_default="training/data/escalation_train.jsonl")] = None,
    dev: Annotated[Path | None, typer.Option(help="Labelled messages the two thresholds are tuned on.",
                                             show_default="eval/data/escalation_dev.jsonl")] = None,
    exclude: Annotated[list[Path] | None, typer.Option(
        help="Labelled files never trained on, not even as extra negatives (repeatable).",
        show_default="eval/data/escalation_test.jsonl")] = None,
    out: Annotated[Path | None, typer.Option(help="Output folder.", show_default="<artifacts>/escalation")] = None,
    c: Annotated[float, typer.Option("--c", help="Inverse regularisation strength of the logistic regression.")] = 16.0,
    force: Annotated[bool, typer.Option(help="Train again even if this data and encoder were trained on.")] = False,
) -> None:
    """Train the escalation model (logistic regression over sentence vectors) and tune its thresholds on dev."""
    from models.normalize import normalize_text
    from training.train_escalation import (
        DEFAULT_ESCALATION_DATA,
        DEFAULT_ESCALATION_DEV,
        DEFAULT_ESCALATION_TEST,
        train_escalation,
    )

    from .common import runtime_with_encoder

    settings = settings_from()
    with cli_errors():
        runtime = runtime_with_encoder(settings)
        result = train_escalation(data or DEFAULT_ESCALATION_DATA, runtime.encoder, out or settings.escalation_dir,
                                  dev=dev or DEFAULT_ESCALATION_DEV,
                                  exclude=tuple(exclude) if exclude else (DEFAULT_ESCALATION_TEST,), C=c,
                                  force=force, normalise=normalize_text)
    state = "cached" if result.cached else f"trained in {result.seconds:.1f}s"
    d = result.dev
    typer.echo(f"{result.folder} ({state}): {result.examples} examples; thresholds {result.threshold:g} / "
               f"{result.weak_threshold:g}; dev precision {d.get('precision')}, recall {d.get('recall')}, F1 {d.get('f1')}")


@app.command("quick-phrases")
def quick_phrases(
    out: Annotated[Path | None, typer.Option(help="Output folder.", show_default="<artifacts>/quick_phrases")] = None,
    force: Annotated[bool, typer.Option(help="Train again even if nothing changed.")] = False,
) -> None:
    """Fit the quick-phrase scorer (how likely a shop's 快捷短语 answers a message) on the team's labelled
    phrases and the intent model's held-out messages."""
    from models.normalize import normalize_text
    from training.train_quick_phrases import train_quick_phrases

    from .common import runtime_with_encoder

    settings = settings_from()
    with cli_errors():
        runtime = runtime_with_encoder(settings)
        result = train_quick_phrases(runtime.encoder, runtime.intent_model, out or settings.quick_phrase_scorer_dir,
                                     force=force, normalise=normalize_text)
    state = "cached" if result.cached else f"trained in {result.seconds:.1f}s"
    typer.echo(f"{result.folder} ({state}): {result.phrases} phrases x {result.messages} messages; cross-validated "
               f"top-1 {result.top1:.3f}, precision of pairs scored >= 0.5: {result.precision_at_half}")


@app.command("encoder")
def encoder_cmd(
    out: Annotated[Path, typer.Option(help="Folder for the fine-tuned sentence-transformers model.")],
    pairs: Annotated[Path | None, typer.Option(
        help="Labelled question pairs (ATEC/AFQMC TSV, BQ CSV, LCQMC TSV: text, text, 0/1).")] = None,
    shop: Annotated[str | None, typer.Option(
        help="Instead of --pairs: pairs from this shop's active knowledge base (same entry = positive).")] = None,
    base: Annotated[str | None, typer.Option(help="Model to start from.", envvar="SMARTREPLY_ENCODER",
                                             show_default="m3e-small")] = None,
    epochs: Annotated[int, typer.Option(min=1, max=20, help="Passes over the pairs.")] = 1,
    batch_size: Annotated[int, typer.Option(min=4, max=512, help="Pairs per step.")] = 64,
    limit: Annotated[int | None, typer.Option(min=1, help="Use only the first N pairs (quick runs).")] = None,
    export: Annotated[bool, typer.Option(help="Export and verify the ONNX encoder afterwards.")] = True,
) -> None:
    """Fine-tune the encoder with CoSENT on question pairs, then export it to ONNX.

    Serve it with SMARTREPLY_ENCODER=OUT (and re-upload the shops' FAQs: indexes remember their encoder).
    """
    from training.finetune_encoder import finetune_encoder, kb_pairs

    settings = settings_from(encoder=base)
    if (pairs is None) == (shop is None):
        typer.echo("Error: give exactly one of --pairs FILE or --shop ID", err=True)
        raise typer.Exit(1)
    with cli_errors():
        if pairs is not None:
            from eval.datasets import load_pairs

            rows = [(p.a, p.b, float(p.label)) for p in load_pairs(pairs)]
        else:
            from ..runtime import Runtime

            runtime = Runtime(settings)
            _, entries = runtime.kb.entries(shop)
            rows = kb_pairs(entries)
        rows = rows[:limit] if limit else rows
        result = finetune_encoder(settings.encoder, rows, out, epochs=epochs, batch_size=batch_size,
                                  progress=lambda m: typer.echo(m, err=True))
        if export:
            from training.export_onnx import export_encoder

            exported = export_encoder(str(out), settings.artifacts_dir, progress=lambda m: typer.echo(m, err=True))
            typer.echo(f"ONNX: {exported.artifact_dir} (int8 cosine to reference {exported.mean_cosine_int8:.4f})")
    typer.echo(f"{result.model_dir}: {result.pairs} pairs, {result.epochs} epoch(s), {result.seconds:.0f}s")
