"""FAQ mining from chat logs (``knowledge_base.mining``) on tiny hand-written logs in both formats."""

from __future__ import annotations

import numpy as np
import pytest

from knowledge_base.chatlogs import Conversation, Turn, read_chat_log
from knowledge_base.mining import (
    MiningOptions,
    cluster_vectors,
    has_substance,
    is_question_like,
    mine_faq,
    normalise_placeholders,
    question_pairs,
)
from knowledge_base.parsing import parse_kb_file
from models.errors import UploadError
from tests.conftest import REPO

DATA = REPO / "tests" / "data"
TSV = DATA / "chat_jddc_mini.tsv"
JSONL = DATA / "chat_mini.jsonl"


def test_both_formats_read_the_same_conversations():
    tsv, jsonl = read_chat_log(TSV), read_chat_log(JSONL)
    assert [c.turns for c in tsv] == [c.turns for c in jsonl]
    assert [c.id for c in tsv] == [c.id for c in jsonl] == [f"s{i:02d}" for i in range(1, 15)]
    # Consecutive messages of one speaker are one turn.
    assert tsv[2].turns == (Turn("buyer", "[订单x] 什么时候能发货"),
                            Turn("agent", "稍等，正在为您查询 现货付款后两天内发出，预售按页面时间"))


def test_format_is_sniffed_from_the_first_line(tmp_path):
    copy = tmp_path / "log.txt"
    copy.write_bytes(JSONL.read_bytes())
    assert read_chat_log(copy)[0].id == "s01"
    assert read_chat_log(copy, "jsonl")[0].turns == read_chat_log(TSV, "jddc")[0].turns


def test_malformed_logs_are_refused_with_the_line(tmp_path):
    bad = tmp_path / "bad.tsv"
    bad.write_text("s1\tUSERID_1\t0\tonly four columns\n", "utf-8")
    with pytest.raises(UploadError, match=r"line 1 is not a JDDC chat-log row \(7 tab-separated columns"):
        read_chat_log(bad)
    bad_role = tmp_path / "bad.jsonl"
    bad_role.write_text('{"conversation_id": "c1", "turns": [{"role": "seller", "text": "hi"}]}\n', "utf-8")
    with pytest.raises(UploadError, match="line 1 is not a conversation .*role must be 'buyer' or 'agent'"):
        read_chat_log(bad_role)


@pytest.mark.parametrize(("raw", "normalised"), [
    ("[订单x] 什么时候发货", "[订单号] 什么时候发货"),
    ("[数字x]号能到吗 #E-s33", "[数字]号能到吗"),
    ("你好 咨询订单号:[订单x] 订单金额:[金额x] 下单时间:[日期x]", "你好"),
    ("电话是[电话x]", "电话是[电话]"),
])
def test_placeholders_get_one_spelling(raw, normalised):
    assert normalise_placeholders(raw) == normalised


@pytest.mark.parametrize(("text", "asks"), [
    ("什么时候发货", True), ("这个保价么", True), ("能快点吗 着急", True),
    ("你好", False), ("好的，谢谢啦!", False), ("嗯", False), ("[订单号]", False),
    ("好的 谢谢 没有别的问题了", False), ("非常感谢", False), ("在吗", False), ("发" * 130, False),
])
def test_question_like_buyer_turns(text, asks):
    assert is_question_like(text) is asks


def test_replies_that_only_hold_the_line_have_no_substance():
    assert not has_substance("稍等，正在为您查询~")
    assert not has_substance("您好，请问还有什么可以帮您的吗?")
    assert has_substance("稍等，正在为您查询 现货付款后两天内发出，预售按页面时间")


def test_question_pairs_keep_the_following_agent_turn():
    conv = Conversation("c", (Turn("buyer", "你好"), Turn("buyer", "能开发票吗"), Turn("agent", "可以开电子发票"),
                              Turn("buyer", "纸质的发票可以吗")))
    pairs, dropped = question_pairs([conv])
    # "你好" and "能开发票吗" are one buyer turn only if the reader merged them; here they are separate turns.
    assert [(p.question, p.reply) for p in pairs] == [("能开发票吗", "可以开电子发票"), ("纸质的发票可以吗", "")]
    assert dropped == {"not_question_like": 1}


