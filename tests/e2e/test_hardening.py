"""Regression tests of the adversarial pass (issue 13), each through a real `smartreply serve`:
empty messages, CSV injection in every CSV the service writes, control characters, the request id,
the OpenAPI document against what the server does. Bad files: test_bad_uploads.py."""

from __future__ import annotations

import csv
import io
import json

import httpx
import pytest

from tests.conftest import DEMO_FAQ
from tests.e2e.server import OPERATOR_HEADERS, start_server

pytestmark = pytest.mark.slow

SHOP = "hardening"
FORMULAS = ["-2+3+cmd|' /C calc'!A0", "+A1", "-1+A1", "@A1", "+1+1", "=HYPERLINK(\"http://x.cn\")"]
NOTHING_TO_UNDERSTAND = ["   ", "\u3000\u3000", "\u200b\u200c\u200d", "\x00", "\x00 \x07", "😀😀👍", "[捂脸][玫瑰]",
                         "？？！！…", "\ufeff\u2060"]


@pytest.fixture(scope="module")
def served(tmp_path_factory, real_encoder):
    data_dir = tmp_path_factory.mktemp("hardening")
    server = start_server(data_dir, env={"SMARTREPLY_RATE_LIMIT_PER_SECOND": "0", "SMARTREPLY_LOG_LEVEL": "INFO"})
    try:
        with open(DEMO_FAQ, "rb") as fh:
            r = httpx.post(f"{server.base}/v1/shops/{SHOP}/kb", files={"file": (DEMO_FAQ.name, fh, "text/csv")},
                           headers=OPERATOR_HEADERS, timeout=120)
        assert r.status_code == 201, r.text
        agent = httpx.post(f"{server.base}/v1/shops/{SHOP}/keys", json={"scopes": ["agent"]},
                           headers=OPERATOR_HEADERS).json()["key"]
        # Load the shop (index, ranker) once, with time to spare on a busy machine.
        assert httpx.post(f"{server.base}/v1/shops/{SHOP}/suggestions", json={"message": "发货"},
                          headers=OPERATOR_HEADERS, timeout=120).status_code == 200
        yield server, {"Authorization": f"Bearer {agent}"}
    finally:
        server.stop()


@pytest.mark.parametrize("message", NOTHING_TO_UNDERSTAND, ids=lambda m: m.encode("unicode_escape").decode())
def test_a_message_with_nothing_to_understand_gets_no_suggestion(served, message):
    """Defect 5: whitespace, ideographic spaces, zero-width characters, NUL or only emoji got '不客气哦亲…'."""
    server, agent = served
    r = httpx.post(f"{server.base}/v1/shops/{SHOP}/suggestions", json={"message": message}, headers=agent)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["suggestions"] == [] and body["abstained"] is True
    assert body["abstain_reason"] == "nothing_to_understand"
    # a real question right after is still answered
    real = httpx.post(f"{server.base}/v1/shops/{SHOP}/suggestions", json={"message": "可以开发票吗"}, headers=agent)
    assert real.json()["suggestions"] and real.json()["abstain_reason"] is None


def test_the_schema_says_how_empty_messages_are_answered(served):
    server, _ = served
    doc = httpx.get(f"{server.base}/openapi.json").json()
    reason = doc["components"]["schemas"]["SuggestResponse"]["properties"]["abstain_reason"]
    assert {"enum": ["nothing_to_understand", "no_confident_answer"], "type": "string"} in reason["anyOf"]


@pytest.mark.parametrize("formula", FORMULAS)
def test_formulas_are_refused_by_the_entry_api(served, formula):
    """Defect 4: +A1, -1+A1, @A1, +1+1 and the cmd payload were accepted by the entry API."""
    server, _ = served
    r = httpx.post(f"{server.base}/v1/shops/{SHOP}/kb/entries", headers=OPERATOR_HEADERS,
                   json={"question": "公式测试", "answers": [formula]})
    assert r.status_code == 422, r.text
    problems = {(p["code"], p["column"]) for p in r.json()["error"]["details"]}
    assert ("formula", "answers") in problems  # the cmd payload's '|' is also reported, as a separator


