"""Read an uploaded FAQ file (CSV, XLSX, JSON, JSONL) into validated ``FaqEntry`` objects.

The file is read by ``tablefile.py`` (columns by ``FAQ_SCHEMA``: Chinese or English names; several
values per cell split by ``|`` or newlines or spread over repeated columns), each row is checked by
``validation.py``'s entry rules and the knowledge base's consistency, and every problem is reported
with the sheet, row and column the merchant sees and a stable ``code``, never as a stack trace.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from models.errors import TooManyRows, ValidationProblem
from models.messages import M

from .cells import cell_problems
from .schema import FaqEntry, derive_entry_id
from .tablefile import ParseLimits, TableRow, TableSchema, read_table
from .validation import KbConsistency, check_entry, parse_enabled, phrasing_key, split_cell

__all__ = ["ParsedKb", "FAQ_SCHEMA", "COLUMN_ALIASES", "parse_kb_file", "parse_kb_rows"]

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

FAQ_SCHEMA = TableSchema("FAQ", COLUMN_ALIASES, ("question", "answers"), frozenset({"similar", "answers"}))


@dataclass
class ParsedKb:
    entries: list[FaqEntry]
    problems: list[ValidationProblem] = field(default_factory=list)
    rows_read: int = 0
    locations: dict[str, dict[str, Any]] = field(default_factory=dict)  # entry id → its sheet and row

    @property
    def errors(self) -> list[ValidationProblem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def rows_with_errors(self) -> int:
        return len({(p.sheet, p.row) for p in self.errors if p.row is not None})

    @property
    def phrasing_count(self) -> int:
        return sum(len(e.phrasings) for e in self.entries)


# -- the FAQ ------------------------------------------------------------------------------------
def parse_kb_file(filename: str, data: bytes, limits: ParseLimits | None = None) -> ParsedKb:
    """Parse an uploaded file by its suffix. Raises ``UploadError`` (or a subclass: too large, too
    many rows) if it cannot be read at all; row problems are returned, not raised."""
    limits = limits or ParseLimits()
    rows, notes = read_table(filename, data, FAQ_SCHEMA, limits)
    parsed = parse_kb_rows(rows, limits)
    parsed.problems[:0] = notes  # header notes (unknown columns) go first, as in the file
    return parsed


def parse_kb_rows(rows: Iterable[TableRow], limits: ParseLimits) -> ParsedKb:
    """Turn located rows into entries, collecting every problem instead of stopping at the first.

    ``entries`` holds the rows without errors (what a partial import keeps)."""
    problems: list[ValidationProblem] = []
    entries: list[FaqEntry] = []
    consistency = KbConsistency()
    locations: dict[str, dict[str, Any]] = {}
    rows_read = 0
    for row in rows:
        rows_read += 1
        if rows_read > limits.max_rows:
            raise TooManyRows(M("file.too_many_rows", limit=limits.max_rows))
        entry, row_problems = _row_to_entry(row, limits)
        problems.extend(row_problems)
        if entry is None:
            continue
        clashes = consistency.check(entry, row.where(), row.columns)
        problems.extend(clashes)
        if clashes:
            continue
        consistency.add(entry, row.number)
        entries.append(entry)
        locations[entry.id] = row.where()
    if rows_read == 0:
        problems.append(ValidationProblem.of(M("problem.no_rows"), code="no_rows"))
    return ParsedKb(entries=entries, problems=problems, rows_read=rows_read, locations=locations)


def _row_to_entry(row: TableRow, limits: ParseLimits) -> tuple[FaqEntry | None, list[ValidationProblem]]:
    where = row.where()
    problems: list[ValidationProblem] = []
    question = row.first("question")
    answers = split_cell(row.values.get("answers"))
    similar = [s for s in split_cell(row.values.get("similar")) if phrasing_key(s) != phrasing_key(question)]
    enabled_text = row.first("enabled").lower()
    status = parse_enabled(enabled_text)
    enabled = status is not False  # an unknown status is reported, and the entry stays enabled
    if status is None:
        problems.append(ValidationProblem.of(
            M("problem.bad_status", value=enabled_text),
            column=row.col("enabled"), value=enabled_text, code="bad_status", **where))
    entry = FaqEntry(
        id=row.first("id") or (derive_entry_id(question) if question else ""),
        question=question, answers=tuple(answers), similar=tuple(similar),
        category=row.first("category"), enabled=enabled)
    # Formulas and control characters anywhere in the row (also in cells the entry does not keep, as
    # the merchant wrote them), then the entry rules.
    for name, cells in row.values.items():
        for cell in cells:
            problems.extend(cell_problems(cell, column=row.col(name), where=where))
    # A value split out of a cell ("a|=SUM(A1)") is checked again on its own; a cell already reported
    # for a formula or control character is not reported again for its parts.
    seen = {(p.code, p.column) for p in problems}
    entry_problems = [p for p in check_entry(entry, limits, where=where, columns=row.columns)
                      if (p.code, p.column) not in seen and not (p.code == "bad_id" and not question)]
    problems.extend(entry_problems)
    if any(p.severity == "error" for p in problems):
        return None, problems
    return entry, problems
