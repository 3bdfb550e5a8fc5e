"""Validation report, import modes and the guards that refuse hostile or oversized files early."""

from __future__ import annotations

import time
import tracemalloc

import pytest

from knowledge_base.parsing import parse_kb_file
from knowledge_base.tablefile import ParseLimits
from models.errors import ArchiveTooLarge, TooManyRows, UploadError
from tests.conftest import REPO
from tests.kb_files import million_row_csv, million_row_xlsx, small_xlsx, zip_bomb_xlsx

DATA = REPO / "tests" / "data"


def test_problem_fixture_reports_every_problem_with_sheet_row_column_and_code():
    parsed = parse_kb_file("faq_problems.xlsx", (DATA / "faq_problems.xlsx").read_bytes())
    assert [(p.sheet, p.row, p.column, p.code, p.severity) for p in parsed.problems] == [
        ("常见问题", 1, "备注", "unknown_column", "warning"),
        ("常见问题", 3, "标准问题", "missing_question", "error"),
        ("常见问题", 4, "答案", "missing_answer", "error"),
        ("常见问题", 5, "编号", "duplicate_id", "error"),
        ("常见问题", 6, "相似问题", "conflict", "error"),
        ("常见问题", 7, "标准问题", "formula", "error"),
        ("联系方式", 2, "答案", "compliance", "error"),
        ("联系方式", 3, "答案", "compliance", "error"),
        ("联系方式", 4, "答案", "compliance", "error"),
        ("联系方式", 5, "状态", "bad_status", "error"),
    ]
    kinds = [p.extra["violations"][0]["kind"] for p in parsed.problems if p.code == "compliance"]
    assert kinds == ["link", "phone", "wechat"]
    assert [e.id for e in parsed.entries] == ["E-01"]  # what a partial import keeps
    assert parsed.rows_with_errors == 9


@pytest.mark.parametrize(("answer", "kind"), [("详情见 https://x.cn", "link"), ("电话13812345678", "phone"),
                                              ("加V: abc123", "wechat"), ("QQ：12345678", "qq")])
def test_answers_failing_compliance_are_errors_at_the_answer_column(answer, kind):
    parsed = parse_kb_file("f.csv", f"标准问题,答案\n怎么联系,{answer}\n".encode())
    (problem,) = parsed.problems
    assert (problem.row, problem.column, problem.code, problem.severity) == (2, "答案", "compliance", "error")
    assert kind in problem.reason


def test_compliance_kinds_can_be_downgraded_to_warnings():
    text = "标准问题,答案\n哪款好,这款是最好的选择\n".encode()
    assert parse_kb_file("f.csv", text).errors[0].code == "compliance"  # 最好: absolute term
    lenient = parse_kb_file("f.csv", text, ParseLimits(compliance_warning_kinds=frozenset({"absolute_term"})))
    assert lenient.errors == [] and lenient.problems[0].severity == "warning" and len(lenient.entries) == 1


def test_limits_of_every_field():
    limits = ParseLimits(max_question_chars=10, max_answer_chars=10, max_similar=1, max_answers=1, max_category_chars=2)
    text = "编号,标准问题,相似问题,答案,分类\nA,这是一个很长很长很长的问题,a|b,答案一|答案二,很长的分类\nB,问,,这个答案超过了十个字符啊,\n"
    found = [(p.row, p.column, p.code) for p in parse_kb_file("f.csv", text.encode(), limits).errors]
    assert found == [(2, "标准问题", "too_long"), (2, "答案", "too_many"), (2, "相似问题", "too_many"),
                     (2, "分类", "too_long"), (3, "答案", "too_long")]


def test_formula_cells_of_a_real_xlsx_are_reported():
    data = small_xlsx([["标准问题", "答案"], ["包邮吗", "=SUM(A1:A9)"], ["运费", "@SUM(A1)"]])
    parsed = parse_kb_file("f.xlsx", data)
    assert [(p.row, p.code) for p in parsed.errors] == [(2, "formula"), (3, "formula")]


def test_zip_bomb_is_refused_from_the_zip_directory_before_openpyxl(monkeypatch):
    import openpyxl

    monkeypatch.setattr(openpyxl, "load_workbook", lambda *a, **k: pytest.fail("openpyxl must not open it"))
    with pytest.raises(ArchiveTooLarge, match="would expand to 200 MiB.*limit is 100 MiB"):
        parse_kb_file("bomb.xlsx", zip_bomb_xlsx(200))
    with pytest.raises(ArchiveTooLarge, match=r"sheet1.xml expands 1\d\d\dx \(limit 100x"):
        parse_kb_file("bomb.xlsx", zip_bomb_xlsx(20))  # under the size limit: caught by its ratio


def test_million_row_csv_is_refused_quickly_with_bounded_memory():
    data = million_row_csv()
    started = time.perf_counter()
    with pytest.raises(TooManyRows, match="more than 50000 data rows"):
        parse_kb_file("big.csv", data)
    assert time.perf_counter() - started < 3.0  # measured 0.3 s: reading stops at row 50 001
    tracemalloc.start()
    try:
        with pytest.raises(TooManyRows):
            parse_kb_file("big.csv", data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 * 2**20, peak  # measured 31 MiB: the 50 000 rows read, not the million


def test_million_row_xlsx_is_refused_by_counting_rows_before_parsing():
    data = million_row_xlsx()
    started = time.perf_counter()
    with pytest.raises(TooManyRows, match="more than 50000 data rows"):
        parse_kb_file("big.xlsx", data)
    assert time.perf_counter() - started < 3.0  # measured 0.02 s


def test_row_limit_is_exact_for_small_limits():
    text = "标准问题,答案\n" + "".join(f"问{i},答\n" for i in range(3))
    assert len(parse_kb_file("f.csv", text.encode(), ParseLimits(max_rows=3)).entries) == 3
    with pytest.raises(TooManyRows):
        parse_kb_file("f.csv", text.encode(), ParseLimits(max_rows=2))


def test_csv_cell_over_the_csv_field_limit_is_a_clear_error():
    with pytest.raises(UploadError, match="line 2: a cell is longer than 131072 characters"):
        parse_kb_file("f.csv", ("标准问题,答案\n问," + "长" * 200_000 + "\n").encode())
