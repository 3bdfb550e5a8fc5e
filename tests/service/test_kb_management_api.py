"""Knowledge-base management through the HTTP API (in-process app, fast fake encoder, real files)."""

from __future__ import annotations

import io
import threading
import time

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from service.app import create_app
from tests.conftest import OPERATOR_HEADERS, OPERATOR_KEY
from service.config import Settings
from service.runtime import Runtime
from tests.conftest import REPO
from tests.fakes import CharNgramEncoder
from tests.kb_files import million_row_csv, zip_bomb_xlsx

DATA = REPO / "tests" / "data"
GOOD = "编号,标准问题,相似问题,答案,分类\nA,包邮吗,免运费吗|邮费多少,全场包邮,运费\nB,什么时候发货,几天发货,48小时内发货,发货时间\n"


@pytest.fixture
def runtime(tmp_path, fake_encoder, database_url):
    runtime = Runtime(Settings(operator_key=OPERATOR_KEY, data_dir=tmp_path, database_url=database_url), encoder=fake_encoder)
    return runtime


@pytest.fixture
def client(runtime):
    with TestClient(create_app(runtime=runtime), headers=OPERATOR_HEADERS) as c:
        yield c


def upload(client, data: bytes, name: str, shop: str = "s1", **params):
    return client.post(f"/v1/shops/{shop}/kb", params=params, files={"file": (name, data, "application/octet-stream")})


def ask(client, message: str, shop: str = "s1", top_k: int = 3) -> dict:
    r = client.post(f"/v1/shops/{shop}/suggestions", json={"message": message, "top_k": top_k})
    assert r.status_code == 200, r.text
    return r.json()


def test_gbk_csv_upload(client):
    r = upload(client, (DATA / "faq_gbk.csv").read_bytes(), "faq_gbk.csv")
    assert r.status_code == 201, r.text
    assert {k: r.json()[k] for k in ("entries", "enabled_entries", "phrasings")} == {
        "entries": 4, "enabled_entries": 3, "phrasings": 10}
    entries = client.get("/v1/shops/s1/kb/entries").json()["data"]
    assert entries[0] == {"id": "S-01", "question": "什么时候发货", "similar": ["几天能发出", "多久发货", "拍了什么时候寄"],
                          "answers": ["亲，付款后48小时内发货哦", "现货一般当天发出"], "category": "发货", "enabled": True}
    assert entries[3]["enabled"] is False
    assert ask(client, "多久发货呀")["suggestions"][0]["entry_id"] == "S-01"


def test_xlsx_with_two_sheets_upload(client):
    r = upload(client, (DATA / "faq_two_sheets.xlsx").read_bytes(), "faq_two_sheets.xlsx")
    assert r.status_code == 201, r.text
    entries = client.get("/v1/shops/s1/kb/entries").json()["data"]
    assert [e["id"] for e in entries] == ["P-01", "P-02", "A-01", "A-02", "A-03"]
    assert entries[2]["similar"] == ["我要退货", "退货流程是什么"]  # English headers, repeated similar columns
    assert ask(client, "退款几天能到")["suggestions"][0]["entry_id"] == "A-02"


def test_validation_report_lists_every_problem_and_rejects_the_file(client):
    upload(client, GOOD.encode(), "good.csv")
    r = upload(client, (DATA / "faq_problems.xlsx").read_bytes(), "faq_problems.xlsx")
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["code"] == "upload_invalid" and error["message"].startswith("faq_problems.xlsx: 9 problem(s) found")
    assert [(d.get("sheet"), d["row"], d["column"], d["code"]) for d in error["details"]] == [
        ("常见问题", 1, "备注", "unknown_column"), ("常见问题", 3, "标准问题", "missing_question"),
        ("常见问题", 4, "答案", "missing_answer"), ("常见问题", 5, "编号", "duplicate_id"),
        ("常见问题", 6, "相似问题", "conflict"), ("常见问题", 7, "标准问题", "formula"),
        ("联系方式", 2, "答案", "compliance"), ("联系方式", 3, "答案", "compliance"),
        ("联系方式", 4, "答案", "compliance"), ("联系方式", 5, "状态", "bad_status")]
    assert ask(client, "包邮吗")["kb_version"] == 1  # nothing changed