def test_control_characters_are_refused_by_the_entry_and_quick_phrase_apis(served):
    """Defect 3: a NUL went in, the CSV export then held it and the XLSX export dropped it silently."""
    server, _ = served
    r = httpx.post(f"{server.base}/v1/shops/{SHOP}/kb/entries", headers=OPERATOR_HEADERS,
                   json={"question": "控制字符", "answers": ["付款后\x00发货"]})
    assert r.status_code == 422
    (problem,) = r.json()["error"]["details"]
    assert problem["code"] == "control_character" and problem["extra"]["character"] == "U+0000"
    r = httpx.post(f"{server.base}/v1/shops/{SHOP}/quick-phrases", headers=OPERATOR_HEADERS,
                   json={"text": "亲\x1b[31m您好"})
    assert r.status_code == 422 and r.json()["error"]["details"][0]["extra"]["name"] == "ESC"


def test_every_csv_export_escapes_formula_like_cells_and_imports_back_unchanged(served):
    """Defect 4: the CSV export wrote '-5元…' style cells unescaped. Text the import accepts that starts with
    - or + is exported with a leading apostrophe (OWASP) and reads back as the same text."""
    server, _ = served
    r = httpx.post(f"{server.base}/v1/shops/{SHOP}/kb/entries", headers=OPERATOR_HEADERS,
                   json={"id": "CSV-1", "question": "-5元优惠怎么用", "answers": ["-5元优惠券下单自动抵扣", "+1 件也包邮"]})
    assert r.status_code == 201, r.text
    r = httpx.post(f"{server.base}/v1/shops/{SHOP}/quick-phrases", headers=OPERATOR_HEADERS,
                   json={"text": "-10元券已发放", "group": "-活动"})
    assert r.status_code == 201, r.text

    faq = httpx.get(f"{server.base}/v1/shops/{SHOP}/kb/export", params={"format": "csv"}, headers=OPERATOR_HEADERS)
    rows = list(csv.reader(io.StringIO(faq.content.decode("utf-8-sig"))))
    row = next(r for r in rows if r[0] == "CSV-1")
    assert row[1] == "'-5元优惠怎么用" and row[3] == "'-5元优惠券下单自动抵扣\n+1 件也包邮"
    assert b'"CSV-1"' in faq.content  # every cell quoted
    phrases = httpx.get(f"{server.base}/v1/shops/{SHOP}/quick-phrases/export", params={"format": "csv"},
                        headers=OPERATOR_HEADERS)
    phrase_row = next(r for r in csv.reader(io.StringIO(phrases.content.decode("utf-8-sig"))) if "券" in r[3])
    assert phrase_row[1:] == ["'-活动", "", "'-10元券已发放"]
    for content in (faq.content, phrases.content):  # no cell of any CSV written starts a formula
        for cells in csv.reader(io.StringIO(content.decode("utf-8-sig"))):
            assert not any(c.startswith(("=", "+", "-", "@", "\t", "\r")) for c in cells), cells

    # The export imports back as the same entries (the apostrophe is removed again): no changes, no version.
    r = httpx.post(f"{server.base}/v1/shops/{SHOP}/kb", files={"file": ("export.csv", faq.content, "text/csv")},
                   headers=OPERATOR_HEADERS, timeout=120)
    assert r.status_code == 200 and r.json()["no_changes"] is True, r.text
    entry = httpx.get(f"{server.base}/v1/shops/{SHOP}/kb/entries/CSV-1", headers=OPERATOR_HEADERS).json()
    assert entry["question"] == "-5元优惠怎么用" and entry["answers"] == ["-5元优惠券下单自动抵扣", "+1 件也包邮"]


