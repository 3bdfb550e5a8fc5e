"""The escalation detector's parts: cues with negation and hypotheticals, the conversation rule, the
model as an estimator, the detector's decision and level (the measured quality: docs/evaluation.md)."""

from __future__ import annotations

import numpy as np
import pytest

from models.errors import ArtifactMismatch, NotFound
from models.escalation import (
    EscalationDetector,
    EscalationModel,
    keyword_baseline,
    lexicon_hits,
    repeated_ask,
)
from models.escalation import NotFitted
from models.normalize import normalize_text


def hits(text: str) -> dict[str, str]:
    """code → strong / weak / negated for the normalised text."""
    return {h.code: "negated" if h.negated else "strong" if h.strong else "weak" for h in lexicon_hits(normalize_text(text))}


@pytest.mark.parametrize("text, expected", [
    ("再不处理我就打12315了", {"report_threat": "strong"}),
    ("不给退款我就去工商局举报", {"report_threat": "strong", "refund_dispute": "strong"}),
    ("你们等着，我一定给差评", {"report_threat": "strong"}),
    ("差评会影响你们吗？我想给好评", {}),  # a question about reviews, no threat
    ("好评返现怎么领", {}),
    ("傻逼客服，别发模板了", {"insult": "strong"}),
    ("滚筒洗衣机能用这个洗衣液吗", {}),  # 滚 inside a word is no insult
    ("物流显示已签收，但是我根本没收到", {"delivery_dispute": "strong"}),
    ("退款申请被驳回了，凭什么", {"refund_dispute": "strong"}),
    ("用了面霜脸上起了一片红疹", {"safety": "strong"}),
    ("火锅底料辣到爆炸，好吃", {}),  # 到爆炸 is praise
])
def test_cues(text, expected):
    assert {k: v for k, v in hits(text).items() if v != "negated"} == expected


@pytest.mark.parametrize("text, code", [
    ("我不是要投诉啊，就问问", "report_threat"),
    ("放心，我不会给差评的", "report_threat"),
    ("之前的问题解决了，谢谢没让我去投诉", "report_threat"),
    ("投诉的事已经解决了，谢谢你们", "report_threat"),  # resolved, not negated by a word before it
    ("没漏电，就是加热有点慢", "safety"),
])
def test_negated_or_resolved_cues_count_against_their_reason(text, code):
    assert hits(text).get(code) == "negated"


def test_a_not_a_questions_negate_nothing():
    # "是不是" asks; the cue after it stands.
    assert hits("你是不是听不懂人话")["insult"] == "strong"


@pytest.mark.parametrize("text", ["孕妇用了会不会起疹子", "这个电热毯会漏电吗", "万一宝宝误食了怎么办"])
def test_a_safety_cue_in_a_question_or_hypothetical_is_only_weak(text):
    assert hits(text)["safety"] == "weak"


def test_repeated_unanswered_asks():
    chasing = [("buyer", "请问什么时候发货"), ("buyer", "在吗？")]
    assert repeated_ask("怎么没人回复", chasing) == "3 buyer messages without a reply"
    # an opening of greetings is no unanswered ask
    assert repeated_ask("能改地址吗", [("buyer", "你好"), ("buyer", "在吗")]) is None
    # quick lines that make one question are not chasing, unless the first one waited a minute
    lines = [("buyer", "拉萨市城关区"), ("buyer", "地址写错了")]
    assert repeated_ask("电话13800000000", lines) is None
    assert repeated_ask("电话13800000000", lines, times=[0.0, 10.0], at=30.0) is None
    assert repeated_ask("电话13800000000", lines, times=[0.0, 10.0], at=61.0) == "3 buyer messages without a reply"
    # an agent reply resets the run
    assert repeated_ask("在吗", [("buyer", "能开发票吗"), ("buyer", "？"), ("agent", "可以的亲")]) is None
    # the same question three times, the replies in between did not answer it
    same = [("buyer", "这个尺码偏大吗"), ("agent", "亲，欢迎光临～"), ("buyer", "尺码偏大吗"), ("agent", "在的哦")]
    assert repeated_ask("这个尺码偏大吗？", same) == "asked 3 times"


