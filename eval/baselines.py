"""Baseline rankers over the same knowledge-base entries the pipeline serves.

Every ranker indexes each phrasing (standard question + 相似问) of each enabled entry and scores an
entry as its best phrasing (max aggregation, like the pipeline). Ties are broken by entry order, so
results are deterministic. All satisfy :class:`eval.systems.Ranker`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np
from scipy import sparse

from knowledge_base.schema import FaqEntry
from models.encoder import Encoder

from .text import word_tokens

__all__ = ["PhrasingRanker", "BM25Ranker", "TfidfCharRanker", "DenseRanker", "MostFrequentRanker"]


class PhrasingRanker:
    """Shared part: phrasings laid out entry by entry, so an entry's phrasings are one slice."""

    name = "phrasing"

    def __init__(self) -> None:
        self.entry_ids_: list[str] | None = None

    def fit(self, entries: Sequence[FaqEntry]) -> PhrasingRanker:
        enabled = [e for e in entries if e.enabled]
        if not enabled:
            raise ValueError("no enabled entries to index")
        texts: list[str] = []
        starts: list[int] = []
        for e in enabled:
            starts.append(len(texts))
            texts.extend(e.phrasings)
        self.entry_ids_ = [e.id for e in enabled]
        self.starts_ = np.asarray(starts, dtype=np.int64)
        self._index(texts)
        return self

    def rank(self, query: str, k: int) -> list[tuple[str, float]]:
        if self.entry_ids_ is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted; call fit(entries) first")
        per_phrasing = self._scores(query)
        per_entry = np.maximum.reduceat(per_phrasing, self.starts_)
        order = np.argsort(-per_entry, kind="stable")[:k]
        return [(self.entry_ids_[i], float(per_entry[i])) for i in order]

    def config(self) -> dict:
        return {}

    def _index(self, texts: list[str]) -> None:
        raise NotImplementedError

    def _scores(self, query: str) -> np.ndarray:
        raise NotImplementedError


class BM25Ranker(PhrasingRanker):
    """Okapi BM25 over jieba words (Lucene's idf, log(1 + (N − n + 0.5)/(n + 0.5)), never negative)."""

    name = "bm25"

    def __init__(self, k1: float = 1.5, b: float = 0.75,
                 tokenize: Callable[[str], list[str]] = word_tokens) -> None:
        super().__init__()
        self.k1, self.b, self.tokenize = float(k1), float(b), tokenize

    def config(self) -> dict:
        return {"k1": self.k1, "b": self.b, "tokens": "jieba words"}

    def _index(self, texts: list[str]) -> None:
        docs = [Counter(self.tokenize(t)) for t in texts]
        vocab: dict[str, int] = {}
        rows, cols, tfs = [], [], []
        for i, doc in enumerate(docs):
            for term, tf in doc.items():
                rows.append(i)
                cols.append(vocab.setdefault(term, len(vocab)))
                tfs.append(tf)
        n_docs = len(docs)
        lengths = np.asarray([sum(d.values()) for d in docs], dtype=np.float64)
        avgdl = float(lengths.mean()) or 1.0
        tf = np.asarray(tfs, dtype=np.float64)
        rows_a = np.asarray(rows, dtype=np.int64)
        df = np.bincount(np.asarray(cols, dtype=np.int64), minlength=len(vocab))
        idf = np.log1p((n_docs - df + 0.5) / (df + 0.5))
        norm = self.k1 * (1 - self.b + self.b * lengths[rows_a] / avgdl)
        weights = idf[np.asarray(cols, dtype=np.int64)] * tf * (self.k1 + 1) / (tf + norm)
        self.vocab_ = vocab
        self.weights_ = sparse.csr_matrix((weights, (rows_a, cols)), shape=(n_docs, max(1, len(vocab))))

    def _scores(self, query: str) -> np.ndarray:
        q = Counter(t for t in self.tokenize(query) if t in self.vocab_)
        if not q:
            return np.zeros(self.weights_.shape[0])
        vec = np.zeros(self.weights_.shape[1])
        for term, count in q.items():
            vec[self.vocab_[term]] = count
        return self.weights_ @ vec


class TfidfCharRanker(PhrasingRanker):
    """Cosine of character n-gram TF-IDF vectors (sklearn, fitted on the KB's phrasings)."""

    name = "tfidf-char"

    def __init__(self, ngram_min: int = 1, ngram_max: int = 3) -> None:
        super().__init__()
        self.ngram_min, self.ngram_max = int(ngram_min), int(ngram_max)

    def config(self) -> dict:
        return {"analyzer": "char", "ngram_range": [self.ngram_min, self.ngram_max], "sublinear_tf": True}

    def _index(self, texts: list[str]) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.vectorizer_ = TfidfVectorizer(analyzer="char", ngram_range=(self.ngram_min, self.ngram_max),
                                           sublinear_tf=True, lowercase=True)
        self.matrix_ = self.vectorizer_.fit_transform(texts)

    def _scores(self, query: str) -> np.ndarray:
        return np.asarray((self.matrix_ @ self.vectorizer_.transform([query]).T).todense()).ravel()


class DenseRanker(PhrasingRanker):
    """The encoder alone: cosine of raw texts (no normalisation, no FAISS, every phrasing scored)."""

    name = "dense"

    def __init__(self, encoder: Encoder, batch_size: int = 64) -> None:
        super().__init__()
        self.encoder, self.batch_size = encoder, batch_size

    def config(self) -> dict:
        return {"encoder": self.encoder.model_id, "precision": getattr(self.encoder, "precision", "fp32"),
                "normalise": False}

    def _index(self, texts: list[str]) -> None:
        self.matrix_ = self.encoder.encode(texts, batch_size=self.batch_size)

    def _scores(self, query: str) -> np.ndarray:
        return self.matrix_ @ self.encoder.encode([query])[0]


class MostFrequentRanker:
    """Ignores the query: the entries in order of ``popularity`` (default: number of phrasings)."""

    name = "most-frequent"

    def __init__(self, popularity: Callable[[FaqEntry], float] | None = None) -> None:
        self.popularity = popularity
        self.ranked_: list[tuple[str, float]] | None = None

    def fit(self, entries: Sequence[FaqEntry]) -> MostFrequentRanker:
        pop = self.popularity or (lambda e: float(len(e.phrasings)))
        enabled = [e for e in entries if e.enabled]
        scored = [(e.id, float(pop(e))) for e in enabled]
        self.ranked_ = sorted(scored, key=lambda t: -t[1])  # stable: ties keep entry order
        total = sum(s for _, s in scored) or 1.0
        self.ranked_ = [(i, s / total) for i, s in self.ranked_]  # a share, so confidences stay in [0, 1]
        return self

    def rank(self, query: str, k: int) -> list[tuple[str, float]]:
        if self.ranked_ is None:
            raise RuntimeError("MostFrequentRanker is not fitted; call fit(entries) first")
        return self.ranked_[:k]

    def config(self) -> dict:
        return {}

