"""One evaluation run: load the data, build the systems, run the task, write the outputs.

``run_eval`` is what ``smartreply eval run`` calls; it is also usable from Python. The output
folder gets ``metrics.json`` (numbers + everything needed to reproduce them: command, data files
with sha256, options, system configs, encoder, package versions, timings), ``report.html``
(self-contained) and ``predictions.jsonl`` (per query, for error analysis; it quotes the data, so
keep run folders out of the repository).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import random
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from .datasets import (
    FaqDataset,
    csds_intent_examples,
    load_csds,
    load_faq,
    load_jddc_dev,
    load_pairs,
    load_reply_bank,
    reply_bank_entries,
    sniff_faq_format,
)
from .errors import DatasetError, EvalConfigError
from .results import Progress, TaskResult, no_progress
from .systems import RANKER_SYSTEMS, Resources, SystemSpec, build_ranker, parse_system
from .text import tokenizer_name

__all__ = ["RunOptions", "TASKS", "DEFAULT_SYSTEMS", "run_eval", "write_outputs", "METRICS_SCHEMA"]

logger = logging.getLogger(__name__)

METRICS_SCHEMA = "smartreply-eval/1"
TASKS = ("faq", "intent", "reply", "matching", "escalation", "replay")
DEFAULT_SYSTEMS = {
    "faq": ("most-frequent", "bm25", "tfidf-char", "dense", "pipeline"),
    "intent": ("majority", "tfidf-char", "dense", "pipeline", "intent-model"),
    "reply": ("most-frequent", "bm25", "tfidf-char", "dense", "pipeline"),
    "matching": ("tfidf-char", "dense", "pipeline"),
    "escalation": ("keywords", "lexicon", "model", "detector"),
    "replay": ("pipeline",),
}
_PACKAGES = ("smartreply", "numpy", "scipy", "scikit-learn", "faiss-cpu", "onnxruntime", "tokenizers",
             "sacrebleu", "jieba", "rjieba", "matplotlib")


@dataclass
class RunOptions:
    task: str
    data: list[Path]
    out: Path
    systems: list[str] = field(default_factory=list)  # empty: the task's defaults
    sets: dict[str, str] = field(default_factory=dict)  # --set options for pipeline systems
    queries: Path | None = None  # faq, replay: labelled queries of a KB file
    test: Path | None = None  # intent: test file (else cross-validation)
    answers: Path | None = None  # reply: dev_answer file (else derived from the question file's name)
    banks: list[str] = field(default_factory=list)  # reply: chat logs / JDDC 2018 pair files
    limit: int | None = None
    bank_limit: int | None = None
    seed: int = 0
    min_rows: int = 5
    folds: int = 5
    similar_share: float = 0.4
    precision_target: float = 0.9
    window: int | None = None  # replay: queries per window (default: ten windows)
    shuffle: int | None = None  # replay: shuffle the stream with this seed (default: file order)
    report: bool = True
    command: str = ""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _git() -> dict[str, Any]:
    """The commit the code came from, and whether the work tree had uncommitted changes."""
    import subprocess

    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip() != ""
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit, "dirty": dirty}


def _versions() -> dict[str, Any]:
    out: dict[str, Any] = {"python": platform.python_version(), "platform": platform.platform(), "git": _git()}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


PRODUCT_SYSTEMS = ("pipeline", "intent-model", "detector")


def _kind(spec: SystemSpec) -> str:
    return "system" if spec.name in PRODUCT_SYSTEMS else "baseline"


def _specs(opts: RunOptions, allowed: tuple[str, ...]) -> list[SystemSpec]:
    names = opts.systems or list(DEFAULT_SYSTEMS[opts.task])
    specs = [parse_system(s, opts.sets) for s in names]
    for s in specs:
        if s.name not in allowed:
            raise EvalConfigError(f"task {opts.task} has no system {s.name!r}; use one of {', '.join(allowed)}")
    labels = Counter(s.label for s in specs)
    dupes = [lab for lab, n in labels.items() if n > 1]
    if dupes:
        raise EvalConfigError(f"system {dupes[0]!r} is named twice")
    if opts.sets and not any(s.name in PRODUCT_SYSTEMS for s in specs):
        raise EvalConfigError("--set applies to pipeline systems, and none is selected")
    return specs


def _need(path: Path | None, what: str) -> Path:
    if path is None:
        raise EvalConfigError(f"missing {what}")
    if not Path(path).is_file():
        raise DatasetError(f"{what} {path} does not exist (is ../shared/data there? see docs/evaluation.md)")
    return Path(path)


def _answers_for(questions: Path) -> Path:
    name = questions.name
    if "question" not in name:
        raise EvalConfigError(f"cannot derive the answers file of {name}; give it with --answers")
    return questions.with_name(name.replace("question", "answer"))


def run_eval(opts: RunOptions, settings, *, progress: Progress = no_progress) -> tuple[TaskResult, dict[str, Any]]:
    """Run ``opts.task`` and return its result and the metrics.json document (nothing written)."""
    if opts.task not in TASKS:
        raise EvalConfigError(f"unknown task {opts.task!r}; use one of {', '.join(TASKS)}")
    if not opts.data:
        raise EvalConfigError("no --data file given")
    random.seed(opts.seed)
    np.random.seed(opts.seed)
    started = time.perf_counter()
    files: list[dict[str, Any]] = []

    def record(role: str, path: Path) -> Path:
        path = _need(path, role)
        files.append({"role": role, "path": str(path.resolve()), "bytes": path.stat().st_size,
                      "sha256": _sha256(path)})
        return path

    with tempfile.TemporaryDirectory(prefix="smartreply-eval-") as tmp:
        resources = Resources(settings, Path(tmp))
        if opts.task == "faq":
            result = _run_faq(opts, resources, record, progress)
        elif opts.task == "intent":
            result = _run_intent(opts, resources, record, progress)
        elif opts.task == "reply":
            result = _run_reply(opts, resources, record, progress)
        elif opts.task == "escalation":
            result = _run_escalation(opts, resources, record, progress)
        elif opts.task == "replay":
            result = _run_replay(opts, resources, record, progress)
        else:
            result = _run_matching(opts, resources, record, progress)
        encoders = sorted({e.model_id for e in resources.loaded_encoders})
    total = time.perf_counter() - started
    doc = {
        "schema": METRICS_SCHEMA,
        "task": opts.task,
        "title": result.title,
        "command": opts.command,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "data": files,
        "dataset": result.dataset,
        "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(opts).items()
                    if k not in ("data", "out", "command", "queries", "test", "answers")},
        "encoder": {"setting": settings.encoder, "backend": settings.encoder_backend,
                    "precision": settings.onnx_precision, "threads": settings.encoder_threads,
                    "model_ids": encoders},
        "tokenizer": tokenizer_name(),
        "versions": _versions(),
        "headline": [list(h) for h in result.headline],
        "notes": result.notes,
        "systems": {s.label: {"kind": s.kind, "config": s.config, "metrics": s.metrics, "details": s.details,
                              "timing": {"fit_seconds": round(s.fit_seconds, 3),
                                         "run_seconds": round(s.run_seconds, 3)}}
                    for s in result.systems},
        "timings": {"total_seconds": round(total, 3)},
    }
    return result, doc


def _systems(specs, build) -> list[tuple[str, str, Any]]:
    return [(s.label, _kind(s), build(s)) for s in specs]


def _faq_dataset(opts, record, *, stream: bool = False) -> FaqDataset:
    """The FAQ data of a run: a CSDS-topic file or a KB file + queries JSONL; ``stream``: the queries in
    the replay's order (file order, or shuffled with ``--shuffle``) before ``--limit`` keeps the first."""
    first = _need(opts.data[0], "FAQ data file")
    data = record("csds" if sniff_faq_format(first) == "csds" else "kb", first)
    queries = record("queries", opts.queries) if opts.queries else None
    dataset = load_faq(data, queries, min_rows=opts.min_rows, similar_share=opts.similar_share)
    if stream:
        from .replay import replay_stream

        dataset.queries = replay_stream(dataset.queries, opts.shuffle)
        dataset.stats["order"] = "file" if opts.shuffle is None else f"shuffled (seed {opts.shuffle})"
    if opts.limit:
        dataset.queries = dataset.queries[:opts.limit]
        dataset.stats["queries"] = len(dataset.queries)
        dataset.stats["limit"] = opts.limit
    return dataset


