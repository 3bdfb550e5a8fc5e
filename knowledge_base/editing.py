"""Single-entry edits of a knowledge base and the diff between two versions (pure functions).

An edit takes the entries of the active version and returns the entries of the next one; the
importer turns that into a new version with an incrementally derived index. Entries sent through
the API pass the same rules as rows of a file (``parsing.check_entry``), plus one of their own: a
similar question or an answer may not contain ``|`` or a line break, because the file format uses
them as separators and such a value could not survive an export → import round trip.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from models.errors import InvalidItem, ItemExists, ItemNotFound, ValidationProblem
from models.messages import M, Msg

from .schema import FaqEntry, derive_entry_id
from .tablefile import ParseLimits
from .validation import SEPARATORS, KbConsistency, check_entry, split_cell

__all__ = ["EntryEdit", "add_entry", "update_entry", "delete_entry", "apply_edits", "clean_entry", "EntryDiff", "VersionDiff",
           "diff_entries", "EDITABLE_FIELDS"]

EDITABLE_FIELDS = ("question", "similar", "answers", "category", "enabled")


@dataclass(frozen=True)
class EntryEdit:
    """The result of applying one edit: the next version's entries and what changed."""

    entries: list[FaqEntry]
    action: Msg  # for the version's source, e.g. "update FAQ-003"
    entry: FaqEntry | None  # the entry as it is now (None after a delete)
    actions: tuple[Msg, ...] = ()  # several edits published as one version (``apply_edits``)


def clean_entry(
    *, question: str, answers: Sequence[str], similar: Sequence[str] = (), category: str = "",
    enabled: bool = True, entry_id: str | None = None, limits: ParseLimits | None = None,
) -> tuple[FaqEntry, list[ValidationProblem]]:
    """An entry from API fields, normalised as a file row is (trimmed, deduplicated), plus the
    problems only API values can have (separators inside one value; more list items than allowed,
    counted as sent, before duplicates are dropped, as the API schema's maxItems says)."""
    problems: list[ValidationProblem] = []
    if limits is not None:
        for name, values, most, code in (("similar", similar, limits.max_similar, "problem.too_many_similar"),
                                         ("answers", answers, limits.max_answers, "problem.too_many_answers")):
            if len(values) > most:
                problems.append(ValidationProblem.of(M(code, n=len(values), limit=most), column=name, code="too_many"))
    for name, values in (("similar", similar), ("answers", answers)):
        for value in values:
            if any(sep in value for sep in SEPARATORS):
                problems.append(ValidationProblem.of(M("problem.separator", field=name), column=name,
                                                     value=value[:80], code="separator"))
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
        # Valid on its own, but an id or phrasing the shop already has: a conflict with the shop's state.
        cls = ItemExists if all(p.code in ("duplicate_id", "conflict") for p in errors) else InvalidItem
        raise cls(M("item.invalid", subject=M("item.entry", name=entry.id or entry.question), n=len(errors)), problems)


def _index_of(entries: Sequence[FaqEntry], entry_id: str) -> int:
    for i, entry in enumerate(entries):
        if entry.id == entry_id:
            return i
    raise ItemNotFound(M("nf.entry_active", entry=entry_id))


def add_entry(entries: Sequence[FaqEntry], entry: FaqEntry, problems: list[ValidationProblem],
              limits: ParseLimits) -> EntryEdit:
    if len(entries) >= limits.max_rows:
        raise InvalidItem(M("item.kb_full", n=len(entries)),
                          [ValidationProblem.of(M("problem.too_many_entries"), code="too_many")])
    _validate(entry, entries, limits, problems)
    return EntryEdit(entries=[*entries, entry], action=M("edit.add", entry=entry.id), entry=entry)


def update_entry(entries: Sequence[FaqEntry], entry_id: str, changes: dict[str, Any],
                 limits: ParseLimits) -> EntryEdit:
    """Apply ``changes`` (a subset of ``EDITABLE_FIELDS``) to one entry; the id and position stay."""
    i = _index_of(entries, entry_id)
    old = entries[i]
    merged = {"question": old.question, "answers": old.answers, "similar": old.similar, "category": old.category,
              "enabled": old.enabled, **{k: v for k, v in changes.items() if k in EDITABLE_FIELDS}}
    sent = {k: v for k, v in changes.items() if k in ("similar", "answers")}
    entry, problems = clean_entry(entry_id=entry_id, **merged)
    if sent:
        counted = clean_entry(question="", answers=sent.get("answers", ()), similar=sent.get("similar", ()),
                              limits=limits)[1]
        problems += [p for p in counted if p.code == "too_many"]
    others = [e for j, e in enumerate(entries) if j != i]
    _validate(entry, others, limits, problems)
    if entry == old:
        action = M("edit.update_nochange", entry=entry_id)
    elif set(changes) == {"enabled"}:
        action = M("edit.enable" if entry.enabled else "edit.disable", entry=entry_id)
    else:
        action = M("edit.update", entry=entry_id)
    return EntryEdit(entries=[*entries[:i], entry, *entries[i + 1:]], action=action, entry=entry)


def delete_entry(entries: Sequence[FaqEntry], entry_id: str) -> EntryEdit:
    i = _index_of(entries, entry_id)
    return EntryEdit(entries=[*entries[:i], *entries[i + 1:]], action=M("edit.delete", entry=entry_id), entry=None)


def apply_edits(entries: Sequence[FaqEntry], edits: Sequence[Callable[[list[FaqEntry]], EntryEdit]]) -> EntryEdit:
    """Several edits applied in order, as one next version (a merchant's batch of changes published
    at once instead of a version per keystroke). The first invalid edit rejects the whole batch."""
    if not edits:
        raise InvalidItem(M("item.edits_empty"), [])
    current = list(entries)
    actions: list[Msg] = []
    last: EntryEdit | None = None
    for edit in edits:
        last = edit(current)
        current = last.entries
        actions.append(last.action)
    return EntryEdit(entries=current, action=actions[-1], entry=last.entry if last else None, actions=tuple(actions))


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
