"""``smartreply eval …``: offline evaluation of the serving pipeline beside baselines."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from .common import cli_errors, runtime_with_encoder, settings_from, setup_logging

app = typer.Typer(help="Evaluate suggestions on labelled data and compare runs.", no_args_is_help=True)

T = TypeVar("T")
REPO = Path(__file__).resolve().parents[2]
DEFAULT_DATA_ROOT = REPO.parent / "shared" / "data"

_DATA_HELP = ("Data file (repeatable for matching and escalation). A relative path that does not exist as given "
              "is looked up under --data-root. faq, replay: a CSDS-topic JSON or a KB file (+ --queries); intent: "
              "a CSDS-topic JSON (train file with --test, else cross-validation); reply: a JDDC dev_question file; "
              "matching: ATEC/BQ/LCQMC pair files; escalation: the labelled JSONL "
              "(eval/data/escalation_test.jsonl) plus any JDDC chat logs / dev_question files whose buyer "
              "turns are counted.")


def _resolve(path: Path | str | None, root: Path) -> Path | None:
    if path is None:
        return None
    p = Path(path)
    if p.exists() or p.is_absolute():
        return p
    candidate = root / p
    return candidate if candidate.exists() else p


def _progress(items: Iterable[T], label: str = "", total: int = 0) -> Iterator[T]:
    from tqdm import tqdm

    # On stderr, and only when it is a terminal (tqdm's disable=None): logs and CI stay clean.
    yield from tqdm(items, desc=label, total=total or None, file=sys.stderr, disable=None, leave=False,
                    dynamic_ncols=True)


def _parse_sets(values: list[str]) -> dict[str, str]:
    out = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            typer.echo(f"Error: --set takes key=value, got {item!r}", err=True)
            raise typer.Exit(1)
        out[key.strip()] = value.strip()
    return out


@app.command("run")
def run(
    task: Annotated[str, typer.Argument(help="faq | intent | reply | matching | escalation | replay")],
    data: Annotated[list[Path], typer.Option("--data", help=_DATA_HELP)],
    out: Annotated[Path, typer.Option("--out", help="Run folder: metrics.json, report.html, predictions.jsonl.")],
    system: Annotated[list[str] | None, typer.Option(
        "--system", help="System spec NAME[:k=v,+flag,-flag] (repeatable); default: every baseline and the "
        "pipeline. Names: most-frequent, majority, bm25, tfidf-char, dense, pipeline, intent-model; escalation: "
        "keywords, lexicon, model, detector.")] = None,
    set_: Annotated[list[str] | None, typer.Option(
        "--set", help="key=value added to every pipeline system (a Settings field: candidates, precision, "
        "backend, encoder …); repeatable.")] = None,
    queries: Annotated[Path | None, typer.Option(help="faq, replay: labelled queries (JSONL of query, "
                                                  "gold_entry_id) for a KB file.")] = None,
    test: Annotated[Path | None, typer.Option(help="intent: test file; without it, cross-validation.")] = None,
    answers: Annotated[Path | None, typer.Option(help="reply: the dev_answer file (default: the --data file's "
                                                  "name with 'question' → 'answer').")] = None,
    bank: Annotated[list[str] | None, typer.Option(
        "--bank", help="reply: reply-bank source (repeatable): a JDDC chat log, a JDDC 2018 *Questions.txt "
        "(its *Answers.txt beside it), or QUESTIONS,ANSWERS.")] = None,
    limit: Annotated[int | None, typer.Option(help="Only the first N queries / examples / turns / pairs "
                                              "(smoke runs).", min=1)] = None,
    bank_limit: Annotated[int | None, typer.Option(help="reply: only the first N mined bank pairs.", min=1)] = None,
    seed: Annotated[int, typer.Option(help="Seed of folds, classifiers and numpy.")] = 0,
    min_rows: Annotated[int, typer.Option(help="faq/intent: keep CSDS topics with at least this many rows.",
                                          min=1)] = 5,
    folds: Annotated[int, typer.Option(help="intent: cross-validation folds.", min=2)] = 5,
    similar_share: Annotated[float, typer.Option(help="faq (CSDS): share of each topic's questions used as "
                                                 "相似问 (the rest are queries).", min=0.0, max=1.0)] = 0.4,
    precision_target: Annotated[float, typer.Option(help="Precision for 'coverage at precision ≥'.",
                                                    min=0.0, max=1.0)] = 0.9,
    window: Annotated[int | None, typer.Option(help="replay: queries per window of the learning curve (default: "
                                               "the stream cut into ten windows).", min=1)] = None,
    shuffle: Annotated[int | None, typer.Option(help="replay: stream the queries shuffled with this seed "
                                                "(default: in the order of the file's rows / lines).")] = None,
    data_root: Annotated[Path, typer.Option(
        help="Where relative --data/--bank paths are looked up.", envvar="SMARTREPLY_EVAL_DATA",
        show_default="../shared/data beside the repository")] = DEFAULT_DATA_ROOT,
    report: Annotated[bool, typer.Option(help="Write report.html.")] = True,
) -> None:
    """Run TASK on labelled data: the serving pipeline in process, beside baselines."""
    from eval.runner import RunOptions, run_eval, write_outputs

    settings = settings_from()
    setup_logging(settings, quiet=True)
    command = "smartreply eval run " + " ".join(shlex.quote(a) for a in sys.argv[3:]) if len(sys.argv) > 3 \
        and sys.argv[1:3] == ["eval", "run"] else "smartreply eval run " + task
    opts = RunOptions(
        task=task, data=[_resolve(d, data_root) for d in data], out=out, systems=list(system or []),
        sets=_parse_sets(list(set_ or [])), queries=_resolve(queries, data_root), test=_resolve(test, data_root),
        answers=_resolve(answers, data_root),
        banks=[",".join(str(_resolve(p, data_root)) for p in b.split(",")) for b in (bank or [])],
        limit=limit, bank_limit=bank_limit, seed=seed, min_rows=min_rows, folds=folds,
        similar_share=similar_share, precision_target=precision_target, window=window, shuffle=shuffle,
        report=report, command=command)
    with cli_errors():
        if task == "escalation" or any(s.split(":")[0] in ("dense", "pipeline", "intent-model")
                                       for s in (opts.systems or ["dense"])):
            runtime_with_encoder(settings)  # exports the ONNX encoder once if it was never built
        from threadpoolctl import threadpool_limits

        # One BLAS/OpenMP thread, like the service: on 2 cores two threads were slower for sklearn too.
        with threadpool_limits(settings.encoder_threads):
            result, doc = run_eval(opts, settings, progress=_progress)
        written = write_outputs(result, doc, out, report=report)
    _print_summary(result)
    typer.echo(f"wrote {', '.join(str(p) for p in written)} ({doc['timings']['total_seconds']:.1f} s)", err=True)


def _print_summary(result) -> None:
    prefixes = [f"{name}/" for name in result.dataset] if result.task == "matching" else [""]
    for prefix in prefixes:
        if prefix:
            typer.echo(prefix.rstrip("/"))
        titles = [t for _, t in result.headline]
        width = max(len(s.label) for s in result.systems)
        typer.echo(f"{'system'.ljust(width)}  " + "  ".join(t.rjust(max(8, len(t))) for t in titles))
        for s in result.systems:
            cells = []
            for (key, title) in result.headline:
                v = s.metrics.get(prefix + key)
                text = "—" if v is None else (f"{v:.2f}" if abs(v) >= 10 else f"{v:.3f}")
                cells.append(text.rjust(max(8, len(title))))
            typer.echo(f"{s.label.ljust(width)}  " + "  ".join(cells))
    if result.task == "replay":  # the learning-vs-cold summary is the replay's answer
        for note in result.notes:
            typer.echo(note)


@app.command("compare")
def compare(
    a: Annotated[Path, typer.Argument(help="First run folder (or its metrics.json).")],
    b: Annotated[Path, typer.Argument(help="Second run folder (or its metrics.json).")],
) -> None:
    """Print every metric of runs A and B side by side, with B − A."""
    from eval.compare import format_comparison, load_run

    with cli_errors():
        doc_a, doc_b = load_run(a), load_run(b)
    typer.echo(format_comparison(doc_a, doc_b, name_a=a.name or "A", name_b=b.name or "B"))


@app.command("convert-csds")
def convert_csds(
    file: Annotated[Path, typer.Argument(help="A CSDS-topic JSON file.", exists=True, dir_okay=False)],
    out: Annotated[Path, typer.Option("--out", help="Folder for kb.json and queries.jsonl.")],
    min_rows: Annotated[int, typer.Option(help="Keep topics with at least this many rows.", min=1)] = 5,
    similar_share: Annotated[float, typer.Option(help="Share of a topic's questions used as 相似问.",
                                                 min=0.0, max=1.0)] = 0.4,
) -> None:
    """Write the CSDS FAQ protocol as a KB file the product imports plus labelled queries."""
    import json

    from eval.datasets import csds_faq, load_csds
    from eval.replay import replay_stream

    with cli_errors():
        ds = csds_faq(load_csds(file), min_rows=min_rows, similar_share=similar_share)
    out.mkdir(parents=True, exist_ok=True)
    kb = [{"id": e.id, "question": e.question, "similar": list(e.similar), "answer": list(e.answers),
           "category": e.category} for e in ds.entries]
    (out / "kb.json").write_text(json.dumps(kb, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    # In the file's row order, so that a replay of the converted files streams the queries alike.
    lines = (json.dumps({"query": q.text, "gold_entry_id": q.gold_entry_id}, ensure_ascii=False) + "\n"
             for q in replay_stream(ds.queries))
    (out / "queries.jsonl").write_text("".join(lines), encoding="utf-8")
    typer.echo(f"{out / 'kb.json'}: {len(ds.entries)} entries; {out / 'queries.jsonl'}: {len(ds.queries)} queries")


@app.command("split-csds")
def split_csds(
    file: Annotated[Path, typer.Argument(help="A CSDS-topic JSON file.", exists=True, dir_okay=False)],
    out: Annotated[Path, typer.Option("--out", help="Folder for train.json and test.json (keep it outside the "
                                                     "repository: they are the data itself).")],
    test_share: Annotated[float, typer.Option(help="Share of dialogues that go to test.json.", min=0.01,
                                              max=0.99)] = 0.5,
    seed: Annotated[int, typer.Option(help="Seed of the split.")] = 0,
) -> None:
    """Split a CSDS-topic file by dialogue into train.json and test.json (same format): the file-to-file
    intent protocol, `eval run intent --data train.json --test test.json`."""
    import json

    from eval.datasets import split_csds_by_dialogue

    with cli_errors():
        train, test = split_csds_by_dialogue(file, test_share=test_share, seed=seed)
    out.mkdir(parents=True, exist_ok=True)
    for name, rows in (("train.json", train), ("test.json", test)):
        (out / name).write_text(json.dumps(rows, ensure_ascii=False) + "\n", encoding="utf-8")
    typer.echo(f"{out / 'train.json'}: {len(train)} rows; {out / 'test.json'}: {len(test)} rows")