def _run_faq(opts, resources, record, progress) -> TaskResult:
    from .faq import run_faq

    dataset = _faq_dataset(opts, record)
    specs = _specs(opts, RANKER_SYSTEMS)
    systems = _systems(specs, lambda s: build_ranker(s, resources))
    return run_faq(dataset, systems, precision_target=opts.precision_target, progress=progress)


def _run_replay(opts, resources, record, progress) -> TaskResult:
    from .replay import run_replay

    specs = _specs(opts, ("pipeline",))
    dataset = _faq_dataset(opts, record, stream=True)
    return run_replay(dataset, specs, resources, window=opts.window, precision_target=opts.precision_target,
                      progress=progress)


def _run_intent(opts, resources, record, progress) -> TaskResult:
    from .intent import INTENT_SYSTEMS, build_classifier, run_intent_cv, run_intent_split

    specs = _specs(opts, INTENT_SYSTEMS)
    train_rows = load_csds(record("train" if opts.test else "data", opts.data[0]))
    if opts.test:
        test_rows = load_csds(record("test", opts.test))
        train = csds_intent_examples(train_rows, min_rows=opts.min_rows)
        test = csds_intent_examples(test_rows)
        if opts.limit:
            test = test[:opts.limit]
        systems = _systems(specs, lambda s: build_classifier(s, resources, seed=opts.seed))
        return run_intent_split(train, test, systems, precision_target=opts.precision_target, progress=progress)
    if opts.min_rows < opts.folds:
        raise EvalConfigError(f"cross-validation with {opts.folds} folds needs --min-rows ≥ {opts.folds}")
    examples = csds_intent_examples(train_rows, min_rows=opts.min_rows)
    if opts.limit:
        examples = examples[:opts.limit]
        keep = {lab for lab, n in Counter(e.label for e in examples).items() if n >= opts.folds}
        examples = [e for e in examples if e.label in keep]
    systems = _systems(specs, lambda s: build_classifier(s, resources, seed=opts.seed))
    result = run_intent_cv(examples, systems, folds=opts.folds, seed=opts.seed,
                           precision_target=opts.precision_target, progress=progress)
    result.dataset["min_rows"] = opts.min_rows
    return result


