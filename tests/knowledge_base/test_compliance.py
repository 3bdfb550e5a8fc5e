from __future__ import annotations

import pytest

from knowledge_base.compliance import check_text


@pytest.mark.parametrize(("text", "expected"), [
    # plain
    ("加我微信 mianyu88 发你图", [("wechat", "微信")]),
    ("电话13812345678", [("phone", "13812345678")]),
    ("详情见 https://x.cn/a 哦", [("link", "https://x.cn/a")]),
    ("QQ:12345678", [("qq", "QQ")]),
    ("我们私聊吧", [("off_platform", "私聊")]),
    ("全网最低价，销量第一", [("absolute_term", "全网最"), ("absolute_term", "第一")]),
    # evasions: spacing, full width, look-alikes, numerals, pinyin slang
    ("加 V 1 3 8 1 2 3 4 5 6 7 8", [("wechat", "加 V"), ("phone", "1 3 8 1 2 3 4 5 6 7 8")]),
    ("ＶＸ：abc123", [("wechat", "ＶＸ")]),
    ("В信 abc", [("wechat", "В信")]),
    ("①③⑧①②③④⑤⑥⑦⑧", [("phone", "①③⑧①②③④⑤⑥⑦⑧")]),
    ("电话一三八一二三四五六七八", [("phone", "一三八一二三四五六七八")]),
    ("威信号 abc", [("wechat", "威信")]),
    ("扣扣 12345678", [("qq", "扣扣")]),
    ("www点shop点com", [("link", "www点shop点com")]),
    ("xxx。com", [("link", "xxx。com")]),
    ("销量第①", [("absolute_term", "第①")]),
    ("最 好 的面料", [("absolute_term", "最 好")]),
])
def test_blocks_with_span_in_the_original_text(text, expected):
    result = check_text(text)
    assert not result.allowed
    assert [(v.kind, v.matched) for v in result.violations] == expected
    for v in result.violations:
        assert text[v.start:v.end] == v.matched and v.reason


@pytest.mark.parametrize("text", [
    "亲，V领款偏大一码，建议拍小一码",
    "第一次购买可以领新人券",
    "满199减20，48小时内发货，订单尾号1234",
    "快递单号SF1381234567890，顺丰发出",
    "最晚明天发出，最多可以用两张券",
    "您最好在签收时当面检查",
    "QQ糖口味的软糖",
    "vivo手机壳有现货",
    "微微有点偏大",
    "尺码170/88A，退款3-5个工作日到账",
])
def test_allows_ordinary_service_replies(text):
    assert check_text(text).violations == []


def test_labelled_set_precision_and_recall():
    """The team's labelled set (eval/data/compliance_messages.jsonl, ≥ 300 messages, ≥ 100 evasions)."""
    import json
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "eval" / "data" / "compliance_messages.jsonl"
    rows = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]
    assert len(rows) >= 300 and sum(r["evasion"] for r in rows) >= 100
    blocked = [not check_text(r["text"]).allowed for r in rows]
    gold = [r["label"] == "block" for r in rows]
    tp = sum(b and g for b, g in zip(blocked, gold))
    precision = tp / sum(blocked)
    recall = tp / sum(gold)
    evasions = [b for b, r in zip(blocked, rows) if r["evasion"]]
    print(f"compliance: n={len(rows)} precision={precision:.3f} recall={recall:.3f} "
          f"evasion recall={sum(evasions) / len(evasions):.3f}")
    assert precision >= 0.95 and recall >= 0.95
