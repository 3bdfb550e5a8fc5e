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

__all__ = ["install_error_handlers", "error_response"]

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


def error_response(status: int, code: str, message: str, details: list | None = None) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": {"code": code, "message": message,
                                                               "details": details or []}})


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(SmartReplyError)
    async def _domain(_: Request, exc: SmartReplyError) -> JSONResponse:
        status = next((s for cls, s in _STATUS if isinstance(exc, cls)), 500)
        if status >= 500:
            logger.error("request failed: %s: %s", exc.code, exc.message)
        response = error_response(status, exc.code, exc.message, exc.details)
        if isinstance(exc, RateLimited):
            response.headers["Retry-After"] = str(int(exc.retry_after))
        elif isinstance(exc, Unauthorized):
            response.headers["WWW-Authenticate"] = "Bearer"
        return response

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = [{"field": ".".join(str(p) for p in e["loc"]), "reason": e["msg"]} for e in exc.errors()]
        first = details[0] if details else {"field": "?", "reason": "invalid"}
        return error_response(422, "invalid_request", f"{first['field']}: {first['reason']}", details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error")
        return error_response(500, "internal_error", "internal error; see the server log")
