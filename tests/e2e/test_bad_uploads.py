"""The bad-upload corpus, through a real server: every class of bad file answers a 4xx with a stable
code and a located message, and leaves the shop exactly as it was (active version, versions list,
answers to fixed messages, quick phrases).

Big files (the 1,000,000-row CSV, the 2 MB cell, the zip bomb, the file over the size limit) are made
here, in memory, never committed.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import pytest

from tests.conftest import DEMO_FAQ
from tests.e2e.server import OPERATOR_HEADERS, start_server
from tests.kb_files import million_row_csv, small_xlsx, zip_bomb_xlsx

pytestmark = pytest.mark.slow

SHOP = "bad-uploads"
FIXED_MESSAGES = ["啥时候能发出来", "衣服小了能换大一码吗", "可以开发票吗"]
MAX_UPLOAD = 10 * 2**20  # the default SMARTREPLY_MAX_UPLOAD_BYTES
GOOD_PHRASES = "分组,快捷编码,内容\n售后,/th,亲，退货请在订单页申请哦\n"


@dataclass(frozen=True)
class Bad:
    name: str  # the upload's file name
    data: Callable[[], bytes]
    status: int
    code: str  # error.code
    detail: str  # details[0].code: the stable kind of problem
    where: str  # in the message: the file and where in it


def deep(n: int = 10_000) -> bytes:
    return b"[" * n + b"]" * n


def csv_text(*rows: str) -> Callable[[], bytes]:
    return lambda: ("\n".join(rows) + "\n").encode("utf-8")


def renamed_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("readme.txt", "这不是表格")
    return buf.getvalue()


def two_mb_cell() -> bytes:
    return "标准问题,答案\n发货,".encode() + ("很" * (2 * 2**20 // 3)).encode() + b"\n"


BIG5 = "question,answer\n發貨時間,付款後四十八小時內發貨\n退貨,七天無理由退貨\n"
CORPUS = [
    # 1. deeply nested JSON: was a 500 (RecursionError)
    Bad("deep.json", deep, 400, "upload_unreadable", "json_too_deep", "deep.json"),
    Bad("deep-objects.json", lambda: b'{"a":' * 5000 + b"1" + b"}" * 5000, 400, "upload_unreadable", "json_too_deep",
        "deep-objects.json"),
    Bad("deep-answer.json", lambda: b'[{"question": "q", "answer": ' + deep(5000) + b"}]", 400, "upload_unreadable",
        "json_too_deep", "deep-answer.json"),
    Bad("nested-answer.json", lambda: b'[{"question": "q", "answer": [["a"]]}]', 400, "upload_unreadable",
        "nested_value", "item 1, field 'answer'"),
    Bad("deep.jsonl", lambda: b'{"question": "q", "answer": "a"}\n' + deep(), 400, "upload_unreadable",
        "json_too_deep", "line 2"),
    # 2. text in an encoding that is neither UTF-8 nor GBK: named, with the advice to save as UTF-8
    Bad("big5.csv", lambda: BIG5.encode("big5"), 400, "upload_unreadable", "bad_encoding", "Big5"),
    Bad("sjis.csv", lambda: "question,answer\nいつ発送されますか,ご注文後二日以内に発送します\n".encode("shift_jis"),
        400, "upload_unreadable", "bad_encoding", "Shift-JIS"),
    Bad("utf16.csv", lambda: "标准问题,答案\n发货,很快\n".encode("utf-16"), 400, "upload_unreadable", "bad_encoding",
        "UTF-16"),
    Bad("utf16-nobom.csv", lambda: "标准问题,答案\n发货,很快\n".encode("utf-16-le"), 400, "upload_unreadable",
        "bad_encoding", "UTF-16 (little-endian, without BOM)"),
    # 3. control characters in a cell: located by row, column and character
    Bad("nul.csv", csv_text("标准问题,答案", "发货,付款后\x00发货"), 422, "upload_invalid", "control_character",
        "nul.csv"),
    Bad("escape.csv", csv_text("标准问题,答案", "发货,\x1b[31m付款后发货"), 422, "upload_invalid", "control_character",
        "escape.csv"),
    # 4. formula injection, every variant the issue lists
    *[Bad(f"formula-{i}.csv", csv_text("标准问题,答案", f'发货,"{cell}"'), 422, "upload_invalid", "formula",
          f"formula-{i}.csv")
      for i, cell in enumerate(["-2+3+cmd|' /C calc'!A0", "+A1", "-1+A1", "@A1", "+1+1", "=SUM(A1:A9)"])],
    # the rest of the corpus
    Bad("empty.csv", lambda: b"", 400, "upload_unreadable", "empty_file", "empty.csv"),
    Bad("garbage.csv", lambda: bytes(range(256)) * 64, 400, "upload_unreadable", "binary_file", "garbage.csv"),
    Bad("header-only.csv", csv_text("标准问题,答案"), 422, "upload_invalid", "no_rows", "header-only.csv"),
    Bad("columns.csv", csv_text("问,答", "发货,很快"), 400, "upload_unreadable", "missing_columns", "row 1"),
    Bad("duplicate-ids.csv", csv_text("编号,标准问题,答案", "A,发货,很快", "A,退货,七天"), 422, "upload_invalid",
        "duplicate_id", "duplicate-ids.csv"),
    Bad("million.csv", million_row_csv, 413, "too_many_rows", "too_many_rows", "row 50002"),
    Bad("cell.csv", two_mb_cell, 400, "upload_unreadable", "cell_too_large", "line 2"),
    Bad("bomb.xlsx", lambda: zip_bomb_xlsx(200), 413, "xlsx_too_large", "xlsx_too_large", "bomb.xlsx"),
    Bad("renamed.xlsx", renamed_zip, 400, "upload_unreadable", "not_xlsx", "renamed.xlsx"),
    Bad("workbook.csv", lambda: small_xlsx([["标准问题", "答案"], ["发货", "很快"]]), 400, "upload_unreadable",
        "binary_file", "zip archive"),
    Bad("broken.json", lambda: b'[{"question": "q", "answer": "a"', 400, "upload_unreadable", "invalid_json",
        "line 1 column"),
    Bad("huge.csv", lambda: b"x" * (MAX_UPLOAD + 1), 413, "upload_too_large", "file_too_large", "huge.csv"),
    # 8. file names: folders, control characters (terminal escapes), thousands of characters
    Bad("../../etc/faq.csv", csv_text("标准问题,答案", "发货,很快"), 400, "upload_unreadable", "bad_filename",
        "folder path"),
    Bad("faq\x1b[2J\x1b[31m.csv", csv_text("标准问题,答案", "发货,很快"), 400, "upload_unreadable", "bad_filename",
        "U+001B"),
    Bad("f" * 2000 + ".csv", csv_text("标准问题,答案", "发货,很快"), 400, "upload_unreadable", "bad_filename",
        "2004 characters long"),
    Bad("问" * 2000 + ".csv", csv_text("标准问题,答案", "发货,很快"), 400, "multipart_header_too_long",
        "multipart_header_too_long", "file name"),
]


def answers(base: str, headers: dict[str, str]) -> list:
    out = []
    for message in FIXED_MESSAGES:
        r = httpx.post(f"{base}/v1/shops/{SHOP}/suggestions", json={"message": message}, headers=headers, timeout=120)
        assert r.status_code == 200, r.text
        body = r.json()
        out.append((body["kb_version"], [(s["entry_id"], s["answer"], s["confidence"]) for s in body["suggestions"]]))
    return out


def state(base: str) -> dict:
    """Everything an upload could have changed."""
    versions = httpx.get(f"{base}/v1/shops/{SHOP}/kb/versions", headers=OPERATOR_HEADERS).json()
    phrases = httpx.get(f"{base}/v1/shops/{SHOP}/quick-phrases", headers=OPERATOR_HEADERS).json()
    return {"active": versions["active_version"], "versions": versions["data"], "phrases": phrases,
            "answers": answers(base, OPERATOR_HEADERS)}


@pytest.fixture(scope="module")
def shop(tmp_path_factory, real_encoder):
    server = start_server(tmp_path_factory.mktemp("bad-uploads"), env={"SMARTREPLY_RATE_LIMIT_PER_SECOND": "0"})
    try:
        with open(DEMO_FAQ, "rb") as fh:
            r = httpx.post(f"{server.base}/v1/shops/{SHOP}/kb", files={"file": (DEMO_FAQ.name, fh, "text/csv")},
                           headers=OPERATOR_HEADERS, timeout=120)
        assert r.status_code == 201, r.text
        r = httpx.post(f"{server.base}/v1/shops/{SHOP}/quick-phrases/import", headers=OPERATOR_HEADERS,
                       files={"file": ("phrases.csv", GOOD_PHRASES.encode(), "text/csv")})
        assert r.status_code == 201, r.text
        answers(server.base, OPERATOR_HEADERS)  # loads the shop once (index, ranker), off the timed requests
        yield server.base, state(server.base)
    finally:
        server.stop()
    assert "Traceback" not in server.log_path.read_text("utf-8")


def assert_refused(r: httpx.Response, bad: Bad) -> None:
    assert r.status_code == bad.status, r.text
    error = r.json()["error"]
    assert error["code"] == bad.code, error
    assert bad.detail in [d.get("code") for d in error["details"]], error
    assert bad.where in error["message"], error["message"]


@pytest.mark.parametrize("bad", CORPUS, ids=[b.name[:24].encode("unicode_escape").decode() for b in CORPUS])
def test_bad_faq_upload_is_refused_with_a_located_reason_and_changes_nothing(shop, bad):
    base, before = shop
    r = httpx.post(f"{base}/v1/shops/{SHOP}/kb", files={"file": (bad.name, bad.data(), "application/octet-stream")},
                   headers=OPERATOR_HEADERS, timeout=120)
    assert_refused(r, bad)
    assert state(base) == before


@pytest.mark.parametrize("bad", [b for b in CORPUS if b.name in {
    "deep.json", "deep-answer.json", "deep.jsonl", "big5.csv", "nul.csv", "formula-0.csv", "garbage.csv",
    "../../etc/faq.csv"}], ids=lambda b: b.name)
def test_bad_quick_phrase_import_is_refused_the_same_way(shop, bad):
    base, before = shop
    data = bad.data()
    if bad.name.endswith(".csv") and bad.detail in ("control_character", "formula"):
        data = data.replace("标准问题,答案".encode(), "分组,内容".encode())  # the quick-phrase columns
    r = httpx.post(f"{base}/v1/shops/{SHOP}/quick-phrases/import", headers=OPERATOR_HEADERS,
                   files={"file": (bad.name, data, "application/octet-stream")}, timeout=60)
    assert_refused(r, bad)
    assert state(base) == before


def test_a_chunked_body_over_the_limit_is_a_413_not_a_400(shop):
    """Defect 8: without Content-Length the body limit used to surface as a 400 from the form parser."""
    base, before = shop
    boundary = "b0undary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.csv\"\r\n"
            "Content-Type: text/csv\r\n\r\n").encode()

    def body():
        yield head
        for _ in range(11):
            yield b"x" * 2**20  # 11 MiB, streamed with Transfer-Encoding: chunked
        yield f"\r\n--{boundary}--\r\n".encode()

    r = httpx.post(f"{base}/v1/shops/{SHOP}/kb", content=body(), timeout=60,
                   headers={**OPERATOR_HEADERS, "Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert r.status_code == 413, r.text
    error = r.json()["error"]
    assert error["code"] == "upload_too_large" and "SMARTREPLY_MAX_UPLOAD_BYTES" in error["message"]

    def json_body():
        yield b'{"message": "'
        for _ in range(3):
            yield b"a" * 2**17
        yield b'"}'

    r = httpx.post(f"{base}/v1/shops/{SHOP}/suggestions", content=json_body(),
                   headers={**OPERATOR_HEADERS, "Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "too_large", r.text
    assert state(base) == before


def test_a_good_upload_after_the_corpus_still_works(shop):
    """The refusals left nothing half-done behind: the same server imports a good file as the next version."""
    base, before = shop
    data = DEMO_FAQ.read_bytes() + "NEW-1,退货地址在哪里,,亲，退货地址在订单详情页哦,售后,启用\r\n".encode()
    r = httpx.post(f"{base}/v1/shops/{SHOP}/kb", files={"file": ("demo-plus-one.csv", data, "text/csv")},
                   headers=OPERATOR_HEADERS, timeout=120)
    assert r.status_code == 201 and r.json()["version"] == before["active"] + 1, r.text
    # the same best answer (its confidence moves a little: the ranker is fit again on one more entry)
    assert answers(base, OPERATOR_HEADERS)[0][1][0][:2] == before["answers"][0][1][0][:2]
