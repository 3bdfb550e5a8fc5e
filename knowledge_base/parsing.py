"""Read an uploaded FAQ file (CSV, XLSX, JSON, JSONL) into validated ``FaqEntry`` objects.

Merchants export from Excel, so column names come in Chinese or English, multi-valued cells
(相似问题, several answers) are split by ``|`` or newlines or spread over repeated columns, and
CSV comes in UTF-8, UTF-8 with BOM or GBK/GB18030 (``textfile.py`` judges which by what the text
decodes to). Every problem is reported with the sheet, row and column the merchant sees and a
stable ``code``, never as a stack trace; a file that cannot be read at all raises one error whose
details hold one such problem (``FILE_REASONS``: every reason, once).

Reading happens in two stages so a hostile or oversized file costs little:

1. guards that need no parsing: the XLSX zip directory (declared uncompressed size and ratio, read
   with ``zipfile`` before openpyxl ever sees the file) and a streamed count of the sheets' rows;
2. a streamed read of at most ``max_rows + 1`` data rows (CSV through ``csv.reader`` over a text
   stream, XLSX through openpyxl's read-only mode), refused as soon as the limit is passed — before
   any row is validated.

The table reader is generic (``TableSchema``): quick phrases use it with their own columns.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import PurePath
from typing import Any

from models.errors import ArchiveTooLarge, TooManyRows, UploadError, UploadTooLarge, ValidationProblem
from models.messages import M, Msg

from .cells import cell_problems, unescape_csv_cell
from .compliance import check_text
from .schema import FaqEntry, derive_entry_id
from .textfile import detect_encoding

__all__ = [
    "ParseLimits", "ParsedKb", "TableSchema", "TableRow", "FAQ_SCHEMA", "COLUMN_ALIASES", "SUPPORTED_SUFFIXES",
    "SEPARATORS", "parse_kb_file", "parse_kb_rows", "read_table", "check_entry", "KbConsistency",
    "compliance_problems", "split_cell", "status_text", "upload_name", "file_too_large", "FILE_REASONS",
    "MAX_FILENAME_CHARS",
]

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
# What separates several values in one cell; an API-sent item may not contain them (it could not
# survive an export → import round trip).
SEPARATORS = "|｜\r\n"
_SPLIT = re.compile(r"[|｜\r\n]+")
_TRUE = {"", "启用", "开启", "是", "有效", "1", "true", "yes", "y", "on", "enabled", "active"}
_FALSE = {"停用", "禁用", "关闭", "否", "无效", "0", "false", "no", "n", "off", "disabled", "inactive"}
_ID = re.compile(r"^[\w\-.:]+$")
_ROW_END = re.compile(rb"</(?:[A-Za-z0-9_]+:)?row>")
# Rows a workbook may hold beyond max_rows before the pre-scan refuses it outright: headers of
# several sheets and a notes sheet. The exact count of data rows is enforced while reading.
_ROW_SLACK = 1_000
_LARGE_MEMBER = 1 << 20  # ratio checks apply to members expanding past 1 MiB (tiny XML files vary)


@dataclass(frozen=True)
class ParseLimits:
    """Every limit of an upload (``service/config.py`` maps the settings onto these)."""

    max_rows: int = 50_000
    max_question_chars: int = 200
    max_answer_chars: int = 2_000
    max_similar: int = 200
    max_answers: int = 20
    max_category_chars: int = 50
    max_id_chars: int = 64
    max_xlsx_uncompressed_bytes: int = 100 * 1024 * 1024
    max_xlsx_ratio: int = 100
    check_compliance: bool = True
    # Compliance kinds (knowledge_base.compliance.KINDS) reported as warnings instead of errors.
    compliance_warning_kinds: frozenset[str] = frozenset()


@dataclass(frozen=True)
class TableSchema:
    """The columns of one kind of merchant file: canonical field → accepted header spellings."""

    kind: str  # for messages: "FAQ", "quick phrases"
    aliases: dict[str, tuple[str, ...]]
    required: tuple[str, ...]  # the header must have these; the first one also marks a data sheet
    multi: frozenset[str] = frozenset()  # fields whose repeated columns are all kept

    @cached_property
    def lookup(self) -> dict[str, str]:
        return {alias: name for name, aliases in self.aliases.items() for alias in aliases}

    def field_of(self, header: Any) -> str | None:
        text = re.sub(r"[\s_\-]*\d+$", "", str(header or "").strip().lower())
        text = text.replace(" ", "").replace("（", "(").split("(")[0]
        return self.lookup.get(text) or self.lookup.get(text.replace("_", ""))

    def describe(self, field_name: str) -> str:
        aliases = self.aliases[field_name]
        english = next((a for a in aliases if a.isascii()), aliases[-1])
        return f"{aliases[0]} or {english}"


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


@dataclass
class TableRow:
    sheet: str | None
    number: int  # 1-based, as shown in Excel / a text editor (header = 1 for tables)
    values: dict[str, list[str]]  # canonical field → cell texts (several for repeated columns)
    columns: dict[str, str]  # canonical field → the header the merchant used (for messages)

    def where(self) -> dict[str, Any]:
        return {"row": self.number, "sheet": self.sheet}

    def col(self, name: str) -> str:
        return self.columns.get(name, name)

    def first(self, name: str) -> str:
        for cell in self.values.get(name) or ():
            if cell.strip():
                return cell.strip()
        return ""


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


def _phrasing_key(text: str) -> str:
    return "".join(text.split()).lower()


class KbConsistency:
    """Checks across entries: ids are unique, and a phrasing belongs to one entry only."""

    def __init__(self, entries: Iterable[FaqEntry] = ()) -> None:
        self._ids: dict[str, int | None] = {}
        self._phrasings: dict[str, tuple[str, int | None]] = {}
        for entry in entries:
            self.add(entry, None)

    def add(self, entry: FaqEntry, row: int | None) -> None:
        self._ids.setdefault(entry.id, row)
        for text in entry.phrasings:
            self._phrasings.setdefault(_phrasing_key(text), (entry.id, row))

    def check(self, entry: FaqEntry, where: dict[str, Any], columns: dict[str, str]) -> list[ValidationProblem]:
        if entry.id in self._ids:
            first = self._ids[entry.id]
            return [ValidationProblem.of(
                M("problem.duplicate_id", id=entry.id, first=first) if first else M("problem.duplicate_id_api", id=entry.id),
                column=columns.get("id", "id"), value=entry.id, code="duplicate_id", **where)]
        problems = []
        for j, text in enumerate(entry.phrasings):
            owner = self._phrasings.get(_phrasing_key(text))
            if owner is not None and owner[0] != entry.id:
                on_row = M("problem.on_row", row=owner[1]) if owner[1] else ""
                problems.append(ValidationProblem.of(
                    M("problem.conflict", text=text, owner=owner[0], on_row=on_row),
                    column=columns.get("question" if j == 0 else "similar", "question" if j == 0 else "similar"),
                    value=text, code="conflict", **where))
        return problems


def check_entry(
    entry: FaqEntry, limits: ParseLimits, *, where: dict[str, Any] | None = None,
    columns: dict[str, str] | None = None,
) -> list[ValidationProblem]:
    """Every per-entry problem (lengths, counts, id, formulas, compliance of answers).

    The single source of the entry rules, used for file rows and for entries sent through the API.
    """
    where = where or {}
    columns = columns or {}

    def col(name: str) -> str:
        return columns.get(name, name)

    problems: list[ValidationProblem] = []
    if not entry.id:
        problems.append(ValidationProblem.of(M("problem.id_empty"), column=col("id"), code="bad_id", **where))
    elif len(entry.id) > limits.max_id_chars or not _ID.match(entry.id):
        problems.append(ValidationProblem.of(
            M("problem.bad_id", id=entry.id[:80], limit=limits.max_id_chars),
            column=col("id"), value=entry.id[:80], code="bad_id", **where))
    if not entry.question:
        problems.append(ValidationProblem.of(M("problem.missing_question"), column=col("question"),
                                          code="missing_question", **where))
    elif len(entry.question) > limits.max_question_chars:
        problems.append(ValidationProblem.of(
            M("problem.question_too_long", n=len(entry.question), limit=limits.max_question_chars),
            column=col("question"), value=entry.question[:80], code="too_long", **where))
    if not entry.answers:
        problems.append(ValidationProblem.of(M("problem.missing_answer"), column=col("answers"), code="missing_answer",
                                             **where))
    if len(entry.answers) > limits.max_answers:
        problems.append(ValidationProblem.of(
            M("problem.too_many_answers", n=len(entry.answers), limit=limits.max_answers),
            column=col("answers"), code="too_many", **where))
    for answer in entry.answers:
        if len(answer) > limits.max_answer_chars:
            problems.append(ValidationProblem.of(
                M("problem.answer_too_long", n=len(answer), limit=limits.max_answer_chars),
                column=col("answers"), value=answer[:80], code="too_long", **where))
    for text in entry.similar:
        if len(text) > limits.max_question_chars:
            problems.append(ValidationProblem.of(
                M("problem.similar_too_long", n=len(text), limit=limits.max_question_chars),
                column=col("similar"), value=text[:80], code="too_long", **where))
    if len(entry.similar) > limits.max_similar:
        problems.append(ValidationProblem.of(
            M("problem.too_many_similar", n=len(entry.similar), limit=limits.max_similar),
            column=col("similar"), code="too_many", **where))
    if len(entry.category) > limits.max_category_chars:
        problems.append(ValidationProblem.of(
            M("problem.category_too_long", n=len(entry.category), limit=limits.max_category_chars),
            column=col("category"), value=entry.category[:80], code="too_long", **where))
    for name, texts in (("id", [entry.id]), ("question", [entry.question]), ("similar", entry.similar),
                        ("answers", entry.answers), ("category", [entry.category])):
        for text in texts:
            problems.extend(cell_problems(text, column=col(name), where=where))
    for answer in entry.answers:
        problems.extend(compliance_problems(answer, limits, column=col("answers"), where=where))
    return problems


def compliance_problems(
    text: str, limits: ParseLimits, *, column: str, where: dict[str, Any],
) -> list[ValidationProblem]:
    """One problem per text that fails ``compliance.check_text`` (links, phones, WeChat/QQ, …)."""
    if not limits.check_compliance or not text:
        return []
    result = check_text(text)
    if result.allowed:
        return []
    kinds = result.kinds
    severity = "warning" if set(kinds) <= limits.compliance_warning_kinds else "error"
    found = "; ".join(f"{v.kind} {v.matched!r}" for v in result.violations)
    return [ValidationProblem.of(
        M("problem.compliance", found=found, reason=[M(f"compliance.{k}") for k in result.kinds]),
        severity=severity, column=column, value=text[:80], code="compliance",
        extra={"violations": [{"kind": v.kind, "matched": v.matched, "start": v.start, "end": v.end}
                              for v in result.violations]}, **where)]


def _row_to_entry(row: TableRow, limits: ParseLimits) -> tuple[FaqEntry | None, list[ValidationProblem]]:
    where = row.where()
    problems: list[ValidationProblem] = []
    question = row.first("question")
    answers = split_cell(row.values.get("answers"))
    similar = [s for s in split_cell(row.values.get("similar")) if _phrasing_key(s) != _phrasing_key(question)]
    enabled_text = row.first("enabled").lower()
    enabled = enabled_text not in _FALSE
    if enabled_text not in _TRUE | _FALSE:
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


def split_cell(cells: Sequence[str] | None) -> list[str]:
    """All values of (possibly repeated) cells, split on ``|`` and newlines, blank and duplicates dropped."""
    return _dedupe(part.strip() for cell in cells or () for part in _SPLIT.split(cell) if part.strip())


def status_text(enabled: bool) -> str:
    return "启用" if enabled else "停用"


def parse_enabled(text: str) -> bool | None:
    text = text.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return None


def _dedupe(items: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    out: list[str] = []
    for item in items:
        key = _phrasing_key(item)
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out


# -- reading any table ---------------------------------------------------------------------------
MAX_FILENAME_CHARS = 255  # what file systems allow; longer names are not a merchant's file
MAX_JSON_DEPTH = 20  # an FAQ needs 3 levels (list → object → list of texts); the rest is hostile
# Why a whole file is refused: every reason once, a stable code (``details[0].code``) whose sentence is
# ``file.<code>`` in the message catalogue (models/messages.py), built from parameters.
FILE_REASONS = (
    "bad_filename", "unsupported_type", "empty_file", "bad_encoding", "binary_file", "not_xlsx", "missing_columns",
    "no_data_sheet", "bad_csv", "cell_too_large", "invalid_json", "json_too_deep", "not_a_list", "not_an_object",
    "nested_value", "too_many_rows", "xlsx_too_large", "xlsx_ratio", "file_too_large",
)
# Reasons whose sentence already says where (line N, item N): the message adds no "row N".
_SAYS_WHERE = frozenset({"bad_csv", "cell_too_large", "not_an_object", "nested_value", "invalid_json", "json_too_deep"})
_TEXT_SUFFIXES = (".csv", ".json", ".jsonl")
_MAGIC = [(b"PK\x03\x04", "zip"), (b"\xd0\xcf\x11\xe0", "xls"), (b"%PDF", "pdf")]  # messages file.kind_*, file.is_*


def _shown(filename: str) -> str:
    """The file name as messages show it: control characters escaped, at most 80 characters."""
    text = filename.encode("unicode_escape").decode("ascii") if not filename.isprintable() else filename
    return text if len(text) <= 80 else text[:77] + "…"


def _refuse(filename: str, code: str, *, cls: type[UploadError] = UploadError, row: int | None = None,
            column: str | None = None, sheet: str | None = None, **params: Any) -> UploadError:
    """The error for a file that cannot be imported at all: its message, and one located problem (code,
    row, parameters) in its details."""
    reason = M(f"file.{code}", **params)
    shown = _shown(filename)
    row_shown = row if code not in _SAYS_WHERE else None
    place: Msg | str = ""
    if sheet and row_shown is not None:
        place = M("file.in_sheet_row", sheet=sheet, row=row_shown)
    elif sheet:
        place = M("file.in_sheet", sheet=sheet)
    elif row_shown is not None:
        place = M("file.at_row", row=row_shown)
    scalars = {k: v for k, v in params.items() if isinstance(v, (str, int, float)) and not isinstance(v, bool)}
    problem = ValidationProblem.of(reason, row=row, column=column, sheet=sheet, code=code,
                                   extra={"file": shown, **scalars})
    return cls(M("file.refused", filename=shown, place=place, reason=reason), details=[problem.as_dict()])


def upload_name(filename: str | None) -> str:
    """The uploaded file's name if it is one a merchant's file can have; refused otherwise (it is stored
    as the version's source and shown in the console and in logs)."""
    name = filename or ""
    problem: Msg | None = None
    if not name.strip():
        problem = M("file.name_missing")
    elif len(name) > MAX_FILENAME_CHARS:
        problem = M("file.name_too_long", n=len(name))
    elif any(not ch.isprintable() for ch in name):
        ch = next(ch for ch in name if not ch.isprintable())
        problem = M("file.name_unprintable", character=f"U+{ord(ch):04X}")
    elif "/" in name or "\\" in name or name.strip() in (".", ".."):
        problem = M("file.name_folder")
    if problem is not None:
        raise _refuse(name or "upload", "bad_filename", problem=problem, limit=MAX_FILENAME_CHARS)
    return name.strip()


def file_too_large(filename: str, limit: int) -> UploadTooLarge:
    return _refuse(filename, "file_too_large", cls=UploadTooLarge, limit=limit)  # type: ignore[return-value]


def read_table(
    filename: str, data: bytes, schema: TableSchema, limits: ParseLimits,
) -> tuple[list[TableRow], list[ValidationProblem]]:
    """At most ``limits.max_rows`` located data rows of a CSV/XLSX/JSON/JSONL file, plus header notes.

    Raises ``UploadError`` if the file cannot be read, ``TooManyRows`` as soon as row
    ``max_rows + 1`` is seen, ``ArchiveTooLarge`` for an XLSX that would expand too much; each with
    one located problem (code and parameters) in its details.
    """
    filename = upload_name(filename)
    suffix = PurePath(filename).suffix.lower()
    notes: list[ValidationProblem] = []
    if suffix not in SUPPORTED_SUFFIXES:
        raise _refuse(filename, "unsupported_type", suffix=suffix or "(none)", supported=list(SUPPORTED_SUFFIXES))
    if not data.strip():
        raise _refuse(filename, "empty_file")
    if suffix in _TEXT_SUFFIXES:
        for magic, kind in _MAGIC:
            if data.startswith(magic):
                raise _refuse(filename, "binary_file", kind=M(f"file.kind_{kind}"))
    if suffix == ".csv":
        rows = _csv_rows(filename, data, schema, notes)
    elif suffix == ".xlsx":
        rows = _xlsx_rows(filename, data, schema, limits, notes)
    elif suffix == ".json":
        rows = _json_rows(filename, data, schema, notes)
    else:
        rows = _jsonl_rows(filename, data, schema, notes)
    out: list[TableRow] = []
    for row in rows:
        if len(out) == limits.max_rows:
            raise _refuse(filename, "too_many_rows", cls=TooManyRows, row=row.number, sheet=row.sheet,
                          limit=limits.max_rows)
        out.append(row)
    return out, notes


def _cell_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # Excel stores 1001 as 1001.0
    return str(value).strip()


def _table_rows(
    filename: str, sheet: str | None, table: Iterator[Sequence[Any]], schema: TableSchema,
    notes: list[ValidationProblem], *, unescape: bool = False,
) -> Iterator[TableRow]:
    """Rows of a header-first table (CSV, one XLSX sheet) keyed by canonical field. ``unescape``: the
    cells are CSV text, where our export put a ``'`` before formula-like text (``cells.py``)."""
    try:
        header = list(next(table))
    except StopIteration:
        return
    fields = [schema.field_of(h) for h in header]
    missing = [f for f in schema.required if f not in fields]
    if missing:
        known = [f"{aliases[0]}/{aliases[1]}" for aliases in schema.aliases.values()]
        raise _refuse(filename, "missing_columns", row=1, sheet=sheet, missing=missing,
                      needs=[M("upload.needs_column", field=f, described=schema.describe(f)) for f in missing],
                      found=[str(h)[:50] for h in header if h is not None][:20], known=known)
    columns: dict[str, str] = {}
    for field_name, h in zip(fields, header):
        if field_name and field_name not in columns:
            columns[field_name] = str(h).strip()
    for f, h in zip(fields, header):
        if f is None and str(h or "").strip():
            notes.append(_unknown_column(schema, str(h).strip(), sheet=sheet))
    for number, cells in enumerate(table, start=2):
        if not any(str(c).strip() for c in cells if c is not None):
            continue  # blank line: Excel often leaves them at the end
        values: dict[str, list[str]] = {}
        for field_name, cell in zip(fields, cells):
            if field_name is None or cell is None:
                continue
            if field_name not in schema.multi and field_name in values:
                continue
            values.setdefault(field_name, []).append(_cell_text(unescape_csv_cell(cell) if unescape else cell))
        yield TableRow(sheet=sheet, number=number, values=values, columns=columns)


def _unknown_column(schema: TableSchema, name: str, *, sheet: str | None = None, row: int = 1) -> ValidationProblem:
    known = ", ".join(aliases[0] for aliases in schema.aliases.values())
    return ValidationProblem.of(
        M("problem.unknown_column", name=name, known=known),
        severity="warning", row=row, column=name, sheet=sheet, code="unknown_column")


def _text_stream(filename: str, data: bytes) -> io.TextIOWrapper:
    verdict = detect_encoding(data)
    if verdict.encoding is None:
        if verdict.problem == "bad_encoding":
            raise _refuse(filename, "bad_encoding", encoding=verdict.likely)
        raise _refuse(filename, "binary_file", kind="")  # no kind known: just not text
    return io.TextIOWrapper(io.BytesIO(data), encoding=verdict.encoding, newline="")


def _csv_rows(filename: str, data: bytes, schema: TableSchema, notes: list[ValidationProblem]) -> Iterator[TableRow]:
    stream = _text_stream(filename, data)
    sample = stream.read(4096)
    stream.seek(0)
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",\t;")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(stream, dialect)

    def guarded() -> Iterator[list[str]]:
        try:
            yield from reader
        except csv.Error as exc:
            line = reader.line_num
            if "field larger than field limit" in str(exc):
                raise _refuse(filename, "cell_too_large", row=line, line=line, limit=csv.field_size_limit()) from exc
            raise _refuse(filename, "bad_csv", row=line, line=line, detail=str(exc)) from exc

    return _table_rows(filename, None, guarded(), schema, notes, unescape=True)