def test_mine_ranks_clusters_pairs_replies_masks_and_checks_compliance(fake_encoder):
    result = mine_faq(read_chat_log(TSV), fake_encoder, MiningOptions(threshold=0.6, min_size=3))
    assert [(e.id, e.question, e.similar, e.answers, e.category) for e in result.entries] == [
        # 4 conversations; the reply given twice wins, its order number masked.
        ("M-0001", "什么时候发货", ("什么时候发货啊", "请问什么时候发货呀", "[订单号] 什么时候能发货"),
         ("您的订单[订单号]现货付款后48小时内发货哦",), "挖掘"),
        # 3 conversations; the reply inviting WeChat is blocked (it was also the rarer one).
        ("M-0002", "可以开发票吗", ("发票可以开吗", "能开发票吗"), ("可以开电子发票，下单时填写抬头即可",), "挖掘"),
    ]
    assert result.stats == {
        "conversations": 14, "question_turns": 14, "distinct_questions": 14, "dropped_turns": 3,
        "clusters_total": 5, "clusters_min_size": 4, "entries": 2,
        "dropped_compliance": 1,  # 便宜点: every reply invites WeChat / private deals
        "replies_blocked_by_compliance": 2,
        "dropped_no_reply": 1,  # 退货运费: the agent only said 好的 / 稍等 / 您好
    }
    assert [c.size for c in result.clusters] == [4, 3]
    assert result.clusters[0].replies[0] == ("您的订单[订单号]现货付款后48小时内发货哦", 2)
    # What is written is what the upload parser reads back.
    parsed = parse_kb_file("mined.csv", result.to_csv())
    assert parsed.problems == [] and parsed.entries == result.entries
    assert result.to_csv().startswith("\ufeff\"编号\",\"标准问题\",\"相似问题\",\"答案\",\"分类\",\"状态\"".encode())


def test_min_size_max_clusters_and_max_similar(fake_encoder):
    log = read_chat_log(JSONL)
    assert [e.id for e in mine_faq(log, fake_encoder, MiningOptions(threshold=0.6, min_size=4)).entries] == ["M-0001"]
    one = mine_faq(log, fake_encoder, MiningOptions(threshold=0.6, max_clusters=1, max_similar=1)).entries
    assert [(e.id, e.similar) for e in one] == [("M-0001", ("什么时候发货啊",))]
    assert mine_faq([], fake_encoder).entries == []


def test_pii_in_a_mined_question_is_masked(fake_encoder):
    convs = [Conversation(f"c{i}", (Turn("buyer", q), Turn("agent", "可以的，请在订单页修改地址")))
             for i, q in enumerate(["我叫王小明，能改地址吗"] * 3)]
    [entry] = mine_faq(convs, fake_encoder, MiningOptions(threshold=0.6)).entries
    assert entry.question == "我叫[姓名]，能改地址吗" and entry.similar == ()


def _blobs(seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(4, 32))
    labels = np.repeat(np.arange(4), 10)
    x = centres[labels] + 0.05 * rng.normal(size=(40, 32))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32), labels


@pytest.mark.parametrize("method", ["agglomerative", "leader"])
def test_clustering_recovers_separated_groups(method):
    x, truth = _blobs()
    labels = cluster_vectors(x, 0.9, method)
    # Same partition as the truth (label numbers may differ).
    assert len(set(zip(labels.tolist(), truth.tolist()))) == 4 == len(set(labels.tolist()))


def test_leader_clustering_keeps_every_member_close_to_its_leader():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 8)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    labels = cluster_vectors(x, 0.7, "leader")
    leaders = {}
    for i, label in enumerate(labels.tolist()):
        leaders.setdefault(label, i)  # in the default order the first member is the leader
    for i, label in enumerate(labels.tolist()):
        assert float(x[i] @ x[leaders[label]]) >= 0.7 - 1e-6
    with pytest.raises(ValueError, match="unknown clustering method 'kmeans'"):
        cluster_vectors(x, 0.7, "kmeans")