def test_a_phone_number_as_request_id_never_reaches_the_log_and_a_reused_id_gets_a_fresh_one(served):
    """Defect 7: a caller's X-Request-ID was logged unmasked, and reusing one dropped the analytics event."""
    server, agent = served
    phone = "13912345678"
    r = httpx.post(f"{server.base}/v1/shops/{SHOP}/suggestions", json={"message": "可以开发票吗"},
                   headers={**agent, "X-Request-ID": f"req-{phone}"})
    assert r.status_code == 200
    masked_id = r.json()["request_id"]
    assert phone not in masked_id and r.headers["x-request-id"] == masked_id

    first = httpx.post(f"{server.base}/v1/shops/{SHOP}/suggestions", json={"message": "什么时候发货"},
                       headers={**agent, "X-Request-ID": "desk-7-msg-42"})
    again = httpx.post(f"{server.base}/v1/shops/{SHOP}/suggestions", json={"message": "能开发票吗"},
                       headers={**agent, "X-Request-ID": "desk-7-msg-42"})
    assert first.json()["request_id"] == "desk-7-msg-42"
    fresh = again.json()["request_id"]
    assert fresh != "desk-7-msg-42" and again.headers["x-request-id"] == fresh
    # Both events were recorded: feedback finds each of them.
    for request_id in ("desk-7-msg-42", fresh):
        fb = httpx.post(f"{server.base}/v1/shops/{SHOP}/feedback", headers=agent, timeout=10, json={
            "request_id": request_id, "action": "ignored", "agent_id": "a-1"})
        if fb.status_code == 404:  # events are written in batches off the request path: give it a moment
            import time

            time.sleep(1.0)
            fb = httpx.post(f"{server.base}/v1/shops/{SHOP}/feedback", headers=agent, timeout=10, json={
                "request_id": request_id, "action": "ignored", "agent_id": "a-1"})
        assert fb.status_code == 201, fb.text
    log = server.log_path.read_text("utf-8")
    assert phone not in log
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{") and '"caller_request_id"' in line]
    assert {"caller_request_id": "req-[电话]", "request_id": masked_id} in [
        {k: line[k] for k in ("caller_request_id", "request_id")} for line in lines]
    assert any(line["caller_request_id"] == "desk-7-msg-42" and line["request_id"] == fresh for line in lines)


def test_the_schema_matches_the_server(served):
    """Defect 6, the cases the issue names; the fuzzer (test_schema_fuzz.py) covers the rest."""
    server, agent = served
    base = server.base
    doc = httpx.get(f"{base}/openapi.json").json()
    top_k = doc["components"]["schemas"]["SuggestRequest"]["properties"]["top_k"]
    assert top_k["maximum"] == 20 and top_k["type"] == "integer"
    suggest = doc["paths"]["/v1/shops/{shop_id}/suggestions"]["post"]["responses"]
    assert {"400", "401", "403", "404", "409", "413", "422"} <= set(suggest)  # (429: rate limit off here)
    # 405 answers say what is allowed
    r = httpx.put(f"{base}/v1/shops/{SHOP}/rules", headers=OPERATOR_HEADERS)
    assert r.status_code == 405 and r.headers["allow"] == "GET, POST"
    r = httpx.request("TRACE", f"{base}/v1/shops/{SHOP}/suggestions", headers=agent)
    assert r.status_code == 405 and r.headers["allow"] == "POST"
    # an unparsable body is a documented 400 with a code
    r = httpx.post(f"{base}/v1/compliance/check", content=b"\xff\xfe{",
                   headers={**agent, "Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_body", r.text
    r = httpx.post(f"{base}/v1/shops/{SHOP}/suggestions", content=b"[" * 100_000,
                   headers={**agent, "Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_body", r.text
    # wrong JSON types are refused, not coerced
    for value in ("3", True, 3.5):
        r = httpx.post(f"{base}/v1/shops/{SHOP}/suggestions", json={"message": "发货", "top_k": value}, headers=agent)
        assert r.status_code == 422, (value, r.text)
    r = httpx.post(f"{base}/v1/shops/{SHOP}/rules/explain", json={"message": "发货", "at": 13_000_000_000},
                   headers=agent)
    assert r.status_code == 422 and "ISO 8601" in r.text
    # a new shop without a knowledge base: a documented 409, not a 404
    assert httpx.post(f"{base}/v1/shops", json={"id": "fresh-shop"}, headers=OPERATOR_HEADERS).status_code == 201
    r = httpx.post(f"{base}/v1/shops/fresh-shop/suggestions", json={"message": "发货"}, headers=OPERATOR_HEADERS)
    assert r.status_code == 409 and r.json()["error"]["code"] == "no_active_kb"
    # times carry their offset, as format date-time requires
    created = httpx.get(f"{base}/v1/shops/{SHOP}/kb/versions", headers=OPERATOR_HEADERS).json()["data"][0]["created_at"]
    assert created.endswith("Z") or created[-6] in "+-", created
