"""Task 5, escalation: does the detector flag the buyer messages a person must handle now?

Data: a labelled JSONL the team wrote (``eval/data/escalation_test.jsonl``: text, label = none or a
reason, the kind of hard case, earlier ``turns``), and optionally real, unlabelled buyer turns
(a JDDC 2019 chat log and/or a dev_question file) on which only the share flagged is counted and a
seeded sample of flagged turns is written to predictions.jsonl for hand-checking (the run folder
quotes the real data: keep it out of the repository).

Systems: ``keywords`` (the substrings a merchant would put in a keyword rule: the baseline),
``lexicon`` (our cues with negation / hypothetical handling and the repeated-ask rule, no model),
``model`` (the learned model and the repeated-ask rule, no cues) and ``detector`` (the product: all
three, exactly as the suggestion endpoint runs it). The message vector is computed once per message
with the serving encoder (the pipeline has it for free), so latency is the detector's own cost.
"""

from __future__ import annotations

import json
import random
import re
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.escalation import EscalationDetector, EscalationModel, keyword_baseline

from .errors import DatasetError, EvalConfigError
from .metrics import latency_summary
from .results import Progress, SystemResult, TaskResult, no_progress
from .systems import SystemSpec

__all__ = ["ESCALATION_SYSTEMS", "ESCALATION_HEADLINE", "UnlabelledTurn", "load_buyer_turns", "run_escalation",
           "build_flagger"]

ESCALATION_SYSTEMS = ("keywords", "lexicon", "model", "detector")
ESCALATION_HEADLINE = [("precision", "precision"), ("recall", "recall"), ("f1", "F1"),
                       ("hard_accuracy", "hard-case acc."), ("real_flag_rate", "real turns flagged")]
# complaint and report_threat are one family: a threat to report is a complaint that says where it goes.
_FAMILY = {"report_threat": "complaint"}
SAMPLE_SIZE = 60


# (normalised text, vector, turns) → reason codes (empty: not escalated)
Flagger = Callable[[str, "np.ndarray", Sequence[tuple[str, str]]], list[str]]


def build_flagger(spec: SystemSpec, model: EscalationModel | None) -> tuple[Flagger, dict]:
    name = spec.name
    if name == "keywords":
        return (lambda text, vector, turns: keyword_baseline(text, turns)), {"keywords": "BASELINE_KEYWORDS"}
    if name in ("model", "detector") and model is None:
        raise EvalConfigError(f"system {name!r} needs the escalation model: run `smartreply train escalation`")
    detector = {"lexicon": EscalationDetector(None),
                "model": EscalationDetector(model, use_lexicon=False),
                "detector": EscalationDetector(model)}.get(name)
    if detector is None:
        raise EvalConfigError(f"task escalation has no system {name!r}; use one of {', '.join(ESCALATION_SYSTEMS)}")

    def flag(text: str, vector: np.ndarray, turns: Sequence[tuple[str, str]]) -> list[str]:
        found = detector.detect(text, vector, turns)
        return found.codes if found else []

    config = {"lexicon": detector.use_lexicon, "model": detector.model is not None, "repeat_run": detector.repeat_run}
    if model is not None and detector.model is not None:
        config.update(threshold=model.threshold_, weak_threshold=model.weak_threshold_,
                      model_data=(getattr(model, "manifest_", None) or {}).get("data_sha256"))
    return flag, config


@dataclass(frozen=True)
class UnlabelledTurn:
    source: str  # file name
    conversation: str
    text: str
    turns: tuple[tuple[str, str], ...]



