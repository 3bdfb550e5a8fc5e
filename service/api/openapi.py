"""The OpenAPI document says what the server accepts and answers, for every operation alike.

FastAPI derives the document from the routes; three things it cannot know are added here once, not
route by route (a fuzzer — tests/e2e/test_schema_fuzz.py — holds the server to the result):

- the error answers shared by whole classes of operations: 400 (a body that cannot be parsed) and
  413 (a body over the limit) for operations with a body, 401/403 (and 429 when rate-limited) behind
  a key, 404 for operations on a shop, 422 where anything is validated;
- limits that are settings (``max_top_k`` …): a field marked with :func:`setting_limit` gets the
  configured value as ``maximum`` / ``maxLength`` / ``maxItems`` (``schemas.setting_limit``), and the setting's name in
  ``x-setting``;
- answers a route declares itself (``responses=error_responses(409)``) get the shared description.

405 is not an operation's answer in OpenAPI; every 405 carries ``Allow`` (``errors.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, iter_route_contexts

from knowledge_base.export import MEDIA_TYPES

from ..config import Settings
from .schemas import SETTING_LIMIT, ErrorResponse

__all__ = ["ERROR_DESCRIPTIONS", "SPREADSHEET_OK", "error_responses", "install_openapi"]

ERROR_DESCRIPTIONS = {
    400: "The body cannot be parsed (not JSON, nested too deeply, broken multipart data), or an uploaded file "
         "cannot be read (encoding, format, columns, file name); `details` locates the problem.",
    401: "No API key, or an unknown or revoked one.",
    403: "The key belongs to another shop or lacks the scope this operation needs.",
    404: "The shop, version, entry or item does not exist.",
    409: "The request conflicts with the current state (e.g. `no_active_kb`: the shop has no knowledge base yet; "
         "a version that cannot be activated; an id already taken).",
    413: "The body (or uploaded file) is over the configured limit.",
    422: "A value is invalid or outside a limit; `details` names each field and why.",
    429: "The key's rate limit is exceeded; retry after `Retry-After` seconds.",
    503: "The shop's index cannot be read or the encoder is unavailable.",
}


# A download answers with the file itself, in the format the caller asked for.
SPREADSHEET_OK: dict[int | str, dict[str, Any]] = {
    200: {"content": {MEDIA_TYPES["xlsx"]: {}, MEDIA_TYPES["csv"]: {}}, "description": "The file (XLSX or CSV)."}}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` of a route: these error answers with the shared error body and description."""
    return {status: {"model": ErrorResponse, "description": ERROR_DESCRIPTIONS[status]} for status in statuses}


def _uses(dependant: Dependant, names: set[str]) -> bool:
    return any(getattr(d.call, "__name__", "") in names or _uses(d, names) for d in dependant.dependencies)


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def install_openapi(app: FastAPI, settings: Settings) -> None:
    """Replace ``app.openapi`` with a generator that adds the shared answers and the settings' limits."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, summary=app.summary, routes=app.routes)
        error_ref = _error_schema(schema)
        for context in iter_route_contexts(app.routes):  # included routers too, with their prefixes
            route = context.original_route
            if not isinstance(route, APIRoute) or not route.include_in_schema:
                continue
            for method in route.methods:
                operation = schema["paths"].get(context.path_format, {}).get(method.lower())
                if operation is not None:
                    # The context's dependant has the include-level dependencies too (the template's key).
                    dependant = getattr(context, "dependant", None) or route.dependant
                    _add_errors(operation, context.path_format, route, dependant, settings, error_ref)
        for node in _walk(schema):
            limits = node.pop(SETTING_LIMIT, None)
            if limits:
                for keyword, setting in limits.items():
                    node[keyword] = getattr(settings, setting)
                node["x-setting"] = ", ".join(f"SMARTREPLY_{s.upper()}" for s in limits.values())
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _error_schema(schema: dict[str, Any]) -> dict[str, Any]:
    return {"$ref": "#/components/schemas/ErrorResponse"} if "ErrorResponse" in schema.get("components", {}).get(
        "schemas", {}) else {}


def _add_errors(operation: dict[str, Any], path: str, route: APIRoute, dependant: Dependant, settings: Settings,
                error_ref: dict[str, Any]) -> None:
    statuses: list[int] = []
    if route.body_field is not None:
        statuses += [400, 413, 422]
    if route.dependant.query_params or route.dependant.path_params:
        statuses.append(422)
    if settings.auth == "on" and _uses(dependant, {"get_caller"}):
        statuses += [401, 403]
        if settings.rate_limit_per_second > 0:
            statuses.append(429)
    if "{shop_id}" in path:
        statuses.append(404)
    responses = operation.setdefault("responses", {})
    for status in statuses:
        answer = responses.setdefault(str(status), {})
        answer.setdefault("description", ERROR_DESCRIPTIONS[status])
        if error_ref:
            answer.setdefault("content", {"application/json": {"schema": error_ref}})
    for status, answer in responses.items():
        if status.isdigit() and int(status) in ERROR_DESCRIPTIONS and answer.get("description") in (None, "",
                                                                                                    _DEFAULT_TEXT):
            answer["description"] = ERROR_DESCRIPTIONS[int(status)]
        if status == "429":
            answer.setdefault("headers", {"Retry-After": {"schema": {"type": "integer"},
                                                          "description": "Seconds to wait before retrying."}})


_DEFAULT_TEXT = "Additional Response"  # what FastAPI writes for a status declared without a description
