"""The desk around the suggestions in Chromium: conversation states with waits against the shop's targets,
an escalated conversation at the top with its reasons and routing, the events the performance report is
made of; the merchant's routing editor, 客服绩效 with its CSV, and the routing/escalation analytics."""

from __future__ import annotations

import csv
import io
import time
from datetime import UTC, datetime

import httpx

from .conftest import accessibility_problems, open_page, screenshot


def settings(live, **values):
    r = httpx.put(f"{live.base}/v1/shops/demo/settings", json=values, headers=live.headers("admin"))
    assert r.status_code == 200, r.text


def group_of(page, conv_id: str) -> str:
    return page.get_attribute(f"#conv-list [role=option][data-conv='{conv_id}']", "data-state")


def test_agent_desk_states_escalation_and_events(live, browser):
    settings(live, first_response_target_seconds=5)
    try:
        page, watch = open_page(browser, live, "/console/agent", scope="agent")
        groups = page.locator("#conv-list .conv-group-h").all_inner_texts()
        assert groups == ["待回复 (2)", "已回复 (1)", "已关闭 (0)"]
        first = page.locator("#conv-list [role=option]").first
        assert first.locator(".conv-name").inner_text() == "阿杰"  # waiting the longest
        conv_id = page.get_attribute("#conv-list [role=option][data-index='0']", "data-conv")  # 小雨点, the active one

        # An angry buyer: the message is shown (reported with its suggestion request), escalated to the top.
        with page.expect_request(lambda r: r.url.endswith("/events") and r.method == "POST") as shown:
            page.fill("#buyer-input", "你们这是虚假宣传，再不处理我就打12315投诉")
            page.press("#buyer-input", "Enter")
        event = shown.value.post_data_json["events"][0]
        assert (event["type"], event["conversation_id"], event["agent_id"]) == ("message_shown", conv_id, "agent-1")
        assert event["request_id"] and event["message_at"] <= event["at"]
        banner = page.locator("#desk-banner [data-testid=escalation]")
        banner.wait_for()
        assert "紧急" in banner.inner_text() and "投诉/举报威胁" in banner.inner_text() and "不会自动回复" in banner.inner_text()
        assert page.inner_text("#desk-banner [data-testid=routing]") == "分流：售后（升级分组）"
        top = page.locator("#conv-list [role=option]").first
        assert top.get_attribute("data-conv") == conv_id and "escalated-high" in top.get_attribute("class")
        assert top.locator(".esc").inner_text() == "紧急"
        assert page.locator("#conv-list .conv-group-h").first.inner_text() == "待回复 (3)"

        # Past the 5 s first-response target the wait turns red.
        page.wait_for_selector(f"#conv-list [data-conv='{conv_id}'].over-target", timeout=15_000)
        assert page.inner_text(f"#conv-list [data-conv='{conv_id}'] .conv-wait").startswith("已超时")
        screenshot(page, "agent-desk-escalated-1366x768.png")

        # The reply is reported (accepted suggestion); the conversation moves to 已回复 and its escalation is handled.
        page.locator("#suggestions li.sugg").first.wait_for()
        page.focus("#draft")
        page.keyboard.press("Alt+1")
        page.wait_for_selector("#compliance-msg .ok")
        with page.expect_request(lambda r: r.url.endswith("/events") and "reply_sent" in (r.post_data or "")) as sent:
            page.keyboard.press("Control+Enter")
        reply = sent.value.post_data_json["events"][0]
        assert (reply["type"], reply["action"], reply["request_id"]) == ("reply_sent", "accepted", event["request_id"])
        page.wait_for_function(f"document.querySelector(\"#conv-list [data-conv='{conv_id}']\").dataset.state === 'replied'")
        assert page.locator("#desk-banner [data-testid=escalation]").count() == 0

        # Closing moves it to 已关闭; the server sees the same states.
        with page.expect_request(lambda r: r.url.endswith("/events") and "conversation_closed" in (r.post_data or "")):
            page.click("#conv-close")
        assert group_of(page, conv_id) == "closed"
        assert page.locator("#conv-list .conv-group-h").last.inner_text() == "已关闭 (1)"
        time.sleep(0.5)  # the events request has been answered
        states = httpx.get(f"{live.base}/v1/shops/demo/conversations", headers=live.headers("agent")).json()
        assert {c["conversation_id"]: c["state"] for c in states["data"]}[conv_id] == "closed"
        report = httpx.get(f"{live.base}/v1/shops/demo/performance?days=1", headers=live.headers("admin")).json()
        me = {a["agent_id"]: a for a in report["agents"]}["agent-1"]
        assert me["escalations_handled"] >= 1 and me["replies"] >= 1 and me["accepted"] >= 1

        # A new buyer message opens it again, as 待回复.
        page.fill("#buyer-input", "还有一个问题，能开发票吗")
        page.press("#buyer-input", "Enter")
        page.wait_for_function(f"document.querySelector(\"#conv-list [data-conv='{conv_id}']\").dataset.state === 'waiting'")

        page.click("#lang-toggle")
        assert page.locator("#conv-list .conv-group-h").all_inner_texts()[2].startswith("Closed")
        page.click("#lang-toggle")
        assert accessibility_problems(page) == []
        page.context.close()
        watch.check()
    finally:
        settings(live, first_response_target_seconds=None)


