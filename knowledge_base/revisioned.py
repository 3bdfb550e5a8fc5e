"""What a shop's revisioned collection offers, written once: quick phrases (``QuickPhraseBook``) and
auto-reply rules (``RuleBook``) are both whole sets stored per revision (``KbStore.change_collection``),
listed, looked up by id, deleted, restored to an earlier revision and listed by revision the same way.
A book says what it stores (``kind``), how a stored item becomes its object and how a missing one is
named; it adds its own create and update (each kind validates its own way)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from models.errors import ItemNotFound

from .store import KbStore, Revision
from .tables import COLLECTION_KINDS

__all__ = ["RevisionedBook", "Change"]

T = TypeVar("T")
Change = Callable[[list[dict]], tuple[list[dict], str]]  # stored items → (new items, what was done)


class RevisionedBook(Generic[T]):
    kind: str  # a key of COLLECTION_KINDS

    def __init__(self, store: KbStore) -> None:
        self.store = store

    # -- what a book defines ---------------------------------------------------------------------
    def _from_item(self, item: dict[str, Any]) -> T:
        raise NotImplementedError

    def _not_found(self, shop_id: str, item_id: str) -> ItemNotFound:
        raise NotImplementedError

    def _change(self, shop_id: str, change: Change) -> tuple[int, list[dict]]:
        """Write a new revision (a book that caches what it serves forgets it here)."""
        return self.store.change_collection(shop_id, self.kind, change)

    # -- written once ----------------------------------------------------------------------------
    @property
    def _id_key(self) -> str:
        return COLLECTION_KINDS[self.kind][1]

    def list(self, shop_id: str, revision: int | None = None) -> tuple[int | None, list[T]]:
        self.store.require_shop(shop_id)
        rev, items = self.store.collection(shop_id, self.kind, revision)
        return rev, [self._from_item(i) for i in items]

    def get(self, shop_id: str, item_id: str) -> T:
        for item in self.list(shop_id)[1]:
            if item.id == item_id:  # type: ignore[attr-defined]
                return item
        raise self._not_found(shop_id, item_id)

    def revisions(self, shop_id: str) -> list[Revision]:
        self.store.require_shop(shop_id)
        return self.store.revisions(shop_id, self.kind)

    def delete(self, shop_id: str, item_id: str) -> int:
        self.store.require_shop(shop_id)

        def change(items: list[dict]) -> tuple[list[dict], str]:
            kept = [i for i in items if i[self._id_key] != item_id]
            if len(kept) == len(items):
                raise self._not_found(shop_id, item_id)
            return kept, f"delete {item_id}"

        return self._change(shop_id, change)[0]

    def restore(self, shop_id: str, revision: int) -> tuple[int, list[T]]:
        """A new revision equal to ``revision`` (the history is never rewritten)."""
        self.store.require_shop(shop_id)
        _, old = self.store.collection(shop_id, self.kind, revision)
        new_revision, items = self._change(shop_id, lambda _current: (old, f"restore revision {revision}"))
        return new_revision, [self._from_item(i) for i in items]
