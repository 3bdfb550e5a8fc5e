"""Task 2, intent classification on CSDS ``Topic`` labels.

Classifiers are estimators (``fit(texts, labels)`` → self, ``predict(texts)`` → labels and
confidences). Today's systems: ``majority``; ``tfidf-char`` (char 1–3-gram TF-IDF + logistic
regression); ``dense`` (encoder embeddings + logistic regression); ``pipeline`` (the serving
retrieval as a nearest-topic classifier: each topic an entry, its training questions the 相似问,
prediction = the top suggestion); ``intent-model`` (the product's intent estimator,
:class:`models.intent.IntentClassifier`, retrained on the evaluation's training texts through the
pipeline's normalisation and encoder). Another model plugs in as one more :class:`Classifier`.

Protocols: train on one file and test on another (test rows of topics unseen in training are
left out and counted), or stratified k-fold cross-validation on one file (out-of-fold predictions
of every row are scored together; per-fold accuracy is reported too).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from knowledge_base.schema import FaqEntry
from models.encoder import Encoder

from .datasets import IntentExample
from .errors import DatasetError, EvalConfigError
from .faq import curve_points
from .metrics import classification_metrics, confusion_top, coverage_at_precision, latency_summary
from .results import Progress, SystemResult, TaskResult, no_progress
from .systems import PipelineRanker, Resources, SystemSpec, typed_options

__all__ = ["Classifier", "MajorityClassifier", "TfidfLogReg", "DenseLogReg", "RetrievalClassifier",
           "ProductIntentModel", "build_classifier", "run_intent_cv", "run_intent_split", "INTENT_SYSTEMS",
           "INTENT_HEADLINE"]

INTENT_SYSTEMS = ("majority", "tfidf-char", "dense", "pipeline", "intent-model")
INTENT_HEADLINE = [("accuracy", "accuracy"), ("macro_f1", "macro-F1"), ("coverage@p0.9", "coverage @ P≥0.9")]


@runtime_checkable
class Classifier(Protocol):
    name: str

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> Classifier: ...

    def predict(self, texts: Sequence[str]) -> tuple[list[str], list[float]]:
        """Predicted label and its confidence (higher is surer) for each text."""
        ...

    def config(self) -> dict: ...


class _Fitted:
    def _check(self) -> None:
        if not getattr(self, "fitted_", False):
            raise RuntimeError(f"{type(self).__name__} is not fitted; call fit(texts, labels) first")


class MajorityClassifier(_Fitted):
    name = "majority"

    def fit(self, texts, labels):
        counts = Counter(labels)
        self.label_, n = min(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        self.share_ = n / len(labels)
        self.fitted_ = True
        return self

    def predict(self, texts):
        self._check()
        return [self.label_] * len(texts), [self.share_] * len(texts)

    def config(self) -> dict:
        return {}


class _LogReg(_Fitted):
    def __init__(self, C: float = 10.0, seed: int = 0) -> None:
        self.C, self.seed = float(C), int(seed)

    def _model(self):
        from sklearn.linear_model import LogisticRegression

        # sag: same accuracy as lbfgs here at a fifth of the time; seeded, so runs repeat exactly.
        return LogisticRegression(C=self.C, solver="sag", max_iter=1000, random_state=self.seed)

    def _features(self, texts, fit: bool):
        raise NotImplementedError

    def fit(self, texts, labels):
        self.model_ = self._model().fit(self._features(list(texts), fit=True), list(labels))
        self.fitted_ = True
        return self

    def predict(self, texts):
        self._check()
        proba = self.model_.predict_proba(self._features(list(texts), fit=False))
        best = proba.argmax(axis=1)
        return [str(self.model_.classes_[i]) for i in best], [float(p) for p in proba[np.arange(len(best)), best]]


class TfidfLogReg(_LogReg):
    """Char 1–3-gram TF-IDF (sublinear tf) + multinomial logistic regression."""

    name = "tfidf-char"

    def __init__(self, C: float = 10.0, seed: int = 0, ngram_min: int = 1, ngram_max: int = 3) -> None:
        super().__init__(C, seed)
        self.ngram_min, self.ngram_max = int(ngram_min), int(ngram_max)

    def _features(self, texts, fit):
        if fit:
            from sklearn.feature_extraction.text import TfidfVectorizer

            self.vectorizer_ = TfidfVectorizer(analyzer="char", ngram_range=(self.ngram_min, self.ngram_max),
                                               sublinear_tf=True)
            return self.vectorizer_.fit_transform(texts)
        return self.vectorizer_.transform(texts)

    def config(self) -> dict:
        return {"features": f"char {self.ngram_min}-{self.ngram_max}-gram tf-idf", "model": "LogisticRegression",
                "C": self.C, "seed": self.seed}


class DenseLogReg(_LogReg):
    """Sentence embeddings (unit vectors) + multinomial logistic regression."""

    name = "dense"

    def __init__(self, encoder: Encoder, C: float = 10.0, seed: int = 0) -> None:
        super().__init__(C, seed)
        self.encoder = encoder
        self._cache: dict[str, np.ndarray] = {}  # the encoder is deterministic: folds reuse vectors

    def _features(self, texts, fit):
        missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:
            for t, v in zip(missing, self.encoder.encode(missing)):
                self._cache[t] = v
        return np.stack([self._cache[t] for t in texts])

    def config(self) -> dict:
        return {"features": self.encoder.model_id, "precision": getattr(self.encoder, "precision", "fp32"),
                "model": "LogisticRegression", "C": self.C, "seed": self.seed}


class RetrievalClassifier(_Fitted):
    """Any ranker as a nearest-topic classifier: one entry per label (standard question = the label,
    相似问 = its distinct training texts); the prediction is the top-ranked entry."""

    def __init__(self, ranker, name: str = "pipeline") -> None:
        self.ranker, self.name = ranker, name

    def fit(self, texts, labels):
        by_label: dict[str, list[str]] = {}
        for t, lab in zip(texts, labels):
            by_label.setdefault(lab, []).append(t)
        entries = [FaqEntry(id=lab, question=lab, similar=tuple(dict.fromkeys(t for t in ts if t != lab)),
                            answers=(lab,), category=lab) for lab, ts in by_label.items()]
        self.ranker.fit(entries)
        self.fitted_ = True
        return self

    def predict(self, texts):
        self._check()
        labels, conf = [], []
        for t in texts:
            ranked = self.ranker.rank(t, 1)
            labels.append(ranked[0][0] if ranked else "")
            conf.append(ranked[0][1] if ranked else float("-inf"))
        return labels, conf

    def config(self) -> dict:
        return {"retrieval": self.ranker.config()}


class ProductIntentModel(_Fitted):
    """The product's intent estimator on the pipeline's features: encoder(normalise(text))."""

    name = "intent-model"

    def __init__(self, encoder: Encoder, normalise, seed: int = 0, **params) -> None:
        self.encoder, self.normalise, self.seed, self.params = encoder, normalise, int(seed), params
        self._cache: dict[str, np.ndarray] = {}

    def _vectors(self, texts):
        prepared = [self.normalise(t) for t in texts]
        missing = [t for t in dict.fromkeys(prepared) if t not in self._cache]
        if missing:
            for t, v in zip(missing, self.encoder.encode(missing)):
                self._cache[t] = v
        return np.stack([self._cache[t] for t in prepared])

    def fit(self, texts, labels):
        from models.intent import IntentClassifier

        self.model_ = IntentClassifier(random_state=self.seed, **self.params).fit(self._vectors(list(texts)),
                                                                                 list(labels))
        self.fitted_ = True
        return self

    def predict(self, texts):
        self._check()
        proba = self.model_.predict_proba(self._vectors(list(texts)))
        best = proba.argmax(axis=1)
        return [str(self.model_.classes_[i]) for i in best], [float(p) for p in proba[np.arange(len(best)), best]]

    def config(self) -> dict:
        m = getattr(self, "model_", None)
        norm = self.normalise
        return {"estimator": "models.intent.IntentClassifier", "C": getattr(m, "C", self.params.get("C")),
                "encoder": self.encoder.model_id, "precision": getattr(self.encoder, "precision", "fp32"),
                "normalise": norm.signature() if hasattr(norm, "signature") else getattr(norm, "__name__", "?"),
                "seed": self.seed}


def build_classifier(spec: SystemSpec, resources: Resources, seed: int = 0) -> Classifier:
    if spec.name == "majority":
        typed_options(spec, {})
        return MajorityClassifier()
    if spec.name == "tfidf-char":
        return TfidfLogReg(seed=seed, **typed_options(spec, {"C": float, "ngram_min": int, "ngram_max": int}))
    if spec.name == "dense":
        encoder_opts = {k: v for k, v in spec.options.items() if k != "C"}
        c = typed_options(SystemSpec(spec.name, {k: v for k, v in spec.options.items() if k == "C"}), {"C": float})
        return DenseLogReg(resources.encoder_with(encoder_opts), seed=seed, **c)
    if spec.name == "pipeline":
        return RetrievalClassifier(PipelineRanker(resources.pipeline(spec.options)), name="pipeline")
    if spec.name == "intent-model":
        params = {k: v for k, v in spec.options.items() if k in ("C", "max_iter")}
        typed = typed_options(SystemSpec(spec.name, params), {"C": float, "max_iter": int})
        pipeline = resources.pipeline({k: v for k, v in spec.options.items() if k not in params}).pipeline
        return ProductIntentModel(pipeline.encoder, pipeline.normalise, seed=seed, **typed)
    raise EvalConfigError(f"unknown intent system {spec.name!r}; use one of {', '.join(INTENT_SYSTEMS)}")


def _score(label: str, kind: str, clf: Classifier, y_true: list[str], y_pred: list[str], conf: list[float],
           latencies: list[float], fit_seconds: float, run_seconds: float, precision_target: float,
           extra: dict | None = None) -> SystemResult:
    report = classification_metrics(y_true, y_pred)
    correct = [t == p for t, p in zip(y_true, y_pred)]
    coverage, threshold = coverage_at_precision(conf, correct, precision_target)
    metrics = {"accuracy": report["accuracy"], "macro_f1": report["macro_f1"],
               f"coverage@p{precision_target:g}": coverage, "examples": len(y_true)}
    details = {"per_class": report["per_class"], "confusion_top20": confusion_top(y_true, y_pred, 20),
               "threshold_at_target_precision": threshold, "curve": curve_points(conf, correct),
               "latency": latency_summary(latencies), **(extra or {})}
    return SystemResult(label=label, kind=kind, config=clf.config(), metrics=metrics, details=details,
                        latencies_ms=latencies, fit_seconds=fit_seconds, run_seconds=run_seconds,
                        plots={"confidence": conf, "correct": correct})


def _predict_timed(clf: Classifier, texts: Sequence[str], progress: Progress, label: str):
    preds, conf, lat = [], [], []
    for t in progress(texts, label, len(texts)):
        start = time.perf_counter()
        p, c = clf.predict([t])
        lat.append((time.perf_counter() - start) * 1000)
        preds.append(p[0])
        conf.append(c[0])
    return preds, conf, lat


def run_intent_split(train: Sequence[IntentExample], test: Sequence[IntentExample],
                     systems: Sequence[tuple[str, str, Classifier]], *, precision_target: float = 0.9,
                     progress: Progress = no_progress) -> TaskResult:
    """Train on ``train``, score on the ``test`` examples whose label occurs in training."""
    labels = {e.label for e in train}
    kept = [e for e in test if e.label in labels]
    if not kept:
        raise DatasetError("no test example has a label seen in training")
    results, predictions = [], []
    texts, y_true = [e.text for e in kept], [e.label for e in kept]
    for label, kind, clf in systems:
        t0 = time.perf_counter()
        clf.fit([e.text for e in train], [e.label for e in train])
        fit_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        y_pred, conf, lat = _predict_timed(clf, texts, progress, label)
        results.append(_score(label, kind, clf, y_true, y_pred, conf, lat, fit_s, time.perf_counter() - t1,
                              precision_target))
        predictions.extend({"system": label, "text": t, "gold": g, "predicted": p, "confidence": round(c, 6)}
                           for t, g, p, c in zip(texts, y_true, y_pred, conf))
    dataset = {"protocol": "train/test", "train_examples": len(train), "train_labels": len(labels),
               "test_examples": len(kept), "test_excluded_unseen_label": len(test) - len(kept),
               "test_labels": len({e.label for e in kept})}
    return TaskResult(task="intent", title="Intent classification (train file → test file)", dataset=dataset,
                      systems=results, headline=_headline(precision_target), predictions=predictions)


def run_intent_cv(examples: Sequence[IntentExample], systems: Sequence[tuple[str, str, Classifier]], *,
                  folds: int = 5, seed: int = 0, precision_target: float = 0.9,
                  progress: Progress = no_progress) -> TaskResult:
    """Stratified ``folds``-fold cross-validation (shuffled with ``seed``); labels need ≥ ``folds`` examples."""
    from sklearn.model_selection import StratifiedKFold

    counts = Counter(e.label for e in examples)
    small = sorted(lab for lab, n in counts.items() if n < folds)
    if small:
        raise DatasetError(f"{len(small)} labels have fewer than {folds} examples (e.g. {small[0]!r}); "
                           f"raise --min-rows to at least {folds}")
    texts = [e.text for e in examples]
    y = np.asarray([e.label for e in examples])
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    splits = list(splitter.split(np.zeros(len(y)), y))
    results, predictions = [], []
    for label, kind, clf in systems:
        y_pred = [""] * len(y)
        conf = [0.0] * len(y)
        lat: list[float] = []
        fold_acc = []
        fit_s = run_s = 0.0
        for f, (tr, te) in enumerate(splits, start=1):
            t0 = time.perf_counter()
            clf.fit([texts[i] for i in tr], [str(v) for v in y[tr]])
            fit_s += time.perf_counter() - t0
            t1 = time.perf_counter()
            p, c, fl = _predict_timed(clf, [texts[i] for i in te], progress, f"{label} fold {f}/{folds}")
            run_s += time.perf_counter() - t1
            for i, pi, ci in zip(te, p, c):
                y_pred[i], conf[i] = pi, ci
            lat.extend(fl)
            fold_acc.append(float(np.mean([pi == y[i] for i, pi in zip(te, p)])))
        extra = {"fold_accuracy": fold_acc, "fold_accuracy_mean": float(np.mean(fold_acc)),
                 "fold_accuracy_std": float(np.std(fold_acc))}
        results.append(_score(label, kind, clf, [str(v) for v in y], y_pred, conf, lat, fit_s, run_s,
                              precision_target, extra))
        predictions.extend({"system": label, "text": t, "gold": str(g), "predicted": p, "confidence": round(c, 6)}
                           for t, g, p, c in zip(texts, y, y_pred, conf))
    dataset = {"protocol": f"stratified {folds}-fold CV", "examples": len(examples), "labels": len(counts),
               "folds": folds, "seed": seed}
    return TaskResult(task="intent", title=f"Intent classification ({folds}-fold cross-validation)",
                      dataset=dataset, systems=results, headline=_headline(precision_target),
                      predictions=predictions)


def _headline(target: float) -> list[tuple[str, str]]:
    return [(k.replace("p0.9", f"p{target:g}"), t.replace("0.9", f"{target:g}")) for k, t in INTENT_HEADLINE]
