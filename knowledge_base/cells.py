"""What a spreadsheet cell may hold, in one place: formula injection, control characters, CSV escaping.

Every CSV the service writes goes through :func:`csv_bytes` (a test fails on any other ``csv.writer``),
and every imported cell goes through :func:`cell_problems`, so what the export escapes and what the
import refuses are decided by the same rules:

- **Refused at import** (file rows and API edits): a cell a spreadsheet would run as a formula —
  a line starting with ``=`` or ``@``, or with ``+`` / ``-`` followed by anything formula-like (a
  letter, a cell reference, an operator, brackets, ``|`` or ``!``: ``+A1``, ``-1+A1``, ``+1+1``,
  ``-2+3+cmd|' /C calc'!A0``); and C0/C1 control characters other than tab and line breaks
  (``U+0000`` NUL …), which no spreadsheet can show. Each line counts: the lines of a cell are
  separate answers or similar questions.
- **Escaped at export** (OWASP's CSV-injection guidance): every CSV cell starting with ``=``, ``+``,
  ``-``, ``@``, tab or carriage return gets a leading ``'`` so a spreadsheet shows it as text
  (``-5元优惠`` is accepted text and exported as ``'-5元优惠``), and every cell is quoted so a
  separator or quote inside a cell cannot start a new one. Reading a CSV removes exactly that one
  apostrophe again, so export → import gives the same text.

XLSX cells are written as typed text (never formulas), so they need no apostrophe.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any

from models.errors import ValidationProblem
from models.messages import M

__all__ = ["FORMULA_START", "is_formula", "control_character", "cell_problems", "escape_csv_cell",
           "unescape_csv_cell", "csv_bytes", "CELL_CODES"]

# OWASP: cells beginning with these are interpreted as formulas by Excel, LibreOffice and Sheets.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# After a leading + or -: what makes the rest an expression rather than text such as "-5元优惠".
_FORMULA_TAIL = re.compile(r"[A-Za-z_=+\-*/^&|!()@$:<>\"';,%]")
# C0 and C1 control characters and DEL; tab and line breaks are ordinary cell content.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")

# The problems found here (their sentences: problem.<code> in models/messages.py; parameters in ``extra``).
CELL_CODES = ("formula", "control_character")


def is_formula(text: str) -> bool:
    """Would a spreadsheet evaluate this imported cell? Each line is judged (a cell's lines are separate
    answers or similar questions); leading spaces are ignored, as Excel does."""
    return any(_line_is_formula(line) for line in text.splitlines() or [""])


def _line_is_formula(line: str) -> bool:
    line = line.lstrip(" ")
    if not line:
        return False
    if line[0] in "=@":
        return True
    return line[0] in "+-" and bool(_FORMULA_TAIL.search(line[1:]))


def control_character(text: str) -> tuple[int, str] | None:
    """The first control character (position, character) a cell must not hold, if any."""
    match = _CONTROL.search(text)
    return (match.start(), match.group()) if match else None


def _char_name(ch: str) -> str:
    names = {"\x00": "NUL", "\x1b": "ESC", "\x7f": "DEL", "\x08": "BACKSPACE", "\x0b": "VERTICAL TAB",
             "\x0c": "FORM FEED"}
    return names.get(ch) or unicodedata.name(ch, "control character")


def cell_problems(text: str, *, column: str, where: dict[str, Any]) -> list[ValidationProblem]:
    """The formula and control-character problems of one cell (file row or API field)."""
    problems: list[ValidationProblem] = []
    if is_formula(text):
        start = next((line.lstrip(" ")[:1] for line in text.splitlines() if _line_is_formula(line)), text[:1])
        problems.append(ValidationProblem.of(M("problem.formula", start=start), column=column, value=text[:80],
                                             code="formula", extra={"start": start}, **where))
    found = control_character(text)
    if found is not None:
        position, ch = found
        # position counts characters from 1, as a person reads the cell
        params = {"character": f"U+{ord(ch):04X}", "name": _char_name(ch), "position": position + 1}
        problems.append(ValidationProblem.of(M("problem.control_character", **params), column=column,
                                             value=_CONTROL.sub("\ufffd", text[:80]), code="control_character",
                                             extra=params, **where))
    return problems


def escape_csv_cell(value: Any) -> str:
    """A cell as written to CSV: a leading ``'`` where a spreadsheet would otherwise run it.

    Cells that already start with apostrophes before such a character get one more, so that
    :func:`unescape_csv_cell` gives back exactly the original text.
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)  # a number the service computed: -2 is a number to a spreadsheet, not a formula
    text = "" if value is None else str(value)
    if text.lstrip("'").startswith(FORMULA_START):
        return "'" + text
    return text


def unescape_csv_cell(text: str) -> str:
    """The text of a CSV cell that :func:`escape_csv_cell` wrote (other cells are returned as they are)."""
    if text.startswith("'") and text.lstrip("'").startswith(FORMULA_START):
        return text[1:]
    return text


def csv_bytes(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    """The one CSV writer of the service: UTF-8 with a BOM (Excel then picks the right encoding), every
    cell quoted and escaped (:func:`escape_csv_cell`), CRLF line ends."""
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\r\n", quoting=csv.QUOTE_ALL)
    writer.writerow([escape_csv_cell(h) for h in headers])
    writer.writerows([escape_csv_cell(v) for v in row] for row in rows)
    return buf.getvalue().encode("utf-8-sig")
