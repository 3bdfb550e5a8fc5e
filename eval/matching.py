"""Task 4, question matching: does the similarity score separate same-intent pairs from others?

Per pair file and system: Spearman × 100 of the pair's cosine against its 0/1 label (the C-MTEB
protocol for ATEC, BQ, LCQMC and AFQMC, so the numbers compare with published ones), accuracy at
the best threshold on the same file (an optimistic upper bound: the threshold is not held out),
and ROC-AUC.

Scorers: ``dense`` (the encoder on the raw sentences: the C-MTEB setting); ``pipeline`` (the
pipeline's own similarity: its normalisation and encoder, i.e. the score a suggestion gets when
the buyer's message is one sentence and a KB phrasing the other); ``tfidf-char`` (cosine of
char 1–3-gram TF-IDF vectors fitted on the file's sentences).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np

from models.encoder import Encoder

from .datasets import TextPair
from .errors import EvalConfigError
from .metrics import best_threshold_accuracy, roc_auc, spearman_x100
from .results import Progress, SystemResult, TaskResult, no_progress
from .systems import Resources, SystemSpec, typed_options

__all__ = ["PairScorer", "EncoderScorer", "TfidfCharScorer", "build_scorer", "run_matching",
           "MATCHING_SYSTEMS", "MATCHING_HEADLINE"]

MATCHING_SYSTEMS = ("tfidf-char", "dense", "pipeline")
MATCHING_HEADLINE = [("spearman_x100", "Spearman×100"), ("best_accuracy", "best-threshold acc."),
                     ("roc_auc", "ROC-AUC")]


class PairScorer(Protocol):
    name: str

    def score(self, pairs: Sequence[TextPair], progress: Progress = no_progress) -> np.ndarray: ...

    def config(self) -> dict: ...


class EncoderScorer:
    """Cosine of the two sentences' embeddings (each distinct sentence encoded once)."""

    def __init__(self, encoder: Encoder, normalise: Callable[[str], str] | None = None, name: str = "dense",
                 batch_size: int = 64) -> None:
        self.encoder, self.normalise, self.name, self.batch_size = encoder, normalise, name, batch_size

    def score(self, pairs, progress=no_progress):
        prep = self.normalise or (lambda s: s)
        texts = list(dict.fromkeys(prep(t) for p in pairs for t in (p.a, p.b)))
        index = {t: i for i, t in enumerate(texts)}
        vectors = np.empty((len(texts), self.encoder.dim), dtype=np.float32)
        block_size = 4096  # the encoder sorts each block by length, so padding stays small
        chunks = range(0, len(texts), block_size)
        for start in progress(chunks, f"{self.name} encode", len(chunks)):
            block = texts[start:start + block_size]
            vectors[start:start + len(block)] = self.encoder.encode(block, batch_size=self.batch_size)
        a = vectors[[index[prep(p.a)] for p in pairs]]
        b = vectors[[index[prep(p.b)] for p in pairs]]
        return np.einsum("ij,ij->i", a, b)

    def config(self) -> dict:
        return {"encoder": self.encoder.model_id, "precision": getattr(self.encoder, "precision", "fp32"),
                "normalise": getattr(self.normalise, "__name__", None) if self.normalise else False}


class TfidfCharScorer:
    name = "tfidf-char"

    def __init__(self, ngram_min: int = 1, ngram_max: int = 3) -> None:
        self.ngram_min, self.ngram_max = int(ngram_min), int(ngram_max)

    def score(self, pairs, progress=no_progress):
        from sklearn.feature_extraction.text import TfidfVectorizer

        texts = list(dict.fromkeys(t for p in pairs for t in (p.a, p.b)))
        vec = TfidfVectorizer(analyzer="char", ngram_range=(self.ngram_min, self.ngram_max), sublinear_tf=True)
        m = vec.fit_transform(texts)
        index = {t: i for i, t in enumerate(texts)}
        a = m[[index[p.a] for p in pairs]]
        b = m[[index[p.b] for p in pairs]]
        return np.asarray(a.multiply(b).sum(axis=1)).ravel()

    def config(self) -> dict:
        return {"analyzer": "char", "ngram_range": [self.ngram_min, self.ngram_max], "fitted_on": "the file's sentences"}


def build_scorer(spec: SystemSpec, resources: Resources) -> PairScorer:
    if spec.name == "tfidf-char":
        return TfidfCharScorer(**typed_options(spec, {"ngram_min": int, "ngram_max": int}))
    if spec.name == "dense":
        return EncoderScorer(resources.encoder_with(spec.options), name="dense")
    if spec.name == "pipeline":
        pipeline = resources.pipeline(spec.options).pipeline
        return EncoderScorer(pipeline.encoder, normalise=pipeline.normalise, name="pipeline")
    raise EvalConfigError(f"unknown matching system {spec.name!r}; use one of {', '.join(MATCHING_SYSTEMS)}")


def run_matching(datasets: Sequence[tuple[str, Sequence[TextPair]]],
                 systems: Sequence[tuple[str, str, PairScorer]], *, progress: Progress = no_progress) -> TaskResult:
    """Score every pair file with every system; metrics are keyed ``<dataset>/<metric>``."""
    results = []
    for label, kind, scorer in systems:
        metrics: dict[str, float] = {}
        details: dict[str, dict] = {}
        plots: dict[str, dict] = {}
        run_s = 0.0
        for name, pairs in datasets:
            t0 = time.perf_counter()
            scores = scorer.score(pairs, progress)
            seconds = time.perf_counter() - t0
            run_s += seconds
            labels = [p.label for p in pairs]
            acc, threshold = best_threshold_accuracy(scores, labels)
            metrics[f"{name}/spearman_x100"] = spearman_x100(scores, labels)
            metrics[f"{name}/best_accuracy"] = acc
            metrics[f"{name}/roc_auc"] = roc_auc(scores, labels)
            details[name] = {"pairs": len(pairs), "positives": int(sum(labels)), "best_threshold": threshold,
                             "seconds": seconds, "pairs_per_second": len(pairs) / seconds if seconds else None}
            plots[name] = {"scores": scores.tolist(), "labels": labels}
        results.append(SystemResult(label=label, kind=kind, config=scorer.config(), metrics=metrics,
                                    details=details, run_seconds=run_s, plots=plots))
    dataset = {name: {"pairs": len(p), "positives": sum(x.label for x in p)} for name, p in datasets}
    notes = ["Best-threshold accuracy picks the threshold on the same file it scores: an upper bound."]
    return TaskResult(task="matching", title="Question matching (C-MTEB pair protocol)", dataset=dataset,
                      systems=results, headline=MATCHING_HEADLINE, notes=notes)
