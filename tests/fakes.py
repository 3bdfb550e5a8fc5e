"""A tiny deterministic encoder for fast tests of logic (never a feature's only test)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np


class CharNgramEncoder:
    """Hashes character uni- and bi-grams into a small normalised vector: shared characters → close."""

    def __init__(self, dim: int = 64, model_id: str = "fake-char-ngram") -> None:
        self.dim = dim
        self.model_id = model_id
        self.calls = 0
        self.texts_encoded = 0

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        self.calls += 1
        self.texts_encoded += len(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            grams = list(text) + [text[j:j + 2] for j in range(len(text) - 1)]
            for gram in grams or [""]:
                h = int.from_bytes(hashlib.md5(gram.encode("utf-8")).digest()[:4], "little")
                out[i, h % self.dim] += 1.0
            norm = np.linalg.norm(out[i])
            out[i] /= norm if norm else 1.0
        return out