def _check_archive(filename: str, zf: zipfile.ZipFile, limits: ParseLimits) -> None:
    """Refuse an XLSX from its zip directory alone, then by a streamed count of sheet rows."""
    infos = zf.infolist()
    total = sum(i.file_size for i in infos)
    if len(infos) > 10_000 or total > limits.max_xlsx_uncompressed_bytes:
        raise _refuse(filename, "xlsx_too_large", cls=ArchiveTooLarge, size_mib=round(total / 2**20),
                      parts=len(infos), limit_mib=round(limits.max_xlsx_uncompressed_bytes / 2**20))
    for info in infos:
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > _LARGE_MEMBER and ratio > limits.max_xlsx_ratio:
            raise _refuse(filename, "xlsx_ratio", cls=ArchiveTooLarge, part=info.filename, ratio=round(ratio),
                          limit=limits.max_xlsx_ratio)
    # Decompressing reads at most the declared sizes checked above (zipfile stops there).
    rows = 0
    for info in infos:
        if not (info.filename.startswith("xl/worksheets/") and info.filename.endswith(".xml")):
            continue
        tail = b""
        with zf.open(info) as fh:
            while chunk := fh.read(1 << 20):
                block = tail + chunk
                rows += len(_ROW_END.findall(block))
                # keep a tail shorter than any match so a tag split over two chunks is counted once
                cut = max(len(block) - 16, 0)
                last = block.rfind(b">", 0, len(block))
                tail = block[max(cut, last + 1):]
                if rows > limits.max_rows + _ROW_SLACK:
                    raise _refuse(filename, "too_many_rows", cls=TooManyRows, row=limits.max_rows + 2,
                                  limit=limits.max_rows)


