"""All settings of smartreply, in one place (environment variables ``SMARTREPLY_*``).

Read by entry points only (``create_app``, the CLI); library code takes explicit arguments.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from knowledge_base.quick_phrases import QuickPhraseLimits
from knowledge_base.rules import RuleLimits
from knowledge_base.tablefile import ParseLimits

__all__ = ["Settings"]

# The limits' defaults live with the code that enforces them (one source); a setting only overrides one.
_PARSE, _QUICK, _RULES = ParseLimits(), QuickPhraseLimits(), RuleLimits()


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
    encoder_max_batch: int = Field(
        16, ge=1, le=256,
        description="Most texts of concurrent suggestion requests one process encodes in one model call "
        "(micro-batching: ~1.5 ms a query in a batch of 8 vs ~2.4 ms alone). A lone request is never "
        "delayed. int8 vectors vary slightly with the batch (cosine >= 0.995); 1 turns batching off.",
    )

    intent_model_dir: Path | None = Field(
        None, description="Intent model folder; empty means <artifacts_dir>/intent/platform (trained by set-up)."
    )

    escalation_model_dir: Path | None = Field(
        None, description="Escalation model folder; empty means <artifacts_dir>/escalation (trained by set-up).")
    escalation: bool = Field(
        True, description="Detect messages a person must handle now (anger, complaints, disputes, safety, repeated "
        "asks): the suggestion response's `escalate`, and no auto_reply on them. Off: `escalate` is null.")
    routing_table_ttl: float = Field(
        5.0, ge=0.0, le=300.0, description="Seconds a worker reuses a shop's routing table before reading it again "
        "(a change made through this process is seen at once; one made through another replica within this time).")

    host: str = Field("127.0.0.1", description="Address `smartreply serve` binds to.")
    port: int = Field(8000, ge=1, le=65535, description="Port `smartreply serve` binds to.")

    max_upload_bytes: int = Field(10 * 1024 * 1024, ge=1024, description="Largest FAQ file accepted, in bytes.")
    max_rows: int = Field(_PARSE.max_rows, ge=1, description="Most data rows in one FAQ file.")
    max_question_chars: int = Field(_PARSE.max_question_chars, ge=10, description="Longest standard or similar question, in characters.")
    max_answer_chars: int = Field(_PARSE.max_answer_chars, ge=10, description="Longest answer, in characters.")
    max_similar_per_entry: int = Field(_PARSE.max_similar, ge=1, description="Most similar questions (相似问题) of one FAQ entry.")
    max_answers_per_entry: int = Field(_PARSE.max_answers, ge=1, description="Most alternative answers of one FAQ entry.")
    max_category_chars: int = Field(_PARSE.max_category_chars, ge=1, le=100, description="Longest category (分类) name, in characters.")
    max_xlsx_uncompressed_bytes: int = Field(
        _PARSE.max_xlsx_uncompressed_bytes, ge=1024 * 1024,
        description="Largest total uncompressed size of an XLSX (a zip), read from its directory before "
        "openpyxl opens it: bounds the memory of reading one.")
    max_xlsx_ratio: int = Field(
        _PARSE.max_xlsx_ratio, ge=10,
        description="Largest compression ratio of any XLSX part over 1 MiB; real sheets stay near 5-30x, "
        "a zip bomb reaches 1000x.")
    kb_compliance_warning_kinds: list[str] = Field(
        default_factory=list,
        description="Compliance kinds (link, phone, wechat, qq, off_platform, absolute_term) that only warn "
        "instead of rejecting an answer, quick phrase or rule reply; JSON list, e.g. '[\"absolute_term\"]'.")
    max_quick_phrases: int = Field(
        _QUICK.max_phrases, ge=1, le=10_000, description="Quick phrases (快捷短语) per shop: Feige allows 50, 千牛 200.")
    max_quick_phrase_chars: int = Field(_QUICK.max_chars, ge=10, description="Longest quick phrase, in characters.")
    max_rules: int = Field(_RULES.max_rules, ge=1, le=10_000, description="Auto-reply rules per shop.")
    max_message_chars: int = Field(1_000, ge=10, description="Longest buyer message accepted by /suggestions.")
    max_top_k: int = Field(20, ge=1, le=100, description="Largest top_k a caller may ask for.")
    candidates: int = Field(
        50, ge=1, le=1000,
        description="Phrasings fetched from the index per query before they are grouped per entry.",
    )
    rerank: bool = Field(
        True, description="Rerank candidate entries with the shop's learned ranker (dense, centroid, lexical, "
        "intent features; weights fit on the shop's own phrasings). Off: nearest phrasing only.")
    feature_centroid: bool = Field(True, description="Ranker feature: similarity to the entry's mean phrasing.")
    feature_lexical: bool = Field(True, description="Ranker feature: IDF-weighted character overlap.")
    feature_intent: bool = Field(True, description="Ranker feature: the platform intent model's agreement.")
    feature_prior: bool = Field(True, description="Ranker feature: the entry's number of phrasings (a popularity "
                                "prior: merchants write more 相似问 for frequent questions).")
    feature_hub: bool = Field(True, description="Ranker feature: centroid similarity minus the entry's hubness "
                              "(how close it sits to other entries' phrasings), so broad entries stop attracting "
                              "unsure messages.")
    learning: bool = Field(
        True, description="Agents' accepted / edited suggestions (and own replies linked to an entry) become the "
        "shop's learned examples: reviewed by the merchant (or auto-approved, a shop setting), then used by "
        "retrieval, the ranker and its calibration. Off: feedback is recorded for analytics only.")
    reload_in_background: bool = Field(
        True, description="When a shop's learned examples or quick phrases change, it keeps answering from what it "
        "has while a background thread builds the new state (a ranker refit takes seconds). false: the next request "
        "builds it (the evaluation's replay, which must see each change at once).")
    learning_refresh_seconds: float = Field(
        30.0, ge=0.0, le=3600.0,
        description="A shop whose approved learned examples changed is reloaded (retrieval + ranker) at most this "
        "often per process; 0 = at once. Bounds the reload cost on busy auto-approving shops.")
    suggest_threshold: float = Field(
        0.1, ge=0, le=1,
        description="Calibrated confidence below which a FAQ answer is not suggested (the service abstains).")
    auto_reply_threshold: float = Field(
        0.9, ge=0, le=1, description="Calibrated confidence from which a suggestion is marked safe to auto-send.")
    context_weight: float = Field(
        0.5, ge=0, le=2,
        description="Weight of the buyer's previous turn blended into a short follow-up message (0 = off).")
    intent_templates: bool = Field(True, description="Offer an intent template when no FAQ answer is good enough.")
    rules_in_suggestions: bool = Field(True, description="A firing keyword auto-reply rule comes first.")
    quick_phrases_in_suggestions: bool = Field(
        True, description="The shop's quick phrases (快捷短语) that answer the message are suggested beside FAQ "
        "answers (source quick_phrase), with their own calibrated confidence (`smartreply train quick-phrases`).")
    compliance_guard: bool = Field(
        True, description="Check every suggested text against the platform's rules and drop what fails. Off only "
        "to measure what the guard costs (an evaluation ablation): blocked text then reaches agents.")
    active_version_ttl: float = Field(
        0.0, ge=0.0, le=60.0,
        description="Seconds a worker reuses a shop's active version (and its rule revision and time zone) "
        "before asking the database again (0 = ask on every request). A change made by another process is "
        "seen within this time.",
    )
    log_level: str = Field("INFO", description="Python logging level.")
    log_format: Literal["auto", "json", "text"] = Field(
        "auto", description="json: one JSON object per line (request logs carry request_id, route, status, "
        "latency_ms, shop); text: human-readable lines; auto: text when stderr is a terminal, json otherwise "
        "(a service manager, a container, a file).")
    upload_confirm_remove_over: int = Field(
        5, ge=0, description="An upload (or merge) that would remove more entries than this from the active "
        "version is refused (409 confirmation_required) unless it carries confirm_remove=<the number it "
        "removes>, as the merchant console sends after showing the preview.")
    demo_keys_route: bool = Field(
        False, description="Serve GET /v1/demo/keys (the demo shop's keys, to loopback clients only) so the "
        "consoles can load them; set by `serve --demo`, never needed in production.")

    auth: Literal["on", "off"] = Field(
        "on", description="off: every route is open and acts as the operator. UNSAFE: local experiments only.")
    operator_key: str = Field(
        "", description="A platform operator key (any string you generate, e.g. sr_op_<random>); compared as a "
        "sha256 hash. Alternatively create one with `smartreply keys create-operator`.")
    rate_limit_per_second: float = Field(
        50.0, ge=0.0, description="Requests per second each API key may make (token bucket per key and per "
        "process); 0 disables the limit.")
    rate_limit_burst: int = Field(100, ge=1, description="Requests a key may make at once before the rate applies.")
    max_body_bytes: int = Field(
        256 * 1024, ge=1024, description="Largest JSON request body in bytes (uploads have max_upload_bytes).")
    analytics: bool = Field(True, description="Record each suggestion request (PII-masked) for analytics.")
    unanswered_confidence: float = Field(
        0.6, ge=0.0, le=1.0, description="A request whose best suggestion scores below this counts as unanswered.")
    unanswered_cluster_threshold: float = Field(
        0.82, ge=0.0, le=1.0, description="Cosine at which two unanswered messages join one cluster.")
    build_jobs: Literal["auto", "on", "off"] = Field(
        "auto", description="Index builds of uploads as jobs in the database, claimed by any replica's worker "
        "(SELECT ... FOR UPDATE SKIP LOCKED); auto = on for PostgreSQL, off (built in the request) for SQLite.")
    build_lease_seconds: float = Field(
        60.0, gt=0.0, le=3600.0, description="A claimed build job's lease, renewed with every batch embedded; a job "
        "whose worker stopped is claimed again once it has expired. Replica clocks must agree to well within it.")
    build_poll_seconds: float = Field(
        1.0, gt=0.0, le=60.0, description="How often an idle build worker looks for queued jobs.")
    build_wait_seconds: float = Field(
        600.0, gt=0.0, description="How long an upload waits for its build job before answering 202 with the job.")
    malloc_arenas: int = Field(
        2, ge=0, le=64, description="glibc malloc arenas of `serve` (MALLOC_ARENA_MAX): request threads each "
        "grew their own and kept evicted shops' memory (RSS 1.8 GB over the index budget at 16 concurrent "
        "requests, 0.75 GB with 2). 0 = the C library's default.")
    search_graph_min_phrasings: int = Field(
        10_000, ge=0, description="Shops with at least this many phrasings are searched through an HNSW graph "
        "(built once per version, cached beside the index) instead of the exact flat scan: ~10x faster at 20k "
        "phrasings with the same top-1 in the benchmark. 0 = always the flat scan.")
    index_artifacts: Literal["auto", "database", "files"] = Field(
        "auto", description="Where built indexes live. database: in the database (kb_artifacts, stored in the "
        "transaction that makes a version ready), each replica caching them under "
        "<data_dir>/index-cache/<encoder>/ and fetching (checksum-verified) what its disk lacks, so replicas share "
        "nothing but the database; files: only under <data_dir>/indexes (one machine, or a volume every replica "
        "mounts); auto: database on PostgreSQL, files on SQLite.")
    shutdown_drain_seconds: float = Field(
        0.0, ge=0.0, le=300.0, description="On SIGTERM, answer /healthz with 503 (draining) and keep serving for "
        "this many seconds before closing the listener and finishing the requests in flight, so a load balancer "
        "that checks /healthz stops sending new requests first (HAProxy in docs/operations.md: at least "
        "check inter x fall; 2 in scripts/cluster.sh). 0 = stop accepting at once.")
    index_memory_budget_bytes: int = Field(
        512 * 1024 * 1024, ge=0, description="Memory for loaded shop indexes per process (estimated as "
        "the FAISS vectors, the reranker's arrays and the texts: ~10 MB for 2,000 phrasings); least recently "
        "used shops are evicted beyond it. 0 = no limit.")

    @model_validator(mode="after")
    def _default_database(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir / 'smartreply.db'}"
        return self

    @property
    def json_logs(self) -> bool:
        """Whether log lines are JSON: as ``log_format`` says, or (auto) unless stderr is a terminal."""
        if self.log_format == "auto":
            import sys

            return not sys.stderr.isatty()
        return self.log_format == "json"

    @property
    def intent_dir(self) -> Path:
        return self.intent_model_dir or self.artifacts_dir / "intent" / "platform"

    @property
    def escalation_dir(self) -> Path:
        return self.escalation_model_dir or self.artifacts_dir / "escalation"

    @property
    def quick_phrase_scorer_dir(self) -> Path:
        return self.artifacts_dir / "quick_phrases"

    @property
    def index_dir(self) -> Path:
        return self.data_dir / "indexes"
