"""``smartreply eval …`` through typer's runner, on the team's fixtures (no encoder needed)."""

from __future__ import annotations

import hashlib
import json

import pytest



BASELINES = ["--system", "most-frequent", "--system", "bm25", "--system", "tfidf-char"]


def test_faq_run_writes_metrics_report_predictions(cli, tmp_path, fixtures):
    out = tmp_path / "run"
    r = cli("eval", "run", "faq", "--data", "kb.csv", "--queries", "queries.jsonl", *BASELINES, "--out", str(out))
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines()[0].split() == ["system", "Hit@1", "Hit@3", "MRR@10", "nDCG@10", "coverage", "@",
                                                "P≥0.9"]
    doc = json.loads((out / "metrics.json").read_text("utf-8"))
    assert doc["schema"] == "smartreply-eval/1" and doc["task"] == "faq"
    assert list(doc["systems"]) == ["most-frequent", "bm25", "tfidf-char"]
    assert all(doc["systems"][s]["kind"] == "baseline" for s in doc["systems"])
    assert doc["dataset"] == {"entries": 3, "phrasings": 7, "queries": 3}
    kb = next(f for f in doc["data"] if f["role"] == "kb")
    assert kb["sha256"] == hashlib.sha256((fixtures / "kb.csv").read_bytes()).hexdigest()
    assert set(doc["systems"]["bm25"]["metrics"]) >= {"hit@1", "hit@3", "mrr@10", "ndcg@10", "coverage@p0.9"}
    assert doc["systems"]["most-frequent"]["metrics"]["hit@1"] == pytest.approx(1 / 3)  # always F1 (2 相似问)
    assert doc["versions"]["sacrebleu"] and doc["options"]["seed"] == 0
    html = (out / "report.html").read_text("utf-8")
    assert html.startswith("<!doctype html>") and "data:image/png;base64," in html
    assert "<script" not in html and 'src="http' not in html and "<link" not in html  # self-contained
    preds = [json.loads(line) for line in (out / "predictions.jsonl").read_text("utf-8").splitlines()]
    assert len(preds) == 9 and preds[0]["system"] == "most-frequent"

    # same command → same numbers; compare prints both columns and the delta
    out2 = tmp_path / "run2"
    r = cli("eval", "run", "faq", "--data", "kb.csv", "--queries", "queries.jsonl", *BASELINES, "--out", str(out2),
            "--no-report")
    assert r.exit_code == 0, r.output
    doc2 = json.loads((out2 / "metrics.json").read_text("utf-8"))
    assert {k: v["metrics"] for k, v in doc2["systems"].items()} == {k: v["metrics"] for k, v in doc["systems"].items()}
    assert not (out2 / "report.html").exists()
    r = cli("eval", "compare", str(out), str(out2))
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0].split() == ["system", "metric", "run", "run2", "Δ", "(B−A)"]
    assert "bm25" in lines[2 + 8]  # 7 metrics + latency p50 per system and lines[2].split()[:2] == ["most-frequent", "hit@1"]
    assert lines[2].split()[-1] == "+0.0000"


def test_intent_reply_matching_on_fixtures(cli, tmp_path):
    r = cli("eval", "run", "intent", "--data", "csds_topic.json", "--system", "majority", "--system", "tfidf-char",
            "--folds", "2", "--min-rows", "5", "--out", str(tmp_path / "intent"))
    assert r.exit_code == 0, r.output
    doc = json.loads((tmp_path / "intent" / "metrics.json").read_text("utf-8"))
    assert doc["dataset"]["examples"] == 11 and doc["dataset"]["labels"] == 2
    # 2 stratified folds of 尺码推荐 ×6 and 发货时间 ×5: one fold trains on 3 + 3 (a tie, broken by name:
    # 发货时间) and tests 3 尺码 + 2 发货 → 2 right; the other trains on 3 + 2 (尺码推荐) and tests 3 + 3 → 3 right.
    assert doc["systems"]["majority"]["metrics"]["accuracy"] == pytest.approx(5 / 11)
    assert doc["systems"]["tfidf-char"]["details"]["confusion_top20"]["labels"] == ["尺码推荐", "发货时间"]

    r = cli("eval", "run", "reply", "--data", "dev_question.txt", "--bank", "chat_log.txt",
            "--bank", "trainQuestions.txt", "--system", "most-frequent", "--system", "bm25",
            "--out", str(tmp_path / "reply"))
    assert r.exit_code == 0, r.output
    doc = json.loads((tmp_path / "reply" / "metrics.json").read_text("utf-8"))
    assert doc["dataset"]["turns"] == 5 and doc["dataset"]["turns_scored"] == 4 and doc["dataset"]["bank_pairs"] == 6
    assert doc["systems"]["most-frequent"]["metrics"]["references"] == 10
    assert [f["role"] for f in doc["data"]] == ["dev_question", "dev_answer", "bank", "bank"]

    r = cli("eval", "run", "matching", "--data", "atec.csv", "--data", "bq.csv", "--data", "lcqmc.txt",
            "--system", "tfidf-char", "--out", str(tmp_path / "match"))
    assert r.exit_code == 0, r.output
    doc = json.loads((tmp_path / "match" / "metrics.json").read_text("utf-8"))
    assert set(doc["systems"]["tfidf-char"]["metrics"]) >= {"eval/atec.csv/spearman_x100", "eval/lcqmc.txt/roc_auc"}


