from __future__ import annotations

import pytest

from models.normalize import Normalisation, normalize_text


@pytest.mark.parametrize(("raw", "expected"), [
    ("ＡＢＣ　ｘｌ码", "abc xl码"),  # full width, case, ideographic space
    ("請問這件衣服什麼時候發貨", "这件衣服什么时候发货"),  # traditional → simplified, filler
    ("怎么还不发货？？？！！！", "怎么还不发货?!"),  # NFKC makes them ASCII first
    ("亲，在吗？我想退货[捂脸]😂", "我想退货"),
    ("你好，请问可以开发票吗", "可以开发票吗"),
    ("在吗", "在吗"),  # nothing would be left: keep it
    ("亲", "亲"),
    ("订单[订单编号]还没到", "订单[订单编号]还没到"),  # placeholders are meaning, not emoji
])
def test_default_normalisation(raw, expected):
    assert normalize_text(raw) == expected


def test_each_step_can_be_switched_off():
    off = Normalisation(width_case=False, traditional=False, punctuation=False, emoji=False, fillers=False)
    assert normalize_text("請問 ＸＬ？？😂", off) == "請問 ＸＬ？？😂"
    assert off.signature() == "norm2:"
    assert Normalisation().signature() == "norm2:width_case,traditional,punctuation,emoji,fillers"
    assert Normalisation(fillers=False)("请问包邮吗") == "请问包邮吗"


@pytest.mark.parametrize(("message", "expected"), [
    ("   ", False), ("\u3000\u3000", False), ("\u200b\u200c\u200d", False), ("\x00", False), ("😀👍", False),
    ("[捂脸][玫瑰]", False), ("？？！！", False), ("\ufeff", False), ("亲", True), ("1", True), ("ok", True),
    ("在吗？", True), ("😀能发顺丰吗", True),
])
def test_understandable_means_a_letter_or_digit_is_left_after_normalisation(message, expected):
    from models.normalize import understandable

    assert understandable(normalize_text(message)) is expected
