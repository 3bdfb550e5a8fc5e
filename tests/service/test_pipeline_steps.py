"""The suggestion pipeline's steps with the real encoder and intent model, on the demo shop."""

from __future__ import annotations

import time

import pytest

from knowledge_base.importer import import_entries
from knowledge_base.rules import Rule, Trigger
from knowledge_base.schema import FaqEntry
from service.config import Settings
from service.pipeline import SuggestContext, SuggestRequest, Turn
from service.runtime import Runtime
from tests.conftest import ARTIFACTS, DEMO_FAQ

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def runtime(tmp_path_factory, real_encoder):
    rt = Runtime(Settings(data_dir=tmp_path_factory.mktemp("pipeline"), artifacts_dir=ARTIFACTS), encoder=real_encoder)
    rt.uploads.import_file("demo", DEMO_FAQ.name, DEMO_FAQ.read_bytes())
    yield rt
    rt.close()


def ask(rt, message, **context):
    return rt.suggester.suggest(SuggestRequest("demo", message, context=SuggestContext(**context)))


def test_confident_answer_with_calibrated_confidence_and_intent(runtime):
    result = ask(runtime, "衣服小了能换大一码吗")
    top = result.suggestions[0]
    assert (top.entry_id, top.source) == ("FAQ-024", "kb")
    assert top.confidence > 0.8 and top.features["dense_max"] == top.score
    assert result.intent.intent == "换货" and not result.abstained
    assert set(result.timings_ms) == {"load", "encode", "search", "rank", "decide", "total"}


def test_short_follow_up_reads_the_previous_buyer_turn(runtime):
    alone = ask(runtime, "那要多久").suggestions[0].entry_id
    after_refund = ask(runtime, "那要多久", turns=[Turn("buyer", "我申请了退款"), Turn("agent", "好的亲")])
    assert after_refund.suggestions[0].entry_id == "FAQ-035"  # 退款多久到账
    assert alone != "FAQ-035"


def test_rule_comes_first_and_says_so(runtime):
    runtime.rules.create("demo", Rule(id="r-ship", name="发货提醒", reply="亲，今天下单明天发货哦",
                                      trigger=Trigger(mode="any", keywords=("发货",))))
    try:
        result = ask(runtime, "什么时候发货呀")
        first = result.suggestions[0]
        assert (first.source, first.question, first.answer, first.entry_id) == ("rule", "发货提醒", "亲，今天下单明天发货哦", None)
        assert result.suggestions[1].source == "kb"
    finally:
        runtime.rules.delete("demo", "r-ship")


def test_variables_are_filled_or_marked(runtime, real_encoder):
    entries = [FaqEntry(id="V1", question="我的快递到哪了", similar=("物流到哪了", "包裹在哪"),
                        answers=("{买家昵称}您好，订单尾号{订单尾号}由{物流公司}配送中",))]
    import_entries(runtime.store, runtime.settings.index_dir, real_encoder, "vars", entries, source="test")
    full = runtime.suggester.suggest(SuggestRequest("vars", "快递到哪了", context=SuggestContext(
        variables={"买家昵称": "小王", "订单尾号": "1234", "物流公司": "顺丰"}))).suggestions[0]
    assert full.answer == "小王您好，订单尾号1234由顺丰配送中" and full.variables_missing == ()
    partial = runtime.suggester.suggest(SuggestRequest("vars", "快递到哪了", context=SuggestContext(
        variables={"买家昵称": "小王"}))).suggestions[0]
    assert partial.answer == "小王您好，订单尾号{订单尾号}由{物流公司}配送中"
    assert partial.variables_missing == ("订单尾号", "物流公司") and partial.auto_reply is False


