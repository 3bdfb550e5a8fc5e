"""``smartreply kb …``: manage a shop's knowledge base from the shell."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from models.errors import SmartReplyError

from ..pipeline import warm as warm_shops
from .common import cli_errors, progress_bar, runtime_with_encoder, settings_from, setup_logging

app = typer.Typer(help="Import, inspect, diff, export and roll back knowledge bases.", no_args_is_help=True)


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="FAQ file: .xlsx, .csv, .json or .jsonl.", exists=True,
                                         dir_okay=False, readable=True)],
    shop: Annotated[str, typer.Option("--shop", help="Shop id.", envvar="SMARTREPLY_SHOP")],
    partial: Annotated[bool, typer.Option("--partial", help="Import the valid rows and report the rest "
                                          "(default: any error row rejects the file).")] = False,
    merge: Annotated[bool, typer.Option("--merge", help="Add and update entries by id and keep the others "
                                        "(default: the file replaces the whole FAQ).")] = False,
    confirm_remove: Annotated[int | None, typer.Option(
        "--confirm-remove", min=0, help="The number of entries the import removes, when it removes more than "
        "SMARTREPLY_UPLOAD_CONFIRM_REMOVE_OVER (the error says how many).")] = None,
) -> None:
    """Import FILE as a new version of the shop's knowledge base and activate it."""
    settings = settings_from()
    setup_logging(settings, quiet=True)
    with cli_errors():
        runtime = runtime_with_encoder(settings)
        with progress_bar("embedding") as progress:
            result = runtime.uploads.import_file(shop, file.name, file.read_bytes(), progress=progress,
                                         mode="partial" if partial else "reject",
                                         upload_mode="merge" if merge else "replace", confirm_remove=confirm_remove)
    for w in [*result.skipped, *result.warnings]:
        label = "skipped" if w.severity == "error" else "warning"
        typer.echo(f"{label}: row {w.row} column {w.column}: {w.reason}", err=True)
    if result.no_changes:
        typer.echo(f"shop {result.shop_id}: no changes — the file equals the active version {result.version}")
        return
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


@app.command("reindex")
def reindex(
    shops: Annotated[list[str] | None, typer.Option("--shop", help="Shop id (repeatable); default: every shop "
                                                    "with an active knowledge base.")] = None,
) -> None:
    """Re-embed each shop's active knowledge base with the configured encoder, as a new version (after
    switching SMARTREPLY_ENCODER). Shops already built by it are skipped."""
    settings = settings_from()
    setup_logging(settings, quiet=True)
    failed = 0
    with cli_errors():
        runtime = runtime_with_encoder(settings)
        ids = sorted(runtime.store.shops_with_active_version()) if not shops else shops
    for shop_id in ids:
        try:
            before, result = runtime.kb.reindex(shop_id)
        except SmartReplyError as exc:
            failed += 1
            typer.echo(f"shop {shop_id}: not reindexed: {exc.message}", err=True)
            continue
        if result is None:
            typer.echo(f"shop {shop_id}: v{before.version} is built with {before.encoder_id} already; skipped")
        else:
            typer.echo(f"shop {shop_id}: v{before.version} ({before.encoder_id}) → v{result.version} "
                       f"({runtime.encoder.model_id}): {result.entries} entries, {result.phrasings} phrasings "
                       f"in {result.seconds:.1f}s")
    if failed:
        raise typer.Exit(1)


@app.command("warm")
def warm(
    shops: Annotated[list[str] | None, typer.Option("--shop", help="Shop id (repeatable); default: every shop "
                                                    "with an active knowledge base.")] = None,
) -> None:
    """Load each shop's active version once so its derived files (ranker weights, gram tables, search
    graphs) exist for this version of smartreply and these settings: run it after an upgrade, before
    traffic, with the same settings as `serve`."""
    settings = settings_from()
    setup_logging(settings, quiet=True)
    with cli_errors():
        runtime = runtime_with_encoder(settings)
        with progress_bar("warming") as progress:
            results = warm_shops(runtime.new_pipeline(memory_budget=1).shops, shops or None, progress=progress)
    failed = [r for r in results if r.error is not None]
    for r in failed:
        typer.echo(f"shop {r.shop_id}: not warmed: {r.error}", err=True)
    ok = [r for r in results if r.error is None]
    slowest = max(ok, key=lambda r: r.seconds, default=None)
    typer.echo(f"warmed {len(ok)} of {len(results)} shops ({sum(r.phrasings for r in ok)} phrasings) in "
               f"{sum(r.seconds for r in results):.1f}s" +
               (f"; slowest {slowest.shop_id} v{slowest.version} {slowest.seconds:.2f}s" if slowest else ""))
    if failed:
        raise typer.Exit(1)


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


