"""Loaders on small fixtures the team wrote in each raw format (invented text, same structure)."""

from __future__ import annotations

import pytest

from eval.datasets import (
    agent_answer,
    buyer_question,
    chat_reply_pairs,
    csds_faq,
    csds_intent_examples,
    load_csds,
    load_faq,
    load_jddc2018_pairs,
    load_jddc_chat,
    load_jddc_dev,
    load_pairs,
    load_reply_bank,
    reply_bank_entries,
    sniff_faq_format,
)
from eval.errors import DatasetError
from eval.text import canonical_placeholders
from knowledge_base.chatlogs import Turn


@pytest.mark.parametrize(("summary", "question"), [
    ("用户询问什么时候发货。客服回答两天内。", "什么时候发货"),
    ("用户咨询今天下单明天能发吗。客服表示可以。", "今天下单明天能发吗"),
    ("用户想知道身高一米七穿多大码。客服建议L码。", "身高一米七穿多大码"),
    ("用户表示急用，能不能早点发。客服答应。", "急用，能不能早点发"),
    ("商家询问尺码表在哪里看。客服回答详情页。", "尺码表在哪里看"),
    ("用户希望修改地址。客服已修改。", "修改地址"),
    ("多久能发出来。客服回答四十八小时内。", "多久能发出来"),  # no reporting prefix: kept whole
    ("用户的订单降价了。客服申请价保。", "用户的订单降价了"),  # subject without a reporting verb: kept
])
def test_buyer_question(summary, question):
    assert buyer_question(summary) == question


def test_agent_answer_stops_at_the_next_buyer_sentence():
    assert agent_answer("用户咨询能发吗。客服表示可以。用户询问用什么快递。客服回答中通。") == "客服表示可以。"
    assert agent_answer("用户询问能发吗") == ""


def test_csds_faq_protocol(fixtures):
    ds = csds_faq(load_csds(fixtures / "csds_topic.json"))
    # 开发票 has 2 rows (< 5): dropped. 发货时间 5 rows → 2 相似问 + 3 queries; 尺码推荐 6 → 3 + 3.
    assert [e.id for e in ds.entries] == ["发货时间", "尺码推荐"]
    ship, size = ds.entries
    assert ship.question == "发货时间"
    assert ship.similar == ("什么时候发货", "今天下单明天能发吗")
    assert ship.answers == ("客服回答付款后两天内发货。",)
    assert size.similar == ("身高一米七穿多大码", "腰围二尺二选什么尺码", "尺码表在哪里看")
    assert [(q.text, q.gold_entry_id) for q in ds.queries] == [
        ("急用，能不能早点发", "发货时间"), ("预售商品几号发货", "发货时间"), ("多久能发出来", "发货时间"),
        ("平时穿M这款选什么", "尺码推荐"), ("胖一点选大一码吗", "尺码推荐"), ("童装按年龄还是身高选", "尺码推荐")]
    assert ds.stats["entries"] == 2 and ds.stats["queries"] == 6 and ds.stats["phrasings"] == 7
    with pytest.raises(DatasetError, match="no topic has ≥ 7 rows"):
        csds_faq(load_csds(fixtures / "csds_topic.json"), min_rows=7)


def test_csds_intent_examples(fixtures):
    rows = load_csds(fixtures / "csds_topic.json")
    assert len(rows) == 13 and rows[1].all_topics == ("发货时间", "快递选择")
    assert len(csds_intent_examples(rows)) == 13
    examples = csds_intent_examples(rows, min_rows=5)
    assert len(examples) == 11 and examples[0].text == "什么时候发货" and examples[0].label == "发货时间"


def test_generic_faq_format(fixtures, tmp_path):
    assert sniff_faq_format(fixtures / "csds_topic.json") == "csds"
    assert sniff_faq_format(fixtures / "kb.csv") == "kb"
    ds = load_faq(fixtures / "kb.csv", fixtures / "queries.jsonl")
    assert [e.id for e in ds.entries] == ["F1", "F2", "F3"]
    assert ds.entries[0].similar == ("几天发货", "多久发出")
    assert [q.gold_entry_id for q in ds.queries] == ["F1", "F2", "F3"]
    bad = tmp_path / "q.jsonl"
    bad.write_text('{"query": "在吗", "gold_entry_id": "F9"}\n', encoding="utf-8")
    with pytest.raises(DatasetError, match="1 queries name entries not in kb.csv"):
        load_faq(fixtures / "kb.csv", bad)
    with pytest.raises(DatasetError, match="name its labelled queries"):
        load_faq(fixtures / "kb.csv")


