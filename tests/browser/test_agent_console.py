"""客服工作台 end to end in Chromium: ask as the buyer, accept a suggestion with the keyboard (variables
filled from the order panel), feedback on send, a draft blocked by the compliance check, the Feige shortcuts."""

from __future__ import annotations

import httpx

from .conftest import accessibility_problems, open_page, screenshot

LOGISTICS_ANSWER = "{买家昵称}您好～您尾号{订单尾号}的订单已由{物流公司}发出，可在订单详情里查看物流哦。"


def _feedback_route(live) -> bool:
    paths = httpx.get(f"{live.base}/openapi.json").json()["paths"]
    return "post" in paths.get("/v1/shops/{shop_id}/feedback", {})


def test_agent_console_end_to_end(live, browser):
    # The shop's logistics answer carries variables that the page fills from the order panel.
    r = httpx.patch(f"{live.base}/v1/shops/demo/kb/entries/FAQ-007", json={"answers": [LOGISTICS_ANSWER]},
                    headers=live.headers("admin"), timeout=60)
    assert r.status_code == 200, r.text
    # The demo shop ships its quick phrases (/yx among them) and auto-reply rules.
    phrases = httpx.get(f"{live.base}/v1/shops/demo/quick-phrases", headers=live.headers("admin")).json()["data"]
    assert {"shortcut": "/yx", "text": "亲，已为您备注优先发货哦～"}.items() <= next(
        p for p in phrases if p["shortcut"] == "/yx").items()

    page, watch = open_page(browser, live, "/console/agent", scope="agent")
    assert page.title().startswith("客服工作台")
    assert page.inner_text("#chat-title") == "小雨点"

    # Ask as the buyer: suggestions appear beside the input with source, confidence, matched question.
    page.fill("#buyer-input", "我的快递到哪了")
    page.press("#buyer-input", "Enter")
    first = page.locator("#suggestions li.sugg").first
    first.wait_for()
    text = first.locator(".sugg-text").inner_text()
    assert text == "小雨点您好～您尾号5521的订单已由中通快递发出，可在订单详情里查看物流哦。"
    meta = first.locator(".sugg-meta").inner_text()
    assert "FAQ" in meta and "匹配问题: 我的快递到哪了" in meta
    assert page.locator("#sugg-timing").inner_text().startswith("服务")
    screenshot(page, "agent-console-1366x768.png")

    # Accept with the keyboard (Alt+1), send with Ctrl+Enter; the send records feedback.
    page.focus("#draft")
    page.keyboard.press("Alt+1")
    assert page.input_value("#draft") == text
    page.wait_for_selector("#compliance-msg .ok")
    if _feedback_route(live):
        with page.expect_request(lambda req: req.url.endswith("/feedback") and req.method == "POST") as fb:
            page.keyboard.press("Control+Enter")
        body = fb.value.post_data_json
        assert body["action"] == "accepted" and body["suggestion_rank"] == 1 and body["entry_id"] == "FAQ-007"
        assert body["final_text"] == text and body["time_to_reply_ms"] >= 0
    else:
        page.keyboard.press("Control+Enter")
        page.wait_for_selector("#status:has-text('反馈接口尚未提供')")
    page.wait_for_selector("#messages li.msg.agent")
    assert page.locator("#messages li.msg.agent .bubble").last.inner_text() == text
    assert page.input_value("#draft") == ""

    # A draft with a WeChat handle: the span is highlighted with the reason; sending needs an override.
    page.fill("#draft", "亲，加我微信 abc12345 详聊，给您便宜")
    page.wait_for_selector("#compliance-msg[data-state=blocked]")
    assert page.locator("#draft-backdrop mark.viol").count() >= 1
    assert "微信" in page.inner_text("#compliance-msg") or "站外" in page.inner_text("#compliance-msg")
    screenshot(page, "agent-console-blocked-1366x768.png")
    page.keyboard.press("Control+Enter")
    dialog = page.locator("#override-dialog")
    dialog.wait_for(state="visible")
    assert page.is_disabled("#override-send")
    page.click("#override-dialog button[value=cancel]")
    assert page.locator("#messages li.msg.agent").count() == 1
    page.keyboard.press("Control+Enter")
    dialog.wait_for(state="visible")
    page.check("#override-ack")
    page.click("#override-send")
    page.wait_for_selector("#messages li.msg.agent .flag")

    # A variable that the order panel cannot fill marks the suggestion instead of inserting it broken.
    page.fill("#o-carrier", "")
    page.fill("#buyer-input", "我的快递到哪了")
    page.press("#buyer-input", "Enter")
    page.wait_for_selector("#suggestions li.sugg.blocked .missing")
    assert "{物流公司}" in page.inner_text("#suggestions li.sugg.blocked .missing")
    assert page.locator("#suggestions li.sugg").first.locator("button").is_disabled()

    # Tab in the reply box switches conversation; Ctrl+F searches the history.
    page.focus("#draft")
    page.keyboard.press("Tab")
    assert page.inner_text("#chat-title") == "阿杰"
    page.locator("#suggestions li.sugg").first.wait_for()
    page.keyboard.press("Tab")
    assert page.inner_text("#chat-title") == "糖糖"
    page.keyboard.press("Control+f")
    assert page.evaluate("document.activeElement.id") == "history-q"
    page.keyboard.type("发票")
    assert page.locator("#messages li.msg.hit").count() == 1
    page.keyboard.press("Escape")
    assert page.evaluate("document.activeElement.id") == "draft"
    # Esc then Tab leaves the reply box (normal focus order) instead of switching conversation.
    page.keyboard.press("Escape")
    page.keyboard.press("Tab")
    assert page.inner_text("#chat-title") == "糖糖"
    assert page.evaluate("document.activeElement.id") != "draft"

    # Quick phrases: search by shortcut code, click to insert.
    page.fill("#qp-q", "/yx")
    page.locator("#qp-list button").first.click()
    assert page.input_value("#draft") == "亲，已为您备注优先发货哦～"

    # English toggle, kept in localStorage.
    page.click("#lang-toggle")
    assert page.inner_text("#sugg-h") .startswith("Suggestions")
    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    assert page.inner_text("#send") == "Send"
    page.click("#lang-toggle")

    assert accessibility_problems(page) == []
    page.context.close()
    watch.check()


def test_agent_console_screenshot_large(live, browser):
    page, watch = open_page(browser, live, "/console/agent", viewport="1920x1080", scope="agent")
    page.fill("#buyer-input", "衣服小了能换大一码吗")
    page.press("#buyer-input", "Enter")
    page.locator("#suggestions li.sugg").first.wait_for()
    page.fill("#draft", "亲，可以的哦，")
    page.wait_for_selector("#compliance-msg .ok")
    screenshot(page, "agent-console-1920x1080.png")
    page.context.close()
    watch.check()
