"""A shop's own settings, kept by three books: the time zone rule windows are judged in (``RuleBook``),
the response-time targets (``DeskLog``) and whether agents' picks are auto-approved as learned examples
(``LearningBook``). Read and changed together, all or nothing for the targets."""

from __future__ import annotations

from dataclasses import dataclass

from .desk import DeskLog, Targets
from .learning import LearningBook
from .rulebook import RuleBook
from .store import KbStore

__all__ = ["ShopSettings", "ShopSettingsBook"]


@dataclass(frozen=True)
class ShopSettings:
    shop_id: str
    timezone: str
    targets: Targets
    learning_auto_approve: bool


class ShopSettingsBook:
    def __init__(self, store: KbStore, desk: DeskLog, rules: RuleBook, learning: LearningBook) -> None:
        self.store = store
        self.desk = desk
        self.rules = rules
        self.learning = learning

    def get(self, shop_id: str) -> ShopSettings:
        self.store.require_shop(shop_id)
        return self._current(shop_id)

    def _current(self, shop_id: str) -> ShopSettings:
        return ShopSettings(shop_id=shop_id, timezone=self.rules.timezone(shop_id), targets=self.desk.targets(shop_id),
                            learning_auto_approve=self.learning.auto_approve(shop_id))

    def change(self, shop_id: str, *, timezone: str | None = None, targets: dict[str, int | None] | None = None,
               learning_auto_approve: bool | None = None) -> ShopSettings:
        """Change what is given (targets are checked together first: nothing changes on an error)."""
        targets = targets or {}
        self.store.require_shop(shop_id)
        self.desk.check_targets(shop_id, **targets)
        if timezone is not None:
            self.rules.set_timezone(shop_id, timezone)  # checks the zone before storing it
        if targets:
            self.desk.set_targets(shop_id, **targets)
        if learning_auto_approve is not None:
            self.learning.set_auto_approve(shop_id, learning_auto_approve)
        return self._current(shop_id)
