"""The FAQ data model shared by parsing, storage and indexing."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

from models.messages import Msg

__all__ = ["FaqEntry", "KbVersion", "Phrasing", "derive_entry_id"]


@dataclass(frozen=True)
class FaqEntry:
    """One FAQ entry: a standard question, its similar phrasings (相似问) and answers.

    ``id`` is stable across versions: it comes from the file's id column, or is derived from
    the standard question so that re-uploading the same FAQ keeps the same ids.
    """

    id: str
    question: str
    answers: tuple[str, ...]
    similar: tuple[str, ...] = ()
    category: str = ""
    enabled: bool = True

    @property
    def phrasings(self) -> tuple[str, ...]:
        """The standard question first, then every similar question: what the index embeds."""
        return (self.question, *self.similar)

    @property
    def answer(self) -> str:
        return self.answers[0]


@dataclass(frozen=True)
class Phrasing:
    """One indexed row: a question text and the entry it belongs to."""

    id: int  # position in the version's index (FAISS id)
    entry_id: str
    text: str
    is_standard: bool


@dataclass(frozen=True)
class KbVersion:
    shop_id: str
    version: int
    status: str  # building | ready | failed
    created_at: datetime
    source: str
    entry_count: int
    phrasing_count: int
    encoder_id: str
    active: bool = False
    note: str = ""
    extra: dict = field(default_factory=dict)
    base_version: int | None = None  # the version it was made from (uploads: the active one then; edits: the edited one)
    source_msg: Msg | None = None  # source and note as catalogue messages (shown in the reader's language)
    note_msg: Msg | None = None

    def source_text(self, lang: str) -> str:
        return self.source_msg.text(lang) if self.source_msg else self.source

    def note_text(self, lang: str) -> str:
        return self.note_msg.text(lang) if self.note_msg else self.note


def derive_entry_id(question: str) -> str:
    """A stable id for an entry whose file gave none: same question → same id across uploads."""
    digest = hashlib.sha1(" ".join(question.split()).encode("utf-8")).hexdigest()
    return f"q-{digest[:10]}"