def test_partial_mode_imports_valid_rows_and_reports_the_rest(client):
    r = upload(client, (DATA / "faq_problems.xlsx").read_bytes(), "faq_problems.xlsx", mode="partial")
    assert r.status_code == 201, r.text
    body = r.json()
    # mode=partial is the old spelling of on_error=partial (a whole-file replace)
    assert (body["mode"], body["on_error"], body["entries"], body["skipped_rows"], len(body["skipped"])) == (
        "replace", "partial", 1, 9, 9)
    assert body["warnings"][0]["code"] == "unknown_column"
    assert client.get("/v1/shops/s1/kb/versions").json()["data"][0]["note"] == \
        "partial import: 9 row(s) with errors left out"
    assert upload(client, b"x", "f.csv", mode="everything").json()["error"]["code"] == "invalid_request"


@pytest.mark.parametrize(("make", "name", "code", "message"), [
    (lambda: zip_bomb_xlsx(200), "bomb.xlsx", "xlsx_too_large", "would expand to 200 MiB"),
    (million_row_csv, "big.csv", "too_many_rows", "more than 50000 data rows"),
    (lambda: b"x" * (10 * 2**20 + 1), "huge.csv", "upload_too_large", "larger than the 10485760 byte limit"),
])
def test_oversized_files_are_refused_quickly_with_a_clear_error(client, make, name, code, message):
    data = make()
    started = time.perf_counter()
    r = upload(client, data, name)
    assert time.perf_counter() - started < 5.0
    assert r.status_code == 413
    assert r.json()["error"]["code"] == code and message in r.json()["error"]["message"]


def test_versions_diff_rollback(client):
    upload(client, GOOD.encode(), "v1.csv")
    v2 = GOOD.replace("全场包邮", "满59包邮").replace("B,什么时候发货,几天发货,48小时内发货,发货时间", "C,可以开发票吗,能开票吗,可以的,发票")
    upload(client, v2.encode(), "v2.csv")
    diff = client.get("/v1/shops/s1/kb/diff", params={"from": 1, "to": 2}).json()
    assert [e["id"] for e in diff["added"]] == ["C"] and [e["id"] for e in diff["removed"]] == ["B"]
    assert [(c["id"], c["fields"], c["before"]["answers"], c["after"]["answers"]) for c in diff["changed"]] == [
        ("A", ["answers"], ["全场包邮"], ["满59包邮"])]
    assert ask(client, "包邮吗")["suggestions"][0]["answer"] == "满59包邮"

    r = client.post("/v1/shops/s1/kb/versions/1/activate")
    assert r.status_code == 200 and r.json()["active"] is True
    assert ask(client, "包邮吗")["suggestions"][0]["answer"] == "全场包邮"  # rolled back, served at once
    versions = client.get("/v1/shops/s1/kb/versions").json()
    assert versions["active_version"] == 1 and [v["active"] for v in versions["data"]] == [True, False]
    assert client.get("/v1/shops/s1/kb/diff", params={"from": 2}).json()["to_version"] == 1
    assert client.post("/v1/shops/s1/kb/versions/9/activate").json()["error"]["code"] == "version_not_found"


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_export_then_import_gives_the_same_entries(client, fmt):
    upload(client, (DATA / "faq_two_sheets.xlsx").read_bytes(), "faq_two_sheets.xlsx")
    upload(client, (DATA / "faq_gbk.csv").read_bytes(), "faq_gbk.csv", shop="s2")
    for shop in ("s1", "s2"):
        r = client.get(f"/v1/shops/{shop}/kb/export", params={"format": fmt})
        assert r.status_code == 200
        assert r.headers["content-disposition"] == f'attachment; filename="{shop}-kb-v1.{fmt}"'
        # Importing the export changes nothing: no version is made, and the preview says so.
        preview = client.post(f"/v1/shops/{shop}/kb", params={"dry_run": "true"},
                              files={"file": (f"export.{fmt}", r.content)}).json()
        assert preview["no_changes"] and preview["added"] == preview["removed"] == preview["changed"] == []
        again = upload(client, r.content, f"export.{fmt}", shop=shop)
        assert again.status_code == 200, again.text
        assert (again.json()["no_changes"], again.json()["version"]) == (True, 1)
        assert client.get(f"/v1/shops/{shop}/kb/versions").json()["active_version"] == 1
    if fmt == "csv":
        assert r.content.startswith("\ufeff\"编号\",\"标准问题\",\"相似问题\",\"答案\",\"分类\",\"状态\"".encode())