def test_jddc_dev(fixtures):
    turns = load_jddc_dev(fixtures / "dev_question.txt", fixtures / "dev_answer.txt")
    assert [(t.session, t.index) for t in turns] == [("s_1", 1), ("s_1", 2), ("s_2", 1), ("s_2", 2), ("s_2", 3)]
    first = turns[0]
    assert first.query == "好的 麻烦快点"  # messages of one turn joined
    assert first.references == ("好的，马上为您催促仓库", "已经帮您催了哦") and first.null_references == 1
    assert first.context == (Turn("buyer", "你好"), Turn("agent", "您好，有什么可以帮您？"),
                             Turn("buyer", "我的订单[订单]还没发货"), Turn("agent", "亲，我帮您查一下 请稍等"))
    assert turns[1].context[-1] == Turn("buyer", "好的 麻烦快点")
    assert turns[1].references[0] == "预计[数字]天送达"  # placeholders in canonical form
    assert turns[3].references == () and turns[3].null_references == 3
    assert turns[4].references == ("[表情]", "再见，祝您生活愉快")  # an emoji-only reply is still a reply


def test_jddc_dev_misaligned(fixtures, tmp_path):
    answers = tmp_path / "dev_answer.txt"
    answers.write_text((fixtures / "dev_answer.txt").read_text("utf-8").replace("预计后天到\n", "预计后天到\n多余\n"),
                       encoding="utf-8")
    with pytest.raises(DatasetError, match="session s_1: 2 <Qn> turns in dev_question.txt but 3 answer lines"):
        load_jddc_dev(fixtures / "dev_question.txt", answers)


def test_jddc_chat_log_and_pairs(fixtures):
    sessions = load_jddc_chat(fixtures / "chat_log.txt")
    assert sessions["sa"][2] == Turn("buyer", "什么时候发货 我买的[数字]件")  # consecutive messages merged
    pairs = chat_reply_pairs(sessions)
    assert [(p.buyer, p.reply) for p in pairs] == [
        ("你好", "您好，有什么可以帮您？"), ("什么时候发货 我买的[数字]件", "付款后两天内发货 [表情]"),
        ("你好", "您好，有什么可以帮您？"), ("可以换货吗", "支持七天无理由换货")]
    entries = reply_bank_entries(pairs)
    assert [(e.id, e.answer, e.phrasings, e.category) for e in entries] == [
        ("r000001", "您好，有什么可以帮您？", ("你好",), "2"),
        ("r000002", "付款后两天内发货 [表情]", ("什么时候发货 我买的[数字]件",), "1"),
        ("r000003", "支持七天无理由换货", ("可以换货吗",), "1")]


def test_jddc2018_pairs(fixtures):
    pairs = load_jddc2018_pairs(fixtures / "trainQuestions.txt", fixtures / "trainAnswers.txt")
    assert [(p.buyer, p.reply) for p in pairs] == [("我的订单[订单]到哪了", "已经在路上了，预计明天送达"),
                                                   ("好的谢谢", "不客气，祝您生活愉快")]
    # a questions file finds its answers file by name; chat logs are sniffed
    bank = load_reply_bank([fixtures / "trainQuestions.txt", fixtures / "chat_log.txt"])
    assert len(bank) == 6
    explicit = load_reply_bank([f"{fixtures / 'trainQuestions.txt'},{fixtures / 'trainAnswers.txt'}"])
    assert explicit == pairs
    with pytest.raises(DatasetError, match="is not a chat log"):
        load_reply_bank([fixtures / "lcqmc.txt"])


@pytest.mark.parametrize(("name", "first", "labels"), [
    ("atec.csv", ("花呗怎么还款", "花呗在哪里还钱"), [1, 0, 1]),  # id column, BOM (twice), CRLF
    ("bq.csv", ("怎么提前还款", "可以提前还吗"), [1, 0]),  # header, BOM, CRLF, a quoted comma
    ("lcqmc.txt", ("今天天气怎么样", "今天天气如何"), [1, 0]),
])
def test_pair_files(fixtures, name, first, labels):
    pairs = load_pairs(fixtures / name)
    assert (pairs[0].a, pairs[0].b) == first
    assert [p.label for p in pairs] == labels
    if name == "bq.csv":
        assert pairs[1].a == "额度多少，能提吗"


def test_canonical_placeholders_across_releases():
    assert canonical_placeholders("订单[ORDERID_10005960]预计[数字x]天 #E-s[数字x]#E-s33 [订单编号] [姓名x]") == \
        "订单[订单]预计[数字]天 [表情][表情] [订单] [姓名]"
