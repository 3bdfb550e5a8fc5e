"""Request ids, one structured log line per request, Prometheus metrics and the request-body limit.

One pure-ASGI middleware does all four, so a request is timed, counted and logged exactly once, and
a body over the limit is refused before any route (or multipart parser) reads it.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.gc_collector import GCCollector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from models.messages import M, pick_language
from models.privacy import mask_pii

__all__ = ["Metrics", "RequestMiddleware", "JsonFormatter", "TextFormatter", "REQUEST_ID_HEADER", "caller_request_id"]

access_log = logging.getLogger("smartreply.access")
REQUEST_ID_HEADER = "x-request-id"
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def caller_request_id(given: str) -> str | None:
    """The caller's ``X-Request-ID`` if the service may use it as the request id: 1-64 safe characters
    and nothing PII masking would change (a phone or order number as an id would reach logs and the
    analytics tables). Otherwise the service makes its own id and logs the caller's only masked."""
    if _SAFE_ID.match(given) and mask_pii(given) == given:
        return given
    return None


# Routes whose body is a file upload (multipart): they get max_upload_bytes (+ form overhead).
_UPLOAD_PATHS = re.compile(r"/(kb|quick-phrases/import)$")
_FORM_OVERHEAD = 64 * 1024  # multipart boundaries and headers around an upload


class Metrics:
    """The process's Prometheus metrics, in their own registry (one per app: tests build many apps)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("smartreply_http_requests_total", "HTTP requests by route template, method, status.",
                                ["route", "method", "status"], registry=r)
        self.latency = Histogram("smartreply_http_request_duration_seconds", "Request latency by route template.",
                                 ["route", "method"], registry=r,
                                 buckets=(0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
                                          5, 10, 30))
        self.confidence = Histogram("smartreply_suggestion_confidence", "Confidence of the best suggestion.",
                                    registry=r, buckets=tuple(i / 20 for i in range(1, 21)))
        self.cache = Counter("smartreply_index_cache_total", "Shop index cache lookups.", ["result"], registry=r)
        self.cache_bytes = Gauge("smartreply_index_cache_bytes", "Estimated memory of loaded shop indexes.",
                                 registry=r)
        self.cache_shops = Gauge("smartreply_index_cache_shops", "Shop indexes loaded in this process.", registry=r)
        self.evictions = Counter("smartreply_index_cache_evictions_total", "Shop indexes evicted (LRU).",
                                 registry=r)
        self.load_seconds = Histogram("smartreply_index_load_duration_seconds", "Time to load a shop's index "
                                      "into memory on a cache miss (fetching files the disk lacks included).",
                                      registry=r, buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
        self.fetches = Counter("smartreply_index_fetches_total", "Index files fetched from the database into the "
                               "local disk cache, by why: missing, or damaged (failed its checksum).", ["reason"],
                               registry=r)
        self.fetch_bytes = Counter("smartreply_index_fetch_bytes_total", "Bytes of index files fetched from the "
                                   "database.", registry=r)
        self.builds = Counter("smartreply_index_builds_total", "Index builds (uploads and edits) by outcome.",
                              ["outcome"], registry=r)
        self.build_seconds = Histogram("smartreply_index_build_duration_seconds", "Index build time.", registry=r,
                                       buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300))
        self.encoder_batch = Histogram("smartreply_encoder_batch_requests",
                                       "Encode calls (suggestion requests; small edits) served by one model call (micro-batching).",
                                       registry=r, buckets=(1, 2, 3, 4, 6, 8, 12, 16, 32))
        self.gc_frozen = Gauge("smartreply_gc_frozen_objects", "Objects alive after start-up, frozen out of the "
                               "garbage collector (serve).", registry=r)
        GCCollector(registry=r)  # python_gc_collections_total{generation}: full collections are the costly ones
        self.builds_running = Gauge("smartreply_index_builds_running", "Index builds running in this process.",
                                    registry=r)

    def cache_event(self, event: str, **info: Any) -> None:
        """The Suggester's cache hook: hit, miss (with the load's seconds), evict, fetch (a file from the
        database); with the cache's size after the event."""
        if event == "fetch":
            self.fetches.labels(reason=info["reason"]).inc()
            self.fetch_bytes.inc(info["bytes"])
            return
        if event == "evict":
            self.evictions.inc()
        else:
            self.cache.labels(result=event).inc()
        if "seconds" in info:
            self.load_seconds.observe(info["seconds"])
        if "bytes" in info:
            self.cache_bytes.set(info["bytes"])
        if "shops" in info:
            self.cache_shops.set(info["shops"])