def _xlsx_rows(
    filename: str, data: bytes, schema: TableSchema, limits: ParseLimits, notes: list[ValidationProblem],
) -> Iterator[TableRow]:
    from openpyxl import load_workbook

    if not data.startswith(b"PK"):
        kind = next((k for magic, k in _MAGIC if data.startswith(magic)), "not_zip")
        raise _refuse(filename, "not_xlsx", detail=M(f"file.is_{kind}"))
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            _check_archive(filename, zf, limits)
    except zipfile.BadZipFile as exc:
        raise _refuse(filename, "not_xlsx", detail=str(exc)) from exc
    try:
        # data_only=False: a formula cell reads as its formula text ("=…") and is reported as one.
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, TypeError) as exc:
        # A zip that is not a workbook (a renamed .zip) has no [Content_Types].xml: KeyError.
        raise _refuse(filename, "not_xlsx", detail=M("file.zip_not_workbook", detail=str(exc)[:200])) from exc
    try:
        sheets_used = 0
        marker = schema.required[0]
        for sheet in workbook.worksheets:
            table = iter(sheet.iter_rows(values_only=True))
            first = next(table, None)
            if first is None or not any(c is not None for c in first):
                continue
            if marker not in [schema.field_of(h) for h in first]:
                continue  # a notes / instructions sheet
            sheets_used += 1
            yield from _table_rows(filename, sheet.title, _chain([list(first)], table), schema, notes)
        if sheets_used == 0:
            raise _refuse(filename, "no_data_sheet", row=1, marker=marker, spellings=schema.describe(marker))
    finally:
        workbook.close()


