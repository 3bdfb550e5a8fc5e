"""A shop that grows from its own buyers' messages never gets worse (real encoder, demo shop).

Half of a fixed set of team-written buyer messages (tests/data/demo_paraphrases.jsonl) is given to the
shop with its right entry — once as approved learned examples (what agents' picks make), once as 相似问
in a new KB version (what a merchant who promotes them gets) — and Hit@1 on the other half must not
fall. The messages given must then be answered right themselves.
"""

from __future__ import annotations

import json

import pytest

from service.config import Settings
from service.demo_shop import DEMO_FAQ_PATH
from service.pipeline import SuggestRequest
from service.runtime import Runtime
from tests.conftest import OPERATOR_KEY, PARAPHRASES

pytestmark = pytest.mark.slow


def hit1(runtime: Runtime, shop: str, queries: list[dict]) -> float:
    hits = 0
    for q in queries:
        result = runtime.suggester.suggest(SuggestRequest(shop, q["query"], top_k=3, min_confidence=0.0))
        kb = [s for s in result.suggestions if s.source == "kb"]
        hits += bool(kb) and kb[0].entry_id == q["gold_entry_id"]
    return hits / len(queries)


@pytest.fixture
def runtime(tmp_path, real_encoder):
    rt = Runtime(Settings(operator_key=OPERATOR_KEY, data_dir=tmp_path, learning_refresh_seconds=0, reload_in_background=False), encoder=real_encoder)
    rt.kb.import_file("demo", DEMO_FAQ_PATH.name, DEMO_FAQ_PATH.read_bytes())
    yield rt
    rt.close()


def split() -> tuple[list[dict], list[dict]]:
    queries = [json.loads(line) for line in PARAPHRASES.read_text("utf-8").splitlines() if line.strip()]
    return queries[0::2], queries[1::2]


def test_approved_learned_examples_never_lower_hit_at_1(runtime):
    given, held_out = split()
    before_held, before_given = hit1(runtime, "demo", held_out), hit1(runtime, "demo", given)
    for q in given:
        runtime.learning.record("demo", q["query"], q["gold_entry_id"], origin="edited", approve=True)
    after_held, after_given = hit1(runtime, "demo", held_out), hit1(runtime, "demo", given)
    assert runtime.suggester.kb("demo").learned is not None and len(runtime.suggester.kb("demo").learned.layer) == len(given)
    assert after_held >= before_held, (before_held, after_held)
    assert after_given == 1.0 and after_given >= before_given


def test_phrasings_added_to_the_kb_never_lower_hit_at_1(runtime):
    given, held_out = split()
    before = hit1(runtime, "demo", held_out)
    _, entries = runtime.kb.entries("demo")
    similar = {e.id: list(e.similar) for e in entries}
    for q in given:
        similar[q["gold_entry_id"]].append(q["query"])
    runtime.kb.edit_entries("demo", [{"op": "update", "id": entry_id, "similar": similar[entry_id]}
                                     for entry_id in sorted({q["gold_entry_id"] for q in given})])
    assert hit1(runtime, "demo", held_out) >= before
    assert hit1(runtime, "demo", given) == 1.0
