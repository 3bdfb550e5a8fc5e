"""Read any merchant table file (CSV, XLSX, JSON, JSONL) into located rows: the file readers the FAQ
upload (``parsing.py``) and quick phrases share, with every limit of an upload (``ParseLimits``).

Merchants export from Excel, so column names come in Chinese or English (``TableSchema``: canonical
field → accepted spellings), multi-valued cells are spread over repeated columns, and CSV comes in
UTF-8, UTF-8 with BOM or GBK/GB18030 (``textfile.py`` judges which by what the text decodes to). A file
that cannot be read at all raises one error whose details hold one located problem (``FILE_REASONS``:
every reason, once).

Reading happens in two stages so a hostile or oversized file costs little:

1. guards that need no parsing: the XLSX zip directory (declared uncompressed size and ratio, read
   with ``zipfile`` before openpyxl ever sees the file) and a streamed count of the sheets' rows;
2. a streamed read of at most ``max_rows + 1`` data rows (CSV through ``csv.reader`` over a text
   stream, XLSX through openpyxl's read-only mode), refused as soon as the limit is passed — before
   any row is validated.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import PurePath
from typing import Any

from models.errors import ArchiveTooLarge, TooManyRows, UploadError, UploadTooLarge, ValidationProblem
from models.messages import M, Msg

from .cells import unescape_csv_cell
from .textfile import detect_encoding

__all__ = ["ParseLimits", "TableSchema", "TableRow", "SUPPORTED_SUFFIXES", "read_table", "upload_name",
           "file_too_large", "FILE_REASONS", "MAX_FILENAME_CHARS"]

SUPPORTED_SUFFIXES = (".csv", ".xlsx", ".json", ".jsonl")

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