def test_misuse_exits_1_with_a_sentence(cli, tmp_path):
    r = cli("eval", "run", "faq", "--data", "kb.csv", "--queries", "queries.jsonl", "--system", "nope",
            "--out", str(tmp_path / "x"))
    assert r.exit_code == 1
    assert "Error: task faq has no system 'nope'; use one of most-frequent, bm25, tfidf-char, dense, pipeline" in r.output
    r = cli("eval", "run", "faq", "--data", "missing.json", "--out", str(tmp_path / "x"))
    assert r.exit_code == 1
    assert "does not exist" in r.output
    r = cli("eval", "run", "faq", "--data", "kb.csv", "--out", str(tmp_path / "x"), "--system", "bm25")
    assert r.exit_code == 1 and "kb.csv is a KB file: name its labelled queries (JSONL) with --queries" in r.output
    r = cli("eval", "run", "reply", "--data", "dev_question.txt", "--out", str(tmp_path / "x"), "--system", "bm25")
    assert r.exit_code == 1 and "Error: name the reply bank with --bank" in r.output
    r = cli("eval", "run", "faq", "--data", "kb.csv", "--queries", "queries.jsonl", "--system", "bm25",
            "--set", "candidates=3", "--out", str(tmp_path / "x"))
    assert r.exit_code == 1 and "Error: --set applies to pipeline systems, and none is selected" in r.output
    r = cli("eval", "compare", str(tmp_path / "nothing"), str(tmp_path / "nothing"))
    assert r.exit_code == 1 and "does not exist; give a run folder written by `smartreply eval run`" in r.output


def test_convert_csds(cli, tmp_path, fixtures):
    r = cli("eval", "convert-csds", str(fixtures / "csds_topic.json"), "--out", str(tmp_path / "conv"))
    assert r.exit_code == 0, r.output
    assert "2 entries" in r.output and "6 queries" in r.output
    # the converted files are a KB the product imports + queries: the generic format gives the same task
    r = cli("eval", "run", "faq", "--data", str(tmp_path / "conv" / "kb.json"), "--queries",
            str(tmp_path / "conv" / "queries.jsonl"), "--system", "bm25", "--out", str(tmp_path / "a"))
    assert r.exit_code == 0, r.output
    r2 = cli("eval", "run", "faq", "--data", "csds_topic.json", "--system", "bm25", "--out", str(tmp_path / "b"))
    assert r2.exit_code == 0, r2.output
    a = json.loads((tmp_path / "a" / "metrics.json").read_text("utf-8"))["systems"]["bm25"]["metrics"]
    b = json.loads((tmp_path / "b" / "metrics.json").read_text("utf-8"))["systems"]["bm25"]["metrics"]
    assert a == b


def test_intent_train_file_test_file(cli, tmp_path):
    # Training keeps topics with ≥ 5 rows (发货时间, 尺码推荐); the test file's 开发票 rows are unseen:
    # counted as excluded, not scored.
    r = cli("eval", "run", "intent", "--data", "csds_topic.json", "--test", "csds_topic.json",
            "--system", "tfidf-char", "--out", str(tmp_path / "split"))
    assert r.exit_code == 0, r.output
    doc = json.loads((tmp_path / "split" / "metrics.json").read_text("utf-8"))
    assert doc["dataset"] == {"protocol": "train/test", "train_examples": 11, "train_labels": 2,
                              "test_examples": 11, "test_excluded_unseen_label": 2, "test_labels": 2}
    assert [f["role"] for f in doc["data"]] == ["train", "test"]
    assert doc["systems"]["tfidf-char"]["metrics"]["accuracy"] == 1.0  # tested on its own training texts