def _chain(first: list[Sequence[Any]], rest: Iterable[Sequence[Any]]) -> Iterator[Sequence[Any]]:
    yield from first
    yield from rest


def _load_json(filename: str, text: str, line: int | None = None) -> Any:
    at = M("file.on_line", line=line) if line is not None else ""
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as exc:
        row = line if line is not None else exc.lineno
        where = at or M("file.at_line_column", line=row, column=exc.colno)
        raise _refuse(filename, "invalid_json", row=row, line=row, at=where, detail=exc.msg) from exc
    except RecursionError as exc:  # [[[[… thousands deep: the decoder gives up, and so do we
        raise _refuse(filename, "json_too_deep", row=line, at=at, limit=MAX_JSON_DEPTH) from exc
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        raise _refuse(filename, "invalid_json", row=line, at=at, detail=str(exc)[:200]) from exc
    if _depth(payload) > MAX_JSON_DEPTH:
        raise _refuse(filename, "json_too_deep", row=line, at=at, limit=MAX_JSON_DEPTH)
    return payload


def _depth(value: Any) -> int:
    """Nesting depth of decoded JSON, without recursion (so no depth can overflow the stack here)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (list, dict)):
            deepest = max(deepest, depth)
            if deepest > MAX_JSON_DEPTH:
                return deepest
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def _json_rows(filename: str, data: bytes, schema: TableSchema, notes: list[ValidationProblem]) -> Iterator[TableRow]:
    payload = _load_json(filename, _text_stream(filename, data).read())
    if isinstance(payload, dict):
        payload = next((payload[k] for k in ("entries", "faq", "items", "phrases") if k in payload), None)
    if not isinstance(payload, list):
        raise _refuse(filename, "not_a_list")
    for index, item in enumerate(payload, start=1):
        yield _object_row(filename, item, index, schema, notes)


def _jsonl_rows(filename: str, data: bytes, schema: TableSchema, notes: list[ValidationProblem]) -> Iterator[TableRow]:
    for number, line in enumerate(_text_stream(filename, data), start=1):
        if not line.strip():
            continue
        yield _object_row(filename, _load_json(filename, line, number), number, schema, notes)


def _object_row(filename: str, item: Any, number: int, schema: TableSchema, notes: list[ValidationProblem]) -> TableRow:
    if not isinstance(item, dict):
        raise _refuse(filename, "not_an_object", row=number, item=number)
    values: dict[str, list[str]] = {}
    columns: dict[str, str] = {}
    for key, value in item.items():
        name = schema.field_of(key)
        if name is None:
            if not any(n.column == str(key) for n in notes):  # report a JSON key once, not per line
                notes.append(_unknown_column(schema, str(key), row=number))
            continue
        columns.setdefault(name, str(key))
        cells = value if isinstance(value, list) else [value]
        if isinstance(value, bool):
            cells = ["1" if value else "0"]
        for cell in cells:
            if isinstance(cell, (list, dict)):  # str() of it would import Python's repr as text
                raise _refuse(filename, "nested_value", row=number, column=str(key), item=number, field=str(key),
                              kind=M("file.kind_nested_list" if isinstance(cell, list) else "file.kind_object"))
        values.setdefault(name, []).extend("" if c is None else _cell_text(c) for c in cells)
    return TableRow(sheet=None, number=number, values=values, columns=columns)
