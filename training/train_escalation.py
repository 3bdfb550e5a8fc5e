"""Train the escalation model and tune its two thresholds (``smartreply train escalation``).

The model is fit on ``training/data/escalation_train.jsonl`` (messages the team wrote, one reason
label each) plus, as extra ``none`` examples, the platform intent examples of the intents whose
examples never need a person by our labelling guide (docs/evaluation.md). The two decision
thresholds are then chosen on ``eval/data/escalation_dev.jsonl`` (best F1 of the whole detector:
lexicon + model + conversation), never on the training data and never on the test set, which only
``smartreply eval run escalation`` reads. Cached by (data, dev, encoder, parameters).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.encoder import Encoder
from models.errors import UploadError
from models.escalation import REASONS, EscalationDetector, EscalationModel, lexicon_hits

from .train_intent import jsonl_items

__all__ = ["DEFAULT_ESCALATION_DATA", "DEFAULT_ESCALATION_DEV", "DEFAULT_ESCALATION_TEST", "EXTRA_NEGATIVES",
           "LabelledMessage", "load_escalation", "EscalationTrainResult", "train_escalation", "tune_thresholds"]

logger = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parent.parent
DEFAULT_ESCALATION_DATA = REPO / "training" / "data" / "escalation_train.jsonl"
DEFAULT_ESCALATION_DEV = REPO / "eval" / "data" / "escalation_dev.jsonl"
DEFAULT_ESCALATION_TEST = REPO / "eval" / "data" / "escalation_test.jsonl"
EXTRA_NEGATIVES = REPO / "training" / "data" / "platform_intents.jsonl"
# Intents whose team-written examples mix routine messages with complaints, disputes or harm by our
# labelling guide ("再不退款我就投诉了" is 催退款, "显示已签收但我没收到" 物流查询, "面霜用了脸上起疹子"
# 质量问题): only their examples without a strong cue are used as "none".
MIXED_INTENTS = frozenset({"投诉", "催退款", "催发货", "质量问题", "物流查询", "漏发错发"})
LABELS = ("none", *REASONS)


@dataclass(frozen=True)
class LabelledMessage:
    text: str
    label: str  # none or a reason code
    hard: str | None = None  # the kind of hard case (docs/evaluation.md), if it is one
    turns: tuple[tuple[str, str], ...] = ()  # earlier (role, text), oldest first

    @property
    def escalate(self) -> bool:
        return self.label != "none"


def load_escalation(path: Path) -> list[LabelledMessage]:
    """JSONL of ``{"text", "label", "hard"?, "turns"?: [{"role", "text"}]}``."""
    out: list[LabelledMessage] = []
    for n, item in jsonl_items(path):
        text, label = str(item.get("text") or "").strip(), str(item.get("label") or "").strip()
        if not text or label not in LABELS:
            raise UploadError(f"{path}: line {n} needs a text and a label in {', '.join(LABELS)}")
        turns = tuple((str(t.get("role")), str(t.get("text") or "")) for t in item.get("turns") or [])
        if any(role not in ("buyer", "agent") for role, _ in turns):
            raise UploadError(f"{path}: line {n}: a turn's role must be buyer or agent")
        out.append(LabelledMessage(text, label, item.get("hard") or None, turns))
    if not out:
        raise UploadError(f"{path}: no labelled messages")
    return out


def _extra_negatives(path: Path, exclude: set[str], normalise: Callable[[str], str]) -> list[str]:
    """Platform intent examples as "none": all but 投诉; of the intents whose examples are mixed, only
    those without a strong cue (so "再不退款我就投诉了" is left out, "退款怎么还没到账" stays in)."""
    texts = []
    for _, item in jsonl_items(path):
        text = normalise(item["text"])
        if item["intent"] == "投诉" or text in exclude:
            continue
        if item["intent"] in MIXED_INTENTS and any(h.strong for h in lexicon_hits(text)):
            continue
        texts.append(item["text"])
    return texts


@dataclass
class EscalationTrainResult:
    folder: Path
    cached: bool
    examples: int
    threshold: float
    weak_threshold: float
    dev: dict
    seconds: float = 0.0


def tune_thresholds(model: EscalationModel, messages: list[LabelledMessage], vectors: np.ndarray,
                    normalised: list[str], *, base_rate: float | None = None) -> dict:
    """Set ``model.threshold_`` and ``model.weak_threshold_`` to the pair with the best F1 of the whole
    detector on ``messages`` (ties: the higher precision, then the higher thresholds). Returns the
    dev metrics at that pair.

    ``base_rate``: the share of messages that need a person in real traffic. The dev set holds far
    more of them (a third) than a shop's chats do; each negative is then weighted so that the
    precision optimised is the one at that base rate, not the dev set's."""
    gold = np.array([m.escalate for m in messages])
    positives, negatives = int(gold.sum()), int((~gold).sum())
    fp_weight = 1.0 if base_rate is None else (1 - base_rate) / base_rate * positives / max(1, negatives)
    best: tuple[tuple[float, float, float, float], dict] | None = None
    grid = [round(x, 3) for x in np.arange(0.2, 0.975, 0.025)]
    detector = EscalationDetector(model)
    for threshold in grid:
        for weak in [w for w in grid if w <= threshold]:
            model.threshold_, model.weak_threshold_ = threshold, weak
            predicted = np.array([detector.detect(t, v, m.turns) is not None
                                  for t, v, m in zip(normalised, vectors, messages)])
            tp, fp = int((predicted & gold).sum()), int((predicted & ~gold).sum())
            precision = tp / (tp + fp_weight * fp) if tp + fp else 0.0
            recall = tp / max(1, positives)
            f1 = 2 * precision * recall / (precision + recall) if tp else 0.0
            key = (round(f1, 6), round(precision, 6), threshold, weak)
            if best is None or key > best[0]:
                raw_precision = tp / max(1, tp + fp)
                raw_f1 = 2 * raw_precision * recall / (raw_precision + recall) if tp else 0.0
                best = (key, {"precision": round(raw_precision, 4), "recall": round(recall, 4), "f1": round(raw_f1, 4),
                              "precision_at_base_rate": round(precision, 4), "f1_at_base_rate": round(f1, 4),
                              "base_rate": base_rate, "messages": len(messages)})
    assert best is not None
    model.threshold_, model.weak_threshold_ = best[0][2], best[0][3]
    return best[1]


