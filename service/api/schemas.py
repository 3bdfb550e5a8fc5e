"""Request and response models of the HTTP API (the typed edge of the service)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal
from zoneinfo import available_timezones

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, model_validator
from pydantic_core import PydanticCustomError

from models.messages import Msg

__all__ = [
    "ErrorBody", "ErrorResponse", "Problem", "KbUploadResponse", "KbVersionPublic", "KbVersionList",
    "SuggestRequest", "SuggestionPublic", "SuggestResponse", "Health",
    "EntryPublic", "EntryIn", "EntryPatch", "EntryList", "EntryEditResponse", "EntryChange", "KbDiff",
    "RevisionPublic", "RevisionList", "QuickPhraseIn", "QuickPhrasePatch", "QuickPhrasePublic", "QuickPhraseList",
    "QuickPhraseChange", "QuickPhraseImportResponse", "TriggerModel", "WindowModel", "ScheduleModel", "RuleIn",
    "RulePatch", "RulePublic", "RuleList", "RuleChange", "ExplainRequest", "ReasonPublic", "RuleDecisionPublic",
    "RuleWinner", "ExplainResponse", "ShopSettingsPublic", "ShopSettingsIn", "UploadPreview", "EditOperation",
    "EditBatch", "HitTestRequest", "HitTestResponse", "RankedPublic", "MessagePublic", "DemoKeys", "KeyIdentity",
    "RoutingPublic", "EscalationPublic", "EscalationReasonPublic", "escalation_public",
    "JsonInt", "JsonNumber", "int_range", "Timestamp", "IsoDateTime", "IsoDate", "SETTING_LIMIT", "setting_limit",
    "LearnedExamplePublic", "LearnedExampleList", "LearnedDecision", "LearnedPromoteResponse",
]


SETTING_LIMIT = "x-setting-limit"


def setting_limit(**keywords: str) -> dict[str, Any]:
    """``json_schema_extra`` of a field whose bound is a setting, e.g. ``setting_limit(maximum="max_top_k")``:
    the route or the domain enforces the setting, ``api/openapi.py`` writes its configured value into the
    document."""
    return {SETTING_LIMIT: keywords}


def _with_offset(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


_NUMBER_TEXT = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*")


def _iso_text(value: Any) -> Any:
    # JSON has no time type: a number here (or a number in a query string) is a client bug: pydantic
    # would read 1704321000 or "0.5" as a Unix time.
    if isinstance(value, (datetime, date)):
        return value
    if not isinstance(value, str) or _NUMBER_TEXT.fullmatch(value):
        raise PydanticCustomError("datetime_type", "must be an ISO 8601 text such as 2025-01-03T23:30:00+08:00, not a number")
    return value


def _json_integer(value: Any) -> Any:
    # JSON Schema's integer: 3 and 3.0, never "3" or true (a string or boolean there is a client bug).
    if isinstance(value, (bool, str)):
        raise PydanticCustomError("int_type", "must be a JSON integer, not a string or boolean")
    return value


def _json_number(value: Any) -> Any:
    if isinstance(value, (bool, str)):
        raise PydanticCustomError("float_type", "must be a JSON number, not a string or boolean")
    return value


JsonInt = Annotated[int, BeforeValidator(_json_integer)]
JsonNumber = Annotated[float, BeforeValidator(_json_number)]
Threshold = Annotated[float, Field(ge=0, le=1), BeforeValidator(_json_number)]  # a confidence threshold


def int_range(ge: int | None = None, le: int | None = None) -> Any:
    """A JsonInt within bounds, as a type: ``int_range(1, 100) | None`` keeps the bounds in the document
    (``Field(ge=…)`` on an optional JsonInt writes them as non-standard keywords)."""
    return Annotated[int, Field(ge=ge, le=le), BeforeValidator(_json_integer)]


# The names set_timezone accepts (ZoneInfo alone would also open paths such as posix/…).
TimeZoneName = Annotated[str, Field(json_schema_extra={"enum": sorted(available_timezones())})]
# Times the server writes carry their offset (stored times are UTC; SQLite drops the zone).
Timestamp = Annotated[datetime, AfterValidator(_with_offset)]
# Times and dates a client sends: ISO 8601 text only.
IsoDateTime = Annotated[datetime, BeforeValidator(_iso_text)]
IsoDate = Annotated[date, BeforeValidator(_iso_text)]


class Problem(BaseModel):
    reason: str = Field(description="Why, in the reader's language (Accept-Language; Chinese by default).")
    code: str | None = Field(None, description="Stable kind of problem, e.g. missing_answer, conflict, compliance.")
    message_code: str | None = Field(None, description="The reason's catalogue code, with `params`: for clients "
                                     "that show it in their own words or language.")
    params: dict[str, Any] = Field(default_factory=dict)
    severity: str = "error"
    sheet: str | None = None
    row: int | None = None
    column: str | None = None
    value: str | None = None


class ErrorBody(BaseModel):
    code: str = Field(description="Stable machine-readable code, e.g. upload_invalid, no_active_kb.")
    message: str = Field(description="For a person, in the language of Accept-Language (zh default, or en).")
    message_code: str = Field(description="The message's catalogue code (e.g. auth.scope), stable; with `params` "
                              "a client can write the message itself.")
    params: dict[str, Any] = Field(default_factory=dict)
    details: list[dict] = Field(default_factory=list, description="For uploads: one item per problem row; for 422 "
                               "invalid_request: one per invalid field, {field, reason, reason_code, params}.")


class ErrorResponse(BaseModel):
    error: ErrorBody


class KbUploadResponse(BaseModel):
    shop_id: str
    version: int
    active: bool = Field(description="False only if a newer version was activated meanwhile.")
    entries: int
    enabled_entries: int
    phrasings: int = Field(description="Standard + similar questions embedded into the index.")
    seconds: float
    warnings: list[Problem] = Field(default_factory=list)
    mode: str = Field("replace", description="replace: the file is the whole FAQ; merge: entries added and "
                      "updated by id, the others kept.")
    on_error: str = Field("reject", description="reject: any error rejects the file; partial: error rows were left out.")
    skipped_rows: int = Field(0, description="Rows left out because of errors (partial mode only).")
    skipped: list[Problem] = Field(default_factory=list, description="The errors of the rows left out.")
    base_version: int | None = Field(None, description="The active version the upload was compared with and based on.")
    no_changes: bool = Field(False, description="The content equals the active version: no version was made "
                             "(`version` is the active one).")
    message: str = Field("", description="What happened, for a person (e.g. that nothing changed).")
    added: int = Field(0, description="Entries added against base_version.")
    changed: int = Field(0)
    removed: int = Field(0)


class UploadPreview(BaseModel):
    """``?dry_run=true``: what the upload would do against the active version; nothing was stored."""

    shop_id: str
    dry_run: bool = True
    mode: str = Field(description="replace | merge")
    on_error: str = Field(description="reject | partial")
    base_version: int | None = Field(description="The active version the upload is compared with.")
    entries: int = Field(description="Entries the new version would hold.")
    no_changes: bool = Field(description="Identical to the active version: importing would make no version.")
    added: list[EntryPublic]
    changed: list[EntryChange]
    removed: list[EntryPublic]
    unchanged: int
    confirm_remove_required: bool = Field(description="Importing needs confirm_remove=<len(removed)>: it removes "
                                          "more entries than the server's limit.")
    confirm_remove_limit: int | None = Field(description="Removals allowed without confirmation.")
    problems: list[Problem] = Field(description="The validation report: every error and warning (errors are "
                                    "the rows a partial import leaves out).")
    skipped_rows: int = 0
    message: str = Field("", description="A one-line summary for a person.")


class BuildJobPublic(BaseModel):
    job_id: str
    shop_id: str
    version: int = Field(description="The knowledge-base version this job builds.")
    status: str = Field(description="queued | running | done | failed")
    done: int = Field(description="Phrasings embedded so far.")
    total: int = Field(description="Phrasings to embed.")
    attempts: int = Field(description="Times a worker claimed it (more than 1 after a worker stopped).")
    active: bool | None = Field(None, description="Once done: whether the version became the active one.")
    error: str = ""
    created_at: Timestamp
    updated_at: Timestamp


class KbVersionPublic(BaseModel):
    version: int
    status: str
    active: bool
    created_at: Timestamp
    source: str
    entry_count: int
    phrasing_count: int
    encoder_id: str
    note: str = Field("", description="Why a version failed (e.g. 'abandoned: …' after a crash), or what a "
                                      "partial import left out; in the reader's language.")
    base_version: int | None = Field(None, description="The version it was made from (an upload: the version "
                                     "active then; an edit: the edited one): what its diff compares with.")
    source_code: str | None = Field(None, description="Catalogue code of `source` (with source_params).")
    source_params: dict[str, Any] = Field(default_factory=dict)
    note_code: str | None = Field(None, description="Catalogue code of `note` (with note_params).")
    note_params: dict[str, Any] = Field(default_factory=dict)


class KbVersionList(BaseModel):
    shop_id: str
    active_version: int | None
    data: list[KbVersionPublic]


class TurnIn(BaseModel):
    role: Literal["buyer", "agent"]
    text: str = Field(max_length=2000)
    at: IsoDateTime | None = Field(None, description="When it was sent (optional): buyer messages left without a reply "
                                                  "for a minute or more count as repeated unanswered asks.")


class SuggestRequest(BaseModel):
    message: str = Field(min_length=1, description="The buyer's message. One with nothing to understand (only "
                         "spaces, emoji, punctuation or invisible characters) is answered with abstained: true, "
                         "abstain_reason: nothing_to_understand and no suggestion.", examples=["啥时候能发出来"],
                         json_schema_extra=setting_limit(maxLength="max_message_chars"))
    top_k: JsonInt = Field(3, ge=1, description="How many suggestions to return (at most the server's max_top_k).",
                             json_schema_extra=setting_limit(maximum="max_top_k"))
    turns: list[TurnIn] = Field(
        default_factory=list, max_length=20,
        description="Earlier turns of the conversation, oldest first: a short follow-up (\"那要多久\") is read "
        "together with the buyer's previous message.")
    variables: dict[str, str] = Field(
        default_factory=dict, max_length=50,
        description="Order context filling answer placeholders, e.g. {\"买家昵称\": \"小王\", \"订单尾号\": \"1234\", "
        "\"物流公司\": \"顺丰\"}.")
    conversation_id: str | None = Field(None, max_length=128, description="For keyword-rule cooldowns.")
    at: IsoDateTime | None = Field(None, description="Message time (default now); keyword rules use it. Without "
                                   "an offset it is the shop's local time.")
    test: StrictBool = Field(False, description="A test question (a merchant trying the KB), not a buyer's: answered "
                             "the same way but not recorded for analytics.")


class SuggestionPublic(BaseModel):
    entry_id: str | None = Field(description="The FAQ entry; null for quick-phrase, rule and template suggestions.")
    question: str = Field(description="The entry's standard question (a quick phrase's group, a rule's name, a "
                                      "template's intent).")
    matched_question: str = Field(description="The standard or similar question closest to the message.")
    answer: str = Field(description="The reply, with the variables the request provided filled in.")
    score: float = Field(description="Cosine similarity of message and matched question (higher is better).")
    category: str
    confidence: float = Field(description="Calibrated probability that this is the right answer.")
    source: Literal["kb", "quick_phrase", "rule", "template"]
    quick_phrase_id: str | None = Field(None, description="source quick_phrase: the shop's quick phrase (快捷短语).")
    intent: str | None = Field(None, description="The entry's intent (platform taxonomy).")
    auto_reply: bool = Field(description="Confidence ≥ auto_reply_threshold and nothing left to fill.")
    variables_missing: list[str] = Field(description="Placeholders still in the answer: edit before sending.")
    features: dict[str, float] = Field(default_factory=dict, description="Ranker features: why it ranks here.")


class IntentPublic(BaseModel):
    intent: str
    confidence: float
    top: list[tuple[str, float]]


class BlockedPublic(BaseModel):
    entry_id: str | None
    source: str
    reason: str
    kinds: list[str]


class RoutingPublic(BaseModel):
    group: str = Field(description="The group of the shop's staff the message goes to, e.g. 售前 or 售后.")
    reason: Literal["keyword", "escalation", "handoff", "category", "intent", "default"] = Field(
        description="What decided: a keyword rule, the escalation group, 转人工 (handoff), the best FAQ answer's "
        "category, the message's intent, or nothing (the default group).")
    intent: str | None = Field(None, description="handoff / intent: the intent that decided.")
    category: str | None = Field(None, description="category: the KB category that decided.")
    keyword: str | None = Field(None, description="keyword: the keyword found in the message.")
    confidence: float | None = Field(None, description="handoff / intent: the intent model's confidence.")


class EscalationReasonPublic(BaseModel):
    code: Literal["safety", "report_threat", "insult", "anger", "complaint", "refund_dispute", "delivery_dispute",
                  "repeated_ask"]
    source: Literal["lexicon", "model", "conversation"] = Field(
        description="lexicon: a cue in the message; model: the escalation model; conversation: the turns.")
    evidence: str = Field(description="The cue found, or what was counted in the conversation; empty for the model.")
    score: float = Field(description="The model's probability that a person must handle it; 1 for a cue.")


class EscalationPublic(BaseModel):
    level: Literal["medium", "high"] = Field(
        description="high: safety, a threat to report, an insult, or several reasons: handle at once; medium: "
        "a person must answer, within the normal reply time.")
    reasons: list[EscalationReasonPublic]


def escalation_public(escalation) -> EscalationPublic | None:  # noqa: ANN001 - models.escalation.Escalation
    if escalation is None:
        return None
    return EscalationPublic(level=escalation.level, reasons=[EscalationReasonPublic(**vars(r))
                                                             for r in escalation.reasons])


class SuggestResponse(BaseModel):
    request_id: str
    shop_id: str
    kb_version: int
    suggestions: list[SuggestionPublic]
    intent: IntentPublic | None = Field(None, description="The message's intent under the platform model.")
    abstained: bool = Field(description="No FAQ answer is suggested: none reached suggest_threshold, or the "
                                        "message has nothing to understand (see abstain_reason).")
    abstain_reason: Literal["nothing_to_understand", "no_confident_answer"] | None = Field(
        None, description="nothing_to_understand: after normalisation the message holds no letter or digit (only "
        "whitespace, ideographic spaces, zero-width or control characters, punctuation or emoji); nothing is "
        "suggested, not even a rule or template, and suggestions is empty. no_confident_answer: no FAQ answer "
        "reached suggest_threshold (a rule or intent template may still be offered). null when a FAQ answer is "
        "suggested.")
    blocked: list[BlockedPublic] = Field(default_factory=list, description="Candidates the compliance guard removed.")
    routing: RoutingPublic = Field(description="Where the message goes (分流): a group of the shop's routing table "
                                               "and the rule that chose it.")
    escalate: EscalationPublic | None = Field(
        None, description="Null unless a person must handle this message now (anger, insults, complaints and threats "
        "to report, refund or delivery disputes, safety, repeated unanswered asks); then every suggestion has "
        "auto_reply false.")
    timings_ms: dict[str, float]
    test: bool = Field(False, description="The request was a test: not recorded for analytics.")


class Health(BaseModel):
    status: str
    encoder: str
    encoder_backend: str
    dim: int


# -- knowledge-base management ------------------------------------------------------------------
class EntryPublic(BaseModel):
    id: str
    question: str
    similar: list[str]
    answers: list[str]
    category: str
    enabled: bool


# Merchant texts are checked by the domain (422 invalid_item with one problem per field: lengths, formulas,
# control characters, separators, compliance); the schema states the bounds it can express.
_TEXT = {"minLength": 1, "pattern": r"\S"}  # trimmed before use: blank is empty
QuestionText = Annotated[str, Field(json_schema_extra={**_TEXT, **setting_limit(maxLength="max_question_chars")})]
# List items: a blank one is dropped (as a blank cell is), so only their length is bounded.
SimilarItem = Annotated[str, Field(json_schema_extra=setting_limit(maxLength="max_question_chars"))]
AnswerItem = Annotated[str, Field(json_schema_extra=setting_limit(maxLength="max_answer_chars"))]
_ENTRY_ID = Field(None, description="Stable id; derived from the question when absent or empty.",
                  json_schema_extra={"pattern": r"^[\w\-.:]{0,64}$"})
_SIMILAR = {**setting_limit(maxItems="max_similar_per_entry")}
_ANSWERS = {"minItems": 1, **setting_limit(maxItems="max_answers_per_entry")}
_CATEGORY = setting_limit(maxLength="max_category_chars")


class EntryIn(BaseModel):
    id: str | None = _ENTRY_ID
    question: QuestionText
    similar: list[SimilarItem] = Field(default_factory=list, json_schema_extra=_SIMILAR)
    answers: list[AnswerItem] = Field(description="At least one; several are alternatives.",
                                      json_schema_extra=_ANSWERS)
    category: str = Field("", json_schema_extra=_CATEGORY)
    enabled: StrictBool = True


class EntryPatch(BaseModel):
    """Only the fields sent are changed; the id stays."""

    question: QuestionText | None = None
    similar: list[SimilarItem] | None = Field(None, json_schema_extra=_SIMILAR)
    answers: list[AnswerItem] | None = Field(None, json_schema_extra=_ANSWERS)
    category: str | None = Field(None, json_schema_extra=_CATEGORY)
    enabled: StrictBool | None = Field(None, description="false disables the entry: it stays in the KB, never "
                                                         "suggested.")


class EntryList(BaseModel):
    shop_id: str
    version: int
    data: list[EntryPublic]


class EntryEditResponse(BaseModel):
    shop_id: str
    version: int = Field(description="The new version the edit created.")
    base_version: int = Field(description="The active version the edit was applied to.")
    active: bool
    action: str = Field(description="What the version did, in the reader's language (its source).")
    entry: EntryPublic | None = Field(description="The entry as it is now; null after a delete.")
    phrasings: int
    embedded: int = Field(description="Phrasings that went through the encoder; the rest were copied from the "
                                      "base version's index.")
    seconds: float


class EntryChange(BaseModel):
    id: str
    fields: list[str] = Field(description="Which of question, similar, answers, category, enabled differ.")
    before: EntryPublic
    after: EntryPublic


class KbDiff(BaseModel):
    shop_id: str
    from_version: int
    to_version: int
    added: list[EntryPublic]
    removed: list[EntryPublic]
    changed: list[EntryChange]
    unchanged: int


class RevisionPublic(BaseModel):
    revision: int
    created_at: Timestamp
    action: str
    item_count: int
    current: bool


class RevisionList(BaseModel):
    shop_id: str
    current_revision: int | None
    data: list[RevisionPublic]


# -- quick phrases ------------------------------------------------------------------------------
_ITEM_ID = {"pattern": r"^[A-Za-z0-9_-]{0,64}$"}  # empty: generated, as when absent
PhraseText = Annotated[str, Field(description="The phrase (compliance-checked: no links, phones, WeChat/QQ).",
                                  json_schema_extra={**_TEXT, **setting_limit(maxLength="max_quick_phrase_chars")})]
_GROUP = {"maxLength": 30}
_SHORTCUT = {"pattern": r"^([A-Za-z0-9_/#.\-]{1,16})?$"}


class QuickPhraseIn(BaseModel):
    id: str | None = Field(None, description="Letters, digits, _ and -; generated when absent or empty.",
                           json_schema_extra=_ITEM_ID)
    text: PhraseText
    group: str = Field("", description="分组, e.g. 售后.", json_schema_extra=_GROUP)
    shortcut: str = Field("", description="Optional shortcut code unique in the shop, e.g. /th.",
                          json_schema_extra=_SHORTCUT)


class QuickPhrasePatch(BaseModel):
    text: PhraseText | None = None
    group: str | None = Field(None, json_schema_extra=_GROUP)
    shortcut: str | None = Field(None, json_schema_extra=_SHORTCUT)


class QuickPhrasePublic(BaseModel):
    id: str
    text: str
    group: str
    shortcut: str


class QuickPhraseList(BaseModel):
    shop_id: str
    revision: int | None
    limit: int = Field(description="Most quick phrases this shop may have (SMARTREPLY_MAX_QUICK_PHRASES).")
    data: list[QuickPhrasePublic]


class QuickPhraseChange(BaseModel):
    shop_id: str
    revision: int = Field(description="The new revision of the shop's quick phrases.")
    phrase: QuickPhrasePublic | None = None


class QuickPhraseImportResponse(BaseModel):
    shop_id: str
    revision: int
    phrases: int
    warnings: list[Problem] = Field(default_factory=list)
    skipped: list[Problem] = Field(default_factory=list)


# -- auto-reply rules ---------------------------------------------------------------------------
# Bounds of knowledge_base.rules.RuleLimits (checked there: 422 invalid_item per field).
Keyword = Annotated[str, Field(json_schema_extra={**_TEXT, "maxLength": 50})]  # a blank one is refused
Example = Annotated[str, Field(json_schema_extra={**_TEXT, "maxLength": 200})]
Weekday = Annotated[JsonInt, Field(json_schema_extra={"minimum": 1, "maximum": 7})]
_HHMM = r"([01][0-9]|2[0-3]):[0-5][0-9]"
_RULE_NAME = {**_TEXT, "maxLength": 50}
_REPLY = {**_TEXT, **setting_limit(maxLength="max_answer_chars")}
_COOLDOWN = {"maximum": 7 * 24 * 3600}


class TriggerModel(BaseModel):
    model_config = ConfigDict(json_schema_extra={
        "if": {"properties": {"mode": {"const": "semantic"}}},
        "then": {"required": ["examples"], "properties": {"examples": {"minItems": 1}}},
        "else": {"required": ["keywords"], "properties": {"keywords": {"minItems": 1}}}})

    mode: Literal["any", "all", "exact", "contains", "semantic"] = Field(
        description="any: one keyword in the message; all: every keyword; exact: the whole message is a keyword; "
        "contains: the keywords in this order; semantic: similar to an example above the threshold. Every mode "
        "but semantic needs a keyword; semantic needs an example.")
    keywords: list[Keyword] = Field(default_factory=list, json_schema_extra={"maxItems": 20})
    examples: list[Example] = Field(default_factory=list, description="semantic: example buyer phrasings.",
                                    json_schema_extra={"maxItems": 20})
    threshold: JsonNumber = Field(0.8, description="semantic: cosine similarity needed, in (0, 1].",
                             json_schema_extra={"exclusiveMinimum": 0, "maximum": 1})


class WindowModel(BaseModel):
    days: list[Weekday] = Field(default_factory=lambda: [1, 2, 3, 4, 5, 6, 7],
                                description="ISO weekdays the window starts on: 1 = Monday … 7 = Sunday.",
                                json_schema_extra={"minItems": 1})
    start: str = Field(description="HH:MM", examples=["22:00"], json_schema_extra={"pattern": f"^{_HHMM}$"})
    end: str = Field(description="HH:MM or 24:00; not after start = ends the next day (equal to start: refused).",
                     examples=["02:00"], json_schema_extra={"pattern": f"^({_HHMM}|24:00)$"})


class ScheduleModel(BaseModel):
    windows: list[WindowModel] = Field(default_factory=list, description="Empty: active at any time.",
                                       json_schema_extra={"maxItems": 10})
    exclude_dates: list[IsoDate] = Field(default_factory=list,
                                         description="Local dates the rule never fires (holidays).")


class RuleIn(BaseModel):
    id: str | None = Field(None, description="Generated when absent or empty.", json_schema_extra=_ITEM_ID)
    name: str = Field(json_schema_extra=_RULE_NAME)
    trigger: TriggerModel
    reply: str = Field(json_schema_extra=_REPLY)
    schedule: ScheduleModel = Field(default_factory=ScheduleModel)
    priority: JsonInt = Field(0, ge=-1000, le=1000, description="Higher wins when several rules fire.")
    enabled: StrictBool = True
    cooldown_seconds: JsonInt = Field(0, ge=0, description="Per conversation: do not fire again within this time.",
                                        json_schema_extra=_COOLDOWN)


class RulePatch(BaseModel):
    name: str | None = Field(None, json_schema_extra=_RULE_NAME)
    trigger: TriggerModel | None = None
    reply: str | None = Field(None, json_schema_extra=_REPLY)
    schedule: ScheduleModel | None = None
    priority: int_range(-1000, 1000) | None = None
    enabled: StrictBool | None = None
    cooldown_seconds: int_range(0, 7 * 24 * 3600) | None = None


class RulePublic(RuleIn):
    id: str


class RuleList(BaseModel):
    shop_id: str
    revision: int | None
    timezone: str
    data: list[RulePublic]


class RuleChange(BaseModel):
    shop_id: str
    revision: int
    rule: RulePublic | None = None


class ExplainRequest(BaseModel):
    message: str = Field(min_length=1, json_schema_extra=setting_limit(maxLength="max_message_chars"))
    at: IsoDateTime | None = Field(None, description="When the message arrives: ISO 8601 text (a number is refused); "
                                                     "without an offset it is the shop's local time. Default: now.")
    conversation_id: str | None = Field(None, max_length=128,
                                        description="Needed for cooldowns; without it they are not checked.")


class ReasonPublic(BaseModel):
    code: str = Field(description="disabled, excluded_date, outside_window, keyword_missing, keyword_order, "
                                  "not_exact, below_threshold, cooldown, lower_priority")
    message: str = Field(description="The reason as a sentence in the reader's language (Accept-Language).")
    message_code: str | None = Field(None, description="Its catalogue code, with params.")
    params: dict[str, Any] = Field(default_factory=dict)
    data: dict = Field(default_factory=dict)


class RuleDecisionPublic(BaseModel):
    rule_id: str
    name: str
    priority: int
    enabled: bool
    fires: bool
    reasons: list[ReasonPublic] = Field(description="Why it does not fire; empty when it fires.")
    matched: list[str] = Field(description="What did match (keywords found, the window it is in, …), in the "
                               "reader's language.")
    matched_codes: list[dict[str, Any]] = Field(default_factory=list, description="The same as {code, params}.")
    similarity: float | None = None
    best_example: str | None = None


class RuleWinner(BaseModel):
    rule_id: str
    name: str
    reply: str


class ExplainResponse(BaseModel):
    shop_id: str
    rules_revision: int | None
    timezone: str
    local_time: datetime = Field(description="The message time in the shop's time zone.")
    weekday: int = Field(description="ISO weekday of local_time (1 = Monday).")
    message: str
    winner: RuleWinner | None = Field(description="The rule whose reply goes out; null when none fires or the "
                                                  "message is escalated (a person must answer it).")
    rules: list[RuleDecisionPublic] = Field(description="Every rule, highest priority first.")
    notes: list[str] = Field(default_factory=list)
    escalate: EscalationPublic | None = Field(None, description="The message needs a person now: no rule "
                                                                "auto-replies to it (match records no firing).")


class ShopSettingsPublic(BaseModel):
    shop_id: str
    timezone: str = Field(description="IANA time zone of the shop's rule windows, default Asia/Shanghai.")
    first_response_target_seconds: int = Field(
        description="First-response target: a waiting buyer is highlighted after this many seconds (default 30).")
    reply_deadline_hours: int = Field(description="Every buyer message must be answered within this (default 48 h).")
    deadline_warning_hours: int = Field(
        description="The console warns this many hours before the reply deadline (default 24).")
    learning_auto_approve: bool = Field(
        False, description="Agents' accepted / edited suggestions become approved learned examples at once "
                           "(false: they wait in the review list of the merchant console).")


class ShopSettingsIn(BaseModel):
    """Only the fields sent are changed; null puts a target back to its default."""

    model_config = ConfigDict(extra="forbid")
    timezone: TimeZoneName | None = Field(None, examples=["Asia/Shanghai"], description="An IANA time zone name.")
    first_response_target_seconds: int_range(5, 3600) | None = None
    reply_deadline_hours: int_range(1, 168) | None = None
    deadline_warning_hours: int_range(1, 167) | None = None
    learning_auto_approve: StrictBool | None = Field(
        None, description="Agents' accepted / edited suggestions become approved learned examples at once.")



class EditOperation(BaseModel):
    """One change of a batch: add (the fields of an entry), update (id + the fields to change) or delete (id)."""

    model_config = ConfigDict(json_schema_extra={"allOf": [
        {"if": {"properties": {"op": {"const": "add"}}},
         "then": {"required": ["question"], "properties": {"question": {"type": "string", "minLength": 1}}}},
        {"if": {"properties": {"op": {"enum": ["update", "delete"]}}},
         "then": {"required": ["id"], "properties": {"id": {"type": "string", "minLength": 1}}}}]})

    op: Literal["add", "update", "delete"]
    id: str | None = Field(None, max_length=64, description="The entry (required for update and delete).")
    question: str | None = None
    similar: list[str] | None = None
    answers: list[str] | None = None
    category: str | None = None
    enabled: StrictBool | None = None

    @model_validator(mode="after")
    def _needs_id(self) -> EditOperation:
        if self.op != "add" and not self.id:
            raise PydanticCustomError("edit_needs_id", "{op} needs the entry's id", {"op": self.op})
        if self.op == "add" and not self.question:
            raise PydanticCustomError("edit_needs_question", "add needs a question")
        return self


class EditBatch(BaseModel):
    operations: list[EditOperation] = Field(min_length=1, max_length=500,
                                            description="Applied in order to the active version, as one new version.")


class HitTestRequest(BaseModel):
    message: str = Field(min_length=1, description="A question as a buyer would ask it.",
                         json_schema_extra=setting_limit(maxLength="max_message_chars"))
    suggest_threshold: Threshold | None = Field(None, description="Applied instead of the server's "
                                                "SMARTREPLY_SUGGEST_THRESHOLD for this test.")
    auto_reply_threshold: Threshold | None = Field(None, description="Applied instead of "
                                                   "SMARTREPLY_AUTO_REPLY_THRESHOLD for this test.")
    top_k: JsonInt = Field(3, ge=1, description="How many suggestions an agent would be shown.",
                           json_schema_extra=setting_limit(maximum="max_top_k"))
    conversation_id: str | None = Field(None, max_length=128)
    at: IsoDateTime | None = None


class MessagePublic(BaseModel):
    """A sentence for a person (a hit-test reason, why a question is listed), with its catalogue code."""

    code: str = Field(description="Catalogue code, e.g. why.dense_high, why.below, cluster.ignored.")
    params: dict[str, Any] = Field(default_factory=dict)
    text: str = Field(description="The sentence in the reader's language (Accept-Language).")

    @classmethod
    def of(cls, msg: Msg, lang: str) -> MessagePublic:
        return cls(code=msg.code, params=dict(msg.params), text=msg.text(lang))


class RankedPublic(BaseModel):
    rank: int = Field(description="Place in the ranker's order (1 = best).")
    entry_id: str | None
    question: str
    matched_question: str
    answer: str
    confidence: float = Field(description="Calibrated probability that this is the right answer.")
    score: float = Field(description="Cosine similarity of the message and the matched question.")
    intent: str | None = None
    status: Literal["suggested", "below_threshold", "duplicate", "blocked", "beyond_top_k"] = Field(
        description="What the decision did with it under the thresholds applied.")
    passes: bool = Field(description="Confidence ≥ the suggest threshold applied.")
    auto_reply: bool = Field(description="Confidence ≥ the auto-reply threshold applied.")
    why: list[MessagePublic] = Field(description="One sentence per main reason, in the reader's language.")
    features: dict[str, float] = Field(default_factory=dict)


class HitTestResponse(BaseModel):
    shop_id: str
    kb_version: int
    message: str
    test: bool = Field(True, description="Always true: a hit test is never recorded for analytics.")
    thresholds: dict[str, float] = Field(description="{suggest, auto_reply}: the thresholds the server applied.")
    intent: IntentPublic | None = None
    abstained: bool
    suggestions: list[SuggestionPublic] = Field(description="What an agent would be shown with these thresholds.")
    ranking: list[RankedPublic] = Field(description="Every ranked candidate, best first, near misses included.")
    timings_ms: dict[str, float]


class DemoKeys(BaseModel):
    shop_id: str
    agent: str = Field(description="The demo shop's agent key (客服工作台).")
    admin: str = Field(description="The demo shop's admin key (知识库管理).")


class KeyIdentity(BaseModel):
    key_id: str
    shop_id: str | None = Field(description="The key's shop; null for the platform operator.")
    scopes: list[str]
    name: str


class LearnedExamplePublic(BaseModel):
    id: str
    shop_id: str
    text: str = Field(description="The buyer message (PII-masked).")
    entry_id: str = Field(description="The FAQ entry an agent's pick labelled it with.")
    status: Literal["pending", "approved", "rejected", "promoted"] = Field(
        description="pending: waiting for the merchant; approved: used by suggestions; rejected: never used; "
                    "promoted: copied into a knowledge-base version as a 相似问.")
    origin: Literal["accepted", "edited", "own_reply", "manual"] = Field(
        description="What the agent did: sent the suggestion as is, edited it, or linked an own reply.")
    count: int = Field(description="How many times agents confirmed this message for this entry.")
    created_at: datetime
    decided_at: datetime | None = None
    decided_by: str | None = Field(None, description="auto (the shop auto-approves) or merchant.")
    agent_id: str | None = None
    request_id: str | None = Field(None, description="The suggestion request it first came from.")


class LearnedExampleList(BaseModel):
    items: list[LearnedExamplePublic]
    counts: dict[str, int] = Field(description="The shop's examples per status.")
    auto_approve: bool = Field(description="Whether agents' picks are approved without review (shop setting).")


class LearnedDecision(BaseModel):
    action: Literal["approve", "move", "reject"]
    entry_id: str | None = Field(None, min_length=1, max_length=128,
                                 description="move (or approve for another entry): the entry it belongs to.")


class LearnedPromoteResponse(BaseModel):
    example: LearnedExamplePublic
    version: int = Field(description="The new knowledge-base version holding the example as a 相似问.")
