"""The analytics writer: suggestion events batched off the request path, flushed on demand."""

from __future__ import annotations

import time

from knowledge_base.analytics import EventLog, SuggestionEvent
from knowledge_base.store import KbStore


def test_feedback_right_after_its_request_does_not_wait_for_batch_mates(tmp_path):
    store = KbStore(f"sqlite:///{tmp_path / 'kb.db'}")
    store.ensure_shop("s1")
    # A writer that would wait 30 s for more events to batch with the first one.
    events = EventLog(store, flush_interval=30.0)
    try:
        events.record(SuggestionEvent(shop_id="s1", request_id="r1", message="几天发货", kb_version=1,
                                      entry_ids=["B"], scores=[0.9], confidence=0.9, intent=None, latency_ms=3.0))
        started = time.monotonic()
        fb = events.record_feedback("s1", request_id="r1", action="accepted", agent_id="a1", suggestion_rank=1)
        assert time.monotonic() - started < 5  # flush() asked the writer to write what it held
        assert (fb.entry_id, fb.message) == ("B", "几天发货")
        # a flush with nothing held returns at once, and the writer keeps batching afterwards
        started = time.monotonic()
        events.flush()
        events.record(SuggestionEvent(shop_id="s1", request_id="r2", message="能开票吗", kb_version=1,
                                      entry_ids=["C"], scores=[0.8], confidence=0.8, intent=None, latency_ms=3.0))
        assert events.record_feedback("s1", request_id="r2", action="ignored", agent_id="a1").entry_id is None
        assert time.monotonic() - started < 5
    finally:
        events.close()
        store.close()
