"""The merchant's review of learned examples against the shop's knowledge base: approve / reject /
move one (checked against the active version's entries), promote one into its entry's 相似问 as a new
version, export them all. What the learned-examples routes call."""

from __future__ import annotations

from typing import Literal

from models.errors import Conflict
from models.messages import M

from .export import export_learned
from .learning import LearnedExample, LearningBook
from .manager import KnowledgeBase

__all__ = ["LearnedReview"]


class LearnedReview:
    def __init__(self, learning: LearningBook, kb: KnowledgeBase) -> None:
        self.learning = learning
        self.kb = kb

    def decide(self, shop_id: str, example_id: str, action: Literal["approve", "reject", "move"], *,
               entry_id: str | None = None) -> LearnedExample:
        known = None
        if action != "reject":
            _, entries = self.kb.entries(shop_id)
            known = {e.id for e in entries}
        return self.learning.decide(shop_id, example_id, action, entry_id=entry_id, known_entries=known)

    def promote(self, shop_id: str, example_id: str) -> tuple[LearnedExample, int]:
        """Copy an example into its entry's 相似问 as a new KB version (the merchant's decision)."""
        example = self.learning.get(shop_id, example_id)
        if example.status in ("rejected", "promoted"):
            raise Conflict(M("learning.not_promotable", item=example_id, status=M(f"learning.status.{example.status}")))
        _, entry = self.kb.entry(shop_id, example.entry_id)
        if example.text in entry.phrasings:
            version = self.kb.store.require_active_version(shop_id)
        else:
            version = self.kb.update_entry(shop_id, example.entry_id,
                                           {"similar": [*entry.similar, example.text]}).version
        return self.learning.mark_promoted(shop_id, example_id), version

    def export(self, shop_id: str, fmt: str) -> bytes:
        items, _ = self.learning.list(shop_id, limit=1_000_000)
        return export_learned(items, fmt)
