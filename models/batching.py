"""Micro-batching for the serving encoder: concurrent requests of one process share one model call.

One int8 query costs ~2.4 ms on one thread; a batch of 8 costs ~1.5 ms a query (docs/benchmarks.md).
Under load a worker has several requests waiting to be encoded at the same moment; running them as
one batch spends the core on fewer, fuller calls.

No batching thread and no timer: the first caller to find the encoder idle becomes the *leader* and
runs whatever is waiting (its own texts included); callers that arrive meanwhile wait, and when the
leader has its own vectors it hands the lead to the oldest waiting caller. A lone request is encoded
at once, on its own thread, with nothing added but a lock.

Dynamic int8 quantisation scales activations per call, so a text's vector depends slightly on what
it was batched with (cosine ≥ 0.995 to the text alone, the order of int8 vs fp32 itself). Set
``encoder_max_batch`` to 1 where identical messages must score identically under load.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

import numpy as np

from .encoder import Encoder

__all__ = ["BatchingEncoder"]

logger = logging.getLogger(__name__)


class _Call:
    __slots__ = ("texts", "done", "lead", "result", "error")

    def __init__(self, texts: list[str]) -> None:
        self.texts = texts
        self.done = threading.Event()
        self.lead = False  # woken to lead, not with a result
        self.result: np.ndarray | None = None
        self.error: BaseException | None = None


class BatchingEncoder:
    """An :class:`~models.encoder.Encoder` that merges concurrent small ``encode`` calls.

    Calls with more than ``max_batch`` texts (knowledge-base builds) go straight to the wrapped
    encoder, which batches them itself.
    """

    def __init__(self, encoder: Encoder, max_batch: int = 16, *,
                 on_batch: Callable[[int], None] | None = None) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be >= 1")
        self.encoder = encoder
        self.max_batch = max_batch
        self.model_id = encoder.model_id
        self.dim = encoder.dim
        self._lock = threading.Lock()
        self._waiting: list[_Call] = []
        self._busy = False
        self.calls = 0  # model calls made for merged requests (observability and tests)
        self.merged = 0  # requests those calls served
        self.on_batch = on_batch or (lambda requests: None)  # e.g. a metrics histogram

    def __getattr__(self, name: str):  # noqa: ANN204 - precision, manifest, … of the wrapped encoder
        return getattr(self.encoder, name)

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        if isinstance(texts, str):
            raise TypeError("encode() takes a sequence of strings, not a single string")
        texts = list(texts)
        if len(texts) > self.max_batch or self.max_batch == 1 or not texts:
            return self.encoder.encode(texts, batch_size=batch_size)
        call = _Call(texts)
        with self._lock:
            self._waiting.append(call)
            lead = not self._busy
            self._busy = True
        if not lead:
            call.done.wait()
            if not call.lead:
                return self._result(call)
        try:
            while call.result is None and call.error is None:
                self._run_batch()
        finally:
            self._hand_over()
        return self._result(call)

    def _run_batch(self) -> None:
        """Encode the oldest waiting calls, up to ``max_batch`` texts (at least one call)."""
        with self._lock:
            take, n = 0, 0
            while take < len(self._waiting) and (take == 0 or n + len(self._waiting[take].texts) <= self.max_batch):
                n += len(self._waiting[take].texts)
                take += 1
            batch, self._waiting[:take] = self._waiting[:take], []
        try:
            vectors = self.encoder.encode([t for c in batch for t in c.texts], batch_size=max(n, 1))
        except BaseException as exc:  # noqa: BLE001 - every caller of the batch gets the error
            for c in batch:
                c.error = exc
                c.done.set()
            return
        start = 0
        for c in batch:
            c.result = vectors[start:start + len(c.texts)]
            start += len(c.texts)
            c.done.set()
        self.calls += 1
        self.merged += len(batch)
        try:
            self.on_batch(len(batch))
        except Exception:  # noqa: BLE001 - a broken metrics hook must not fail suggestions
            logger.exception("encoder batch hook failed")

    def _hand_over(self) -> None:
        with self._lock:
            if self._waiting:
                nxt = self._waiting[0]
                nxt.lead = True
                nxt.done.set()
            else:
                self._busy = False

    @staticmethod
    def _result(call: _Call) -> np.ndarray:
        if call.error is not None:
            raise call.error
        assert call.result is not None
        return call.result

    def __repr__(self) -> str:
        return f"BatchingEncoder({self.encoder!r}, max_batch={self.max_batch})"
