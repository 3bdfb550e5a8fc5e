"""Train the quick-phrase scorer (``smartreply train quick-phrases``) on text the team wrote.

Pairs: every quick phrase of ``quick_phrases_labelled.jsonl`` (an agent reply + the platform intent it
answers) × every buyer message of the intent model's held-out file ``platform_intents_test.jsonl``
(which the intent model was not trained on, so its probabilities there look like a shop's real
messages); a pair is right when the intents agree. Two-fold cross-validation by message gives the
numbers in the manifest; the saved model is fitted on all pairs. Cached by (data, encoder, intent model).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.encoder import Encoder
from models.errors import UploadError
from models.intent import IntentClassifier, intent_tag
from models.quick_phrase_scorer import PhraseTable, QuickPhraseScorer, data_digest, phrase_features

from .train_intent import DEFAULT_INTENT_TEST, jsonl_items, load_labelled

__all__ = ["DEFAULT_QUICK_PHRASES", "QuickPhraseTrainResult", "train_quick_phrases"]

logger = logging.getLogger(__name__)

DEFAULT_QUICK_PHRASES = Path(__file__).resolve().parent / "data" / "quick_phrases_labelled.jsonl"


@dataclass
class QuickPhraseTrainResult:
    folder: Path
    cached: bool
    phrases: int
    messages: int
    top1: float | None  # cross-validated: the best-scored phrase answers the message
    precision_at_half: float | None  # cross-validated precision of pairs scored ≥ 0.5
    seconds: float = 0.0


def load_phrases(path: Path) -> list[dict]:
    out = []
    for n, item in jsonl_items(path):
        if not all(str(item.get(k) or "").strip() for k in ("text", "intent")):
            raise UploadError(f"{path}: line {n} needs a text and an intent")
        out.append({"text": item["text"].strip(), "group": str(item.get("group") or "").strip(),
                    "intent": item["intent"].strip()})
    if not out:
        raise UploadError(f"{path}: no quick phrases")
    return out


def phrase_table(texts: list[str], groups: list[str], encoder: Encoder, intent_model: IntentClassifier | None,
                 normalise: Callable[[str], str]) -> PhraseTable:
    """The arrays the scorer reads for a set of quick phrases (the service builds the same per shop)."""
    norm = [normalise(t) for t in texts]
    vectors = encoder.encode(norm)
    group_vectors = encoder.encode([normalise(g) if g.strip() else n for g, n in zip(groups, norm)])
    proba = intent_model.predict_proba(vectors) if intent_model is not None else None
    return PhraseTable(norm, vectors, group_vectors, proba)


def train_quick_phrases(encoder: Encoder, intent_model: IntentClassifier | None, out_dir: Path, *,
                        phrases: Path = DEFAULT_QUICK_PHRASES, messages: Path = DEFAULT_INTENT_TEST,
                        force: bool = False, normalise: Callable[[str], str] = lambda s: s
                        ) -> QuickPhraseTrainResult:
    started = time.perf_counter()
    items = load_phrases(phrases)
    texts, labels = load_labelled(messages)
    tag = intent_tag(intent_model)
    digest = data_digest([f"{p['group']}\t{p['intent']}\t{p['text']}" for p in items],
                         [f"{label}\t{t}" for t, label in zip(texts, labels)])
    manifest_path = out_dir / "scorer.json"
    if not force and manifest_path.is_file():
        doc = json.loads(manifest_path.read_text("utf-8"))
        if (doc.get("data_sha256"), doc.get("encoder_id"), doc.get("intent_model")) == (digest, encoder.model_id, tag):
            cv = doc.get("cross_validation") or {}
            return QuickPhraseTrainResult(out_dir, True, len(items), len(texts), cv.get("top1"),
                                          cv.get("precision_at_0.5"), time.perf_counter() - started)
    table = phrase_table([p["text"] for p in items], [p["group"] for p in items], encoder, intent_model, normalise)
    vectors = encoder.encode([normalise(t) for t in texts])
    proba = intent_model.predict_proba(vectors) if intent_model is not None else None
    features = np.stack([phrase_features(table, vectors[i], normalise(texts[i]), None if proba is None else proba[i])
                         for i in range(len(texts))])  # (messages, phrases, features)
    right = np.array([[label == p["intent"] for p in items] for label in labels])
    # Two folds by message: how the scorer does on messages it was not fitted on.
    order = np.random.default_rng(0).permutation(len(texts))
    folds = [order[: len(order) // 2], order[len(order) // 2:]]
    top1, hits, kept = [], 0, 0
    for k in (0, 1):
        train, test = folds[k], folds[1 - k]
        scorer = QuickPhraseScorer().fit(features[train].reshape(-1, features.shape[2]), right[train].reshape(-1))
        p = scorer.predict_proba(features[test].reshape(-1, features.shape[2])).reshape(len(test), -1)
        top1.extend(right[test][np.arange(len(test)), p.argmax(axis=1)].tolist())
        hits += int(right[test][p >= 0.5].sum())
        kept += int((p >= 0.5).sum())
    cv = {"top1": round(float(np.mean(top1)), 4), "precision_at_0.5": round(hits / kept, 4) if kept else None,
          "pairs_at_0.5": kept, "messages": len(texts), "phrases": len(items)}
    scorer = QuickPhraseScorer().fit(features.reshape(-1, features.shape[2]), right.reshape(-1))
    scorer.save(out_dir, encoder_id=encoder.model_id, intent_tag=tag,
                metadata={"data_sha256": digest, "phrases_file": str(phrases), "messages_file": str(messages),
                          "cross_validation": cv})
    seconds = time.perf_counter() - started
    logger.info("quick-phrase scorer: %d phrases x %d messages, cross-validated top-1 %.3f, %.1fs",
                len(items), len(texts), cv["top1"], seconds)
    return QuickPhraseTrainResult(out_dir, False, len(items), len(texts), cv["top1"], cv["precision_at_0.5"], seconds)
