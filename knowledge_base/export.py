"""Files merchants open in Excel: FAQ export, the downloadable template, quick-phrase export.

Everything here writes what ``parsing`` reads, so export → import gives the same entries: several
similar questions or answers go in one cell separated by line breaks (values never contain one:
validation refuses it), the status is 启用/停用, CSV is UTF-8 with a BOM (Excel then opens it with
the right encoding) and escaped against formula injection (``cells.csv_bytes``: a cell starting with
= + - @ gets a leading ', which the CSV reader removes again). XLSX cells are always written as typed
text, never as formulas.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Literal

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font

from .cells import csv_bytes
from .validation import status_text
from .schema import FaqEntry

__all__ = ["FAQ_HEADERS", "TEMPLATE_NOTES", "ExportFormat", "faq_rows", "export_faq", "template_file", "write_table",
           "MEDIA_TYPES", "TEMPLATE_ENTRIES", "export_learned",
           "learned_rows", "LEARNED_HEADERS", "LEARNED_SHEET"]

ExportFormat = Literal["xlsx", "csv"]
MEDIA_TYPES = {"xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
               "csv": "text/csv; charset=utf-8"}

FAQ_HEADERS = ["编号", "标准问题", "相似问题", "答案", "分类", "状态"]

TEMPLATE_ENTRIES = [
    FaqEntry(id="FAQ-001", question="下单后多久发货？", similar=("什么时候发货", "几天能发出", "今天拍明天能发吗"),
             answers=("亲，现货商品付款后48小时内发货哦～", "宝宝放心，付款后48小时内安排发出。"), category="发货时间"),
    FaqEntry(id="FAQ-002", question="可以开发票吗？", similar=("能开票吗", "发票怎么开"),
             answers=("可以的亲，下单时填写发票抬头即可，电子发票随货发送～",), category="发票", enabled=False),
]

# The 说明 sheet of the template: one row per column. Its header has no question column, so an
# uploaded template never reads it as FAQ rows.
TEMPLATE_NOTES = [
    ["列名 column", "必填 required", "说明 meaning", "也可写作 also accepted"],
    ["编号", "否 no", "条目的稳定编号；不填则由标准问题生成。Stable id; derived from the question if empty.",
     "id, 问题编号, entry_id"],
    ["标准问题", "是 yes", "买家最常见的问法，≤200字。The standard question, at most 200 characters.",
     "question, 标准问, 问题"],
    ["相似问题", "否 no", "其他问法，用换行或 | 分隔，或写在多列（相似问题1、相似问题2…）。Other phrasings, split by "
     "line breaks or |, or in repeated columns.", "similar, 相似问, 扩展问"],
    ["答案", "是 yes", "回复内容，多个备选答案用换行或 | 分隔，每个≤2000字；不得含链接、电话、微信/QQ等站外联系方式。"
     "Answers, several split by line breaks or |; no links, phone numbers, WeChat/QQ handles.",
     "answer, 回复, 回答"],
    ["分类", "否 no", "分类名，≤50字。Category, at most 50 characters.", "category, 类别, 类目"],
    ["状态", "否 no", "启用 或 停用（默认启用）。启用/停用 (default 启用); true/false also work.", "enabled, status"],
    [],
    ["文件格式 formats", "", "xlsx（读取所有表头含“标准问题”的工作表）、csv（UTF-8 / GBK）、json、jsonl。", ""],
    ["注意 note", "", "单元格不要以 = 开头（公式会被拒绝）；表头必须在第一行。Cells must not start with =; the "
     "header is the first row.", ""],
]


def faq_rows(entries: Sequence[FaqEntry]) -> list[list[str]]:
    return [[e.id, e.question, "\n".join(e.similar), "\n".join(e.answers), e.category, status_text(e.enabled)]
            for e in entries]


def write_table(
    fmt: ExportFormat, headers: Sequence[str], rows: Sequence[Sequence[str]], *, sheet: str = "FAQ",
    notes: Sequence[Sequence[str]] | None = None,
    extra_sheets: Sequence[tuple[str, Sequence[str], Sequence[Sequence[str]]]] = (),
) -> bytes:
    """One table as XLSX (sheet ``sheet``, then ``extra_sheets`` as (name, headers, rows), plus an optional
    说明 sheet) or as UTF-8-with-BOM CSV (the first table only)."""
    if fmt == "csv":
        return csv_bytes(headers, rows)
    if fmt != "xlsx":
        raise ValueError(f"format must be xlsx or csv, not {fmt!r}")
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(sheet)
    for letter, width in zip("ABCDEF", (14, 30, 36, 60, 14, 8)):
        ws.column_dimensions[letter].width = width
    bold = Font(bold=True)
    wrap = Alignment(wrap_text=True, vertical="top")
    ws.append([_text_cell(ws, h, font=bold) for h in headers])
    for row in rows:
        ws.append([_text_cell(ws, v, alignment=wrap) for v in row])
    for name, extra_headers, extra_rows in extra_sheets:
        es = wb.create_sheet(name)
        for letter, width in zip("ABCDEFG", (34, 40, 14, 10, 10, 8, 20)):
            es.column_dimensions[letter].width = width
        es.append([_text_cell(es, h, font=bold) for h in extra_headers])
        for row in extra_rows:
            es.append([_text_cell(es, v, alignment=wrap) for v in row])
    if notes:
        ns = wb.create_sheet("说明")
        for letter, width in zip("ABCD", (18, 12, 80, 30)):
            ns.column_dimensions[letter].width = width
        for i, row in enumerate(notes):
            ns.append([_text_cell(ns, v, font=bold if i == 0 else None, alignment=wrap) for v in row])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _text_cell(ws, value: str, *, font: Font | None = None, alignment: Alignment | None = None) -> WriteOnlyCell:
    # Control characters cannot be stored in a worksheet (openpyxl raises). Imports refuse them
    # (cells.cell_problems), so only text stored before that rule existed can still hold one.
    cell = WriteOnlyCell(ws, value=ILLEGAL_CHARACTERS_RE.sub("", value) if isinstance(value, str) else value)
    cell.data_type = "s"  # a value starting with '=' stays text, never becomes a formula
    if font is not None:
        cell.font = font
    if alignment is not None:
        cell.alignment = alignment
    return cell


def export_faq(entries: Sequence[FaqEntry], fmt: ExportFormat, *, learned: Sequence = ()) -> bytes:
    """The FAQ; in XLSX, the shop's learned examples (``knowledge_base.learning.LearnedExample``) follow on
    a 学习样本 sheet. Its header has no question column, so importing the file again reads the FAQ only."""
    extra = [(LEARNED_SHEET, LEARNED_HEADERS, learned_rows(learned))] if learned and fmt == "xlsx" else []
    return write_table(fmt, FAQ_HEADERS, faq_rows(entries), extra_sheets=extra)


LEARNED_SHEET = "学习样本"
LEARNED_HEADERS = ["样本编号", "买家消息", "条目编号", "状态", "来源", "确认次数", "记录时间"]
_STATUS_ZH = {"pending": "待审核", "approved": "已通过", "rejected": "已拒绝", "promoted": "已加入知识库"}
_ORIGIN_ZH = {"accepted": "采用推荐", "edited": "修改后发送", "own_reply": "自行回复", "manual": "手动"}


def learned_rows(items: Sequence) -> list[list[str]]:
    return [[e.id, e.text, e.entry_id, _STATUS_ZH.get(e.status, e.status), _ORIGIN_ZH.get(e.origin, e.origin),
             str(e.count), e.created_at.strftime("%Y-%m-%d %H:%M:%S")] for e in items]


def export_learned(items: Sequence, fmt: ExportFormat) -> bytes:
    """Learned examples alone, as XLSX (sheet 学习样本) or CSV."""
    return write_table(fmt, LEARNED_HEADERS, learned_rows(items), sheet=LEARNED_SHEET)


def template_file(fmt: ExportFormat) -> bytes:
    """The downloadable FAQ template: the header, two example rows and, in XLSX, a 说明 sheet."""
    return write_table(fmt, FAQ_HEADERS, faq_rows(TEMPLATE_ENTRIES), notes=TEMPLATE_NOTES if fmt == "xlsx" else None)
