"""Quick phrases (快捷短语): the canned texts an agent inserts with a click or a shortcut code.

Each phrase has a text, an optional group (分组) and an optional shortcut code unique in the shop.
A shop holds at most ``max_phrases`` (Feige allows 50, 千牛 200; the default is 200). The set is
versioned like a knowledge base: every change (create, update, delete, import, restore) writes a new
revision of the whole set, so the history can be listed and any revision restored.

Files use the FAQ readers (``parsing.read_table``) with their own columns; an import replaces the
whole set, in ``reject`` (default) or ``partial`` mode, exactly like a FAQ upload.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from models.errors import InvalidItem, InvalidUpload, ItemExists, ItemNotFound, LimitExceeded, ValidationProblem
from models.messages import M

from .cells import cell_problems
from .export import ExportFormat, write_table
from .revisioned import Change, RevisionedBook
from .store import KbStore
from .tablefile import ParseLimits, TableRow, TableSchema, read_table
from .validation import compliance_problems

__all__ = ["QuickPhrase", "QuickPhraseLimits", "QuickPhraseBook", "QuickPhraseImport", "QP_SCHEMA", "QP_HEADERS",
           "check_phrases"]

QP_SCHEMA = TableSchema("quick phrases", {
    "id": ("编号", "id", "phrase_id"),
    "group": ("分组", "分类", "group", "category"),
    "shortcut": ("快捷编码", "快捷键", "编码", "shortcut", "code"),
    "text": ("内容", "短语", "快捷短语", "回复内容", "text", "content", "phrase"),
}, ("text",))
QP_HEADERS = ["编号", "分组", "快捷编码", "内容"]
_SHORTCUT = re.compile(r"^[A-Za-z0-9_/#.\-]{1,16}$")
_ID = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
_KIND = "quick_phrases"


@dataclass(frozen=True)
class QuickPhrase:
    id: str
    text: str
    group: str = ""
    shortcut: str = ""


@dataclass(frozen=True)
class QuickPhraseLimits:
    max_phrases: int = 200
    max_chars: int = 500
    max_group_chars: int = 30


@dataclass
class QuickPhraseImport:
    revision: int
    phrases: int
    warnings: list[ValidationProblem] = field(default_factory=list)
    skipped: list[ValidationProblem] = field(default_factory=list)


def _new_id() -> str:
    return f"qp-{uuid.uuid4().hex[:10]}"


def _check_one(p: QuickPhrase, limits: QuickPhraseLimits, parse_limits: ParseLimits, where: dict[str, Any],
               columns: dict[str, str]) -> list[ValidationProblem]:
    def col(name: str) -> str:
        return columns.get(name, name)

    problems: list[ValidationProblem] = []
    if not _ID.match(p.id):
        problems.append(ValidationProblem.of(M("problem.qp_bad_id", id=p.id[:80]), column=col("id"),
                                          value=p.id[:80], code="bad_id", **where))
    if not p.text:
        problems.append(ValidationProblem.of(M("problem.missing_text"), column=col("text"), code="missing_text", **where))
    elif len(p.text) > limits.max_chars:
        problems.append(ValidationProblem.of(M("problem.text_too_long", n=len(p.text), limit=limits.max_chars),
                                          column=col("text"), value=p.text[:80], code="too_long", **where))
    if len(p.group) > limits.max_group_chars:
        problems.append(ValidationProblem.of(M("problem.group_too_long", n=len(p.group), limit=limits.max_group_chars),
                                          column=col("group"), value=p.group[:80], code="too_long", **where))
    if p.shortcut and not _SHORTCUT.match(p.shortcut):
        problems.append(ValidationProblem.of(
            M("problem.bad_shortcut", shortcut=p.shortcut[:40]), column=col("shortcut"),
            value=p.shortcut[:40], code="bad_shortcut", **where))
    for name, value in (("text", p.text), ("group", p.group), ("shortcut", p.shortcut)):
        problems += cell_problems(value, column=col(name), where=where)
    problems += compliance_problems(p.text, parse_limits, column=col("text"), where=where)
    return problems


def check_phrases(
    phrases: Sequence[QuickPhrase], limits: QuickPhraseLimits, parse_limits: ParseLimits,
    where: Sequence[dict[str, Any]] | None = None, columns: dict[str, str] | None = None,
) -> tuple[list[bool], list[ValidationProblem]]:
    """Per phrase: is it valid; and every problem (per phrase, then duplicate ids and shortcuts)."""
    columns = columns or {}
    where = where or [{} for _ in phrases]
    ok: list[bool] = []
    problems: list[ValidationProblem] = []
    ids: set[str] = set()
    shortcuts: dict[str, str] = {}
    texts: set[tuple[str, str]] = set()
    for p, loc in zip(phrases, where):
        own = _check_one(p, limits, parse_limits, loc, columns)
        if p.id in ids:
            own.append(ValidationProblem.of(M("problem.qp_duplicate_id", id=p.id), column=columns.get("id", "id"), value=p.id,
                                         code="duplicate_id", **loc))
        key = p.shortcut.lower()
        if key and key in shortcuts:
            own.append(ValidationProblem.of(
                M("problem.duplicate_shortcut", shortcut=p.shortcut, owner=shortcuts[key]),
                column=columns.get("shortcut", "shortcut"), value=p.shortcut, code="duplicate_shortcut", **loc))
        if (p.group, p.text) in texts:
            own.append(ValidationProblem.of(M("problem.duplicate_text"), severity="warning",
                                         column=columns.get("text", "text"), value=p.text[:80],
                                         code="duplicate_text", **loc))
        valid = not any(x.severity == "error" for x in own)
        if valid:
            ids.add(p.id)
            if key:
                shortcuts[key] = p.id
            texts.add((p.group, p.text))
        ok.append(valid)
        problems += own
    return ok, problems


def _to_item(p: QuickPhrase) -> dict[str, Any]:
    return {"phrase_id": p.id, "group_name": p.group, "shortcut": p.shortcut, "text": p.text}


def _from_item(item: dict[str, Any]) -> QuickPhrase:
    return QuickPhrase(id=item["phrase_id"], text=item["text"], group=item["group_name"] or "",
                       shortcut=item["shortcut"] or "")


class QuickPhraseBook(RevisionedBook[QuickPhrase]):
    """CRUD, bulk import/export and revisions of each shop's quick phrases (list, get, delete, restore and
    revisions: ``RevisionedBook``)."""

    kind = _KIND

    def __init__(self, store: KbStore, limits: QuickPhraseLimits | None = None,
                 parse_limits: ParseLimits | None = None, *,
                 on_change: Callable[[str], None] | None = None) -> None:
        super().__init__(store)
        self.limits = limits or QuickPhraseLimits()
        self.parse_limits = parse_limits or ParseLimits()
        # Told after every new revision (the suggestion pipeline serves the shop's phrases).
        self.on_change = on_change or (lambda shop_id: None)

    def _from_item(self, item: dict[str, Any]) -> QuickPhrase:
        return _from_item(item)

    def _not_found(self, shop_id: str, item_id: str) -> ItemNotFound:
        return ItemNotFound(M("nf.quick_phrase", shop=shop_id, item=item_id))

    def _change(self, shop_id: str, change: Change) -> tuple[int, list[dict]]:
        result = super()._change(shop_id, change)
        self.on_change(shop_id)
        return result

    def _write(self, shop_id: str, change) -> tuple[int, list[QuickPhrase]]:  # noqa: ANN001 - callable
        def apply(items: list[dict]) -> tuple[list[dict], str]:
            phrases, action = change([_from_item(i) for i in items])
            return [_to_item(p) for p in phrases], action

        revision, items = self._change(shop_id, apply)
        return revision, [_from_item(i) for i in items]

    def _validated(self, phrases: list[QuickPhrase], subject: str) -> None:
        if len(phrases) > self.limits.max_phrases:
            raise LimitExceeded(M("quick.limit", limit=self.limits.max_phrases))
        ok, problems = check_phrases(phrases, self.limits, self.parse_limits)
        errors = [p for p in problems if p.severity == "error"]
        if errors:
            taken = all(p.code in ("duplicate_id", "duplicate_shortcut") for p in errors)
            raise (ItemExists if taken else InvalidItem)(M("item.invalid", subject=subject, n=len(errors)), problems)

    def create(self, shop_id: str, text: str, *, group: str = "", shortcut: str = "",
               phrase_id: str | None = None) -> tuple[int, QuickPhrase]:
        phrase = QuickPhrase(id=phrase_id or _new_id(), text=text.strip(), group=group.strip(),
                             shortcut=shortcut.strip())

        def change(phrases: list[QuickPhrase]) -> tuple[list[QuickPhrase], str]:
            new = [*phrases, phrase]
            self._validated(new, M("item.quick_phrase", name=phrase.id))
            return new, f"create {phrase.id}"

        revision, _ = self._write(shop_id, change)
        return revision, phrase

    def update(self, shop_id: str, phrase_id: str, changes: dict[str, str]) -> tuple[int, QuickPhrase]:
        self.store.require_shop(shop_id)
        result: list[QuickPhrase] = []

        def change(phrases: list[QuickPhrase]) -> tuple[list[QuickPhrase], str]:
            for i, p in enumerate(phrases):
                if p.id == phrase_id:
                    new_p = replace(p, **{k: v.strip() for k, v in changes.items()
                                          if k in ("text", "group", "shortcut")})
                    new = [*phrases[:i], new_p, *phrases[i + 1:]]
                    self._validated(new, M("item.quick_phrase", name=phrase_id))
                    result.append(new_p)
                    return new, f"update {phrase_id}"
            raise self._not_found(shop_id, phrase_id)

        revision, _ = self._write(shop_id, change)
        return revision, result[0]

    def import_file(self, shop_id: str, filename: str, data: bytes, *, mode: str = "reject") -> QuickPhraseImport:
        """Replace the shop's quick phrases with the file's (a new revision)."""
        rows, notes = read_table(filename, data, QP_SCHEMA, self.parse_limits)
        phrases = [self._phrase_of(r) for r in rows]
        columns = rows[0].columns if rows else {}
        ok, problems = check_phrases(phrases, self.limits, self.parse_limits, [r.where() for r in rows], columns)
        problems = notes + problems
        errors = [p for p in problems if p.severity == "error"]
        if not rows:
            raise InvalidUpload(M("quick.no_rows", filename=filename), problems)
        if errors and mode != "partial":
            raise InvalidUpload(M("quick.invalid_file", filename=filename, n=len(errors)), problems)
        kept = [p for p, good in zip(phrases, ok) if good]
        if not kept:
            raise InvalidUpload(M("quick.no_valid", filename=filename), problems)
        if len(kept) > self.limits.max_phrases:
            raise LimitExceeded(M("quick.file_limit", filename=filename, n=len(kept), limit=self.limits.max_phrases))
        revision, _ = self._write(shop_id, lambda _old: (kept, f"import {filename}"[:300]))
        return QuickPhraseImport(revision=revision, phrases=len(kept),
                                 warnings=[p for p in problems if p.severity != "error"], skipped=errors)

    @staticmethod
    def _phrase_of(row: TableRow) -> QuickPhrase:
        return QuickPhrase(id=row.first("id") or _new_id(), text=row.first("text"), group=row.first("group"),
                           shortcut=row.first("shortcut"))

    def export(self, shop_id: str, fmt: ExportFormat) -> bytes:
        _, phrases = self.list(shop_id)
        return write_table(fmt, QP_HEADERS, [[p.id, p.group, p.shortcut, p.text] for p in phrases],
                           sheet="快捷短语")