def load_buyer_turns(path: Path) -> list[UnlabelledTurn]:
    """Every buyer message of a JDDC 2019 chat-log TSV (one row per message) or dev_question file
    (its context's and its <Qn> buyer turns, a turn's messages split at ``!@@@!``), each with the
    messages before it in its session."""
    text = Path(path).read_text("utf-8-sig")
    head = text.lstrip()[:200]
    out: list[UnlabelledTurn] = []
    if head.startswith("<session"):
        session, history = "", []
        for line in text.splitlines():
            if m := re.match(r"^<session ([^>]+)>$", line.strip()):
                session, history = m.group(1), []
                continue
            role, body, answered = None, "", False
            if line.startswith("Q:"):
                role, body = "buyer", line[2:]
            elif line.startswith("A:"):
                # An agent turn even when every reference is NULL: the agent did answer there.
                history.append(("agent", next((r for r in line[2:].split("<sep>") if r.strip() not in ("", "NULL")), "")))
                continue
            elif m := re.match(r"^<Q\d+>(.*)</Q\d+>$", line.strip()):
                role, body, answered = "buyer", m.group(1), True
            if role is None:
                continue
            for message in (p.strip() for p in body.split("!@@@!")):
                if message:
                    out.append(UnlabelledTurn(Path(path).name, session, message, tuple(history[-12:])))
                    history.append((role, message))
            if answered:  # the reply to a <Qn> is in dev_answer, not here; it was given
                history.append(("agent", ""))
        return out
    history_of: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for n, line in enumerate(text.splitlines(), start=1):
        cols = line.split("\t")
        if not line.strip():
            continue
        if len(cols) < 7 or cols[2] not in ("0", "1"):
            raise DatasetError(f"{path}: line {n} is neither a JDDC chat-log row nor part of a dev_question file")
        role = "agent" if cols[2] == "1" else "buyer"
        history = history_of[cols[0]]
        for message in (p.strip() for p in "\t".join(cols[6:]).split("!@@@!")):
            if not message:
                continue
            if role == "buyer":
                out.append(UnlabelledTurn(Path(path).name, cols[0], message, tuple(history[-12:])))
            history.append((role, message))
    return out


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 4) if b else None


def _scores(gold: Sequence[bool], predicted: Sequence[bool]) -> dict:
    tp = sum(1 for g, p in zip(gold, predicted) if g and p)
    fp = sum(1 for g, p in zip(gold, predicted) if not g and p)
    fn = sum(1 for g, p in zip(gold, predicted) if g and not p)
    tn = len(gold) - tp - fp - fn
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    f1 = round(2 * precision * recall / (precision + recall), 4) if precision and recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "accuracy": _ratio(tp + tn, len(gold)),
            "tp": tp, "fp": fp, "fn": fn, "tn": tn}


