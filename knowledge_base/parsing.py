"""Read an uploaded FAQ file (CSV, XLSX, JSON, JSONL) into validated ``FaqEntry`` objects.

Merchants export from Excel, so column names come in Chinese or English, multi-valued cells
(相似问题, several answers) are split by ``|`` or newlines or spread over repeated columns, and
CSV comes in UTF-8, UTF-8 with BOM or GBK/GB18030. Every problem is reported with the sheet,
row and column the merchant sees, never as a stack trace.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

from models.errors import UploadError, ValidationProblem

from .schema import FaqEntry, derive_entry_id

__all__ = ["ParseLimits", "ParsedKb", "parse_kb_file", "parse_kb_rows", "COLUMN_ALIASES", "SUPPORTED_SUFFIXES"]

SUPPORTED_SUFFIXES = (".csv", ".xlsx", ".json", ".jsonl")

# Canonical field → accepted header spellings (compared after lower-casing and stripping spaces
# and a trailing number, so "相似问题2" and "Similar Question 3" are repeated columns).
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "id": ("编号", "id", "问题id", "问题编号", "entry_id", "entryid", "faq_id"),
    "question": ("标准问题", "标准问", "问题", "question", "standard_question", "standardquestion"),
    "similar": ("相似问题", "相似问", "相似问法", "扩展问", "扩展问题", "similar", "similar_questions",
                "similarquestions", "similar_question"),
    "answers": ("答案", "回复", "回答", "标准答案", "answer", "answers", "reply"),
    "category": ("分类", "类别", "类目", "category"),
    "enabled": ("状态", "是否启用", "启用", "enabled", "status"),
}
_MULTI_FIELDS = {"similar", "answers"}
_HEADER_LOOKUP = {alias: name for name, aliases in COLUMN_ALIASES.items() for alias in aliases}
_SPLIT = re.compile(r"[|｜\r\n]+")
_TRUE = {"", "启用", "开启", "是", "有效", "1", "true", "yes", "y", "on", "enabled", "active"}
_FALSE = {"停用", "禁用", "关闭", "否", "无效", "0", "false", "no", "n", "off", "disabled", "inactive"}
# A cell Excel would evaluate: =, +, -, @ followed by a formula-looking tail (=cmd|' /C calc'!A0).
_FORMULA = re.compile(r"^[=+\-@]\s*[A-Za-z_(].*[(|!]")


@dataclass(frozen=True)
class ParseLimits:
    max_rows: int = 50_000
    max_question_chars: int = 200
    max_answer_chars: int = 2_000
    max_similar: int = 200


@dataclass
class ParsedKb:
    entries: list[FaqEntry]
    problems: list[ValidationProblem] = field(default_factory=list)
    rows_read: int = 0

    @property
    def errors(self) -> list[ValidationProblem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def phrasing_count(self) -> int:
        return sum(len(e.phrasings) for e in self.entries)


@dataclass
class _Row:
    sheet: str | None
    number: int  # 1-based, as shown in Excel / a text editor (header = 1 for tables)
    values: dict[str, list[str]]  # canonical field → cell texts (several for repeated columns)
    columns: dict[str, str]  # canonical field → the header the merchant used (for messages)


def parse_kb_file(filename: str, data: bytes, limits: ParseLimits | None = None) -> ParsedKb:
    """Parse an uploaded file by its suffix. Raises ``UploadError`` if it cannot be read at all."""
    limits = limits or ParseLimits()
    suffix = PurePath(filename).suffix.lower()
    notes: list[ValidationProblem] = []  # readers add header-level warnings (unknown columns)
    if suffix == ".csv":
        rows = _csv_rows(filename, data, notes)
    elif suffix == ".xlsx":
        rows = _xlsx_rows(filename, data, notes)
    elif suffix == ".json":
        rows = _json_rows(filename, data, notes)
    elif suffix == ".jsonl":
        rows = _jsonl_rows(filename, data, notes)
    else:
        raise UploadError(
            f"{filename}: unsupported file type {suffix or '(none)'!r}; "
            f"upload one of {', '.join(SUPPORTED_SUFFIXES)}"
        )
    parsed = parse_kb_rows(rows, limits)
    # Rows are read lazily, so header notes exist only now; they go first, as in the file.
    parsed.problems[:0] = notes
    return parsed


def parse_kb_rows(rows: Iterable[_Row], limits: ParseLimits) -> ParsedKb:
    """Turn located rows into entries, collecting every problem instead of stopping at the first."""
    problems: list[ValidationProblem] = []
    entries: list[FaqEntry] = []
    seen_ids: dict[str, int] = {}
    owner_of_phrasing: dict[str, tuple[str, int]] = {}
    rows_read = 0
    for row in rows:
        rows_read += 1
        if rows_read > limits.max_rows:
            raise UploadError(f"too many rows: the limit is {limits.max_rows}; split the file")
        entry = _row_to_entry(row, limits, problems)
        if entry is None:
            continue
        where = {"row": row.number, "sheet": row.sheet}
        if entry.id in seen_ids:
            problems.append(ValidationProblem(
                f"duplicate id {entry.id!r} (first used on row {seen_ids[entry.id]})",
                column=row.columns.get("id", "id"), value=entry.id, **where))
            continue
        conflict = False
        for text in entry.phrasings:
            key = _phrasing_key(text)
            owner = owner_of_phrasing.get(key)
            if owner is not None and owner[0] != entry.id:
                problems.append(ValidationProblem(
                    f"phrasing {text!r} is already used by entry {owner[0]!r} on row {owner[1]}; "
                    "a phrasing may belong to one entry only",
                    column=row.columns.get("similar") or row.columns.get("question"), value=text, **where))
                conflict = True
        if conflict:
            continue
        seen_ids[entry.id] = row.number
        for text in entry.phrasings:
            owner_of_phrasing.setdefault(_phrasing_key(text), (entry.id, row.number))
        entries.append(entry)
    if rows_read == 0:
        problems.append(ValidationProblem("the file has no data rows"))
    return ParsedKb(entries=entries, problems=problems, rows_read=rows_read)


def _phrasing_key(text: str) -> str:
    return "".join(text.split()).lower()


def _row_to_entry(row: _Row, limits: ParseLimits, problems: list[ValidationProblem]) -> FaqEntry | None:
    before = len(problems)
    where = {"row": row.number, "sheet": row.sheet}

    def col(name: str) -> str:
        return row.columns.get(name, name)

    for name, cells in row.values.items():
        for cell in cells:
            if _FORMULA.match(cell):
                problems.append(ValidationProblem(
                    "cell looks like a spreadsheet formula (possible formula injection); "
                    "remove the leading =, +, - or @", column=col(name), value=cell[:80], **where))

    question = _first(row.values.get("question"))
    answers = _split_all(row.values.get("answers"))
    similar = _dedupe(s for s in _split_all(row.values.get("similar")) if _phrasing_key(s) != _phrasing_key(question))
    if not question:
        problems.append(ValidationProblem("standard question is empty", column=col("question"), **where))
    elif len(question) > limits.max_question_chars:
        problems.append(ValidationProblem(
            f"standard question is {len(question)} characters; the limit is {limits.max_question_chars}",
            column=col("question"), value=question[:80], **where))
    if not answers:
        problems.append(ValidationProblem("answer is empty", column=col("answers"), **where))
    for answer in answers:
        if len(answer) > limits.max_answer_chars:
            problems.append(ValidationProblem(
                f"answer is {len(answer)} characters; the limit is {limits.max_answer_chars}",
                column=col("answers"), value=answer[:80], **where))
    for text in similar:
        if len(text) > limits.max_question_chars:
            problems.append(ValidationProblem(
                f"similar question is {len(text)} characters; the limit is {limits.max_question_chars}",
                column=col("similar"), value=text[:80], **where))
    if len(similar) > limits.max_similar:
        problems.append(ValidationProblem(
            f"{len(similar)} similar questions; the limit is {limits.max_similar} per entry",
            column=col("similar"), **where))
    enabled_text = _first(row.values.get("enabled")).lower()
    if enabled_text in _TRUE:
        enabled = True
    elif enabled_text in _FALSE:
        enabled = False
    else:
        enabled = True
        problems.append(ValidationProblem(
            f"status {enabled_text!r} is not understood; use 启用 or 停用",
            column=col("enabled"), value=enabled_text, **where))
    if len(problems) > before:
        return None
    entry_id = _first(row.values.get("id")) or derive_entry_id(question)
    return FaqEntry(
        id=entry_id,
        question=question,
        answers=tuple(answers),
        similar=tuple(similar),
        category=_first(row.values.get("category")),
        enabled=enabled,
    )


def _first(cells: list[str] | None) -> str:
    for cell in cells or ():
        if cell.strip():
            return cell.strip()
    return ""


def _split_all(cells: list[str] | None) -> list[str]:
    return _dedupe(part.strip() for cell in cells or () for part in _SPLIT.split(cell) if part.strip())


def _dedupe(items: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    out: list[str] = []
    for item in items:
        key = _phrasing_key(item)
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out


def _canonical_header(header: Any) -> str | None:
    text = re.sub(r"[\s_\-]*\d+$", "", str(header or "").strip().lower())
    text = text.replace(" ", "").replace("（", "(").split("(")[0]
    return _HEADER_LOOKUP.get(text) or _HEADER_LOOKUP.get(text.replace("_", ""))


def _table_rows(
    filename: str, sheet: str | None, table: Iterator[list[Any]], notes: list[ValidationProblem]
) -> Iterator[_Row]:
    """Rows of a header-first table (CSV, one XLSX sheet) keyed by canonical field."""
    try:
        header = next(table)
    except StopIteration:
        return
    fields = [_canonical_header(h) for h in header]
    where = f"{filename}" + (f" sheet {sheet!r}" if sheet else "")
    if "question" not in fields or "answers" not in fields:
        known = ", ".join(f"{aliases[0]}/{aliases[1]}" for aliases in COLUMN_ALIASES.values())
        raise UploadError(
            f"{where}: the header row needs a question column (标准问题 or question) and an answer "
            f"column (答案 or answer); found {[str(h) for h in header if h is not None]}. Known columns: {known}"
        )
    columns: dict[str, str] = {}
    for field_name, h in zip(fields, header):
        if field_name and field_name not in columns:
            columns[field_name] = str(h).strip()
    for f, h in zip(fields, header):
        if f is None and str(h or "").strip():
            notes.append(_unknown_column(str(h).strip(), sheet=sheet))
    for number, cells in enumerate(table, start=2):
        if not any(str(c).strip() for c in cells if c is not None):
            continue  # blank line: Excel often leaves them at the end
        values: dict[str, list[str]] = {}
        for field_name, cell in zip(fields, cells):
            if field_name is None or cell is None:
                continue
            text = str(cell).strip()
            if field_name not in _MULTI_FIELDS and field_name in values:
                continue
            values.setdefault(field_name, []).append(text)
        yield _Row(sheet=sheet, number=number, values=values, columns=columns)


def _unknown_column(name: str, *, sheet: str | None = None, row: int = 1) -> ValidationProblem:
    known = ", ".join(aliases[0] for aliases in COLUMN_ALIASES.values())
    return ValidationProblem(
        f"unknown column {name!r} is ignored (known: {known})",
        severity="warning", row=row, column=name, sheet=sheet)


def _csv_rows(filename: str, data: bytes, notes: list[ValidationProblem]) -> Iterator[_Row]:
    text = _decode_text(filename, data)
    sample = text[:4096]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",\t;")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    return _table_rows(filename, None, iter(reader), notes)


def _decode_text(filename: str, data: bytes) -> str:
    # Chinese Excel saves "CSV" as GBK/GB18030; UTF-8 (with or without BOM) is tried first since a
    # valid UTF-8 multi-byte text is almost never valid by accident.
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise UploadError(f"{filename}: text is neither UTF-8 nor GBK/GB18030; save the file as UTF-8 CSV")


def _xlsx_rows(filename: str, data: bytes, notes: list[ValidationProblem]) -> Iterator[_Row]:
    import zipfile

    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise UploadError(f"{filename}: not a readable .xlsx workbook ({exc})") from exc
    try:
        sheets_used = 0
        for sheet in workbook.worksheets:
            table = iter(sheet.iter_rows(values_only=True))
            first = next(table, None)
            if first is None or not any(c is not None for c in first):
                continue
            fields = [_canonical_header(h) for h in first]
            if "question" not in fields:
                continue  # a notes / instructions sheet
            sheets_used += 1
            yield from _table_rows(filename, sheet.title, _chain([list(first)], (list(r) for r in table)), notes)
        if sheets_used == 0:
            raise UploadError(
                f"{filename}: no sheet has a header row with a question column (标准问题 or question)")
    finally:
        workbook.close()


def _chain(first: list[list[Any]], rest: Iterable[list[Any]]) -> Iterator[list[Any]]:
    yield from first
    yield from rest


def _json_rows(filename: str, data: bytes, notes: list[ValidationProblem]) -> Iterator[_Row]:
    try:
        payload = json.loads(_decode_text(filename, data))
    except json.JSONDecodeError as exc:
        raise UploadError(f"{filename}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from exc
    if isinstance(payload, dict):
        payload = payload.get("entries", payload.get("faq"))
    if not isinstance(payload, list):
        raise UploadError(f"{filename}: expected a JSON list of entries or an object with an \"entries\" list")
    for index, item in enumerate(payload, start=1):
        yield _object_row(filename, item, index, notes)


def _jsonl_rows(filename: str, data: bytes, notes: list[ValidationProblem]) -> Iterator[_Row]:
    for number, line in enumerate(_decode_text(filename, data).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UploadError(f"{filename}: line {number} is not valid JSON: {exc.msg}") from exc
        yield _object_row(filename, item, number, notes)


def _object_row(filename: str, item: Any, number: int, notes: list[ValidationProblem]) -> _Row:
    if not isinstance(item, dict):
        raise UploadError(f"{filename}: item {number} is not a JSON object")
    values: dict[str, list[str]] = {}
    columns: dict[str, str] = {}
    for key, value in item.items():
        name = _canonical_header(key)
        if name is None:
            if not any(n.column == str(key) for n in notes):  # report a JSON key once, not per line
                notes.append(_unknown_column(str(key), row=number))
            continue
        columns.setdefault(name, str(key))
        cells = value if isinstance(value, list) else [value]
        if isinstance(value, bool):
            cells = ["1" if value else "0"]
        values.setdefault(name, []).extend("" if c is None else str(c) for c in cells)
    return _Row(sheet=None, number=number, values=values, columns=columns)
