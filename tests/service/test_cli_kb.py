"""``smartreply kb export|diff|activate|template`` through typer's runner (real encoder)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

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


def test_export_diff_activate_template(cli, tmp_path):
    assert cli("kb", "import", str(DATA / "faq_gbk.csv"), "--shop", "s1").exit_code == 0
    r = cli("kb", "import", str(DATA / "faq_problems.xlsx"), "--shop", "s1", "--partial")
    assert r.exit_code == 0, r.output
    assert "skipped: row 3 column 标准问题: standard question is empty" in r.output
    r = cli("kb", "diff", "--shop", "s1", "1")
    assert r.output.splitlines()[0] == "v1 → v2: 1 added, 4 removed, 0 changed, 0 unchanged"
    assert "+ E-01 发货时间" in r.output and "- S-01 什么时候发货" in r.output

    r = cli("kb", "activate", "--shop", "s1", "1")
    assert r.exit_code == 0 and r.output.startswith("shop s1: version 1 is active (4 entries, faq_gbk.csv")
    out = tmp_path / "s1.xlsx"
    assert cli("kb", "export", "--shop", "s1", "-o", str(out)).output == f"shop s1: version 1 written to {out}\n"
    # export → import gives the same entries: nothing changes, so no version is made
    r = cli("kb", "import", str(out), "--shop", "s1")
    assert r.exit_code == 0 and "shop s1: no changes — the file equals the active version 1" in r.output

    template = tmp_path / "faq-template.csv"
    assert cli("kb", "template", str(template)).exit_code == 0
    assert template.read_bytes().startswith("\ufeff\"编号\",\"标准问题\"".encode())
    r = cli("kb", "activate", "--shop", "s1", "7")
    assert r.exit_code == 1 and "Error: shop 's1' has no version 7" in r.output
    assert cli("kb", "export", "--shop", "s1", "-o", str(tmp_path / "x.txt")).exit_code == 1


def test_warm_writes_each_shops_derived_files_and_reports_the_ones_it_cannot_load(cli, tmp_path):
    from knowledge_base.index import index_dir

    for shop in ("w1", "w2"):
        assert cli("kb", "import", str(DATA / "faq_gbk.csv"), "--shop", shop).exit_code == 0
    folders = {shop: index_dir(tmp_path / "var" / "indexes", shop, 1) for shop in ("w1", "w2")}
    # The CLI's import does not load the shop: nothing derived yet, as after an upgrade that renames them.
    assert not list(folders["w1"].glob("ranker.*.json")) and not list(folders["w1"].glob("lexicon.*.npz"))

    r = cli("kb", "warm")
    assert r.exit_code == 0, r.output
    assert "warmed 2 of 2 shops" in r.output
    for folder in folders.values():
        assert list(folder.glob("ranker.*.json")) and list(folder.glob("lexicon.*.npz"))

    (folders["w2"] / "index.faiss").write_bytes(b"not an index")
    r = cli("kb", "warm", "--shop", "w1", "--shop", "w2", "--shop", "nobody")
    assert r.exit_code == 1
    assert "warmed 1 of 3 shops" in r.output
    assert "shop w2: not warmed:" in r.output and "shop nobody: not warmed:" in r.output


def test_reindex_skips_shops_built_by_this_encoder_and_reports_unknown_ones(cli):
    assert cli("kb", "import", str(DATA / "faq_gbk.csv"), "--shop", "r1").exit_code == 0
    r = cli("kb", "reindex")
    assert r.exit_code == 0, r.output
    assert r.output.startswith("shop r1: v1 is built with m3e-small@") and r.output.rstrip().endswith("skipped")
    r = cli("kb", "reindex", "--shop", "r1", "--shop", "nobody")
    assert r.exit_code == 1 and "shop nobody: not reindexed: shop 'nobody' does not exist" in r.output


def test_import_merge_confirm_remove_and_no_changes(cli, tmp_path):
    rows = [f"E{i},第{i}个问题是什么,,第{i}个答案\n" for i in range(1, 9)]
    full = tmp_path / "full.csv"
    full.write_text("编号,标准问题,相似问题,答案\n" + "".join(rows), encoding="utf-8")
    assert cli("kb", "import", str(full), "--shop", "c1").exit_code == 0
    assert "no changes" in cli("kb", "import", str(full), "--shop", "c1").output
    one = tmp_path / "one.csv"
    one.write_text("编号,标准问题,相似问题,答案\n" + rows[0].replace("第1个答案", "新答案"), encoding="utf-8")
    refused = cli("kb", "import", str(one), "--shop", "c1")
    assert refused.exit_code == 1 and "would remove 7 entries" in refused.output
    merged = cli("kb", "import", str(one), "--shop", "c1", "--merge")
    assert merged.exit_code == 0 and "version 2 active — 8 entries" in merged.output
    assert cli("kb", "import", str(one), "--shop", "c1", "--confirm-remove", "7").exit_code == 0
