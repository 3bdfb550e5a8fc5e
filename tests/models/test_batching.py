"""Micro-batching of concurrent encode calls: every caller gets its own rows, fewer model calls run."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from models.batching import BatchingEncoder
from tests.fakes import CharNgramEncoder


class SlowEncoder(CharNgramEncoder):
    """The fake encoder taking 50 ms a call, so concurrent callers really overlap; records its calls."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[list[str]] = []
        self.fail_on: str | None = None

    def encode(self, texts, batch_size=64):
        self.batches.append(list(texts))
        time.sleep(0.05)
        if self.fail_on is not None and self.fail_on in texts:
            raise RuntimeError("model failed")
        return super().encode(texts, batch_size)


MESSAGES = [f"第{i}个问题：什么时候发货{i}" for i in range(24)]


def encode_concurrently(encoder, requests: list[list[str]]) -> list[np.ndarray]:
    barrier = threading.Barrier(len(requests))

    def one(texts):
        barrier.wait()
        return encoder.encode(texts)

    with ThreadPoolExecutor(len(requests)) as pool:
        return list(pool.map(one, requests))


def test_a_lone_call_runs_at_once_on_its_own():
    inner = SlowEncoder()
    encoder = BatchingEncoder(inner, max_batch=16)
    out = encoder.encode(["在吗", "发货了吗"])
    np.testing.assert_array_equal(out, CharNgramEncoder().encode(["在吗", "发货了吗"]))
    assert inner.batches == [["在吗", "发货了吗"]]
    assert (encoder.model_id, encoder.dim) == (inner.model_id, inner.dim)


def test_concurrent_calls_share_model_calls_and_each_gets_its_own_rows():
    inner = SlowEncoder()
    sizes: list[int] = []
    encoder = BatchingEncoder(inner, max_batch=8, on_batch=sizes.append)
    requests = [[m] for m in MESSAGES[:12]] + [[MESSAGES[12], MESSAGES[13]]]
    results = encode_concurrently(encoder, requests)
    reference = CharNgramEncoder()
    for texts, out in zip(requests, results):
        np.testing.assert_allclose(out, reference.encode(texts), rtol=1e-6)
    assert len(inner.batches) < len(requests)  # merged
    assert max(len(b) for b in inner.batches) <= 8  # never above max_batch
    assert sorted(t for b in inner.batches for t in b) == sorted(t for r in requests for t in r)  # each once
    assert encoder.merged == sum(sizes) == len(requests) and encoder.calls == len(sizes) == len(inner.batches)
    # Idle again: the next lone call runs at once.
    inner.batches.clear()
    encoder.encode(["在吗"])
    assert inner.batches == [["在吗"]]


def test_large_calls_go_straight_to_the_encoder():
    inner = SlowEncoder()
    encoder = BatchingEncoder(inner, max_batch=4)
    encoder.encode(MESSAGES[:10])
    assert inner.batches == [MESSAGES[:10]] and encoder.calls == 0


def test_a_failed_model_call_fails_its_callers_only_and_the_encoder_recovers():
    inner = SlowEncoder()
    inner.fail_on = MESSAGES[0]
    encoder = BatchingEncoder(inner, max_batch=4)
    requests = [[m] for m in MESSAGES[:8]]
    barrier = threading.Barrier(len(requests))

    def one(texts):
        barrier.wait()
        try:
            return encoder.encode(texts)
        except RuntimeError as exc:
            return exc

    with ThreadPoolExecutor(len(requests)) as pool:
        results = list(pool.map(one, requests))
    failed_batch = next(b for b in inner.batches if MESSAGES[0] in b)
    for texts, out in zip(requests, results):
        assert isinstance(out, RuntimeError) == (texts[0] in failed_batch)
    inner.fail_on = None
    assert encoder.encode(["在吗"]).shape == (1, inner.dim)


def test_max_batch_one_never_merges_and_bad_settings_are_refused():
    inner = SlowEncoder()
    encoder = BatchingEncoder(inner, max_batch=1)
    encode_concurrently(encoder, [[m] for m in MESSAGES[:4]])
    assert len(inner.batches) == 4
    with pytest.raises(ValueError):
        BatchingEncoder(inner, max_batch=0)
    with pytest.raises(TypeError):
        encoder.encode("在吗")


@pytest.mark.slow
def test_the_real_encoder_batched_agrees_with_it_alone(real_encoder):
    encoder = BatchingEncoder(real_encoder, max_batch=16)
    requests = [[m] for m in ["什么时候发货", "可以开发票吗", "快递到哪了", "尺码偏大吗", "退款多久到账",
                              "有赠品吗", "地址填错了怎么改", "质量太差了我要投诉"]]
    results = encode_concurrently(encoder, requests * 2)
    for texts, out in zip(requests * 2, results):
        alone = real_encoder.encode(texts)
        assert out.shape == alone.shape == (1, 512)
        assert float(out[0] @ alone[0]) > 0.99  # int8 activations are scaled per model call