def test_agent_desk_warns_before_the_48_hour_limit(live, browser):
    page, watch = open_page(browser, live, "/console/agent", scope="agent", clock=True)
    assert page.get_attribute("#conv-list [role=option]", "data-state") == "waiting"  # 阿杰, waiting since load
    assert page.locator("#conv-list [role=option].deadline-warning").count() == 0
    page.clock.fast_forward("23:00:00")
    page.wait_for_function("document.querySelector('#conv-list [role=option] .conv-wait').textContent.startsWith('已超时')")
    assert page.locator("#conv-list [role=option].deadline-warning").count() == 0
    page.clock.fast_forward("01:30:00")  # 24.5 h: within 24 h of the deadline
    page.wait_for_selector("#conv-list [role=option].deadline-warning")
    assert page.inner_text("#conv-list [role=option].deadline-warning .conv-wait").startswith("距回复时限还剩 23小时")
    page.clock.fast_forward("24:00:00")
    page.wait_for_function("document.querySelector('#conv-list [role=option] .conv-wait').textContent.startsWith('已超过 48 小时')")
    page.context.close()
    watch.check()


def test_merchant_routing_editor(live, browser):
    page, watch = open_page(browser, live, "/console/merchant#routing")
    try:
        page.wait_for_selector("#routing-intents")
        assert page.inner_text("[data-testid=routing-state]") == "当前为平台默认分流表（尚未保存）"
        assert page.input_value("#routing-intents tr[data-intent='发货时间'] select") == "售前"
        assert page.input_value("#routing-intents tr[data-intent='退款进度'] select") == "售后"
        assert page.locator("#routing-categories tr[data-category='价保']").count() == 1  # from the active KB

        page.fill("#routing-group-add", "大客户")
        page.press("#routing-group-add", "Enter")
        page.select_option("#routing-handoff", "大客户")
        page.select_option("#routing-intents tr[data-intent='优惠券'] select", "大客户")
        page.select_option("#routing-categories tr[data-category='价保'] select", "售后")
        page.click("#routing-keyword-add")
        page.fill("#routing-keywords .keyword-rule input", "企业采购，批发")
        page.select_option("#routing-keywords .keyword-rule select", "大客户")
        screenshot(page, "merchant-routing-1366x768.png")
        page.click("#routing-save")
        page.wait_for_selector("#status:has-text('分流表已保存')")
        table = httpx.get(f"{live.base}/v1/shops/demo/routing", headers=live.headers("admin")).json()
        assert table["groups"] == ["售前", "售后", "大客户"] and table["handoff_group"] == "大客户"
        assert table["intents"]["优惠券"] == "大客户" and table["categories"] == {"价保": "售后"}
        assert table["keywords"] == [{"keywords": ["企业采购", "批发"], "group": "大客户"}]
        r = httpx.post(f"{live.base}/v1/shops/demo/suggestions", json={"message": "我们公司想批发一百件"},
                       headers=live.headers("agent")).json()
        assert r["routing"]["group"] == "大客户" and r["routing"]["keyword"] == "批发"

        # A keyword that is too long: every problem is listed by field, nothing is saved.
        page.fill("#routing-keywords .keyword-rule input", "这是一个超过二十个字符的非常非常长的关键词规则内容")
        page.click("#routing-save")
        page.wait_for_selector("[data-testid=routing-problems]")
        assert "keywords[0].keywords" in page.inner_text("[data-testid=routing-problems]")
        assert httpx.get(f"{live.base}/v1/shops/demo/routing", headers=live.headers("admin")).json()["keywords"][0][
            "keywords"] == ["企业采购", "批发"]

        page.click("#routing-reset")
        page.wait_for_selector("#status:has-text('已恢复默认分流表')")
        assert page.inner_text("[data-testid=routing-state]") == "当前为平台默认分流表（尚未保存）"
        assert accessibility_problems(page) == []
    finally:
        httpx.delete(f"{live.base}/v1/shops/demo/routing", headers=live.headers("admin"))
    page.context.close()
    watch.check()