class RequestMiddleware:
    def __init__(self, app: ASGIApp, *, metrics: Metrics, max_body_bytes: int, max_upload_bytes: int) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.max_upload_bytes = max_upload_bytes + _FORM_OVERHEAD

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = dict(scope.get("headers") or [])
        given = headers.get(REQUEST_ID_HEADER.encode(), b"").decode("latin-1")
        usable = caller_request_id(given)
        state = scope.setdefault("state", {})
        # A route may replace the id (a reused X-Request-ID): the header and the log follow the state.
        state["request_id"] = usable or uuid.uuid4().hex
        state["request_id_from_caller"] = usable is not None
        upload = bool(_UPLOAD_PATHS.search(scope["path"]))
        limit = self.max_upload_bytes if upload else self.max_body_bytes
        status = {"code": 500}
        exceeded = False  # the body went over the limit: whatever the app answers, the client gets a 413

        async def send_wrapper(message: Message) -> None:
            if exceeded:
                return
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", state["request_id"].encode())]
            await send(message)

        length = headers.get(b"content-length")
        too_large = False
        if length is not None:
            try:
                too_large = int(length) > limit
            except ValueError:
                too_large = True
        received = 0

        async def receive_limited() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # A chunked body has no Content-Length to refuse up front. The body parsers turn
                    # any error while reading into a 400, so the flag (not the exception) decides.
                    exceeded = True
                    raise _BodyTooLarge
            return message

        try:
            if too_large:
                await _too_large(send_wrapper, limit, headers, upload=upload)
            else:
                await self.app(scope, receive_limited, send_wrapper)
        except _BodyTooLarge:
            pass
        finally:
            if exceeded:
                exceeded = False
                await _too_large(send_wrapper, limit, headers, upload=upload)
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "")
            if template != "/metrics":
                self.metrics.requests.labels(route=template, method=method, status=str(status["code"])).inc()
                self.metrics.latency.labels(route=template, method=method).observe(elapsed)
            shop = (scope.get("path_params") or {}).get("shop_id")
            fields = {"request_id": state["request_id"], "method": method, "route": template,
                      "status": status["code"], "latency_ms": round(elapsed * 1000, 2), "shop": shop}
            if given and given != state["request_id"]:
                fields["caller_request_id"] = mask_pii(given[:64])  # refused or reused: kept masked for tracing
            access_log.info("request", extra={"fields": fields})


class _BodyTooLarge(Exception):
    pass


async def _too_large(send: Send, limit: int, headers: dict[bytes, bytes], *, upload: bool) -> None:
    if upload:
        limit -= _FORM_OVERHEAD
        code, message = "upload_too_large", M("error.upload_body_too_large", limit=limit)
    else:
        code, message = "too_large", M("error.too_large", limit=limit)
    lang = pick_language(headers.get(b"accept-language", b"").decode("latin-1"))
    body = json.dumps({"error": {"code": code, "message": message.text(lang), "message_code": message.code,
                                 "params": dict(message.params), "details": [{"code": "body_too_large", "limit": limit}]}},
                      ensure_ascii=False).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg (PII-masked), and a request's ``fields``."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname,
            "logger": record.name,
            "msg": mask_pii(record.getMessage()),
        }
        fields = getattr(record, "fields", None)
        if fields:
            data.update(fields)
        if record.exc_info:
            data["exc"] = mask_pii(self.formatException(record.exc_info))
        return json.dumps(data, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """A readable line for a terminal: time, level, logger, message (PII-masked); a request's fields
    as ``key=value`` (``GET /v1/shops/{shop_id}/kb 201 12.3 ms shop=demo``)."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s", datefmt="%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", None)
        if fields and record.getMessage() == "request":
            f = dict(fields)
            line = f"{f.pop('method', '')} {f.pop('route', '')} {f.pop('status', '')} {f.pop('latency_ms', '')} ms"
            extra = " ".join(f"{k}={v}" for k, v in f.items() if v is not None)
            record = logging.makeLogRecord({**record.__dict__, "msg": f"{line} {extra}".rstrip(), "args": ()})
        else:
            record = logging.makeLogRecord({**record.__dict__, "msg": mask_pii(record.getMessage()), "args": ()})
        return super().format(record)
