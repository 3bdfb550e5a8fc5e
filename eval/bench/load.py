"""A bounded loopback load driver: ``concurrency`` async workers share ``requests`` POSTs.

Every run stops at whichever comes first: the request count or ``seconds``. The client is a minimal
HTTP/1.1 keep-alive client on asyncio streams, one connection per worker: the load generator shares
the 2 cores with the server, and httpx.AsyncClient spent ~2.9 ms of CPU per request there (a sixth
of the machine at 100 req/s) against ~0.2 ms for this one. Each response's client-side latency is
measured here; the server's own ``timings_ms.total`` (when present) is kept
beside it, so the report can separate time in the pipeline from HTTP + event-loop + queueing.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from urllib.parse import urlsplit

import numpy as np

__all__ = ["LoadResult", "run_load", "percentiles"]


@dataclass
class LoadResult:
    target: str
    concurrency: int
    sent: int
    ok: int
    errors: int
    seconds: float
    throughput: float  # successful responses per second of wall time
    client_ms: dict[str, float]  # p50 / p95 / p99 / mean of client-side latency
    server_ms: dict[str, float]  # same of the response's timings_ms.total (empty if absent)
    top1_accuracy: float | None = None  # share of answers whose first suggestion is the expected entry
    error_samples: list[str] = field(default_factory=list)
    loadavg_1m: tuple[float, float] = (0.0, 0.0)  # machine load before / after the run

    def as_dict(self) -> dict:
        return asdict(self)


def percentiles(values: Sequence[float]) -> dict[str, float]:
    if not len(values):
        return {}
    a = np.asarray(values, dtype=np.float64)
    return {"p50": round(float(np.percentile(a, 50)), 3), "p95": round(float(np.percentile(a, 95)), 3),
            "p99": round(float(np.percentile(a, 99)), 3), "mean": round(float(a.mean()), 3)}


class _Connection:
    """One keep-alive HTTP/1.1 connection that POSTs JSON and reads Content-Length bodies."""

    def __init__(self, url: str, timeout: float, headers: dict[str, str] | None = None) -> None:
        parts = urlsplit(url)
        self.extra_head = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self.host, self.port, self.path = parts.hostname or "127.0.0.1", parts.port or 80, parts.path or "/"
        self.timeout = timeout
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post_json(self, body: bytes, path: str | None = None) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        head = (f"POST {path or self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nContent-Type: application/json\r\n"
                f"{self.extra_head}Content-Length: {len(body)}\r\n\r\n").encode()
        self.writer.write(head + body)
        try:
            return await asyncio.wait_for(self._read_response(), self.timeout)
        except BaseException:
            self.close()
            raise

    async def _read_response(self) -> tuple[int, bytes]:
        assert self.reader is not None
        header = await self.reader.readuntil(b"\r\n\r\n")
        lines = header.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length, close = 0, False
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "connection" and value.strip().lower() == "close":
                close = True
        data = await self.reader.readexactly(length)
        if close:
            self.close()
        return status, data

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def _drive(url: str, bodies: list[bytes], expected: list[str | None], concurrency: int, requests: int,
                 seconds: float, timeout: float, headers: dict[str, str] | None = None,
                 paths: Sequence[str] = ()) -> tuple[list[float], list[float], int, list[str], int, int, float]:
    client_ms: list[float] = []
    server_ms: list[float] = []
    errors: list[str] = []
    correct = judged = 0
    next_i = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal next_i, correct, judged
        conn = _Connection(url, timeout, headers)
        try:
            while next_i < requests and time.perf_counter() < deadline:
                i = next_i
                next_i += 1
                t0 = time.perf_counter()
                try:
                    status, raw = await conn.post_json(bodies[i % len(bodies)],
                                                       paths[i % len(paths)] if paths else None)
                    elapsed = (time.perf_counter() - t0) * 1000
                    if status != 200:
                        errors.append(f"HTTP {status}: {raw[:200].decode('utf-8', 'replace')}")
                        continue
                    data = json.loads(raw)
                except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError,
                        ValueError) as exc:
                    errors.append(f"{type(exc).__name__}: {exc}"[:200])
                    continue
                client_ms.append(elapsed)
                total = (data.get("timings_ms") or {}).get("total")
                if total is not None:
                    server_ms.append(float(total))
                want = expected[i % len(expected)] if expected else None
                if want is not None:
                    judged += 1
                    sugg = data.get("suggestions") or []
                    correct += bool(sugg) and sugg[0].get("entry_id") == want
        finally:
            conn.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - started
    return client_ms, server_ms, next_i, errors, correct, judged, wall


def run_load(url: str, messages: Sequence[str], *, concurrency: int, requests: int, seconds: float,
             expected: Sequence[str | None] = (), top_k: int = 3, timeout: float = 30.0,
             target: str = "", warmup: int = 0, headers: dict[str, str] | None = None,
             paths: Sequence[str] = ()) -> LoadResult:
    """POST ``{"message", "top_k"}`` bodies round-robin from ``messages``; bounded by count and time.

    ``paths`` (same length as ``messages``) sends message i to that path of the server instead of
    ``url``'s (many shops on one server)."""
    if paths and len(paths) != len(messages):
        raise ValueError("paths must pair up with messages")
    if concurrency < 1 or requests < 1 or seconds <= 0:
        raise ValueError("concurrency, requests and seconds must be positive")
    bodies = [json.dumps({"message": m, "top_k": top_k}, ensure_ascii=False).encode() for m in messages]
    if warmup:
        asyncio.run(_drive(url, bodies[-warmup:], [], min(concurrency, warmup), warmup, seconds, timeout, headers,
                           list(paths)[-warmup:]))
    load_before = _loadavg()
    client, server, sent, errors, correct, judged, wall = asyncio.run(
        _drive(url, bodies, list(expected), concurrency, requests, seconds, timeout, headers, list(paths)))
    return LoadResult(
        target=target, concurrency=concurrency, sent=sent, ok=len(client), errors=len(errors),
        seconds=round(wall, 3), throughput=round(len(client) / wall, 1) if wall > 0 else 0.0,
        client_ms=percentiles(client), server_ms=percentiles(server),
        top1_accuracy=round(correct / judged, 4) if judged else None, error_samples=errors[:5],
        loadavg_1m=(load_before, _loadavg()),
    )


def _loadavg() -> float:
    # Another job on a 2-core box moves every number here; the 1-minute load average says so.
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return -1.0
