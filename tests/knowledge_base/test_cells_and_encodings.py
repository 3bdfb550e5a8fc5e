"""Cell rules (formula injection, control characters, CSV escaping) and the encoding verdict of text files."""

from __future__ import annotations

import csv
import io
import re

import pytest

from knowledge_base.cells import cell_problems, csv_bytes, escape_csv_cell, is_formula, unescape_csv_cell
from knowledge_base.parsing import parse_kb_file
from knowledge_base.textfile import detect_encoding
from models.errors import UploadError
from tests.conftest import DEMO_FAQ, REPO

DEMO_TEXT = DEMO_FAQ.read_bytes().decode("utf-8-sig")


@pytest.mark.parametrize("cell", ["-2+3+cmd|' /C calc'!A0", "+A1", "-1+A1", "@A1", "+1+1", "=1", " =SUM(A1)",
                                  "@SUM(A1)", "+HYPERLINK(\"x\")", "-abc", "好的\n=cmd|' /C calc'!A0"])
def test_formulas_are_recognised(cell):
    assert is_formula(cell)


@pytest.mark.parametrize("cell", ["-5元优惠", "+1 件也包邮", "-", "包邮", "亲=您", "'=x", "-5元优惠券\n+1 件也包邮", ""])
def test_text_starting_with_a_sign_is_not_a_formula(cell):
    assert not is_formula(cell)


@pytest.mark.parametrize("text", ["-5元优惠", "=SUM(A1)", "@x", "+1", "\tx", "\rx", "'=x", "''-y", "plain", "'quoted", ""])
def test_escaping_makes_text_and_reads_back_exactly(text):
    escaped = escape_csv_cell(text)
    assert not escaped.startswith(("=", "+", "-", "@", "\t", "\r"))
    assert unescape_csv_cell(escaped) == text


def test_csv_bytes_quotes_and_escapes_every_cell():
    data = csv_bytes(["编号", "=头"], [["A", "-5元,优惠\"券\""], ["B", "@x"]])
    assert data.startswith("\ufeff".encode())
    text = data.decode("utf-8-sig")
    assert text.splitlines()[0] == '"编号","\'=头"'
    assert list(csv.reader(io.StringIO(text)))[1:] == [["A", "'-5元,优惠\"券\""], ["B", "'@x"]]


def test_control_characters_are_located_and_named():
    (problem,) = cell_problems("付款后\x00发货", column="答案", where={"row": 3})
    assert (problem.code, problem.row, problem.column) == ("control_character", 3, "答案")
    assert problem.extra == {"character": "U+0000", "name": "NUL", "position": 4}  # counted from 1
    assert cell_problems("第一行\n第二行\t缩进", column="答案", where={}) == []  # tab and line breaks are text


def test_every_csv_the_service_writes_goes_through_csv_bytes():
    """One CSV writer (knowledge_base/cells.py), so no export can skip the escaping."""
    writers = []
    for folder in ("service", "knowledge_base", "models", "eval", "training"):
        for path in (REPO / folder).rglob("*.py"):
            if path.name != "cells.py" and re.search(r"csv\.(writer|DictWriter)\(", path.read_text("utf-8")):
                writers.append(str(path.relative_to(REPO)))
    assert writers == [], f"write CSV with knowledge_base.cells.csv_bytes: {writers}"


# -- encodings --------------------------------------------------------------------------------------
@pytest.mark.parametrize(("data", "encoding"), [
    (DEMO_TEXT.encode("utf-8"), "utf-8-sig"), (DEMO_TEXT.encode("utf-8-sig"), "utf-8-sig"),
    (DEMO_TEXT.encode("gbk"), "gb18030"), (DEMO_TEXT.encode("gb18030"), "gb18030"),
    ((REPO / "tests" / "data" / "faq_gbk.csv").read_bytes(), "gb18030"),
    ("标准问题,答案\n問題,繁體字也可以\n".encode("utf-8"), "utf-8-sig"),  # traditional characters in UTF-8 are fine
    ("标准问题,答案\n问,答\x00案\n".encode(), "utf-8-sig"),  # one NUL: reported in its cell, not here
])
def test_utf8_and_gbk_text_is_accepted(data, encoding):
    assert detect_encoding(data).encoding == encoding


