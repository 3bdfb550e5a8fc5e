"""Baselines against brute-force references, system specs, and the pipeline in process."""

from __future__ import annotations

import math

import numpy as np
import pytest

from eval.baselines import BM25Ranker, DenseRanker, MostFrequentRanker, TfidfCharRanker
from eval.errors import EvalConfigError
from eval.intent import MajorityClassifier, RetrievalClassifier, TfidfLogReg
from eval.systems import EvalPipeline, PipelineRanker, Resources, SystemSpec, parse_system
from knowledge_base.schema import FaqEntry
from service.pipeline import Settings

ENTRIES = [
    FaqEntry(id="E1", question="a b", similar=("a c c",), answers=("x",)),
    FaqEntry(id="E2", question="d", answers=("y",)),
]


def test_bm25_matches_the_formula():
    ranker = BM25Ranker(tokenize=str.split).fit(ENTRIES)
    # "c" is in 1 of 3 phrasings: idf = ln(1 + 2.5/1.5). Phrasing "a c c": tf 2, length 3, avgdl 2.
    idf = math.log(1 + 2.5 / 1.5)
    expected = idf * 2 * 2.5 / (2 + 1.5 * (1 - 0.75 + 0.75 * 3 / 2))
    assert ranker.rank("c", 5) == [("E1", pytest.approx(expected)), ("E2", 0.0)]
    assert ranker.rank("c", 5)[0][1] == pytest.approx(1.207174, abs=1e-6)
    assert ranker.rank("zzz", 1) == [("E1", 0.0)]  # no overlap: ties keep entry order


def test_rankers_need_fit():
    with pytest.raises(RuntimeError, match="not fitted"):
        BM25Ranker().rank("x", 1)


def test_tfidf_char_is_max_over_phrasings():
    entries = [FaqEntry(id="ship", question="什么时候发货", similar=("几天能发出",), answers=("两天",)),
               FaqEntry(id="bill", question="可以开发票吗", answers=("可以",))]
    ranked = TfidfCharRanker().fit(entries).rank("几天能发出", 2)
    assert ranked[0] == ("ship", pytest.approx(1.0))


def test_dense_ranker_equals_brute_force(fake_encoder):
    entries = [FaqEntry(id=f"e{i}", question=q, similar=s, answers=("a",))
               for i, (q, s) in enumerate([("发货时间", ("几天发货",)), ("开发票", ("发票怎么开", "能开票吗")),
                                           ("换货", ())])]
    ranker = DenseRanker(fake_encoder).fit(entries)
    query = "发票能开吗"
    q = fake_encoder.encode([query])[0]
    expected = sorted(((e.id, max(float(fake_encoder.encode([p])[0] @ q) for p in e.phrasings)) for e in entries),
                      key=lambda t: -t[1])
    got = ranker.rank(query, 3)
    assert [i for i, _ in got] == [i for i, _ in expected]
    assert [s for _, s in got] == pytest.approx([s for _, s in expected], abs=1e-6)


def test_most_frequent_ignores_the_query():
    counts = {"E1": 1, "E2": 3}
    ranker = MostFrequentRanker(lambda e: counts[e.id]).fit(ENTRIES)
    assert ranker.rank("anything", 2) == [("E2", 0.75), ("E1", 0.25)]


def test_parse_system():
    spec = parse_system("pipeline:candidates=10,-fillers,+traditional")
    assert spec == SystemSpec("pipeline", {"candidates": "10", "fillers": False, "traditional": True})
    assert spec.label == "pipeline:candidates=10,-fillers,+traditional"
    assert parse_system("pipeline", {"precision": "fp32"}).label == "pipeline:precision=fp32"
    assert parse_system("bm25", {"precision": "fp32"}).label == "bm25"  # --set is for product systems only
    with pytest.raises(EvalConfigError, match="is not key=value, \\+flag or -flag"):
        parse_system("bm25:k1")


def test_pipeline_switches_are_checked(tmp_path):
    resources = Resources(Settings(data_dir=tmp_path / "var"), tmp_path)
    with pytest.raises(EvalConfigError, match="pipeline has no switch 'bogus'; known: .*candidates"):
        resources.pipeline_settings({"bogus": "1"})
    with pytest.raises(EvalConfigError, match="invalid pipeline option"):
        resources.pipeline_settings({"candidates": "many"})
    s = resources.pipeline_settings({"candidates": "7", "precision": "fp32"})
    assert s.candidates == 7 and s.onnx_precision == "fp32" and s.data_dir.parent == tmp_path


