"""Every table of the database (SQLAlchemy Core ``metadata``): what ``KbStore`` and the repositories
beside it read and write, and what the Alembic migrations (``migrations/``) must build exactly
(``tests/knowledge_base/test_migrations.py``)."""

from __future__ import annotations

from sqlalchemy import (
    DDL,
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    event,
)

__all__ = ["metadata", "COLLECTION_KINDS", "DESK_SETTINGS", "ARTIFACT_CHUNK_BYTES",
           "shops", "kb_versions", "kb_entries", "kb_builds", "kb_build_jobs", "shop_settings", "shop_collections", "collection_revisions", "quick_phrases", "auto_reply_rules", "rule_fires", "api_keys", "suggestion_events", "feedback_events", "shop_desk_settings", "desk_events", "kb_artifacts", "kb_artifact_chunks", "learned_examples", "shop_learning"]

metadata = MetaData()

shops = Table(
    "shops",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False, default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # Bumped before a version is inserted: the row lock serialises concurrent uploads of a shop.
    Column("last_version", Integer, nullable=False, default=0),
    Column("active_version", Integer, nullable=True),
)

kb_versions = Table(
    "kb_versions",
    metadata,
    Column("shop_id", String(64), ForeignKey("shops.id"), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("status", String(16), nullable=False),  # building | ready | failed
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("source", String(300), nullable=False, default=""),
    Column("entry_count", Integer, nullable=False, default=0),
    Column("phrasing_count", Integer, nullable=False, default=0),
    Column("encoder_id", String(200), nullable=False, default=""),
    Column("note", Text, nullable=False, default=""),
    # The version this one was made from (the active one when an upload or edit started): what
    # "compare with the previous version" means. NULL for the first version and for rows made
    # before migration 0003.
    Column("base_version", Integer, nullable=True),
    # source and note as catalogue messages ({"code", "params"}), shown in the reader's language;
    # the text columns keep the English sentence for older readers.
    Column("source_msg", JSON, nullable=True),
    Column("note_msg", JSON, nullable=True),
)

kb_entries = Table(
    "kb_entries",
    metadata,
    Column("shop_id", String(64), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("entry_id", String(128), primary_key=True),
    Column("position", Integer, nullable=False),
    Column("question", Text, nullable=False),
    Column("similar", JSON, nullable=False),
    Column("answers", JSON, nullable=False),
    Column("category", String(100), nullable=False, default=""),
    Column("enabled", Boolean, nullable=False, default=True),
)


# Which process builds a version: a restart marks the builds of dead processes failed.
kb_builds = Table(
    "kb_builds",
    metadata,
    Column("shop_id", String(64), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
)

# Index builds as jobs (PostgreSQL replicas): an upload stores its version and a queued job in one
# transaction; any replica's worker claims the oldest claimable job with SELECT … FOR UPDATE SKIP
# LOCKED, holds it by a lease it renews with every progress report, and finishes it. A job whose
# worker died is claimable again once its lease has expired.
kb_build_jobs = Table(
    "kb_build_jobs",
    metadata,
    Column("job_id", String(32), primary_key=True),
    Column("shop_id", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("status", String(16), nullable=False),  # queued | running | done | failed
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("worker", String(300), nullable=False, default=""),  # host:pid:thread of the last claimer
    Column("lease_until", Float, nullable=True),  # epoch seconds; a running job past it may be re-claimed
    Column("attempts", Integer, nullable=False, default=0),
    Column("done", Integer, nullable=False, default=0),  # phrasings embedded so far
    Column("total", Integer, nullable=False, default=0),
    Column("active", Boolean, nullable=True),  # done: whether the version became the active one
    Column("error", Text, nullable=False, default=""),
)

shop_settings = Table(
    "shop_settings",
    metadata,
    Column("shop_id", String(64), ForeignKey("shops.id"), primary_key=True),
    Column("timezone", String(64), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# One row per (shop, kind): the revision served now and the last number handed out (row lock).
shop_collections = Table(
    "shop_collections",
    metadata,
    Column("shop_id", String(64), ForeignKey("shops.id"), primary_key=True),
    Column("kind", String(32), primary_key=True),  # quick_phrases | rules
    Column("current_revision", Integer, nullable=True),
    Column("last_revision", Integer, nullable=False, default=0),
)

collection_revisions = Table(
    "collection_revisions",
    metadata,
    Column("shop_id", String(64), primary_key=True),
    Column("kind", String(32), primary_key=True),
    Column("revision", Integer, primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("action", String(300), nullable=False, default=""),
    Column("item_count", Integer, nullable=False, default=0),
)

quick_phrases = Table(
    "quick_phrases",
    metadata,
    Column("shop_id", String(64), primary_key=True),
    Column("revision", Integer, primary_key=True),
    Column("phrase_id", String(64), primary_key=True),
    Column("position", Integer, nullable=False),
    Column("group_name", String(100), nullable=False, default=""),
    Column("shortcut", String(32), nullable=False, default=""),
    Column("text", Text, nullable=False),
)

auto_reply_rules = Table(
    "auto_reply_rules",
    metadata,
    Column("shop_id", String(64), primary_key=True),
    Column("revision", Integer, primary_key=True),
    Column("rule_id", String(64), primary_key=True),
    Column("position", Integer, nullable=False),
    Column("spec", JSON, nullable=False),  # name, trigger, reply, schedule, priority, enabled, cooldown
    # Embeddings of a semantic trigger's examples: base64 of little-endian float32, never pickle.
    Column("vectors", Text, nullable=True),
    Column("encoder_id", String(200), nullable=False, default=""),
)

# When a rule last fired in a conversation (per-conversation cooldown).
rule_fires = Table(
    "rule_fires",
    metadata,
    Column("shop_id", String(64), primary_key=True),
    Column("conversation_id", String(128), primary_key=True),
    Column("rule_id", String(64), primary_key=True),
    Column("fired_at", DateTime(timezone=True), nullable=False),
    Column("fired_ts", Float, nullable=False),  # epoch seconds: exact comparisons on every back end
)

# API keys: only the sha256 of a key is stored; the key itself is shown once, at creation.
api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", String(32), primary_key=True),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(24), nullable=False),  # the first characters, to recognise a key in a list
    Column("shop_id", String(64), nullable=True, index=True),  # NULL for operator keys
    Column("scopes", String(100), nullable=False),  # space-separated: agent admin | operator
    Column("name", String(200), nullable=False, default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
)

# One row per suggestion request, for analytics. The message is PII-masked before it gets here.
suggestion_events = Table(
    "suggestion_events",
    metadata,
    Column("shop_id", String(64), primary_key=True),
    Column("request_id", String(64), primary_key=True),
    Column("ts", Float, nullable=False, index=True),  # epoch seconds (portable range queries)
    Column("message", Text, nullable=False),  # masked
    Column("kb_version", Integer, nullable=True),
    Column("entry_ids", JSON, nullable=False),  # ranked
    Column("scores", JSON, nullable=False),
    Column("top_entry_id", String(128), nullable=True),
    Column("top_confidence", Float, nullable=True),
    Column("intent", String(64), nullable=True),
    Column("latency_ms", Float, nullable=False, default=0.0),
    Column("conversation_id", String(128), nullable=True),
    Column("message_intent", String(64), nullable=True),  # the message's own intent (``intent`` is the top answer's)
    Column("escalate_level", String(8), nullable=True),  # medium | high; NULL: not escalated
    Column("escalate_reasons", String(200), nullable=True),  # reason codes, comma-separated
    Column("route_group", String(64), nullable=True),
    Column("route_reason", String(16), nullable=True),
)

# What the agent did with a suggestion request.
feedback_events = Table(
    "feedback_events",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("shop_id", String(64), nullable=False, index=True),
    Column("request_id", String(64), nullable=False),
    Column("ts", Float, nullable=False),
    Column("action", String(16), nullable=False),  # accepted | edited | ignored | own_reply
    Column("suggestion_rank", Integer, nullable=True),
    Column("entry_id", String(128), nullable=True),
    Column("final_text", Text, nullable=True),  # masked
    Column("agent_id", String(64), nullable=False),
    Column("time_to_reply_ms", Integer, nullable=True),
)

# The customer-service desk around the suggestions (knowledge_base/routing.py, knowledge_base/desk.py):
# a shop's routing table and response-time targets (NULL: the documented default).
shop_desk_settings = Table(
    "shop_desk_settings",
    metadata,
    Column("shop_id", String(64), ForeignKey("shops.id"), primary_key=True),
    Column("routing", JSON, nullable=True),
    Column("first_response_seconds", Integer, nullable=True),
    Column("reply_deadline_hours", Integer, nullable=True),
    Column("deadline_warning_hours", Integer, nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# What the agent UI reports happened in a conversation, with the UI's own timestamps: a buyer message
# shown to an agent, a reply sent, the conversation closed. The performance report and the
# conversation states are computed from these rows only.
desk_events = Table(
    "desk_events",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("shop_id", String(64), nullable=False),
    Column("event_id", String(64), nullable=False),  # chosen by the client: a retried report is not counted twice
    Column("type", String(24), nullable=False),  # message_shown | reply_sent | conversation_closed
    Column("ts", Float, nullable=False),  # epoch seconds of the event, as the client saw it
    Column("message_ts", Float, nullable=True),  # message_shown: when the buyer sent it
    Column("conversation_id", String(128), nullable=False),
    Column("agent_id", String(64), nullable=False, default=""),
    Column("request_id", String(64), nullable=True),  # the suggestion request of that message / reply
    Column("action", String(16), nullable=True),  # reply_sent: accepted | edited | own_reply
    Column("received_ts", Float, nullable=False),  # when the server stored it
    UniqueConstraint("shop_id", "event_id", name="uq_desk_events_shop_event"),
    Index("ix_desk_events_shop_ts", "shop_id", "ts"),
)

# The built index files of each version (index.faiss, phrasings.json, manifest.json), when the database
# keeps them (``KbStore.keeps_artifacts``: PostgreSQL by default): written in the transaction that marks
# the version ready, so a ready version always has its files and a replica with an empty disk fetches
# them from here into its local cache. One row per file (size, sha256) and its content in 1 MiB chunks:
# a replica streams a file to disk in bounded memory, and rows (unlike large objects) are deleted,
# dumped and replicated with the version they belong to.
kb_artifacts = Table(
    "kb_artifacts",
    metadata,
    Column("shop_id", String(64), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("name", String(64), primary_key=True),
    Column("encoder_id", String(200), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("chunks", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

kb_artifact_chunks = Table(
    "kb_artifact_chunks",
    metadata,
    Column("shop_id", String(64), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("name", String(64), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("data", LargeBinary, nullable=False),
)
# FAISS vectors do not compress: without this PostgreSQL tries pglz on every chunk it TOASTs, for nothing.
ARTIFACT_CHUNK_STORAGE = "ALTER TABLE kb_artifact_chunks ALTER COLUMN data SET STORAGE EXTERNAL"
event.listen(kb_artifact_chunks, "after_create", DDL(ARTIFACT_CHUNK_STORAGE).execute_if(dialect="postgresql"))

ARTIFACT_CHUNK_BYTES = 1024 * 1024

# Real buyer messages an agent's pick labelled with a FAQ entry (accepted / edited suggestions, own replies
# linked to an entry): the shop's learned examples (knowledge_base/learning.py). The text is PII-masked.
learned_examples = Table(
    "learned_examples",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("shop_id", String(64), nullable=False, index=True),
    Column("text", Text, nullable=False),  # masked buyer message, as logged with its suggestion request
    Column("norm", Text, nullable=False),  # normalised text: one row per (shop, norm, entry)
    Column("entry_id", String(128), nullable=False),
    Column("status", String(16), nullable=False),  # pending | approved | rejected
    Column("origin", String(16), nullable=False),  # accepted | edited | own_reply | manual
    Column("count", Integer, nullable=False, default=1),  # times agents confirmed it
    Column("request_id", String(64), nullable=True),  # the first suggestion request it came from
    Column("agent_id", String(64), nullable=True),
    Column("created_ts", Float, nullable=False),
    Column("decided_ts", Float, nullable=True),
    Column("decided_by", String(64), nullable=True),  # "auto" (auto-approve) or "merchant"
    # The normalised text's embedding: base64 of little-endian float32, tagged with the encoder id.
    Column("vector", Text, nullable=True),
    Column("encoder_id", String(200), nullable=False, default=""),
)

# Per shop: whether agents' picks are approved without review, and a counter bumped by every change to
# the approved examples (replicas reload a shop's learned layer when it moves).
shop_learning = Table(
    "shop_learning",
    metadata,
    Column("shop_id", String(64), ForeignKey("shops.id"), primary_key=True),
    Column("auto_approve", Boolean, nullable=False, default=False),
    Column("revision", Integer, nullable=False, default=0),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

COLLECTION_KINDS = {"quick_phrases": (quick_phrases, "phrase_id"), "rules": (auto_reply_rules, "rule_id")}


DESK_SETTINGS = ("routing", "first_response_seconds", "reply_deadline_hours", "deadline_warning_hours")
