"""``KnowledgeBase``: every knowledge-base operation of a shop behind one object (what routes and the
CLI call): import, versions, entries, single-entry edits, diff, rollback, export, crash recovery."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.encoder import Encoder
from models.errors import ItemNotFound
from models.messages import M

from .editing import (
    EntryEdit,
    VersionDiff,
    add_entry,
    apply_edits,
    clean_entry,
    delete_entry,
    diff_entries,
    update_entry,
)
from .export import ExportFormat, export_faq
from .importer import (
    EditResult,
    ImportMode,
    ImportResult,
    RecoveryReport,
    UploadMode,
    UploadPlan,
    plan_upload,
    activate_version,
    edit_kb,
    import_entries,
    import_kb_file,
    recover_interrupted_builds,
)
from .schema import FaqEntry, KbVersion
from .store import KbStore
from .tablefile import ParseLimits

__all__ = ["KnowledgeBase"]


@dataclass
class KnowledgeBase:
    store: KbStore
    index_root: Path
    encoder: Encoder
    limits: ParseLimits
    normalise: Callable[[str], str] = lambda s: s
    # Called with the shop id after its active version may have changed (import, edit, rollback):
    # the service drops its cached active version there.
    on_change: Callable[[str], None] = lambda shop_id: None

    # An upload removing more entries than this needs confirm_remove (the console asks first).
    confirm_remove_over: int | None = None

    def import_file(self, shop_id: str, filename: str, data: bytes, *, mode: ImportMode = "reject",
                    upload_mode: UploadMode = "replace", confirm_remove: int | None = None,
                    progress: Callable[[int, int], None] | None = None) -> ImportResult:
        result = import_kb_file(self.store, self.index_root, self.encoder, shop_id, filename, data,
                                limits=self.limits, mode=mode, upload_mode=upload_mode, confirm_remove=confirm_remove,
                                confirm_limit=self.confirm_remove_over, normalise=self.normalise, progress=progress)
        if not result.no_changes:
            self.on_change(shop_id)
        return result

    def preview_file(self, shop_id: str, filename: str, data: bytes, *, mode: ImportMode = "reject",
                     upload_mode: UploadMode = "replace") -> UploadPlan:
        """What ``import_file`` would do (added / changed / removed against the active version, the
        validation report), storing nothing."""
        return plan_upload(self.store, shop_id, filename, data, limits=self.limits, mode=upload_mode, on_error=mode)

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
        raise ItemNotFound(M("nf.entry", entry=entry_id, version=version, shop=shop_id))

    def _edit(self, shop_id: str, apply) -> EditResult:  # noqa: ANN001 - Callable[[list[FaqEntry]], EntryEdit]
        result = edit_kb(self.store, self.index_root, self.encoder, shop_id, apply, normalise=self.normalise)
        self.on_change(shop_id)
        return result

    def add_entry(self, shop_id: str, *, question: str, answers: list[str], similar: list[str] | None = None,
                  category: str = "", enabled: bool = True, entry_id: str | None = None) -> EditResult:
        entry, problems = clean_entry(question=question, answers=answers, similar=similar or [], category=category,
                                      enabled=enabled, entry_id=entry_id, limits=self.limits)
        return self._edit(shop_id, lambda entries: add_entry(entries, entry, problems, self.limits))

    def update_entry(self, shop_id: str, entry_id: str, changes: dict[str, Any]) -> EditResult:
        return self._edit(shop_id, lambda entries: update_entry(entries, entry_id, changes, self.limits))

    def delete_entry(self, shop_id: str, entry_id: str) -> EditResult:
        return self._edit(shop_id, lambda entries: delete_entry(entries, entry_id))

    def edit_entries(self, shop_id: str, operations: list[dict[str, Any]]) -> EditResult:
        """Several adds / updates / deletes published as one version: ``{"op": "add", "id"?, "question",
        "answers", …}``, ``{"op": "update", "id", …changes}``, ``{"op": "delete", "id"}``."""
        return self._edit(shop_id, lambda entries: apply_edits(entries, [self._operation(o) for o in operations]))

    def _operation(self, op: dict[str, Any]) -> Callable[[list[FaqEntry]], EntryEdit]:
        kind = op.get("op")
        if kind == "add":
            entry, problems = clean_entry(question=op.get("question", ""), answers=op.get("answers") or [],
                                          similar=op.get("similar") or [], category=op.get("category") or "",
                                          enabled=op.get("enabled", True), entry_id=op.get("id"))
            return lambda entries: add_entry(entries, entry, problems, self.limits)
        if kind == "update":
            changes = {k: v for k, v in op.items() if k not in ("op", "id") and v is not None}
            return lambda entries: update_entry(entries, op["id"], changes, self.limits)
        return lambda entries: delete_entry(entries, op["id"])

    def diff(self, shop_id: str, from_version: int | None, to_version: int | None = None
             ) -> tuple[int, int, VersionDiff]:
        """Entries added, removed and changed from ``from_version`` to ``to_version`` (default: the active
        one); without ``from_version``, from the version ``to_version`` was based on."""
        to_version, new = self.entries(shop_id, to_version)
        if from_version is None:
            base = self.store.get_version(shop_id, to_version).base_version
            if base is None:  # the first version (or one made before bases were recorded): all added
                return 0, to_version, diff_entries([], new)
            from_version = base
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
                                self.store.entries(shop_id, active.version),
                                source=M("version.source.reindex", base=active.version),
                                note=M("version.note.reindexed", encoder=self.encoder.model_id,
                                       previous=active.encoder_id), base_version=active.version,
                                normalise=self.normalise, progress=progress)
        self.on_change(shop_id)
        return active, result

    def export(self, shop_id: str, fmt: ExportFormat, version: int | None = None, *,
               learned: Sequence = ()) -> tuple[int, bytes]:
        """The version's FAQ file; ``learned`` examples ride along in XLSX (a 学习样本 sheet)."""
        version, entries = self.entries(shop_id, version)
        return version, export_faq(entries, fmt, learned=learned)

    def recover(self) -> RecoveryReport:
        return recover_interrupted_builds(self.store, self.index_root)
