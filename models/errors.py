"""The one exception tree of smartreply.

Every error a user can act on is a ``SmartReplyError`` with a stable ``code`` (used in the HTTP
error body and the CLI message). Each class also refines a builtin so callers that only know the
builtin still catch it. The HTTP layer (``service/errors.py``) and the CLI map this tree once;
domain code never raises HTTP errors.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from .messages import CATALOGUE, Msg, render

__all__ = [
    "SmartReplyError",
    "ConfigError",
    "EncoderError",
    "EncoderNotExported",
    "ArtifactMismatch",
    "IndexDamaged",
    "UploadError",
    "UploadTooLarge",
    "TooManyRows",
    "ArchiveTooLarge",
    "ValidationProblem",
    "InvalidUpload",
    "InvalidItem",
    "ItemExists",
    "InvalidRequest",
    "LimitExceeded",
    "Conflict",
    "VersionNotActivatable",
    "NotFound",
    "ShopNotFound",
    "NoActiveKnowledgeBase",
    "VersionNotFound",
    "ItemNotFound",
    "AuthError",
    "Unauthorized",
    "Forbidden",
    "RateLimited",
    "RequestNotFound",
    "BuildFailed",
    "ConfirmationRequired",
    "ClusterError",
]


class SmartReplyError(Exception):
    """``message`` is a catalogue message (``models.messages.Msg``): the API shows it in the reader's
    language. A plain string is kept as the English detail of the class's generic message."""

    code = "error"

    def __init__(self, message: str | Msg, *, details: list[dict[str, Any]] | None = None) -> None:
        if not isinstance(message, Msg):  # a subclass elsewhere (eval, training) may have no template of its own
            code = f"error.{self.code}" if f"error.{self.code}" in CATALOGUE else "error.error"
            message = Msg(code, {"detail": message})
        msg = message
        super().__init__(msg.text("en"))
        self.msg = msg
        self.message = msg.text("en")  # logs and the CLI
        self.details = details or []

    def text(self, lang: str) -> str:
        return self.msg.text(lang)

    def details_in(self, lang: str) -> list[dict[str, Any]]:
        """``details`` with each problem's ``reason`` in ``lang`` (problems carry their code and params)."""
        return [localise_problem(d, lang) for d in self.details]


class ConfigError(SmartReplyError, ValueError):
    code = "config_error"


class EncoderError(SmartReplyError, RuntimeError):
    code = "encoder_error"


class EncoderNotExported(EncoderError, FileNotFoundError):
    """The ONNX artifact for the configured encoder has not been built yet."""

    code = "encoder_not_exported"


class ArtifactMismatch(SmartReplyError, ValueError):
    """An artifact (index, model) was made by a different encoder or format than asked for."""

    code = "artifact_mismatch"


class IndexDamaged(SmartReplyError, RuntimeError):
    """A saved index file cannot be read (disk damage, a partial copy): the version cannot be served."""

    code = "index_damaged"


@dataclass(frozen=True)
class ValidationProblem:
    """One problem in an uploaded file, located so a merchant can fix it in Excel."""

    reason: str
    severity: str = "error"  # error: blocks the import (or skips the row); warning: reported only
    row: int | None = None  # 1-based row as the merchant sees it in Excel (header is row 1)
    column: str | None = None
    sheet: str | None = None
    value: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    code: str | None = None  # stable kind of problem, e.g. missing_answer, conflict (docs/knowledge-base.md)
    # The reason as a catalogue message (``models.messages``): the API renders it in the reader's
    # language; ``reason`` is its English text.
    message: Msg | None = None

    @classmethod
    def of(cls, msg: Msg, *, code: str, **where: Any) -> ValidationProblem:
        return cls(msg.text("en"), code=code, message=msg, **where)

    def as_dict(self, lang: str | None = None) -> dict[str, Any]:
        data = {k: v for k, v in asdict(self).items() if v is not None and v != {} and k != "message"}
        if self.message is not None:
            data["message_code"] = self.message.code
            data["params"] = dict(self.message.params)
            if lang is not None:
                data["reason"] = self.message.text(lang)
        return data


