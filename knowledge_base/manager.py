"""``KnowledgeBase``: every knowledge-base operation of a shop behind one object (what routes and the
CLI call): import, versions, entries, single-entry edits, diff, rollback, export, crash recovery."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.errors import ItemNotFound

from .editing import VersionDiff, add_entry, clean_entry, delete_entry, diff_entries, update_entry
from .export import ExportFormat, export_faq
from .importer import (
    EditResult,
    ImportMode,
    ImportResult,
    RecoveryReport,
    activate_version,
    edit_kb,
    import_entries,
    import_kb_file,
    recover_interrupted_builds,
)
from .index import TextEncoder
from .parsing import ParseLimits
from .schema import FaqEntry, KbVersion
from .store import KbStore

__all__ = ["KnowledgeBase"]


@dataclass
class KnowledgeBase:
    store: KbStore
    index_root: Path
    encoder: TextEncoder
    limits: ParseLimits
    normalise: Callable[[str], str] = lambda s: s
    # Called with the shop id after its active version may have changed (import, edit, rollback):
    # the service drops its cached active version there.
    on_change: Callable[[str], None] = lambda shop_id: None

    def import_file(self, shop_id: str, filename: str, data: bytes, *, mode: ImportMode = "reject",
                    progress: Callable[[int, int], None] | None = None) -> ImportResult:
        result = import_kb_file(self.store, self.index_root, self.encoder, shop_id, filename, data,
                                limits=self.limits, mode=mode, normalise=self.normalise, progress=progress)
        self.on_change(shop_id)
        return result

    def versions(self, shop_id: str) -> list[KbVersion]:
        return self.store.list_versions(shop_id)

    def version(self, shop_id: str, version: int) -> KbVersion:
        return self.store.get_version(shop_id, version)

    def entries(self, shop_id: str, version: int | None = None) -> tuple[int, list[FaqEntry]]:
        """Entries of a version (default: the active one) in file order."""
        if version is None:
            version = self.store.require_active_version(shop_id)
        else:
            self.store.get_version(shop_id, version)  # VersionNotFound if it does not exist
        return version, self.store.entries(shop_id, version)

    def entry(self, shop_id: str, entry_id: str, version: int | None = None) -> tuple[int, FaqEntry]:
        version, entries = self.entries(shop_id, version)
        for entry in entries:
            if entry.id == entry_id:
                return version, entry
        raise ItemNotFound(f"entry {entry_id!r} is not in version {version} of shop {shop_id!r}")

    def _edit(self, shop_id: str, apply) -> EditResult:  # noqa: ANN001 - Callable[[list[FaqEntry]], EntryEdit]
        result = edit_kb(self.store, self.index_root, self.encoder, shop_id, apply, normalise=self.normalise)
        self.on_change(shop_id)
        return result

    def add_entry(self, shop_id: str, *, question: str, answers: list[str], similar: list[str] | None = None,
                  category: str = "", enabled: bool = True, entry_id: str | None = None) -> EditResult:
        entry, problems = clean_entry(question=question, answers=answers, similar=similar or [], category=category,
                                      enabled=enabled, entry_id=entry_id)
        return self._edit(shop_id, lambda entries: add_entry(entries, entry, problems, self.limits))

    def update_entry(self, shop_id: str, entry_id: str, changes: dict[str, Any]) -> EditResult:
        return self._edit(shop_id, lambda entries: update_entry(entries, entry_id, changes, self.limits))

    def delete_entry(self, shop_id: str, entry_id: str) -> EditResult:
        return self._edit(shop_id, lambda entries: delete_entry(entries, entry_id))

    def diff(self, shop_id: str, from_version: int, to_version: int | None = None) -> tuple[int, int, VersionDiff]:
        to_version, new = self.entries(shop_id, to_version)
        from_version, old = self.entries(shop_id, from_version)
        return from_version, to_version, diff_entries(old, new)

    def activate(self, shop_id: str, version: int) -> KbVersion:
        result = activate_version(self.store, self.index_root, self.encoder.model_id, shop_id, version)
        self.on_change(shop_id)
        return result

    def reindex(self, shop_id: str, *, progress: Callable[[int, int], None] | None = None
                ) -> tuple[KbVersion, ImportResult | None]:
        """Embed the active version's entries again with this encoder, as a new active version.

        After switching ``SMARTREPLY_ENCODER`` every index built by the old one is refused (its vectors
        mean nothing to the new model); this rebuilds one shop without its FAQ file. Returns the version
        it started from and the import, or None when that version was built by this encoder already.
        """
        active = self.store.get_version(shop_id, self.store.require_active_version(shop_id))
        if active.encoder_id == self.encoder.model_id:
            return active, None
        result = import_entries(self.store, self.index_root, self.encoder, shop_id,
                                self.store.entries(shop_id, active.version), source=f"reindex of v{active.version}",
                                note=f"re-embedded with {self.encoder.model_id} (was {active.encoder_id})",
                                normalise=self.normalise, progress=progress)
        self.on_change(shop_id)
        return active, result

    def export(self, shop_id: str, fmt: ExportFormat, version: int | None = None) -> tuple[int, bytes]:
        version, entries = self.entries(shop_id, version)
        return version, export_faq(entries, fmt)

    def recover(self) -> RecoveryReport:
        return recover_interrupted_builds(self.store, self.index_root)