def test_merchant_performance_csv_targets_and_analytics(live, browser, tmp_path):
    now = time.time()
    iso = lambda ts: datetime.fromtimestamp(ts, UTC).isoformat()  # noqa: E731
    angry = httpx.post(f"{live.base}/v1/shops/demo/suggestions", json={"message": "你们卖假货，我要举报你们"},
                       headers=live.headers("agent")).json()
    assert angry["escalate"] is not None
    r = httpx.post(f"{live.base}/v1/shops/demo/events", headers=live.headers("agent"), json={"events": [
        {"event_id": "perf-1", "type": "message_shown", "at": iso(now - 300), "conversation_id": "perf-c1",
         "agent_id": "xiaoli", "request_id": angry["request_id"]},
        {"event_id": "perf-2", "type": "reply_sent", "at": iso(now - 288), "conversation_id": "perf-c1",
         "agent_id": "xiaoli", "action": "own_reply"}]})
    assert r.status_code == 200, r.text

    page, watch = open_page(browser, live, "/console/merchant#performance")
    page.wait_for_selector("#perf-table tr[data-agent=xiaoli]")
    row = page.locator("#perf-table tr[data-agent=xiaoli]")
    assert row.locator("td[data-col=first_response_seconds_median]").inner_text() == "12.0"
    assert row.locator("td[data-col=reply_rate_within_target]").inner_text() == "100.0%"
    assert row.locator("td[data-col=escalations_handled]").inner_text() == "1"
    assert page.locator("#perf-table tr.total th").inner_text() == "合计"
    screenshot(page, "merchant-performance-1366x768.png")
    with page.expect_download() as dl:
        page.click("#perf-export")
    path = tmp_path / "perf.csv"
    dl.value.save_as(path)
    rows = list(csv.reader(io.StringIO(path.read_bytes().decode("utf-8-sig"))))
    assert rows[0][0] == "客服" and any(r[0] == "xiaoli" and r[4] == "12.0" for r in rows)

    # Targets are shop settings, edited here.
    page.wait_for_function("document.getElementById('t-first').value === '30'")
    page.fill("#t-first", "20")
    page.click("#targets-form button")
    page.wait_for_selector("#status:has-text('服务目标已保存')")
    assert httpx.get(f"{live.base}/v1/shops/demo/settings", headers=live.headers("agent")).json()[
        "first_response_target_seconds"] == 20
    page.wait_for_function("document.querySelector('#perf-body p').textContent.includes('20')")
    page.fill("#t-warning", "60")
    page.click("#targets-form button")
    page.wait_for_function("document.getElementById('targets-error').textContent.includes('deadline_warning_hours')")
    settings(live, first_response_target_seconds=None)
    assert accessibility_problems(page) == []

    # Analytics: routing and escalation per day, the intents that escalate most.
    page.click("#sidenav a[data-view=analytics]")
    page.wait_for_selector("[data-testid=escalations-per-day] #escalating-intents")
    day = datetime.now(UTC).strftime("%Y-%m-%d")
    assert page.locator(f"[data-testid=routing-per-day] tr[data-day='{day}']").count() == 1
    assert int(page.inner_text(f"[data-testid=escalations-per-day] tr[data-day='{day}'] td[data-key=high]")) >= 1
    assert page.locator("#escalating-intents tbody tr").count() >= 1
    page.locator("[data-testid=routing-per-day]").scroll_into_view_if_needed()
    screenshot(page, "merchant-desk-analytics-1366x768.png")
    page.context.close()
    watch.check()