@pytest.mark.parametrize(("text", "codec", "likely"), [
    ("question,answer\n發貨時間,付款後四十八小時內發貨\n退貨,七天無理由退貨\n", "big5", "Big5"),
    ("question,answer\n發貨,很快\n", "big5", "Big5"),
    ("質問,回答\nいつ発送されますか,ご注文後二日以内に発送します\n", "shift_jis", "Shift-JIS"),
    (DEMO_TEXT, "utf-16", "UTF-16"),
    (DEMO_TEXT, "utf-16-le", "UTF-16 (little-endian, without BOM)"),
    (DEMO_TEXT, "utf-16-be", "UTF-16 (big-endian, without BOM)"),
    ("question,answer\nq,a\n", "utf-32", "UTF-32"),
    ("question,answer\ncafé,très bien\n", "cp1252", "Latin-1 / Windows-1252"),
])
def test_other_encodings_are_named(text, codec, likely):
    verdict = detect_encoding(text.encode(codec))
    assert verdict.encoding is None and verdict.problem == "bad_encoding" and verdict.likely.startswith(likely)


def test_a_big5_file_is_refused_with_the_encoding_and_the_advice():
    """Defect 2: decoded as GBK without an error, it went live as mojibake."""
    with pytest.raises(UploadError) as caught:
        parse_kb_file("faq.csv", "question,answer\n發貨時間,付款後四十八小時內發貨\n".encode("big5"))
    assert "looks like Big5" in caught.value.message and "Save the file as UTF-8" in caught.value.message
    assert caught.value.details[0]["code"] == "bad_encoding"
    assert caught.value.details[0]["extra"]["encoding"] == "Big5 (traditional Chinese)"


def test_binary_data_is_not_text():
    assert detect_encoding(bytes(range(256)) * 16).problem == "binary_file"


# -- every reason a whole file is refused -------------------------------------------------------------
def _zip_with(name: str, text: str) -> bytes:
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(name, text)
    return buf.getvalue()


FILE_CASES = {
    "bad_filename": ("../faq.csv", b"x"),
    "unsupported_type": ("faq.doc", b"x"),
    "empty_file": ("faq.csv", b" \n"),
    "bad_encoding": ("faq.csv", "question,answer\n發貨,很快\n".encode("big5")),
    "binary_file": ("faq.csv", bytes(range(256)) * 8),
    "not_xlsx": ("faq.xlsx", _zip_with("readme.txt", "hello")),
    "missing_columns": ("faq.csv", "问,答\n发货,很快\n".encode()),
    "no_data_sheet": ("faq.xlsx", None),
    "bad_csv": ("faq.csv", None),
    "cell_too_large": ("faq.csv", ("标准问题,答案\n问," + "长" * 200_000 + "\n").encode()),
    "invalid_json": ("faq.json", b"{"),
    "json_too_deep": ("faq.json", b"[" * 5000 + b"]" * 5000),
    "not_a_list": ("faq.json", b'{"x": 1}'),
    "not_an_object": ("faq.jsonl", b"[1]\n"),
    "nested_value": ("faq.json", b'[{"question": "q", "answer": {"a": 1}}]'),
    "too_many_rows": ("faq.csv", None),
    "xlsx_too_large": ("faq.xlsx", None),
    "xlsx_ratio": ("faq.xlsx", None),
    "file_too_large": (None, None),
}


@pytest.mark.parametrize("code", sorted(FILE_CASES))
def test_every_file_level_reason_is_reachable_and_formats(code):
    """Each FILE_REASONS entry is raised somewhere with the parameters its message needs."""
    from knowledge_base.tablefile import FILE_REASONS, ParseLimits, _refuse, file_too_large
    from tests.kb_files import small_xlsx, zip_bomb_xlsx

    assert set(FILE_CASES) == set(FILE_REASONS)
    name, data = FILE_CASES[code]
    limits = ParseLimits()
    if code == "no_data_sheet":
        data = small_xlsx([["a", "b"], ["c", "d"]])
    elif code == "too_many_rows":
        data, limits = "标准问题,答案\n问,答\n问2,答\n".encode(), ParseLimits(max_rows=1)
    elif code == "xlsx_too_large":
        data = zip_bomb_xlsx(200)
    elif code == "xlsx_ratio":
        data = zip_bomb_xlsx(20)
    if code == "file_too_large":
        error = file_too_large("huge.csv", 10)
    elif code == "bad_csv":  # csv.reader's other errors need a strict dialect; the message must still format
        error = _refuse("faq.csv", "bad_csv", row=7, line=7, detail="unexpected end of data")
    else:
        with pytest.raises(UploadError) as caught:
            parse_kb_file(name, data, limits)
        error = caught.value
    assert error.details[0]["code"] == code and error.message