def run_escalation(messages, systems: list[tuple[str, str, Flagger, dict]], *, encode, normalise,
                   real_turns: Sequence[UnlabelledTurn] = (), seed: int = 0,
                   progress: Progress = no_progress) -> TaskResult:
    """``messages``: LabelledMessage list; ``systems``: (label, kind, flagger, config); ``encode``:
    texts → L2-normalised vectors (the serving encoder); ``normalise``: the serving normalisation."""
    texts = [normalise(m.text) for m in messages]
    vectors = encode(texts)
    real_texts = [normalise(t.text) for t in real_turns]
    real_vectors = encode(real_texts) if real_turns else np.zeros((0, vectors.shape[1]), np.float32)
    gold = [m.escalate for m in messages]
    results: list[SystemResult] = []
    predictions: list[dict] = []
    for label, kind, flag, config in systems:
        started = time.perf_counter()
        codes_of, latencies = [], []
        for text, vector, m in progress(zip(texts, vectors, messages), label, len(messages)):
            t0 = time.perf_counter()
            codes_of.append(flag(text, vector, m.turns))
            latencies.append((time.perf_counter() - t0) * 1000)
        predicted = [bool(c) for c in codes_of]
        metrics = _scores(gold, predicted)
        hard = [i for i, m in enumerate(messages) if m.hard]
        metrics["hard_accuracy"] = _ratio(sum(1 for i in hard if predicted[i] == gold[i]), len(hard))
        hard_scores = _scores([gold[i] for i in hard], [predicted[i] for i in hard])
        metrics["hard_precision"], metrics["hard_recall"] = hard_scores["precision"], hard_scores["recall"]
        per_kind = {}
        for kind_name in sorted({m.hard for m in messages if m.hard}):
            idx = [i for i, m in enumerate(messages) if m.hard == kind_name]
            per_kind[kind_name] = {"messages": len(idx), "escalate": gold[idx[0]] if len({gold[i] for i in idx}) == 1 else None,
                                   "correct": sum(1 for i in idx if predicted[i] == gold[i])}
        per_label = {}
        for reason in sorted({m.label for m in messages}):
            idx = [i for i, m in enumerate(messages) if m.label == reason]
            flagged = sum(1 for i in idx if predicted[i])
            same = sum(1 for i in idx if predicted[i] and _FAMILY.get(reason, reason)
                       in {_FAMILY.get(c, c) for c in codes_of[i]})
            per_label[reason] = {"messages": len(idx), "flagged": flagged, "reason_named": same}
        tps = [i for i in range(len(messages)) if predicted[i] and gold[i]]
        metrics["reason_match"] = _ratio(sum(1 for i in tps if _FAMILY.get(messages[i].label, messages[i].label)
                                             in {_FAMILY.get(c, c) for c in codes_of[i]}), len(tps))
        details = {"per_hard_kind": per_kind, "per_label": per_label, "latency": latency_summary(latencies)}
        for i, m in enumerate(messages):
            predictions.append({"system": label, "text": m.text, "label": m.label, "hard": m.hard,
                                "flagged": predicted[i], "reasons": codes_of[i],
                                "correct": predicted[i] == gold[i]})
        if real_turns:
            flagged_real: list[tuple[int, list[str]]] = []
            for j, (text, vector, turn) in enumerate(progress(zip(real_texts, real_vectors, real_turns),
                                                              f"{label} (real)", len(real_turns))):
                codes = flag(text, vector, turn.turns)
                if codes:
                    flagged_real.append((j, codes))
            metrics["real_flag_rate"] = _ratio(len(flagged_real), len(real_turns))
            by_source = Counter(real_turns[j].source for j, _ in flagged_real)
            details["real"] = {
                "turns": len(real_turns), "flagged": len(flagged_real),
                "by_source": {src: {"turns": n, "flagged": by_source[src]}
                              for src, n in Counter(t.source for t in real_turns).items()},
                "by_reason": dict(Counter(c for _, codes in flagged_real for c in codes).most_common())}
            rng = random.Random(seed)
            sample = set(rng.sample(range(len(flagged_real)), min(SAMPLE_SIZE, len(flagged_real))))
            for k, (j, codes) in enumerate(flagged_real):
                turn = real_turns[j]
                predictions.append({"system": label, "real": True, "source": turn.source,
                                    "conversation": turn.conversation, "text": turn.text, "reasons": codes,
                                    "sample": k in sample})
        results.append(SystemResult(label=label, kind=kind, config=config, metrics=metrics, details=details,
                                    latencies_ms=latencies, run_seconds=time.perf_counter() - started))
    dataset = {"messages": len(messages), "escalate": sum(gold), "hard": sum(1 for m in messages if m.hard),
               "labels": dict(Counter(m.label for m in messages).most_common()),
               "hard_kinds": dict(Counter(m.hard for m in messages if m.hard).most_common()),
               "with_turns": sum(1 for m in messages if m.turns), "real_turns": len(real_turns)}
    notes = ["Latency is the detector's own time per message, the message vector given (the suggestion "
             "pipeline has already computed it)."]
    if real_turns:
        notes.append("Real turns are unlabelled: 'real turns flagged' is a share, not a precision; "
                     "predictions.jsonl marks a seeded sample of them for hand-checking.")
    return TaskResult(task="escalation", title="Escalation of buyer messages", dataset=dataset, systems=results,
                      headline=ESCALATION_HEADLINE, notes=notes, predictions=predictions)


def sniff_labelled(path: Path) -> bool:
    """A labelled escalation JSONL (else: real buyer turns to count flags on)."""
    with Path(path).open(encoding="utf-8-sig") as fh:
        first = fh.readline().strip()
    try:
        return isinstance(json.loads(first), dict) and "label" in json.loads(first)
    except ValueError:
        return False

