from __future__ import annotations

import json

import pytest
from knowledge_base.parsing import parse_kb_file
from knowledge_base.tablefile import ParseLimits
from models.errors import UploadError
from tests.kb_files import xlsx


CSV_ZH = (
    "编号,标准问题,相似问题,答案,分类,状态\n"
    'F1,什么时候发货,"几天发货\n多久能发出",付款后48小时内发货,发货时间,启用\n'
    'F2,可以开发票吗,能开票吗,"可以的，下单时填写抬头|也可以售后补开",发票,停用\n'
)


def test_csv_with_chinese_headers_splits_pipes_and_newlines():
    parsed = parse_kb_file("faq.csv", CSV_ZH.encode("utf-8"))
    assert parsed.problems == []
    first, second = parsed.entries
    assert first.id == "F1"
    assert first.question == "什么时候发货"
    assert first.similar == ("几天发货", "多久能发出")
    assert first.answers == ("付款后48小时内发货",)
    assert first.category == "发货时间" and first.enabled
    assert second.answers == ("可以的，下单时填写抬头", "也可以售后补开")
    assert second.enabled is False
    assert parsed.phrasing_count == 5


@pytest.mark.parametrize("encoding", ["utf-8-sig", "gb18030", "gbk"])
def test_csv_encodings_excel_writes(encoding):
    parsed = parse_kb_file("faq.csv", CSV_ZH.encode(encoding))
    assert [e.question for e in parsed.entries] == ["什么时候发货", "可以开发票吗"]


def test_english_headers_and_repeated_similar_columns():
    text = "question,similar 1,similar 2,answer\n退货地址是哪里,寄回地址,退到哪,请在订单页查看退货地址\n"
    parsed = parse_kb_file("faq.csv", text.encode())
    (entry,) = parsed.entries
    assert entry.similar == ("寄回地址", "退到哪")
    assert entry.id.startswith("q-")  # derived: the same question gets the same id in every upload
    assert parse_kb_file("again.csv", text.encode()).entries[0].id == entry.id


def test_xlsx_reads_every_faq_sheet_and_skips_notes_sheet():
    data = xlsx({
        "说明": [["请按模板填写"]],
        "售前": [["标准问题", "相似问题", "答案"], ["有现货吗", "现货吗\n还有货吗", "有现货，下单即发"]],
        "售后": [["标准问题", "答案"], [None, None], ["怎么退货", "在订单页申请退货即可"]],
    })
    parsed = parse_kb_file("faq.xlsx", data)
    assert [e.question for e in parsed.entries] == ["有现货吗", "怎么退货"]
    assert parsed.entries[0].similar == ("现货吗", "还有货吗")


def test_json_and_jsonl():
    items = [{"id": "A", "question": "包邮吗", "similar": ["邮费多少", "免运费吗"], "answers": ["全场包邮"],
              "enabled": True}]
    parsed = parse_kb_file("faq.json", json.dumps({"entries": items}, ensure_ascii=False).encode())
    assert parsed.entries[0].similar == ("邮费多少", "免运费吗")
    lines = "\n".join(json.dumps(i, ensure_ascii=False) for i in items) + "\n\n"
    assert parse_kb_file("faq.jsonl", lines.encode()).entries == parsed.entries


def test_every_row_problem_is_located():
    text = (
        "编号,标准问题,相似问题,答案\n"
        "A,包邮吗,免运费吗,全场包邮\n"
        "B,,x,答案\n"  # row 3: no question
        "C,能便宜点吗,,\n"  # row 4: no answer
        "A,重复的编号,,答\n"  # row 5: duplicate id
        "D,运费多少,免运费吗,十元\n"  # row 6: phrasing owned by A
        "E,=cmd|' /C calc'!A0,,答\n"  # row 7: formula
    )
    parsed = parse_kb_file("faq.csv", text.encode())
    found = [(p.row, p.column, p.reason.split(" ")[0]) for p in parsed.errors]
    assert found == [
        (3, "标准问题", "standard"),
        (4, "答案", "answer"),
        (5, "编号", "duplicate"),
        (6, "相似问题", "phrasing"),
        (7, "标准问题", "cell"),
    ]
    assert [e.id for e in parsed.entries] == ["A"]


def test_unknown_columns_are_warnings_not_errors():
    parsed = parse_kb_file("faq.csv", "标准问题,答案,备注\n包邮吗,包邮,内部\n".encode())
    assert parsed.errors == []
    (warning,) = parsed.problems
    assert warning.severity == "warning" and warning.column == "备注" and warning.row == 1


def test_limits_are_enforced():
    limits = ParseLimits(max_rows=2, max_question_chars=10)
    parsed = parse_kb_file("faq.csv", "标准问题,答案\n这个问题实在是太长太长了吧,好\n".encode(), limits)
    assert "limit is 10" in parsed.errors[0].reason
    with pytest.raises(UploadError, match="too many rows"):
        parse_kb_file("faq.csv", ("标准问题,答案\n" + "问,答\n" * 3).encode(), limits)


@pytest.mark.parametrize(("name", "data", "message"), [
    ("faq.txt", b"x", "unsupported file type '.txt'"),
    ("faq.csv", "问题a,回答b\n".encode(), "needs a question column"),
    ("faq.xlsx", b"not a zip", "not a readable .xlsx"),
    ("faq.json", b"{", "invalid JSON at line 1"),
    ("faq.json", b'{"x": 1}', "expected a JSON list"),
    ("faq.csv", b"\xff\xfe\x00\x00garbage\x81", "the text looks like UTF-32, not UTF-8 or GBK/GB18030"),
])
def test_unreadable_files_say_why(name, data, message):
    with pytest.raises(UploadError, match=message.replace("(", r"\(").replace(".", r"\.")):
        parse_kb_file(name, data)


def test_demo_shop_is_valid_and_rich():
    from tests.conftest import DEMO_FAQ

    parsed = parse_kb_file(DEMO_FAQ.name, DEMO_FAQ.read_bytes())
    assert parsed.problems == []
    assert len(parsed.entries) >= 60
    assert all(len(e.similar) >= 3 for e in parsed.entries)
    assert len({e.category for e in parsed.entries}) >= 12