def _run_reply(opts, resources, record, progress) -> TaskResult:
    from .reply import run_reply

    questions = record("dev_question", opts.data[0])
    answers = record("dev_answer", opts.answers or _answers_for(questions))
    if not opts.banks:
        raise EvalConfigError("name the reply bank with --bank (a JDDC chat log and/or JDDC 2018 questions file)")
    for item in opts.banks:
        for part in str(item).split(","):
            record("bank", Path(part))
    turns = load_jddc_dev(questions, answers)
    if opts.limit:
        turns = turns[:opts.limit]
    pairs = load_reply_bank(opts.banks)
    if opts.bank_limit:
        pairs = pairs[:opts.bank_limit]
    if not pairs:
        raise DatasetError("the reply bank is empty")
    entries = reply_bank_entries(pairs)
    counts = Counter(p.reply for p in pairs)
    popularity = {e.id: counts[e.answer] for e in entries}
    specs = _specs(opts, RANKER_SYSTEMS)
    systems = _systems(specs, lambda s: build_ranker(s, resources, popularity=lambda e: popularity[e.id]))
    bank_stats = {"bank_pairs": len(pairs), "bank_replies": len(entries),
                  "bank_buyer_turns": sum(len(e.phrasings) for e in entries)}
    return run_reply(turns, entries, systems, bank_stats=bank_stats, progress=progress)


def _run_matching(opts, resources, record, progress) -> TaskResult:
    from .matching import MATCHING_SYSTEMS, build_scorer, run_matching

    datasets = []
    for path in opts.data:
        path = record("pairs", path)
        pairs = load_pairs(path)
        if opts.limit:
            pairs = pairs[:opts.limit]
        datasets.append((f"{path.parent.name}/{path.name}", pairs))
    specs = _specs(opts, MATCHING_SYSTEMS)
    systems = _systems(specs, lambda s: build_scorer(s, resources))
    return run_matching(datasets, systems, progress=progress)


def _run_escalation(opts, resources, record, progress) -> TaskResult:
    from models.escalation import EscalationModel
    from models.errors import ArtifactMismatch, NotFound
    from models.normalize import normalize_text
    from training.train_escalation import load_escalation

    from .escalation import ESCALATION_SYSTEMS, build_flagger, load_buyer_turns, run_escalation, sniff_labelled

    labelled = [p for p in opts.data if sniff_labelled(_need(p, "data file"))]
    if len(labelled) != 1:
        raise EvalConfigError("escalation needs exactly one labelled JSONL among --data (e.g. "
                              "eval/data/escalation_test.jsonl); the other files are real buyer turns")
    messages = load_escalation(record("labelled", labelled[0]))
    if opts.limit:
        messages = messages[:opts.limit]
    real = [t for p in opts.data if p != labelled[0] for t in load_buyer_turns(record("real_turns", p))]
    specs = _specs(opts, ESCALATION_SYSTEMS)
    encoder = resources.encoder()
    model = None
    if any(s.name in ("model", "detector") for s in specs):
        try:
            model = EscalationModel.load(resources.settings.escalation_dir, encoder_id=encoder.model_id)
        except (NotFound, ArtifactMismatch) as exc:
            raise EvalConfigError(exc.message) from exc
    systems = []
    for spec in specs:
        flag, config = build_flagger(spec, model)
        systems.append((spec.label, _kind(spec), flag, config))
    result = run_escalation(messages, systems, encode=encoder.encode, normalise=normalize_text, real_turns=real,
                            seed=opts.seed, progress=progress)
    if model is not None:
        result.dataset["model"] = {k: (model.manifest_ or {}).get(k) for k in ("data", "examples", "dev", "created_at")}
    return result


def write_outputs(result: TaskResult, doc: dict[str, Any], out: Path, *, report: bool = True) -> list[Path]:
    """Write metrics.json, predictions.jsonl and (unless ``report`` is false) report.html into ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = [_atomic_write(out / "metrics.json", json.dumps(doc, ensure_ascii=False, indent=2) + "\n")]
    if result.predictions:
        lines = "".join(json.dumps(p, ensure_ascii=False) + "\n" for p in result.predictions)
        written.append(_atomic_write(out / "predictions.jsonl", lines))
    if report:
        from .report import render_report

        written.append(_atomic_write(out / "report.html", render_report(result, doc)))
    return written


def _atomic_write(path: Path, text: str) -> Path:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