def _digest(*parts: object) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(json.dumps(p, ensure_ascii=False, sort_keys=True, default=str).encode())
    return h.hexdigest()


def train_escalation(
    data: Path,
    encoder: Encoder,
    out_dir: Path,
    *,
    dev: Path,
    extra_negatives: Path | None = EXTRA_NEGATIVES,
    exclude: tuple[Path, ...] = (),
    C: float = 16.0,
    class_weight: str | None = None,
    base_rate: float | None = 0.05,
    force: bool = False,
    normalise: Callable[[str], str] = lambda s: s,
) -> EscalationTrainResult:
    """Fit on ``data`` (+ ``extra_negatives``), tune the thresholds on ``dev``. ``exclude``: labelled
    files (the test set) whose texts must never be trained on, even as an extra negative."""
    started = time.perf_counter()
    train = load_escalation(data)
    dev_messages = load_escalation(dev)
    held_out = {normalise(m.text) for path in (dev, *exclude) for m in load_escalation(path)}
    leaked = [m.text for m in train if normalise(m.text) in held_out]
    if leaked:
        raise UploadError(f"{data}: {len(leaked)} training message(s) also in the dev/test sets, e.g. {leaked[0]!r}")
    # Conversation-only examples (repeated asks) are the conversation rule's job, not the model's.
    texts = [m.text for m in train if m.label != "repeated_ask"]
    labels = [m.label for m in train if m.label != "repeated_ask"]
    if extra_negatives is not None:
        negatives = _extra_negatives(extra_negatives, held_out, normalise)
        texts += negatives
        labels += ["none"] * len(negatives)
    digest = _digest(texts, labels, [(m.text, m.label, m.turns) for m in dev_messages], C, class_weight, base_rate)
    manifest_path = out_dir / "manifest.json"
    if not force and manifest_path.is_file():
        manifest = json.loads(manifest_path.read_text("utf-8"))
        if manifest.get("data_sha256") == digest and manifest.get("encoder_id") == encoder.model_id:
            return EscalationTrainResult(out_dir, True, manifest.get("examples", len(texts)), manifest["threshold"],
                                         manifest["weak_threshold"], manifest.get("dev") or {},
                                         time.perf_counter() - started)
    model = EscalationModel(C=C, class_weight=class_weight).fit(encoder.encode([normalise(t) for t in texts]), labels)
    dev_texts = [normalise(m.text) for m in dev_messages]
    dev_metrics = tune_thresholds(model, dev_messages, encoder.encode(dev_texts), dev_texts, base_rate=base_rate)
    dev_metrics["file"] = str(dev)
    model.save(out_dir, encoder_id=encoder.model_id,
               metadata={"data": str(data), "extra_negatives": str(extra_negatives) if extra_negatives else None,
                         "data_sha256": digest, "examples": len(texts), "dev": dev_metrics})
    seconds = time.perf_counter() - started
    logger.info("escalation model: %d examples, thresholds %.3f / %.3f, dev F1 %.3f, %.1fs", len(texts),
                model.threshold_, model.weak_threshold_, dev_metrics["f1"], seconds)
    return EscalationTrainResult(out_dir, False, len(texts), model.threshold_, model.weak_threshold_, dev_metrics,
                                 seconds)