def _toy_model(dim: int = 8) -> tuple[EscalationModel, np.ndarray, np.ndarray]:
    """Two separable clusters: 'none' around e0, 'anger' around e1 (L2-normalised)."""
    rng = np.random.default_rng(0)
    base = np.eye(dim, dtype=np.float32)
    none = base[0] + 0.1 * rng.standard_normal((40, dim)).astype(np.float32)
    anger = base[1] + 0.1 * rng.standard_normal((40, dim)).astype(np.float32)
    x = np.vstack([none, anger])
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    model = EscalationModel().fit(x, ["none"] * 40 + ["anger"] * 40)
    model.threshold_, model.weak_threshold_ = 0.8, 0.4
    return model, base[0], base[1]


def test_model_is_an_estimator_and_round_trips(tmp_path):
    with pytest.raises(NotFitted):
        EscalationModel().predict_proba(np.zeros((1, 8), np.float32))
    model, calm, angry = _toy_model()
    assert model.score(angry)[1] == "anger" and model.score(angry)[0] > 0.9 > 0.1 > model.score(calm)[0]
    model.save(tmp_path / "m", encoder_id="enc-a", metadata={"data_sha256": "x"})
    again = EscalationModel.load(tmp_path / "m", encoder_id="enc-a")
    assert (again.threshold_, again.weak_threshold_) == (0.8, 0.4)
    assert np.allclose(again.predict_proba(angry[None, :]), model.predict_proba(angry[None, :]))
    with pytest.raises(ArtifactMismatch, match="enc-a"):
        EscalationModel.load(tmp_path / "m", encoder_id="enc-b")
    with pytest.raises(NotFound, match="smartreply train escalation"):
        EscalationModel.load(tmp_path / "nothing", encoder_id="enc-a")


def test_detector_decision_and_level():
    model, calm, angry = _toy_model()
    middle = (calm + angry) / np.linalg.norm(calm + angry)  # P(escalate) between the two thresholds
    p_middle = model.score(middle)[0]
    assert model.weak_threshold_ <= p_middle < model.threshold_
    detector = EscalationDetector(model)
    # a strong cue alone; high level for a threat to report
    found = detector.detect(normalize_text("再不处理我就打12315了"), calm)
    assert found.level == "high" and [(r.code, r.source, r.evidence) for r in found.reasons] == [
        ("report_threat", "lexicon", "12315")]
    # the model alone, above its threshold: medium (anger)
    found = detector.detect(normalize_text("好的呢"), angry)
    assert found.level == "medium" and [(r.code, r.source) for r in found.reasons] == [("anger", "model")]
    # between the thresholds only with a weak cue
    assert detector.detect(normalize_text("好的呢"), middle) is None
    found = detector.detect(normalize_text("无语，好的呢"), middle)
    assert [(r.code, r.source) for r in found.reasons] == [("anger", "lexicon")]
    # a negated cue of the model's reason vetoes the model
    vetoing = EscalationDetector(model).detect(normalize_text("不生气，就是问问"), angry)
    assert vetoing is None
    # two reasons make it high
    found = detector.detect(normalize_text("不给退款我就去工商局举报"), calm)
    assert found.level == "high" and found.codes == ["report_threat", "refund_dispute"]
    # the conversation rule
    found = detector.detect(normalize_text("人呢"), calm, [("buyer", "什么时候发货"), ("buyer", "在吗")])
    assert found.codes == ["repeated_ask"] and found.level == "medium"
    # without a model, weak cues never escalate
    assert EscalationDetector(None).detect(normalize_text("无语"), None) is None


def test_keyword_baseline_is_plain_substrings():
    assert keyword_baseline("我不会给差评的") == ["report_threat"]  # no negation: why it is a baseline
    assert keyword_baseline("请问什么时候发货") == []