def test_template_downloads_and_imports(client):
    r = client.get("/v1/kb/template", params={"format": "xlsx"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/vnd.openxmlformats")
    workbook = load_workbook(io.BytesIO(r.content), read_only=True)
    assert workbook.sheetnames == ["FAQ", "说明"]
    notes = [row[0] for row in workbook["说明"].iter_rows(values_only=True) if row]
    assert {"编号", "标准问题", "相似问题", "答案", "分类", "状态"} <= set(notes)
    assert upload(client, r.content, "faq-template.xlsx").json()["entries"] == 2
    csv_template = client.get("/v1/kb/template", params={"format": "csv"})
    assert csv_template.content.decode("utf-8-sig").splitlines()[0] == '"编号","标准问题","相似问题","答案","分类","状态"'
    assert upload(client, csv_template.content, "faq-template.csv", shop="s2").json()["entries"] == 2


def test_single_entry_edits_follow_in_suggestions_without_a_full_reembed(client, runtime):
    upload(client, GOOD.encode(), "v1.csv")
    encoder: CharNgramEncoder = runtime.encoder
    embedded = []  # texts each edit sent to the encoder (queries of ask() are not counted)

    def edit(method: str, path: str, **kwargs):
        before = encoder.texts_encoded
        response = client.request(method, f"/v1/shops/s1/kb/entries{path}", **kwargs)
        embedded.append(encoder.texts_encoded - before)
        return response

    r = edit("POST", "", json={"id": "C", "question": "可以开发票吗", "similar": ["能开票吗"],
                              "answers": ["可以的，下单时备注抬头"], "category": "发票"})
    assert r.status_code == 201, r.text
    assert (r.json()["version"], r.json()["embedded"], r.json()["phrasings"]) == (2, 2, 7)
    assert ask(client, "能开票吗")["suggestions"][0]["entry_id"] == "C"

    r = edit("PATCH", "/A", json={"answers": ["满59包邮"]})
    assert (r.json()["version"], r.json()["action"], r.json()["embedded"]) == (3, "update A", 0)
    assert ask(client, "包邮吗")["suggestions"][0]["answer"] == "满59包邮"

    r = edit("PATCH", "/A", json={"enabled": False})
    assert r.json()["action"] == "disable A"
    assert "A" not in [s["entry_id"] for s in ask(client, "包邮吗", top_k=5)["suggestions"]]

    r = edit("DELETE", "/B")
    assert r.status_code == 200 and r.json()["entry"] is None and r.json()["version"] == 5
    assert [e["id"] for e in client.get("/v1/shops/s1/kb/entries").json()["data"]] == ["A", "C"]
    assert [e["id"] for e in client.get("/v1/shops/s1/kb/entries", params={"version": 1}).json()["data"]] == ["A", "B"]
    assert client.get("/v1/shops/s1/kb/entries/C").json()["question"] == "可以开发票吗"
    assert embedded == [2, 0, 0, 0]  # four new versions: only the added entry's two phrasings were embedded

    r = client.post("/v1/shops/s1/kb/entries", json={"question": "运费", "answers": ["详见 https://x.cn"]})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_item"
    assert r.json()["error"]["details"][0]["code"] == "compliance"
    assert client.patch("/v1/shops/s1/kb/entries/ZZ", json={"enabled": False}).json()["error"]["code"] == "item_not_found"


def test_two_uploads_at_once_make_two_clean_versions_in_order(tmp_path):
    class Slow(CharNgramEncoder):
        def encode(self, texts, batch_size=64):
            time.sleep(0.05)
            return super().encode(texts, batch_size)

    runtime = Runtime(Settings(operator_key=OPERATOR_KEY, data_dir=tmp_path), encoder=Slow())
    files = {n: "编号,标准问题,相似问题,答案\n" + "".join(f"E{i},问题{n}{i},相似{n}{i},答案{n}{i}\n" for i in range(100))
             for n in ("first", "second")}
    results: dict[str, dict] = {}
    with TestClient(create_app(runtime=runtime), headers=OPERATOR_HEADERS) as client:
        def go(name: str) -> None:
            results[name] = upload(client, files[name].encode(), f"{name}.csv").json()

        first = threading.Thread(target=go, args=("first",))
        first.start()
        time.sleep(0.15)  # the first build is embedding when the second upload arrives
        second = threading.Thread(target=go, args=("second",))
        second.start()
        first.join()
        second.join()
        assert (results["first"]["version"], results["second"]["version"]) == (1, 2)
        assert client.get("/v1/shops/s1/kb/versions").json()["active_version"] == 2
        for version, name in ((1, "first"), (2, "second")):  # never a mix
            entries = client.get("/v1/shops/s1/kb/entries", params={"version": version}).json()["data"]
            assert {e["answers"][0] for e in entries} == {f"答案{name}{i}" for i in range(100)}
        assert ask(client, "问题second7")["suggestions"][0]["answer"] == "答案second7"
