"""Builds the long-lived parts (store, encoder, suggester) from settings, for the app and the CLI."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from knowledge_base.importer import ImportResult, file_digest, import_kb_file
from knowledge_base.parsing import ParseLimits
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
                         normalise=normalize_text)

    @property
    def parse_limits(self) -> ParseLimits:
        s = self.settings
        return ParseLimits(max_rows=s.max_rows, max_question_chars=s.max_question_chars,
                           max_answer_chars=s.max_answer_chars)

    def import_file(self, shop_id: str, filename: str, data: bytes, progress=None) -> ImportResult:
        return import_kb_file(self.store, self.settings.index_dir, self.encoder, shop_id, filename, data,
                              limits=self.parse_limits, normalise=normalize_text, progress=progress)

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