@app.command("mine")
def mine(
    chatlog: Annotated[Path, typer.Argument(help="Chat log: JDDC chat TSV (7 columns) or JSONL of conversations "
                                            '({"conversation_id", "turns": [{"role", "text"}]}).', exists=True,
                                            dir_okay=False, readable=True)],
    out: Annotated[Path, typer.Option("--out", "-o", help="FAQ CSV to write (importable with `kb import`).",
                                      dir_okay=False, envvar="SMARTREPLY_MINE_OUT")],
    min_size: Annotated[int, typer.Option("--min-size", min=1, envvar="SMARTREPLY_MINE_MIN_SIZE",
                                          help="Conversations a cluster needs to become an entry.")] = 3,
    threshold: Annotated[float, typer.Option("--threshold", min=0.0, max=1.0, envvar="SMARTREPLY_MINE_THRESHOLD",
                                             help="Cosine at which two buyer questions join a cluster.")] = 0.9,
    max_clusters: Annotated[int, typer.Option("--max-clusters", min=1, envvar="SMARTREPLY_MINE_MAX_CLUSTERS",
                                              help="Entries to write at most (largest clusters first).")] = 200,
    max_similar: Annotated[int, typer.Option("--max-similar", min=0, envvar="SMARTREPLY_MINE_MAX_SIMILAR",
                                             help="相似问题 per entry at most.")] = 10,
    fmt: Annotated[str, typer.Option("--format", envvar="SMARTREPLY_MINE_FORMAT",
                                     help="auto (by suffix / first line), jddc or jsonl.")] = "auto",
    method: Annotated[str, typer.Option("--method", envvar="SMARTREPLY_MINE_METHOD",
                                        help="auto, agglomerative (average linkage) or leader (greedy, FAISS; "
                                             "for large logs).")] = "auto",
    report: Annotated[Path | None, typer.Option("--report", dir_okay=False,
                                                help="Also write every cluster (members with counts, replies) "
                                                     "as JSON, for review.")] = None,
) -> None:
    """Mine FAQ candidates from a chat log: cluster buyer questions, pair them with agent replies."""
    if fmt not in ("auto", "jddc", "jsonl"):
        typer.echo("Error: --format must be auto, jddc or jsonl", err=True)
        raise typer.Exit(1)
    if method not in ("auto", "agglomerative", "leader"):
        typer.echo("Error: --method must be auto, agglomerative or leader", err=True)
        raise typer.Exit(1)
    if out.suffix.lower() != ".csv":
        typer.echo("Error: --out must end in .csv", err=True)
        raise typer.Exit(1)
    settings = settings_from()
    setup_logging(settings, quiet=True)
    with cli_errors():
        import json

        from knowledge_base.chatlogs import read_chat_log
        from knowledge_base.mining import MiningOptions, mine_faq
        from models.normalize import normalize_text

        conversations = read_chat_log(chatlog, fmt)  # type: ignore[arg-type]
        runtime = runtime_with_encoder(settings)
        options = MiningOptions(threshold=threshold, min_size=min_size, max_clusters=max_clusters,
                                max_similar=max_similar, method=method)  # type: ignore[arg-type]
        with typer.progressbar(length=1, label="embedding questions", file=None) as bar:
            def progress(phase: str, done: int, total: int) -> None:
                bar.label = f"embedding {phase}" if phase != "clustering" else "clustering"
                if bar.length != total:
                    bar.length, bar.pos = total, 0
                bar.update(done - bar.pos)

            result = mine_faq(conversations, runtime.encoder, options, normalise=normalize_text,
                              limits=runtime.parse_limits, progress=progress)
        _write_atomic(out, result.to_csv())
        if report is not None:
            _write_atomic(report, json.dumps({
                "stats": result.stats, "threshold": threshold, "min_size": min_size,
                "clusters": [{"id": c.id, "size": c.size, "cohesion": round(c.cohesion, 4), "question": c.question,
                              "answer": c.answer, "members": c.members, "replies": c.replies[:20]}
                             for c in result.clusters]}, ensure_ascii=False, indent=1).encode("utf-8"))
    s = result.stats
    typer.echo(f"{s.get('conversations', 0)} conversations, {s.get('question_turns', 0)} question turns "
               f"({s.get('distinct_questions', 0)} distinct, {s.get('dropped_turns', 0)} other buyer turns left out)")
    typer.echo(f"{s.get('clusters_total', 0)} clusters, {s.get('clusters_min_size', 0)} with ≥ {min_size} "
               f"conversations; dropped: {s.get('dropped_no_reply', 0)} without a substantive reply, "
               f"{s.get('dropped_compliance', 0)} whose replies all failed the compliance check "
               f"({s.get('replies_blocked_by_compliance', 0)} replies blocked), {s.get('dropped_invalid', 0)} invalid")
    sizes = ", ".join(str(c.size) for c in result.clusters[:10])
    typer.echo(f"{len(result.entries)} entries written to {out} (largest: {sizes or '-'}); review, then "
               f"`smartreply kb import {out} --shop SHOP`")


