"""Train the platform intent classifier from a labelled file (``smartreply train intent``).

The shipped default is trained on ``training/data/platform_intents.jsonl`` (examples the team
wrote) and measured on ``platform_intents_test.jsonl``; the same command trained on CSDS topics is
an evaluation experiment, never the shipped model. Training is cached by (data, encoder).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from models.encoder import Encoder
from models.errors import UploadError
from models.intent import IntentClassifier, data_digest

__all__ = ["DEFAULT_INTENT_DATA", "DEFAULT_INTENT_TEST", "IntentTrainResult", "load_labelled", "train_intent"]

logger = logging.getLogger(__name__)

DATA_DIR = Path(__file__).resolve().parent / "data"
DEFAULT_INTENT_DATA = DATA_DIR / "platform_intents.jsonl"
DEFAULT_INTENT_TEST = DATA_DIR / "platform_intents_test.jsonl"


@dataclass
class IntentTrainResult:
    folder: Path
    cached: bool
    examples: int
    intents: int
    test_accuracy: float | None = None
    test_macro_f1: float | None = None
    seconds: float = 0.0


def jsonl_items(path: Path) -> list[tuple[int, dict]]:
    """The objects of a JSONL file (the team's labelled files) with their line numbers; blank lines
    skipped, a line that is not a JSON object refused with its number."""
    items = []
    for n, line in enumerate(Path(path).read_text("utf-8-sig").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UploadError(f"{path}: line {n} is not valid JSON: {exc.msg}") from exc
        if not isinstance(item, dict):
            raise UploadError(f"{path}: line {n} is not a JSON object")
        items.append((n, item))
    return items


def load_labelled(path: Path) -> tuple[list[str], list[str]]:
    """Texts and labels from JSONL (``{"text", "intent"}``) or CSV (columns text, intent)."""
    texts: list[str] = []
    labels: list[str] = []
    if path.suffix.lower() == ".csv":
        rows = list(csv.DictReader(io.StringIO(path.read_text("utf-8-sig"))))
        items = [(n, r) for n, r in enumerate(rows, start=2)]
    else:
        items = jsonl_items(path)
    for n, item in items:
        text = str(item.get("text") or "").strip()
        label = str(item.get("intent") or item.get("label") or "").strip()
        if not text or not label:
            raise UploadError(f"{path}: row {n} needs both a text and an intent")
        texts.append(text)
        labels.append(label)
    if not texts:
        raise UploadError(f"{path}: no labelled examples")
    return texts, labels


def train_intent(
    data: Path,
    encoder: Encoder,
    out_dir: Path,
    *,
    test: Path | None = None,
    C: float = 10.0,
    force: bool = False,
    normalise: Callable[[str], str] = lambda s: s,
) -> IntentTrainResult:
    started = time.perf_counter()
    texts, labels = load_labelled(data)
    digest = data_digest(texts, labels)
    manifest_path = out_dir / "manifest.json"
    if not force and manifest_path.is_file():
        manifest = json.loads(manifest_path.read_text("utf-8"))
        if manifest.get("data_sha256") == digest and manifest.get("encoder_id") == encoder.model_id \
                and manifest.get("params", {}).get("C") == C:
            metrics = manifest.get("test") or {}
            return IntentTrainResult(out_dir, True, len(texts), len(manifest["classes"]),
                                     metrics.get("accuracy"), metrics.get("macro_f1"),
                                     time.perf_counter() - started)
    vectors = encoder.encode([normalise(t) for t in texts])
    model = IntentClassifier(C=C).fit(vectors, labels)
    test_metrics = None
    if test is not None and test.is_file():
        from sklearn.metrics import accuracy_score, f1_score

        test_texts, test_labels = load_labelled(test)
        predicted = model.predict(encoder.encode([normalise(t) for t in test_texts]))
        test_metrics = {"file": str(test), "examples": len(test_texts),
                        "accuracy": round(float(accuracy_score(test_labels, predicted)), 4),
                        "macro_f1": round(float(f1_score(test_labels, predicted, average="macro")), 4)}
    model.save(out_dir, encoder_id=encoder.model_id,
               metadata={"data": str(data), "data_sha256": digest, "examples": len(texts), "test": test_metrics})
    seconds = time.perf_counter() - started
    logger.info("intent model: %d examples, %d intents, %.1fs", len(texts), len(model.classes_), seconds)
    return IntentTrainResult(out_dir, False, len(texts), len(model.classes_),
                             test_metrics and test_metrics["accuracy"], test_metrics and test_metrics["macro_f1"],
                             seconds)
