"""The one mapping from the domain exception tree to HTTP responses."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from models.errors import (
    ArtifactMismatch,
    Conflict,
    EncoderError,
    IndexDamaged,
    Forbidden,
    InvalidRequest,
    InvalidUpload,
    NotFound,
    RateLimited,
    SmartReplyError,
    Unauthorized,
    UploadError,
    UploadTooLarge,
)
from models.messages import M, Msg, pick_language

__all__ = ["install_error_handlers", "error_response", "request_language"]

logger = logging.getLogger(__name__)

_STATUS: list[tuple[type[SmartReplyError], int]] = [
    (Unauthorized, 401),
    (Forbidden, 403),
    (RateLimited, 429),
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
        details = [{"field": ".".join(str(p) for p in e["loc"]), "reason": e["msg"]} for e in exc.errors()]
        first = details[0] if details else {"field": "?", "reason": "invalid"}
        return error_response(422, "invalid_request", M("error.request_field", field=first["field"],
                                                        reason=first["reason"]), request_language(request), details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(exc.status_code, "http_error")
        message = {404: M("error.not_found_route"), 405: M("error.method_not_allowed")}.get(
            exc.status_code, M("error.http", status=exc.status_code, detail=str(exc.detail)))
        response = error_response(exc.status_code, code, message, request_language(request))
        for name, value in (exc.headers or {}).items():  # e.g. Allow on a 405
            response.headers[name] = value
        return response

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error")
        return error_response(500, "internal_error", M("error.internal_error"), request_language(request))
