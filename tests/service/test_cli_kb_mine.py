"""``smartreply kb mine`` through typer's runner with the real encoder, and the import round-trip."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from knowledge_base.parsing import parse_kb_file
from service.cli import app
from tests.conftest import ARTIFACTS, REPO

pytestmark = pytest.mark.slow
DATA = REPO / "tests" / "data"


@pytest.fixture
def cli(tmp_path, monkeypatch, real_encoder):
    monkeypatch.setenv("SMARTREPLY_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("SMARTREPLY_ARTIFACTS_DIR", str(ARTIFACTS))
    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args))


def test_mine_writes_an_importable_faq_from_either_format(cli, tmp_path):
    out = tmp_path / "mined.csv"
    report = tmp_path / "clusters.json"
    r = cli("kb", "mine", str(DATA / "chat_jddc_mini.tsv"), "--out", str(out), "--threshold", "0.8",
            "--report", str(report))
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert "14 conversations, 14 question turns (14 distinct, 3 other buyer turns left out)" in lines
    assert lines[-1].startswith("2 entries written to") and "(largest: 4, 3)" in lines[-1]
    assert "1 whose replies all failed the compliance check" in r.output

    entries = parse_kb_file(out.name, out.read_bytes()).entries
    assert [(e.id, e.answers) for e in entries] == [
        ("M-0001", ("您的订单[订单号]现货付款后48小时内发货哦",)),
        ("M-0002", ("可以开电子发票，下单时填写抬头即可",)),
    ]
    assert entries[1].question == "可以开发票吗"
    # The standard question is the most central member without a placeholder: which of two near-equal
    # paraphrases that is moves with the int8 kernels of the CPU, so the test pins the cluster, not the pick.
    shipping = {"什么时候发货啊", "什么时候发货", "请问什么时候发货呀", "[订单号] 什么时候能发货"}
    assert entries[0].question in shipping - {"[订单号] 什么时候能发货"}
    assert {entries[0].question, *entries[0].similar} == shipping
    assert '"id": "M-0001"' in report.read_text("utf-8")

    # The JSONL of the same conversations mines the same file.
    out2 = tmp_path / "mined2.csv"
    assert cli("kb", "mine", str(DATA / "chat_mini.jsonl"), "-o", str(out2), "--threshold", "0.8").exit_code == 0
    assert out2.read_bytes() == out.read_bytes()

    # Round trip: `kb import` accepts it as is, and exporting gives the same entries back.
    r = cli("kb", "import", str(out), "--shop", "mined")
    assert r.exit_code == 0, r.output
    assert "shop mined: version 1 active — 2 entries (2 enabled), 7 phrasings" in r.output
    exported = tmp_path / "export.csv"
    assert cli("kb", "export", "--shop", "mined", "-o", str(exported)).exit_code == 0
    assert parse_kb_file(exported.name, exported.read_bytes()).entries == entries


def test_mine_misuse_exits_1_with_a_sentence(cli, tmp_path):
    log = str(DATA / "chat_jddc_mini.tsv")
    r = cli("kb", "mine", log, "--out", str(tmp_path / "x.xlsx"))
    assert r.exit_code == 1 and "Error: --out must end in .csv" in r.output
    r = cli("kb", "mine", log, "--out", str(tmp_path / "x.csv"), "--format", "xml")
    assert r.exit_code == 1 and "Error: --format must be auto, jddc or jsonl" in r.output
    bad = tmp_path / "bad.tsv"
    bad.write_text("s1\tUSERID_1\t2\t0\t0\tnan\thello\n", "utf-8")
    r = cli("kb", "mine", str(bad), "--out", str(tmp_path / "x.csv"))
    assert r.exit_code == 1 and "line 1 is not a JDDC chat-log row" in r.output
    assert not (tmp_path / "x.csv").exists()