def test_guard_blocks_and_diversity_dedupes(runtime, real_encoder):
    # Stored without upload validation, as a KB imported before a compliance policy change would be.
    entries = [FaqEntry(id="B1", question="怎么联系你们", similar=("有电话吗",), answers=("加微信 shop888 联系",)),
               FaqEntry(id="B2", question="联系方式是什么", similar=("怎么找客服",), answers=("在这里留言就可以",)),
               FaqEntry(id="B3", question="客服电话多少", similar=("打电话找谁",), answers=("在这里留言就可以",))]
    import_entries(runtime.store, runtime.settings.index_dir, real_encoder, "guard", entries, source="test")
    result = runtime.suggester.suggest(SuggestRequest("guard", "怎么联系你们", top_k=3, min_confidence=0.0))
    assert [b.entry_id for b in result.blocked] == ["B1"] and result.blocked[0].kinds == ["wechat"]
    answers = [s.answer for s in result.suggestions]
    assert "加微信 shop888 联系" not in answers and answers.count("在这里留言就可以") == 1
    # The ablation switch (evaluation only): the same candidate comes through unchecked.
    from dataclasses import replace as with_options

    from service.pipeline import Suggester

    unguarded = Suggester(runtime.store, runtime.settings.index_dir, real_encoder, intent_model=runtime.intent_model,
                          options=with_options(runtime.suggester.options, guard=False))
    off = unguarded.suggest(SuggestRequest("guard", "怎么联系你们", top_k=3, min_confidence=0.0))
    assert off.blocked == [] and "加微信 shop888 联系" in [s.answer for s in off.suggestions]


def test_abstains_with_an_intent_template_when_nothing_fits(runtime, real_encoder):
    entries = [FaqEntry(id="I1", question="可以开发票吗", similar=("能开票吗", "发票怎么开"), answers=("可以开电子发票",))]
    import_entries(runtime.store, runtime.settings.index_dir, real_encoder, "tiny", entries, source="test")
    result = runtime.suggester.suggest(SuggestRequest("tiny", "怎么还不发货，急用啊，快点"))
    assert result.abstained
    (template,) = result.suggestions
    assert (template.source, template.intent, template.entry_id) == ("template", "催发货", None)
    assert template.variables_missing == ("预计发货时间",)


def test_rule_state_ttl_sees_own_changes_at_once_and_other_processes_within_the_ttl(runtime):
    from knowledge_base.rulebook import RuleBook

    cached = RuleBook(runtime.store, runtime.encoder, state_ttl=0.5)  # this worker
    other = RuleBook(runtime.store, runtime.encoder)  # another replica on the same database
    rule = Rule(id="r-ttl", name="包邮提醒", reply="亲，全场包邮哦", trigger=Trigger(mode="any", keywords=("包邮",)))
    assert cached.explain("demo", "包邮吗")[1].winner is None
    other.create("demo", rule)
    try:
        assert cached.explain("demo", "包邮吗")[1].winner is None  # within the TTL: the cached revision
        time.sleep(0.6)
        assert cached.explain("demo", "包邮吗")[1].winner.rule.id == "r-ttl"
        cached.delete("demo", "r-ttl")  # its own change: seen at once
        assert cached.explain("demo", "包邮吗")[1].winner is None
    finally:
        if any(r.id == "r-ttl" for r in other.list("demo")[1]):
            other.delete("demo", "r-ttl")


def test_the_rule_cache_is_bounded_and_reloads_what_it_dropped(runtime):
    from knowledge_base.rulebook import RuleBook

    book = RuleBook(runtime.store, runtime.encoder, cached_revisions=2)
    shops = ["rules-a", "rules-b", "rules-c"]
    for shop in shops:
        book.create(shop, Rule(id=f"r-{shop}", name=shop, reply=f"{shop} 的回复",
                               trigger=Trigger(mode="any", keywords=("包邮",))))
    for _ in range(2):
        for shop in shops:
            assert book.explain(shop, "包邮吗")[1].winner.rule.id == f"r-{shop}"
            assert len(book._cache) <= 2


def test_semantic_rule_in_the_pipeline_reuses_the_message_vector(runtime, monkeypatch):
    runtime.rules.create("demo", Rule(id="r-sem", name="催发货", reply="亲，已经帮您催仓库了",
                                      trigger=Trigger(mode="semantic", examples=("怎么还不发货", "催一下发货"),
                                                      threshold=0.85)))
    try:
        calls = []
        encode = runtime.encoder.encode
        monkeypatch.setattr(runtime.encoder, "encode", lambda texts: calls.append(list(texts)) or encode(texts))
        result = ask(runtime, "怎么还没给我发货")
        assert result.suggestions[0].source == "rule" and result.suggestions[0].question == "催发货"
        assert len(calls) == 1  # the message was encoded once, for retrieval and the rule alike
    finally:
        runtime.rules.delete("demo", "r-sem")


