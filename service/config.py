"""All settings of smartreply, in one place (environment variables ``SMARTREPLY_*``).

Read by entry points only (``create_app``, the CLI); library code takes explicit arguments.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SMARTREPLY_", extra="ignore")

    data_dir: Path = Field(Path("var"), description="SQLite database and index files live here.")
    database_url: str = Field("", description="SQLAlchemy URL; empty means SQLite at <data_dir>/smartreply.db.")
    artifacts_dir: Path = Field(Path("artifacts"), description="Exported encoders (ONNX) and other built models.")

    encoder: str = Field(
        "m3e-small",
        description="Sentence encoder: 'm3e-small' (the packaged model) or a path to any local "
        "sentence-transformers model folder, e.g. a local bge-small-zh-v1.5.",
    )
    encoder_backend: Literal["onnx", "sentence-transformers"] = Field(
        "onnx", description="onnx for serving; sentence-transformers is the slower reference."
    )
    onnx_precision: Literal["int8", "fp32"] = Field("int8", description="Weights of the ONNX encoder.")
    encoder_threads: int = Field(
        1, ge=1, le=64,
        description="Intra-op threads of the encoder and FAISS per process. 1 is fastest per request "
        "on small models; scale with processes, not threads.",
    )

    intent_model_dir: Path | None = Field(
        None, description="Intent model folder; empty means <artifacts_dir>/intent/platform (trained by set-up)."
    )

    host: str = Field("127.0.0.1", description="Address `smartreply serve` binds to.")
    port: int = Field(8000, ge=1, le=65535, description="Port `smartreply serve` binds to.")

    max_upload_bytes: int = Field(10 * 1024 * 1024, ge=1024, description="Largest FAQ file accepted, in bytes.")
    max_rows: int = Field(50_000, ge=1, description="Most data rows in one FAQ file.")
    max_question_chars: int = Field(200, ge=10, description="Longest standard or similar question, in characters.")
    max_answer_chars: int = Field(2_000, ge=10, description="Longest answer, in characters.")
    max_similar_per_entry: int = Field(200, ge=1, description="Most similar questions (相似问题) of one FAQ entry.")
    max_answers_per_entry: int = Field(20, ge=1, description="Most alternative answers of one FAQ entry.")
    max_category_chars: int = Field(50, ge=1, le=100, description="Longest category (分类) name, in characters.")
    max_xlsx_uncompressed_bytes: int = Field(
        100 * 1024 * 1024, ge=1024 * 1024,
        description="Largest total uncompressed size of an XLSX (a zip), read from its directory before "
        "openpyxl opens it: bounds the memory of reading one.")
    max_xlsx_ratio: int = Field(
        100, ge=10,
        description="Largest compression ratio of any XLSX part over 1 MiB; real sheets stay near 5-30x, "
        "a zip bomb reaches 1000x.")
    kb_compliance_warning_kinds: list[str] = Field(
        default_factory=list,
        description="Compliance kinds (link, phone, wechat, qq, off_platform, absolute_term) that only warn "
        "instead of rejecting an answer, quick phrase or rule reply; JSON list, e.g. '[\"absolute_term\"]'.")
    max_quick_phrases: int = Field(
        200, ge=1, le=10_000, description="Quick phrases (快捷短语) per shop: Feige allows 50, 千牛 200.")
    max_quick_phrase_chars: int = Field(500, ge=10, description="Longest quick phrase, in characters.")
    max_rules: int = Field(100, ge=1, le=10_000, description="Auto-reply rules per shop.")
    max_message_chars: int = Field(1_000, ge=10, description="Longest buyer message accepted by /suggestions.")
    max_top_k: int = Field(20, ge=1, le=100, description="Largest top_k a caller may ask for.")
    candidates: int = Field(
        50, ge=1, le=1000,
        description="Phrasings fetched from the index per query before they are grouped per entry.",
    )
    active_version_ttl: float = Field(
        0.0, ge=0.0, le=60.0,
        description="Seconds a worker reuses a shop's active version before asking the database again "
        "(0 = ask on every request). A version switch made by another process is seen within this time.",
    )
    log_level: str = Field("INFO", description="Python logging level.")

    @model_validator(mode="after")
    def _default_database(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir / 'smartreply.db'}"
        return self

    @property
    def intent_dir(self) -> Path:
        return self.intent_model_dir or self.artifacts_dir / "intent" / "platform"

    @property
    def index_dir(self) -> Path:
        return self.data_dir / "indexes"
