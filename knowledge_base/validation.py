"""The rules of one FAQ entry and of a whole knowledge base, for file rows and API edits alike:
``check_entry`` (lengths, counts, id, formulas, compliance of answers), ``KbConsistency`` (unique ids,
a phrasing in one entry only), and the cell conventions (``split_cell``, ``status_text``)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from models.errors import ValidationProblem
from models.messages import M

from .cells import cell_problems
from .compliance import check_text
from .schema import FaqEntry
from .tablefile import ParseLimits

__all__ = ["SEPARATORS", "KbConsistency", "check_entry", "compliance_problems", "split_cell", "status_text",
           "parse_enabled", "phrasing_key"]

# What separates several values in one cell; an API-sent item may not contain them (it could not
# survive an export → import round trip).
SEPARATORS = "|｜\r\n"
_SPLIT = re.compile(r"[|｜\r\n]+")
_TRUE = {"", "启用", "开启", "是", "有效", "1", "true", "yes", "y", "on", "enabled", "active"}
_FALSE = {"停用", "禁用", "关闭", "否", "无效", "0", "false", "no", "n", "off", "disabled", "inactive"}
_ID = re.compile(r"^[\w\-.:]+$")


def phrasing_key(text: str) -> str:
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
            self._phrasings.setdefault(phrasing_key(text), (entry.id, row))

    def check(self, entry: FaqEntry, where: dict[str, Any], columns: dict[str, str]) -> list[ValidationProblem]:
        if entry.id in self._ids:
            first = self._ids[entry.id]
            return [ValidationProblem.of(
                M("problem.duplicate_id", id=entry.id, first=first) if first else M("problem.duplicate_id_api", id=entry.id),
                column=columns.get("id", "id"), value=entry.id, code="duplicate_id", **where)]
        problems = []
        for j, text in enumerate(entry.phrasings):
            owner = self._phrasings.get(phrasing_key(text))
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
        key = phrasing_key(item)
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out