def localise_problem(problem: dict[str, Any], lang: str) -> dict[str, Any]:
    """A problem dict (``ValidationProblem.as_dict``) with its reason in ``lang``."""
    if "message_code" not in problem:
        return problem
    return {**problem, "reason": render(problem["message_code"], problem.get("params"), lang)}


class UploadError(SmartReplyError, ValueError):
    """The uploaded file cannot be read at all (format, encoding, size)."""

    code = "upload_unreadable"


class UploadTooLarge(UploadError):
    """The file is bigger than ``max_upload_bytes``."""

    code = "upload_too_large"


class TooManyRows(UploadTooLarge):
    """The file holds more data rows than ``max_rows``; refused before any row is validated."""

    code = "too_many_rows"


class ArchiveTooLarge(UploadTooLarge):
    """An XLSX (a zip) would expand beyond the configured size or ratio: a zip bomb, or just too big."""

    code = "xlsx_too_large"


class InvalidUpload(SmartReplyError, ValueError):
    """The file was read but has rows that fail validation; nothing was imported."""

    code = "upload_invalid"

    def __init__(self, message: str | Msg, problems: list[ValidationProblem]) -> None:
        super().__init__(message, details=[p.as_dict() for p in problems])
        self.problems = problems


class InvalidItem(InvalidUpload):
    """A single FAQ entry, quick phrase or rule sent through the API fails validation; nothing changed.

    ``problems`` carry the field (``column``) and the reason, exactly as rows of an upload do.
    """

    code = "invalid_item"


class ItemExists(InvalidItem):
    """The item sent is valid on its own but its id (or a phrasing) is already taken in the shop: a 409.

    ``problems`` say which (``duplicate_id``, ``conflict``), located as for any invalid item."""

    code = "item_exists"


class InvalidRequest(SmartReplyError, ValueError):
    """A request's values are outside the limits the operator configured."""

    code = "invalid_request"


class LimitExceeded(InvalidRequest):
    """A per-shop count limit (quick phrases, rules) would be exceeded."""

    code = "limit_exceeded"


class Conflict(SmartReplyError, ValueError):
    """The request contradicts the current state (an id already taken, a version that cannot be used)."""

    code = "conflict"


class VersionNotActivatable(Conflict):
    """Rollback to a version that failed, is still building, or whose index is gone or was built by
    another encoder."""

    code = "version_not_activatable"


class ConfirmationRequired(Conflict):
    """A change that needs an explicit confirmation (e.g. an upload removing many entries) was sent
    without it, or with one that does not match what it would do; nothing was changed."""

    code = "confirmation_required"


class BuildFailed(SmartReplyError, RuntimeError):
    """A queued index build failed in the replica that ran it; the previous active version kept serving."""

    code = "build_failed"


class ClusterError(SmartReplyError, RuntimeError):
    """A local cluster (``smartreply cluster``) could not be started, stopped or read; the message says
    which part and why."""

    code = "cluster_error"


class NotFound(SmartReplyError, LookupError):
    code = "not_found"


class ShopNotFound(NotFound):
    code = "shop_not_found"


class NoActiveKnowledgeBase(NotFound):
    """The shop exists but has no active version yet (nothing uploaded, or every upload failed).

    A 409, not a 404: the shop is there, its state does not allow the request yet."""

    code = "no_active_kb"


class VersionNotFound(NotFound):
    code = "version_not_found"


class ItemNotFound(NotFound):
    """A FAQ entry, quick phrase, rule or revision that does not exist."""

    code = "item_not_found"


class RequestNotFound(NotFound):
    """Feedback for a suggestion request id this shop never made (or that is too old)."""

    code = "request_not_found"


class AuthError(SmartReplyError, PermissionError):
    code = "auth_error"


class Unauthorized(AuthError):
    """No API key, or a key that is unknown or revoked."""

    code = "unauthorized"


class Forbidden(AuthError):
    """A valid key without the scope this route needs, or for another shop."""

    code = "forbidden"


class RateLimited(SmartReplyError, RuntimeError):
    """The key sent more requests than its rate limit allows; retry after ``retry_after`` seconds."""

    code = "rate_limited"

    def __init__(self, message: str | Msg, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after
