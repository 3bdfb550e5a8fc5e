"""Intent classifier: multinomial logistic regression over sentence embeddings.

An estimator in the scikit-learn sense: ``__init__`` stores hyper-parameters, ``fit`` learns
``classes_``, ``coef_`` and ``intercept_`` and returns ``self``, ``predict*`` refuse an unfitted
model. Prediction is one matrix product and a softmax in numpy, so serving needs no scikit-learn
call and the model is stored as ``intent.npz`` + ``manifest.json`` (never pickle). The manifest
names the encoder whose vectors it was trained on; ``load`` refuses another one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from models.errors import ArtifactMismatch, SmartReplyError
from models.linear import fit_softmax, load_model_folder, save_model_folder, softmax_proba

__all__ = ["IntentClassifier", "IntentPrediction", "INTENT_FORMAT", "data_digest", "intent_tag"]

INTENT_FORMAT = "smartreply-intent/1"


class NotFitted(SmartReplyError, ValueError):
    code = "not_fitted"


@dataclass(frozen=True)
class IntentPrediction:
    intent: str
    confidence: float
    top: list[tuple[str, float]]  # best first


class IntentClassifier:
    def __init__(self, C: float = 10.0, max_iter: int = 3000, random_state: int = 0) -> None:
        self.C = C
        self.max_iter = max_iter
        self.random_state = random_state

    # -- learning ------------------------------------------------------------------------------
    def fit(self, vectors: np.ndarray, labels: Sequence[str]) -> IntentClassifier:
        """Learn from L2-normalised sentence vectors (n, dim) and their intent labels."""
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or len(vectors) != len(labels):
            raise ValueError(f"vectors {vectors.shape} and {len(labels)} labels do not match")
        if len(set(labels)) < 2:
            raise ValueError("an intent model needs at least two intents")
        self.classes_, self.coef_, self.intercept_ = fit_softmax(
            vectors, labels, C=self.C, max_iter=self.max_iter, random_state=self.random_state)
        return self

    # -- prediction ----------------------------------------------------------------------------
    def predict_proba(self, vectors: np.ndarray) -> np.ndarray:
        self._check_fitted()
        return softmax_proba(vectors, self.coef_, self.intercept_)

    def predict(self, vectors: np.ndarray) -> np.ndarray:
        proba = self.predict_proba(vectors)
        return self.classes_[proba.argmax(axis=1)]

    def predict_one(self, vector: np.ndarray, top: int = 3) -> IntentPrediction:
        return self.prediction(self.predict_proba(vector.reshape(1, -1))[0], top)

    def prediction(self, proba: np.ndarray, top: int = 3) -> IntentPrediction:
        """The ranked intents of one row of ``predict_proba``."""
        order = np.argsort(-proba)[:top]
        ranked = [(str(self.classes_[i]), float(proba[i])) for i in order]
        return IntentPrediction(intent=ranked[0][0], confidence=ranked[0][1], top=ranked)

    def _check_fitted(self) -> None:
        if not hasattr(self, "coef_"):
            raise NotFitted("this IntentClassifier is not fitted yet; call fit() or load() first")

    # -- persistence ---------------------------------------------------------------------------
    def save(self, folder: Path, *, encoder_id: str, metadata: dict[str, Any] | None = None) -> Path:
        """Write ``intent.npz`` + ``manifest.json`` into ``folder`` atomically."""
        self._check_fitted()
        return save_model_folder(folder, "intent.npz", {"coef": self.coef_, "intercept": self.intercept_}, {
            "format": INTENT_FORMAT,
            "encoder_id": encoder_id,
            "classes": self.classes_.tolist(),
            "dim": int(self.coef_.shape[1]),
            "params": {"C": self.C, "max_iter": self.max_iter, "random_state": self.random_state},
            "created_at": datetime.now(UTC).isoformat(),
            **(metadata or {}),
        })

    @classmethod
    def load(cls, folder: Path, *, encoder_id: str) -> IntentClassifier:
        manifest, arrays = load_model_folder(folder, "intent.npz", fmt=INTENT_FORMAT, encoder_id=encoder_id,
                                             what="intent model", command="smartreply train intent")
        coef, intercept = arrays["coef"], arrays["intercept"]
        params = manifest.get("params", {})
        model = cls(**{k: params[k] for k in ("C", "max_iter", "random_state") if k in params})
        model.classes_ = np.array(manifest["classes"], dtype=str)
        model.coef_, model.intercept_ = coef, intercept
        if coef.shape != (len(model.classes_), manifest["dim"]):
            raise ArtifactMismatch(f"{folder}: weights {coef.shape} do not match {len(model.classes_)} classes")
        model.manifest_ = manifest
        return model


def data_digest(texts: Sequence[str], labels: Sequence[str]) -> str:
    h = hashlib.sha256()
    for text, label in zip(texts, labels):
        h.update(f"{label}\t{text}\n".encode())
    return h.hexdigest()


def intent_tag(model: IntentClassifier | None) -> str:
    """What identifies an intent model for what was fitted on its probabilities (its training data's
    digest): the ranker's weights and the quick-phrase scorer are keyed on it."""
    if model is None:
        return "none"
    return str((getattr(model, "manifest_", None) or {}).get("data_sha256", "unknown"))
