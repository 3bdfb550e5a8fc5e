"""How likely a shop's quick phrase (快捷短语, an agent's canned reply) answers a buyer message.

Quick phrases are replies, not questions, and a shop has no labelled messages for them, so the
per-shop ranker cannot learn them. Their confidence comes from one small logistic model over
features of (message, phrase) that mean the same in every shop:

``cosine``   message ↔ phrase text (m3e was trained on question–answer pairs too)
``gap``      that cosine minus the best one among the shop's phrases
``lexical``  IDF-weighted share of the message's characters and bigrams found in the phrase
``group``    message ↔ the phrase's group name (分组, e.g. 发货 / 售后)
``intent``   agreement of the platform intent model's distributions of the message and of the phrase

It is trained (``smartreply train quick-phrases``) on text the team wrote: quick phrases labelled with
the platform intent they answer × the held-out buyer messages of the intent test file (which the
intent model never saw), a pair being right when the intents agree. Saved as JSON with a manifest
naming the encoder and the intent model it was fitted with; ``load`` refuses another one.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ArtifactMismatch, NotFound
from .intent import NotFitted
from .ranker import char_grams

__all__ = ["QP_FEATURES", "QuickPhraseScorer", "PhraseTable", "phrase_features"]

QP_FEATURES = ("cosine", "gap", "lexical", "group", "intent")
QP_FORMAT = "smartreply-quick-phrase-scorer/1"


class PhraseTable:
    """A shop's quick phrases as arrays: normalised texts, their vectors, group vectors, intent
    probabilities and the IDF of character grams over the phrases."""

    def __init__(self, texts: Sequence[str], vectors: np.ndarray, group_vectors: np.ndarray,
                 intent_proba: np.ndarray | None) -> None:
        self.texts = list(texts)
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.group_vectors = np.ascontiguousarray(group_vectors, dtype=np.float32)
        self.intent_proba = intent_proba
        self.grams = [frozenset(char_grams(t)) for t in self.texts]
        df = Counter(g for gs in self.grams for g in gs)
        n = max(len(self.texts), 1)
        self.idf = {g: math.log(1 + n / c) for g, c in df.items()}
        self.default_idf = math.log(1 + n)

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def nbytes(self) -> int:
        return int(self.vectors.nbytes + self.group_vectors.nbytes
                   + (self.intent_proba.nbytes if self.intent_proba is not None else 0)
                   + sum(100 + 8 * len(gs) for gs in self.grams) + sum(4 * len(t) + 100 for t in self.texts))


def phrase_features(table: PhraseTable, message_vector: np.ndarray, message_text: str,
                    message_intent: np.ndarray | None) -> np.ndarray:
    """(len(table), len(QP_FEATURES)) features of one message against every phrase of the table."""
    n = len(table)
    out = np.zeros((n, len(QP_FEATURES)), dtype=np.float32)
    if n == 0:
        return out
    cosine = table.vectors @ message_vector
    out[:, 0] = cosine
    out[:, 1] = cosine - cosine.max()
    grams = char_grams(message_text)
    total = sum(table.idf.get(g, table.default_idf) for g in grams) or 1.0
    out[:, 2] = [sum(table.idf[g] for g in grams if g in gs) / total for gs in table.grams]
    out[:, 3] = table.group_vectors @ message_vector
    if message_intent is not None and table.intent_proba is not None:
        out[:, 4] = table.intent_proba @ message_intent
    return out


class QuickPhraseScorer:
    """Logistic model: phrase features → probability that the phrase answers the message."""

    def __init__(self, C: float = 1.0, max_iter: int = 2000) -> None:
        self.C = C
        self.max_iter = max_iter

    def fit(self, features: np.ndarray, labels: np.ndarray) -> QuickPhraseScorer:
        from sklearn.linear_model import LogisticRegression

        features = np.asarray(features, dtype=np.float64)
        labels = np.asarray(labels, dtype=bool)
        if features.ndim != 2 or features.shape[1] != len(QP_FEATURES) or len(features) != len(labels):
            raise ValueError(f"features must be (n, {len(QP_FEATURES)}) with one label each")
        if labels.all() or not labels.any():
            raise ValueError("a quick-phrase scorer needs right and wrong pairs")
        model = LogisticRegression(C=self.C, max_iter=self.max_iter).fit(features, labels)
        self.coef_ = model.coef_[0].astype(np.float64)
        self.intercept_ = float(model.intercept_[0])
        return self

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        if not hasattr(self, "coef_"):
            raise NotFitted("this QuickPhraseScorer is not fitted; call fit() or load() first")
        z = np.asarray(features, dtype=np.float64) @ self.coef_ + self.intercept_
        return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))

    # -- persistence: a few numbers, JSON ------------------------------------------------------------
    def save(self, folder: Path, *, encoder_id: str, intent_tag: str, metadata: dict[str, Any] | None = None) -> Path:
        if not hasattr(self, "coef_"):
            raise NotFitted("nothing to save: the scorer is not fitted")
        folder.mkdir(parents=True, exist_ok=True)
        doc = {"format": QP_FORMAT, "features": list(QP_FEATURES), "coef": [float(c) for c in self.coef_],
               "intercept": self.intercept_, "params": {"C": self.C, "max_iter": self.max_iter},
               "encoder_id": encoder_id, "intent_model": intent_tag, "created_at": datetime.now(UTC).isoformat(),
               **(metadata or {})}
        fd, tmp = tempfile.mkstemp(prefix=".scorer.", dir=folder)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, ensure_ascii=False, indent=2)
        os.replace(tmp, folder / "scorer.json")
        return folder

    @classmethod
    def load(cls, folder: Path, *, encoder_id: str, intent_tag: str) -> QuickPhraseScorer:
        path = folder / "scorer.json"
        if not path.is_file():
            raise NotFound(f"no quick-phrase scorer at {folder}; train one with `smartreply train quick-phrases`")
        doc = json.loads(path.read_text("utf-8"))
        if doc.get("format") != QP_FORMAT or tuple(doc.get("features", ())) != QP_FEATURES:
            raise ArtifactMismatch(f"{path}: format {doc.get('format')!r}, expected {QP_FORMAT!r}; retrain with "
                                   "`smartreply train quick-phrases`")
        if doc.get("encoder_id") != encoder_id or doc.get("intent_model") != intent_tag:
            raise ArtifactMismatch(f"{path}: fitted with encoder {doc.get('encoder_id')!r} and intent model "
                                   f"{doc.get('intent_model')!r}, the service runs {encoder_id!r} and {intent_tag!r}; "
                                   "retrain with `smartreply train quick-phrases`")
        params = doc.get("params", {})
        scorer = cls(**{k: params[k] for k in ("C", "max_iter") if k in params})
        scorer.coef_ = np.array(doc["coef"], dtype=np.float64)
        scorer.intercept_ = float(doc["intercept"])
        scorer.manifest_ = doc
        return scorer


def data_digest(*parts: Sequence[str]) -> str:
    h = hashlib.sha256()
    for part in parts:
        for item in part:
            h.update(item.encode())
            h.update(b"\n")
        h.update(b"\x00")
    return h.hexdigest()
