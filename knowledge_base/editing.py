"""Single-entry edits of a knowledge base and the diff between two versions (pure functions).

An edit takes the entries of the active version and returns the entries of the next one; the
importer turns that into a new version with an incrementally derived index. Entries sent through
the API pass the same rules as rows of a file (``parsing.check_entry``), plus one of their own: a
similar question or an answer may not contain ``|`` or a line break, because the file format uses
them as separators and such a value could not survive an export → import round trip.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from models.errors import InvalidItem, ItemNotFound, ValidationProblem

from .parsing import SEPARATORS, KbConsistency, ParseLimits, check_entry, split_cell
from .schema import FaqEntry, derive_entry_id

__all__ = ["EntryEdit", "add_entry", "update_entry", "delete_entry", "clean_entry", "EntryDiff", "VersionDiff",
           "diff_entries", "EDITABLE_FIELDS"]

EDITABLE_FIELDS = ("question", "similar", "answers", "category", "enabled")


@dataclass(frozen=True)
class EntryEdit:
    """The result of applying one edit: the next version's entries and what changed."""

    entries: list[FaqEntry]
    action: str  # for the version's source, e.g. "update FAQ-003"
    entry: FaqEntry | None  # the entry as it is now (None after a delete)


def clean_entry(
    *, question: str, answers: Sequence[str], similar: Sequence[str] = (), category: str = "",
    enabled: bool = True, entry_id: str | None = None,
) -> tuple[FaqEntry, list[ValidationProblem]]:
    """An entry from API fields, normalised as a file row is (trimmed, deduplicated), plus the
    problems only API values can have (separators inside one value)."""
    problems: list[ValidationProblem] = []
    for name, values in (("similar", similar), ("answers", answers)):
        for value in values:
            if any(sep in value for sep in SEPARATORS):
                problems.append(ValidationProblem(
                    f"{name} item contains '|' or a line break, which files use to separate several values; "
                    "send them as separate list items", column=name, value=value[:80], code="separator"))
    question = question.strip()
    cleaned_similar = [s for s in split_cell(list(similar)) if "".join(s.split()).lower()
                       != "".join(question.split()).lower()]
    entry = FaqEntry(
        id=(entry_id or "").strip() or (derive_entry_id(question) if question else ""),
        question=question, answers=tuple(split_cell(list(answers))), similar=tuple(cleaned_similar),
        category=category.strip(), enabled=enabled)
    return entry, problems


def _validate(entry: FaqEntry, others: Sequence[FaqEntry], limits: ParseLimits, problems: list[ValidationProblem]) -> None:
    problems = problems + check_entry(entry, limits)
    if not any(p.severity == "error" for p in problems):
        problems += KbConsistency(others).check(entry, {}, {})
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise InvalidItem(f"entry {entry.id or entry.question!r}: {len(errors)} problem(s); nothing was changed",
                          problems)


def _index_of(entries: Sequence[FaqEntry], entry_id: str) -> int:
    for i, entry in enumerate(entries):
        if entry.id == entry_id:
            return i
    raise ItemNotFound(f"entry {entry_id!r} is not in the active version")


def add_entry(entries: Sequence[FaqEntry], entry: FaqEntry, problems: list[ValidationProblem],
              limits: ParseLimits) -> EntryEdit:
    if len(entries) >= limits.max_rows:
        raise InvalidItem(f"the knowledge base already holds {len(entries)} entries, the limit (SMARTREPLY_MAX_ROWS)",
                          [ValidationProblem("too many entries", code="too_many")])
    _validate(entry, entries, limits, problems)
    return EntryEdit(entries=[*entries, entry], action=f"add {entry.id}", entry=entry)


def update_entry(entries: Sequence[FaqEntry], entry_id: str, changes: dict[str, Any],
                 limits: ParseLimits) -> EntryEdit:
    """Apply ``changes`` (a subset of ``EDITABLE_FIELDS``) to one entry; the id and position stay."""
    i = _index_of(entries, entry_id)
    old = entries[i]
    merged = {"question": old.question, "answers": old.answers, "similar": old.similar, "category": old.category,
              "enabled": old.enabled, **{k: v for k, v in changes.items() if k in EDITABLE_FIELDS}}
    entry, problems = clean_entry(entry_id=entry_id, **merged)
    others = [e for j, e in enumerate(entries) if j != i]
    _validate(entry, others, limits, problems)
    if entry == old:
        action = f"update {entry_id} (no change)"
    elif set(changes) == {"enabled"}:
        action = f"{'enable' if entry.enabled else 'disable'} {entry_id}"
    else:
        action = f"update {entry_id}"
    return EntryEdit(entries=[*entries[:i], entry, *entries[i + 1:]], action=action, entry=entry)


def delete_entry(entries: Sequence[FaqEntry], entry_id: str) -> EntryEdit:
    i = _index_of(entries, entry_id)
    return EntryEdit(entries=[*entries[:i], *entries[i + 1:]], action=f"delete {entry_id}", entry=None)


# -- diff --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EntryDiff:
    entry_id: str
    before: FaqEntry
    after: FaqEntry
    fields: tuple[str, ...]  # which of question, similar, answers, category, enabled differ


@dataclass
class VersionDiff:
    added: list[FaqEntry] = field(default_factory=list)
    removed: list[FaqEntry] = field(default_factory=list)
    changed: list[EntryDiff] = field(default_factory=list)
    unchanged: int = 0


def diff_entries(old: Sequence[FaqEntry], new: Sequence[FaqEntry]) -> VersionDiff:
    """Entries added, removed and changed (by id) going from ``old`` to ``new``; order is ignored."""
    before = {e.id: e for e in old}
    after = {e.id: e for e in new}
    diff = VersionDiff()
    for entry in new:
        prev = before.get(entry.id)
        if prev is None:
            diff.added.append(entry)
            continue
        fields = tuple(f for f in EDITABLE_FIELDS if getattr(prev, f) != getattr(entry, f))
        if fields:
            diff.changed.append(EntryDiff(entry.id, prev, entry, fields))
        else:
            diff.unchanged += 1
    diff.removed = [e for e in old if e.id not in after]
    return diff
