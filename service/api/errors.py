"""The one mapping from the domain exception tree to HTTP responses."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

from models.errors import (
    ArtifactMismatch,
    Conflict,
    EncoderError,
    IndexDamaged,
    Forbidden,
    InvalidRequest,
    InvalidUpload,
    ItemExists,
    NoActiveKnowledgeBase,
    NotFound,
    RateLimited,
    SmartReplyError,
    Unauthorized,
    UploadError,
    UploadTooLarge,
)
from models.messages import CATALOGUE, M, Msg, pick_language

__all__ = ["install_error_handlers", "error_response", "request_language"]

logger = logging.getLogger(__name__)

_STATUS: list[tuple[type[SmartReplyError], int]] = [
    (Unauthorized, 401),
    (Forbidden, 403),
    (RateLimited, 429),
    (NoActiveKnowledgeBase, 409),
    (ItemExists, 409),
    (NotFound, 404),
    (InvalidUpload, 422),
    (InvalidRequest, 422),
    (UploadTooLarge, 413),
    (UploadError, 400),
    (ArtifactMismatch, 409),
    (Conflict, 409),
    (EncoderError, 503),
    (IndexDamaged, 503),
]


def request_language(request: Request) -> str:
    """zh or en, from the request's Accept-Language (Chinese when absent)."""
    return pick_language(request.headers.get("accept-language"))


def error_response(status: int, code: str, message: Msg, lang: str, details: list | None = None) -> JSONResponse:
    """``{"error": {code, message, message_code, params, details}}``: ``message`` in the reader's language,
    ``message_code`` + ``params`` for clients that translate themselves."""
    return JSONResponse(status_code=status, content={"error": {
        "code": code, "message": message.text(lang), "message_code": message.code, "params": dict(message.params),
        "details": details or []}}, headers={"Content-Language": lang})


# The parameters of pydantic's error types that the catalogue's templates use (plain numbers or text).
_VALIDATION_PARAMS = ("expected", "min_length", "max_length", "gt", "ge", "lt", "le", "pattern", "op")
_VALIDATION_ALIASES = {"int_parsing": "int_type", "int_from_float": "int_type", "float_parsing": "float_type",
                       "bool_parsing": "bool_type", "datetime_parsing": "datetime_type",
                       "datetime_from_date_parsing": "datetime_type", "model_type": "dict_type",
                       "model_attributes_type": "dict_type", "enum": "literal_error"}


def validation_reason(error: Mapping[str, Any]) -> Msg:
    """Why a request field is invalid, as a catalogue message: a Chinese page reads Chinese reasons.
    A type the catalogue lacks keeps pydantic's own (English) sentence."""
    kind = _VALIDATION_ALIASES.get(error.get("type", ""), error.get("type", ""))
    if f"invalid.{kind}" not in CATALOGUE:
        return M("invalid.other", detail=str(error.get("msg", "invalid")))
    ctx = error.get("ctx") or {}
    return M(f"invalid.{kind}", **{k: v if isinstance(v, (int, float)) else str(v)
                                   for k, v in ctx.items() if k in _VALIDATION_PARAMS})


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(SmartReplyError)
    async def _domain(request: Request, exc: SmartReplyError) -> JSONResponse:
        status = next((s for cls, s in _STATUS if isinstance(exc, cls)), 500)
        if status >= 500:
            logger.error("request failed: %s: %s", exc.code, exc.message)
        lang = request_language(request)
        response = error_response(status, exc.code, exc.msg, lang, exc.details_in(lang))
        if isinstance(exc, RateLimited):
            response.headers["Retry-After"] = str(int(exc.retry_after))
        elif isinstance(exc, Unauthorized):
            response.headers["WWW-Authenticate"] = "Bearer"
        return response

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        lang = request_language(request)
        errors = [(".".join(str(p) for p in e["loc"]), validation_reason(e)) for e in exc.errors()]
        details = [{"field": f, "reason": r.text(lang), "reason_code": r.code, "params": dict(r.params)}
                   for f, r in errors]
        field, reason = errors[0] if errors else ("?", M("invalid.other", detail="invalid"))
        return error_response(422, "invalid_request", M("error.request_field", field=field, reason=reason), lang,
                              details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        lang = request_language(request)
        if exc.status_code == 400:
            code, message, details = _unparsable(exc)
            return error_response(400, code, message, lang, details)
        if exc.status_code == 405:
            # Starlette names only the methods of the first route on the path; a path often has several.
            allowed = _allowed_methods(request)
            response = error_response(405, "method_not_allowed", M("error.method_not_allowed_use",
                                      method=request.method, allowed=allowed), lang, [{"allow": allowed}])
            response.headers["Allow"] = ", ".join(allowed)
            return response
        code = {404: "not_found", 413: "too_large"}.get(exc.status_code, "http_error")
        message = {404: M("error.not_found_route")}.get(
            exc.status_code, M("error.http", status=exc.status_code, detail=str(exc.detail)))
        response = error_response(exc.status_code, code, message, lang)
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        return response

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error")
        return error_response(500, "internal_error", M("error.internal_error"), request_language(request))


def _unparsable(exc: StarletteHTTPException) -> tuple[str, Msg, list[dict]]:
    """A 400 for a body that cannot be parsed: a stable code (body.<code> is its sentence) and the parser's
    own reason, e.g. python-multipart's for a header longer than it reads."""
    detail = str(exc.detail)
    cause = exc.__cause__ or exc.__context__
    while cause is not None and (cause.__cause__ or cause.__context__) is not None:
        cause = cause.__cause__ or cause.__context__
    reason = str(cause) if cause is not None else ""
    if "header size" in reason.lower():
        code = "multipart_header_too_long"
    elif "multipart" in detail.lower():
        code = "invalid_multipart"
    else:
        code = "invalid_body"
    shown = (reason or detail).strip().rstrip(".")[:200] or "unparsable"
    return code, M(f"body.{code}", detail=shown), [{"code": code, "detail": shown}]


def _allowed_methods(request: Request) -> list[str]:
    """The methods of the path's operations: of the most specific templates matching it (…/rules/explain
    also matches …/rules/{rule_id}, but its document entry is …/rules/explain)."""
    matching: list[tuple[int, set[str]]] = []
    for context in iter_route_contexts(request.app.router.routes):  # included routers too
        route, template = context.original_route, context.path_format
        if template is not None and getattr(route, "methods", None) and compile_path(template)[0].match(
                request.url.path):
            matching.append((template.count("{"), set(route.methods)))
    fewest = min((params for params, _ in matching), default=0)
    return sorted(set().union(*(methods for params, methods in matching if params == fewest)))
