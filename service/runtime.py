"""Builds the long-lived parts (store, encoder, suggester) from settings, for the app and the CLI."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from knowledge_base.importer import ImportMode, ImportResult, RecoveryReport, file_digest
from knowledge_base.manager import KnowledgeBase
from knowledge_base.parsing import ParseLimits
from knowledge_base.quick_phrases import QuickPhraseBook, QuickPhraseLimits
from knowledge_base.rulebook import RuleBook
from knowledge_base.rules import RuleLimits
from knowledge_base.store import KbStore
from models.encoder import Encoder, load_encoder
from models.normalize import normalize_text

from .config import Settings
from .pipeline import Suggester

__all__ = ["Runtime", "DEMO_SHOP_ID", "DEMO_FAQ_PATH"]

logger = logging.getLogger(__name__)

DEMO_SHOP_ID = "demo"
DEMO_FAQ_PATH = Path(__file__).resolve().parent.parent / "knowledge_base" / "demo" / "demo_shop.csv"


@dataclass
class Runtime:
    settings: Settings

    @cached_property
    def store(self) -> KbStore:
        if self.settings.database_url.startswith("sqlite:///"):
            Path(self.settings.database_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        return KbStore(self.settings.database_url)

    @cached_property
    def encoder(self) -> Encoder:
        _pin_faiss_threads(self.settings.encoder_threads)
        return load_encoder(
            self.settings.encoder,
            backend=self.settings.encoder_backend,
            precision=self.settings.onnx_precision,
            artifacts_dir=self.settings.artifacts_dir,
            threads=self.settings.encoder_threads,
        )

    @cached_property
    def suggester(self) -> Suggester:
        return Suggester(self.store, self.settings.index_dir, self.encoder, candidates=self.settings.candidates,
                         normalise=normalize_text, search_threads=self.settings.encoder_threads,
                         version_ttl=self.settings.active_version_ttl)

    @property
    def parse_limits(self) -> ParseLimits:
        s = self.settings
        return ParseLimits(max_rows=s.max_rows, max_question_chars=s.max_question_chars,
                           max_answer_chars=s.max_answer_chars, max_similar=s.max_similar_per_entry,
                           max_answers=s.max_answers_per_entry, max_category_chars=s.max_category_chars,
                           max_xlsx_uncompressed_bytes=s.max_xlsx_uncompressed_bytes, max_xlsx_ratio=s.max_xlsx_ratio,
                           compliance_warning_kinds=frozenset(s.kb_compliance_warning_kinds))

    @cached_property
    def kb(self) -> KnowledgeBase:
        """Imports, versions, single-entry edits, diff, rollback, export of every shop's FAQ."""
        return KnowledgeBase(self.store, self.settings.index_dir, self.encoder, self.parse_limits,
                             normalise=normalize_text, on_change=self._active_version_changed)

    def _active_version_changed(self, shop_id: str) -> None:
        if "suggester" in self.__dict__:
            self.suggester.forget(shop_id)

    @cached_property
    def quick_phrases(self) -> QuickPhraseBook:
        s = self.settings
        return QuickPhraseBook(self.store, QuickPhraseLimits(max_phrases=s.max_quick_phrases,
                                                             max_chars=s.max_quick_phrase_chars), self.parse_limits)

    @cached_property
    def rules(self) -> RuleBook:
        s = self.settings
        return RuleBook(self.store, self.encoder, normalise=normalize_text,
                        limits=RuleLimits(max_rules=s.max_rules, max_reply_chars=s.max_answer_chars),
                        parse_limits=self.parse_limits)

    def import_file(self, shop_id: str, filename: str, data: bytes, progress=None, *,
                    mode: ImportMode = "reject") -> ImportResult:
        return self.kb.import_file(shop_id, filename, data, mode=mode, progress=progress)

    def recover(self) -> RecoveryReport:
        """Fail builds a killed process left behind and delete their files (run before serving)."""
        return self.kb.recover()

    def ensure_demo_shop(self) -> ImportResult | None:
        """Import the bundled demo FAQ unless the demo shop already serves this exact file."""
        data = DEMO_FAQ_PATH.read_bytes()
        marker = f"sha256:{file_digest(data)[:16]}"
        if self.store.shop_exists(DEMO_SHOP_ID):
            active = self.store.active_version(DEMO_SHOP_ID)
            if active is not None:
                current = self.store.get_version(DEMO_SHOP_ID, active)
                if current.source.endswith(marker) and current.encoder_id == self.encoder.model_id:
                    logger.info("demo shop already serves %s (version %d)", DEMO_FAQ_PATH.name, active)
                    return None
        return self.import_file(DEMO_SHOP_ID, DEMO_FAQ_PATH.name, data)

    def close(self) -> None:
        if "store" in self.__dict__:
            self.store.close()


def _pin_faiss_threads(threads: int) -> None:
    # FAISS's OpenMP pool makes a flat search 10-30x slower with 2 threads on 2 cores than with one;
    # one thread per process, and more processes, is the measured optimum.
    import faiss

    faiss.omp_set_num_threads(threads)