@app.command("mine-coverage")
def mine_coverage(
    faq: Annotated[Path, typer.Argument(help="A FAQ file (e.g. what `kb mine` wrote).", exists=True, dir_okay=False)],
    dev_questions: Annotated[Path, typer.Option("--dev-questions", exists=True, dir_okay=False,
                                                help="JDDC 2019 dev/test questions file (dev_question.txt format).")],
    dev_answers: Annotated[Path, typer.Option("--dev-answers", exists=True, dir_okay=False,
                                              help="The matching answers file (dev_answer.txt format).")],
    thresholds: Annotated[str, typer.Option("--thresholds", help="Comma-separated cosine thresholds.")]
    = "0.80,0.85,0.88,0.90,0.92,0.95",
    pairs_out: Annotated[Path | None, typer.Option("--pairs-out", dir_okay=False,
                                                   help="Write each buyer turn with its nearest mined question "
                                                        "and the cosine (JSONL), for a manual check.")] = None,
) -> None:
    """Share of JDDC buyer turns whose nearest mined question (standard or similar) reaches a cosine."""
    try:
        cuts = sorted(float(t) for t in thresholds.split(",") if t.strip())
    except ValueError:
        typer.echo("Error: --thresholds must be numbers separated by commas, e.g. 0.85,0.9", err=True)
        raise typer.Exit(1) from None
    settings = settings_from()
    setup_logging(settings, quiet=True)
    with cli_errors():
        import json

        import numpy as np

        from eval.datasets import load_jddc_dev
        from knowledge_base.mining import is_question_like, normalise_placeholders
        from knowledge_base.parsing import parse_kb_file
        from models.normalize import normalize_text

        parsed = parse_kb_file(faq.name, faq.read_bytes(), _parse_limits(settings))
        phrasings = [(e.id, text) for e in parsed.entries if e.enabled for text in e.phrasings]
        if not phrasings:
            typer.echo(f"Error: {faq} holds no enabled entries", err=True)
            raise typer.Exit(1)
        turns = load_jddc_dev(dev_questions, dev_answers)
        queries = [normalise_placeholders(t.query) for t in turns]
        encoder = runtime_with_encoder(settings).encoder
        kb = encoder.encode([normalize_text(t) for _, t in phrasings])
        qv = encoder.encode([normalize_text(q) for q in queries])
        sims = qv @ kb.T
        best = sims.argmax(axis=1)
        score = sims[np.arange(len(queries)), best]
        asks = np.array([is_question_like(q) for q in queries])
    typer.echo(f"{len(turns)} buyer turns ({int(asks.sum())} question-like), {len(parsed.entries)} entries, "
               f"{len(phrasings)} phrasings")
    typer.echo("threshold  covered(all turns)  covered(question-like turns)")
    for cut in cuts:
        hit = score >= cut
        typer.echo(f"{cut:9.2f}  {hit.mean():18.1%}  {hit[asks].mean() if asks.any() else 0:28.1%}")
    if pairs_out is not None:
        with pairs_out.open("w", encoding="utf-8") as fh:
            for turn, q, i, s, a in zip(turns, queries, best, score, asks):
                fh.write(json.dumps({"session": turn.session, "index": turn.index, "query": q, "question_like": bool(a),
                                     "entry_id": phrasings[i][0], "nearest": phrasings[i][1],
                                     "cosine": round(float(s), 4)}, ensure_ascii=False) + "\n")


def _parse_limits(settings):  # noqa: ANN001, ANN202 - the parse limits the server applies
    from ..runtime import Runtime

    return Runtime(settings).parse_limits


def _write_atomic(path: Path, data: bytes) -> None:
    import os
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
