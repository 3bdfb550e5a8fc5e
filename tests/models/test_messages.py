"""The message catalogue: every code used anywhere has a Chinese and an English template with the
same params, and texts render in the language asked for."""

from __future__ import annotations

import ast
import re

import pytest

from models import errors
from models.messages import CATALOGUE, LANGUAGES, M, pick_language, render, template_fields
from tests.conftest import REPO

SOURCES = [p for d in ("models", "knowledge_base", "service", "eval", "training") for p in (REPO / d).rglob("*.py")]


def _codes_in_source() -> set[str]:
    """Every literal code given to M(...) or Msg(...), and every f-string prefix (compliance.{kind})."""
    codes: set[str] = set()
    for path in SOURCES:
        tree = ast.parse(path.read_text("utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("M", "Msg") and node.args:
                arg = node.args[0]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    codes.add(arg.value)
                elif isinstance(arg, ast.JoinedStr):
                    prefix = "".join(v.value for v in arg.values if isinstance(v, ast.Constant))
                    codes.add(prefix + "*")
    return codes


def test_every_code_used_has_both_languages():
    used = _codes_in_source()
    assert len(used) > 100
    missing = []
    for code in sorted(used):
        if code.endswith("*"):
            family = [c for c in CATALOGUE if c.startswith(code[:-1])]
            if not family:
                missing.append(code)
            continue
        if code not in CATALOGUE:
            missing.append(code)
    assert missing == [], f"message codes without a translation: {missing}"
    for code, templates in CATALOGUE.items():
        for lang in LANGUAGES:
            assert templates.get(lang, "").strip(), f"{code} has no {lang} text"


def test_both_languages_use_the_same_params():
    for code, templates in CATALOGUE.items():
        assert template_fields(templates["zh"]) == template_fields(templates["en"]), code


def test_every_error_class_has_a_generic_message():
    classes = [getattr(errors, name) for name in errors.__all__]
    for cls in classes:
        if isinstance(cls, type) and issubclass(cls, errors.SmartReplyError):
            assert f"error.{cls.code}" in CATALOGUE, cls.__name__


def test_compliance_kinds_and_weekdays_are_all_translated():
    from knowledge_base.compliance import KINDS

    for kind in KINDS:
        assert f"compliance.{kind}" in CATALOGUE
    for day in range(1, 8):
        assert f"weekday.{day}" in CATALOGUE


def test_a_missing_translation_is_caught(monkeypatch):
    """The check above really fails when a code lacks a language (not a test that cannot fail)."""
    monkeypatch.setitem(CATALOGUE, "auth.other_shop", {"zh": "", "en": "x"})
    with pytest.raises(AssertionError, match="auth.other_shop has no zh text"):
        test_every_code_used_has_both_languages()


def test_render_quotes_lists_and_nested_messages_per_language():
    msg = M("rule.keyword_order", keyword="发货", after="什么时候")
    assert msg.text("zh") == "关键词「发货」只出现在「什么时候」之前；contains 方式要求关键词按给定顺序出现"
    assert msg.text("en") == ("keyword '发货' appears only before '什么时候'; contains mode needs the keywords in the "
                              "order given")
    nested = M("item.invalid", subject=M("item.entry", name="E-1"), n=2)
    assert nested.params["subject"] == {"code": "item.entry", "params": {"name": "E-1"}}  # JSON-safe
    assert nested.text("zh") == "条目「E-1」：2 处问题，未做任何修改"
    assert render("rule.none_of", {"keywords": ["包邮", "运费"]}, "en") == \
        "none of the keywords ['包邮', '运费'] is in the message"
    assert render("no.such.code", {"a": 1}, "zh") == "no.such.code {'a': 1}"  # never a 500


@pytest.mark.parametrize(("header", "lang"), [
    (None, "zh"), ("", "zh"), ("en", "en"), ("en-US,en;q=0.9", "en"), ("zh-CN,zh;q=0.9,en;q=0.8", "zh"),
    ("fr-FR, en;q=0.5", "en"), ("fr", "zh"), ("en;q=0.3, zh;q=0.7", "zh"), ("EN-gb", "en")])
def test_accept_language(header, lang):
    assert pick_language(header) == lang


def test_english_keeps_the_wording_clients_knew():
    assert render("auth.other_shop", {}, "en") == "this API key belongs to another shop"
    assert render("problem.missing_answer", {}, "en") == "answer is empty"
    assert re.fullmatch(r"partial import: 5 row\(s\) with errors left out",
                        render("version.note.partial", {"rows": 5}, "en"))