def _pipeline(tmp_path, encoder, **options):
    return PipelineRanker(EvalPipeline.create(Settings(data_dir=tmp_path / "var", **options), encoder))


def test_pipeline_ranker_agrees_with_brute_force(tmp_path, fake_encoder):
    """The serving pipeline (import → FAISS → Suggester) ranks like the brute-force dense ranker when
    reranking is off, every phrasing is a candidate and normalisation leaves the texts unchanged."""
    entries = [FaqEntry(id=f"e{i}", question=q, similar=s, answers=(f"answer {i}",))
               for i, (q, s) in enumerate([("发货时间", ("几天发货", "多久发出")), ("开发票", ("发票怎么开",)),
                                           ("换货流程", ("怎么换货",)), ("退款多久到账", ())])]
    pipeline = _pipeline(tmp_path, fake_encoder, rerank=False).fit(entries)
    dense = DenseRanker(fake_encoder).fit(entries)
    for query in ("几天能发货", "发票", "退款"):
        got, want = pipeline.suggest(query, 3), dense.rank(query, 3)
        assert [s.entry_id for s in got] == [i for i, _ in want]
        assert [s.score for s in got] == pytest.approx([s for _, s in want], abs=1e-5)
        confidences = [c for _, c in pipeline.rank(query, 3)]  # calibrated when the pipeline has it
        assert confidences == sorted(confidences, reverse=True) and all(0 <= c <= 1 for c in confidences)
    assert set(pipeline.last_timings) >= {"encode", "search", "total"}
    # a second fit is a new shop: folds never see each other's entries
    pipeline.fit(entries[:1])
    assert [i for i, _ in pipeline.rank("发票", 3)] == ["e0"]


def test_the_evaluation_meets_the_pipelines_limits(tmp_path, fake_encoder):
    from models.errors import InvalidRequest

    pipeline = _pipeline(tmp_path, fake_encoder, max_top_k=2, max_message_chars=10).fit(ENTRIES)
    assert pipeline.rank("a b", 2)
    with pytest.raises(InvalidRequest, match="top_k: at most 2"):
        pipeline.rank("a b", 3)
    with pytest.raises(InvalidRequest, match="message: longer than 10 characters"):
        pipeline.rank("a b " * 5, 2)


def test_pipeline_switches_reach_the_suggester(tmp_path, fake_encoder):
    resources = Resources(Settings(data_dir=tmp_path / "var"), tmp_path, load_encoder=lambda settings: fake_encoder)
    served = resources.pipeline({"candidates": "7", "rerank": "false", "fillers": False})
    assert served.pipeline.candidates == 7 and served.pipeline.options.rerank is False
    assert served.pipeline.normalise("请问 几天发货") == "请问 几天发货"  # fillers step off
    assert PipelineRanker(served).config()["options"]["rerank"] is False


def test_classifiers(tmp_path, fake_encoder):
    texts = ["什么时候发货", "几天发货", "多久发出", "开发票", "发票怎么开", "能开票吗"]
    labels = ["ship", "ship", "ship", "bill", "bill", "bill"]
    assert MajorityClassifier().fit(texts, labels).predict(["x"]) == (["bill"], [0.5])  # tie → by name
    clf = TfidfLogReg().fit(texts, labels)
    assert clf.predict(["发票"])[0] == ["bill"]
    knn = RetrievalClassifier(_pipeline(tmp_path, fake_encoder)).fit(texts, labels)
    predicted, confidence = knn.predict(["几天能发货", "开个发票"])
    assert predicted == ["ship", "bill"] and all(0 < c <= 1 for c in confidence)
    with pytest.raises(RuntimeError, match="not fitted"):
        TfidfLogReg().predict(["x"])


def test_resources_share_encoders(tmp_path, fake_encoder):
    loads = []

    def fake_load(settings):
        loads.append(settings.onnx_precision)
        return fake_encoder

    resources = Resources(Settings(data_dir=tmp_path / "var"), tmp_path, load_encoder=fake_load)
    assert resources.encoder() is resources.encoder_with({}) is resources.pipeline({"candidates": "5"}).pipeline.encoder
    resources.encoder_with({"precision": "fp32"})
    assert loads == ["int8", "fp32"]
    with pytest.raises(EvalConfigError, match="unknown encoder option"):
        resources.encoder_with({"candidates": "5"})
    assert np.isclose(np.linalg.norm(resources.encoder().encode(["好"])[0]), 1.0)