def test_a_reloaded_shop_reads_its_cached_tables_and_survives_a_corrupt_file(runtime):
    from knowledge_base.index import index_dir

    before = ask(runtime, "衣服小了能换大一码吗")
    version = runtime.store.require_active_version("demo")
    [lexicon] = index_dir(runtime.settings.index_dir, "demo", version).glob("lexicon.*.npz")
    for damage in (None, b"not a zip file"):
        if damage is not None:
            lexicon.write_bytes(damage)
        runtime.suggester.shops.clear()  # a cold load, as after an LRU eviction
        again = ask(runtime, "衣服小了能换大一码吗")
        assert [(s.entry_id, s.confidence, s.features) for s in again.suggestions] == \
            [(s.entry_id, s.confidence, s.features) for s in before.suggestions]
    assert lexicon.read_bytes()[:2] == b"PK"  # rewritten after the damage


def test_large_shops_search_a_cached_graph_with_the_same_answers(runtime, tmp_path):
    """The HNSW paths (phrasings and entry centroids, forced on the demo shop by a low threshold) agree
    with the flat scans, and their cached files survive damage."""
    from knowledge_base.index import index_dir
    from service.pipeline import Suggester

    def suggester(min_phrasings: int) -> Suggester:
        return Suggester(runtime.store, runtime.settings.index_dir, runtime.encoder, intent_model=runtime.intent_model,
                         graph_min_phrasings=min_phrasings)

    messages = ["衣服小了能换大一码吗", "几天能到货", "有没有优惠券", "可以开发票吗", "怎么联系客服"]
    plain = suggester(0)
    flat = [[(s.entry_id, round(s.confidence, 4)) for s in plain.suggest(SuggestRequest("demo", m)).suggestions]
            for m in messages]
    graph = suggester(10)
    kb = graph.kb("demo")
    assert kb.index.graph is not None and kb.index.graph.hnsw.efSearch >= 50
    ranker = kb.ranking.ranker
    assert ranker.centroid_graph is not None and ranker.centroid_graph.ntotal == len(ranker.entry_ids) > 80
    # Counted against the memory budget: both graphs, on top of what the plain load holds.
    assert kb.nbytes - plain.kb("demo").nbytes >= kb.index.graph_nbytes + ranker.centroid_graph_nbytes > 0
    assert [[(s.entry_id, round(s.confidence, 4)) for s in graph.suggest(SuggestRequest("demo", m)).suggestions]
            for m in messages] == flat
    folder = index_dir(runtime.settings.index_dir, "demo", runtime.store.require_active_version("demo"))
    for name in ("graph.hnsw*.faiss", "centroids.hnsw*.faiss"):
        [cached] = folder.glob(name)
        cached.write_bytes(b"damaged")
        again = suggester(10)  # a new process: reads the file, finds it damaged, rebuilds and rewrites it
        assert [again.suggest(SuggestRequest("demo", m)).suggestions[0].entry_id for m in messages] == [f[0][0] for f in flat]
        assert cached.stat().st_size > 1000
    assert suggester(0).kb("demo").index.graph is None
    assert suggester(0).kb("demo").ranking.ranker.centroid_graph is None


def test_a_loaded_shop_adds_next_to_nothing_for_the_garbage_collector(runtime):
    """Phrasings and entries are held as columns: one loaded shop must not add an object per row to
    what every full collection walks (with hundreds of shops that was a 240 ms pause)."""
    import gc

    from service.pipeline import Suggester

    suggester = Suggester(runtime.store, runtime.settings.index_dir, runtime.encoder, intent_model=runtime.intent_model)
    suggester.kb("demo")  # imports and caches warmed once
    suggester.shops.clear()
    gc.collect()
    before = len(gc.get_objects())
    kb = suggester.kb("demo")
    gc.collect()
    added = len(gc.get_objects()) - before
    assert len(kb.index.phrasings) > 400 and len(kb.entries) == 92
    assert added < 100, added
