"""The CLI through typer's runner, with the real ONNX encoder (it loads in well under a second)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from service.cli import app
from tests.conftest import ARTIFACTS, DEMO_FAQ

pytestmark = pytest.mark.slow


@pytest.fixture
def cli(tmp_path, monkeypatch, real_encoder):
    monkeypatch.setenv("SMARTREPLY_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("SMARTREPLY_ARTIFACTS_DIR", str(ARTIFACTS))
    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args))


def test_import_then_suggest_then_versions(cli):
    r = cli("kb", "import", str(DEMO_FAQ), "--shop", "s1")
    assert r.exit_code == 0, r.output
    assert "shop s1: version 1 active — 92 entries (90 enabled), 463 phrasings indexed" in r.output

    r = cli("suggest", "--shop", "s1", "--json", "衣服小了能换大一码吗")
    assert r.exit_code == 0, r.output
    body = json.loads(r.output)
    assert body["kb_version"] == 1 and body["suggestions"][0]["entry_id"] == "FAQ-024"

    r = cli("suggest", "--shop", "s1", "--top-k", "1", "可以开发票吗")
    assert r.exit_code == 0
    assert r.output.startswith("1. [") and "发票" in r.output and "2. [" not in r.output
    assert "routing: 售后 (intent 发票)" in r.output and "escalate:" not in r.output

    r = cli("suggest", "--shop", "s1", "--json", "你们卖假货，我要去12315投诉")
    body = json.loads(r.output)
    assert body["escalate"]["level"] == "high" and body["routing"]["reason"] == "escalation"
    assert not any(s["auto_reply"] for s in body["suggestions"])

    r = cli("kb", "versions", "--shop", "s1")
    assert r.exit_code == 0
    assert r.output.startswith("* v1    ready") and "92 entries    463 phrasings  demo_shop.csv sha256:" in r.output


def test_misuse_exits_1_with_a_sentence(cli, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("标准问题,答案\n包邮吗,\n", encoding="utf-8")
    r = cli("kb", "import", str(bad), "--shop", "s1")
    assert r.exit_code == 1
    assert "Error: bad.csv: 1 problem(s) found; nothing was imported" in r.output
    assert "  - row 2, column 答案: answer is empty" in r.output

    r = cli("suggest", "--shop", "ghost", "在吗")
    assert r.exit_code == 1
    assert "Error: shop 'ghost' does not exist; upload a knowledge base first" in r.output


def test_the_cli_meets_the_pipelines_limits(cli, tmp_path, monkeypatch):
    faq = tmp_path / "faq.csv"
    faq.write_text("标准问题,相似问题,答案\n包邮吗,免运费吗,全场包邮\n", encoding="utf-8")
    assert cli("kb", "import", str(faq), "--shop", "s1").exit_code == 0
    monkeypatch.setenv("SMARTREPLY_MAX_TOP_K", "2")
    monkeypatch.setenv("SMARTREPLY_MAX_MESSAGE_CHARS", "10")
    assert cli("suggest", "--shop", "s1", "--top-k", "2", "包邮吗").exit_code == 0
    r = cli("suggest", "--shop", "s1", "--top-k", "3", "包邮吗")
    assert r.exit_code == 1 and "Error: top_k: at most 2" in r.output
    r = cli("suggest", "--shop", "s1", "包邮吗" * 4)
    assert r.exit_code == 1 and "Error: message: longer than 10 characters" in r.output


def test_export_is_cached(cli):
    r = cli("train", "export-onnx")
    assert r.exit_code == 0, r.output
    assert "(cached); mean cosine to sentence-transformers: fp32 1.0000, int8 0.99" in r.output
