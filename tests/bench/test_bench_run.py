"""The benchmark machinery end to end with tiny numbers: real servers, real encoder, no timed asserts."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from eval.bench.load import percentiles
from eval.bench.runner import BenchConfig, format_report, run_bench, summarise
from eval.bench.shopgen import generate_queries, generate_shop, shop_csv_bytes

pytestmark = pytest.mark.slow


def test_percentiles_of_known_values():
    assert percentiles(range(1, 101)) == {"p50": 50.5, "p95": 95.05, "p99": 99.01, "mean": 50.5}
    assert percentiles([]) == {}


def test_summary_ratios():
    runs = [{"target": "ours_w1", "concurrency": 1, "throughput": 100.0},
            {"target": "ours_w1", "concurrency": 4, "throughput": 300.0},
            {"target": "cluster_r2", "concurrency": 4, "throughput": 330.0},
            {"target": "naive", "concurrency": 1, "throughput": 10.0},
            {"target": "naive", "concurrency": 4, "throughput": 30.0}]
    assert summarise(runs) == {"best_throughput": {"cluster_r2": 330.0, "naive": 30.0, "ours_w1": 300.0},
                               "ratio_best_vs_naive_best": 11.0,
                               "ratio_same_concurrency": {"ours_w1@c1": 10.0, "ours_w1@c4": 10.0,
                                                          "cluster_r2@c4": 11.0},
                               "ratio_vs_naive_best": {"cluster_r2": 11.0, "ours_w1": 10.0}}


def test_a_tiny_run_reports_every_target_and_level(tmp_path, real_encoder):
    cfg = BenchConfig(entries=50, queries=20, concurrency=(1, 2), requests=20, naive_requests=6, seconds=30,
                      workers=(1, 2), work_dir=tmp_path)
    report = run_bench(cfg)
    assert report["shop"] == {"entries": 50, "phrasings": 200, "queries": 20, "distinct_queries": 20}
    assert report["build"]["phrasings"] == 200 and report["build"]["phrasings_per_s"] > 0
    assert [(r["target"], r["concurrency"]) for r in report["runs"]] == [
        ("ours_w1", 1), ("ours_w1", 2), ("ours_w2", 1), ("ours_w2", 2), ("naive", 1), ("naive", 2)]
    for run in report["runs"]:
        assert run["errors"] == 0, run["error_samples"]
        assert run["ok"] == run["sent"] == (20 if run["target"] != "naive" else 6)
        assert set(run["client_ms"]) == set(run["server_ms"]) == {"p50", "p95", "p99", "mean"}
        assert 0.0 <= run["top1_accuracy"] <= 1.0
    assert report["memory"]["ours_w1_loaded"]["rss_mib"] > 0
    assert report["memory"]["naive_loaded"]["processes"] == 1
    # `serve --workers 2`: a supervisor and two workers (plus multiprocessing's resource tracker)
    assert report["memory"]["ours_w2_loaded"]["processes"] >= 3
    assert set(report["summary"]["ratio_same_concurrency"]) == {"ours_w1@c1", "ours_w1@c2", "ours_w2@c1",
                                                                "ours_w2@c2"}
    text = format_report(report)
    assert text.startswith("| target | conc. |") and "phrasings/s" in text


def test_a_tiny_run_through_a_cluster_reports_it_beside_the_single_server(tmp_path, real_encoder):
    import glob
    import shutil

    if shutil.which("haproxy") is None or not glob.glob("/usr/lib/postgresql/*/bin/initdb"):
        pytest.skip("the cluster benchmark needs Debian's haproxy and postgresql (scripts/test.sh installs both)")
    cfg = BenchConfig(entries=30, queries=20, concurrency=(2,), requests=20, seconds=30, workers=(1,), naive=False,
                      cluster=2, work_dir=tmp_path)
    report = run_bench(cfg)
    assert [(r["target"], r["concurrency"]) for r in report["runs"]] == [("ours_w1", 2), ("cluster_r2", 2)]
    cluster = report["runs"][1]
    assert cluster["ok"] == cluster["sent"] == 20 and cluster["errors"] == 0, cluster["error_samples"]
    assert set(cluster["server_ms"]) == {"p50", "p95", "p99", "mean"} and cluster["top1_accuracy"] is not None
    assert report["builds"]["cluster_r2"]["phrasings"] == 120
    assert report["memory"]["cluster_r2_loaded"]["processes"] == 2
    assert report["cluster"] == {"replicas": 2, "hash_balance_factor": 125, "server_maxconn": 32}
    assert "KB build through cluster_r2" in format_report(report)
    assert not (tmp_path / "cluster" / "cluster.json").exists()  # stopped


def test_naive_baseline_names_the_same_top_entry_as_ours(tmp_path, real_encoder):
    from eval.bench.naive_app import create_naive_app
    from knowledge_base.importer import import_kb_file
    from knowledge_base.store import KbStore
    from models.model_source import resolve_model_path
    from models.normalize import normalize_text
    from service.pipeline import PipelineOptions, SuggestRequest, Suggester

    shop = generate_shop("agree", 60)
    csv_path = tmp_path / "agree.csv"
    csv_path.write_bytes(shop_csv_bytes(shop))
    store = KbStore(f"sqlite:///{tmp_path / 'kb.db'}")
    result = import_kb_file(store, tmp_path / "idx", real_encoder, "agree", "agree.csv", csv_path.read_bytes(),
                            normalise=normalize_text)
    # The naive app is nearest-phrasing retrieval: compare it with ours without the reranker.
    ours = Suggester(store, tmp_path / "idx", real_encoder, search_threads=1,
                     options=PipelineOptions(rerank=False, suggest_threshold=0.0, templates=False, rules=False))
    naive = TestClient(create_naive_app(result.index_path, csv_path, str(resolve_model_path("m3e-small"))))
    # The naive app encodes the raw message with fp32 PyTorch, ours the normalised message with int8
    # ONNX: feed normalised text, and expect the same entry wherever ours is not a near tie.
    clear = 0
    for query in generate_queries(shop, 8, seed=3):
        message = normalize_text(query.message)
        r = naive.post("/v1/shops/agree/suggestions", json={"message": message, "top_k": 3})
        assert r.status_code == 200
        naive_top = r.json()["suggestions"][0]
        ours_top = ours.suggest(SuggestRequest("agree", message)).suggestions
        assert naive_top["entry_id"] in [s.entry_id for s in ours_top]
        if ours_top[0].score - ours_top[1].score > 0.03:
            clear += 1
            assert naive_top["entry_id"] == ours_top[0].entry_id
            assert abs(naive_top["score"] - ours_top[0].score) < 0.05
    assert clear >= 3
    store.close()
