"""Issue 14 in Chromium: the two keys (and what the pages say when a key is missing or of the wrong
scope), loading the demo keys, server messages in Chinese and English, the hit test's near misses,
and the three screen sizes (with their screenshots)."""

from __future__ import annotations

import httpx

from .conftest import accessibility_problems, open_page, screenshot


def test_each_console_keeps_its_own_key_and_says_what_is_wrong(live, browser):
    # The agent key saved in 客服工作台 does not reach 知识库管理: each console has its own.
    agent, awatch = open_page(browser, live, "/console/agent", scope="agent")
    agent.fill("#buyer-input", "可以开发票吗")
    agent.press("#buyer-input", "Enter")
    agent.locator("#suggestions li.sugg").first.wait_for()
    merchant = agent.context.new_page()
    merchant.goto(live.base + "/console/merchant")
    merchant.wait_for_selector("body[data-ready=true]")
    merchant.wait_for_selector("[data-testid=auth-banner]:has-text('还没有填写本工作台的 API 密钥')")
    assert merchant.locator("[data-testid=no-versions]").count() == 0  # never the false "no versions yet"
    # serve --demo on this machine: one click loads both consoles' keys.
    merchant.click("[data-testid=auth-banner] [data-demo-keys]")
    merchant.wait_for_selector("#versions-table tbody tr[data-version]")
    assert merchant.is_hidden("[data-testid=auth-banner]")
    stored = merchant.evaluate("() => [localStorage.getItem('smartreply.key.agent.demo'), localStorage.getItem('smartreply.key.merchant.demo')]")
    assert stored == [live.keys["agent"], live.keys["admin"]]
    # The agent console still works with its own key after the merchant console got the admin key.
    agent.reload()
    agent.wait_for_selector("body[data-ready=true]")
    assert agent.is_hidden("[data-testid=auth-banner]")
    agent.context.close()
    awatch.check()

    # An agent key in 知识库管理: the page says it is the wrong kind of key, not that there is no version.
    wrong, watch = open_page(browser, live, "/console/merchant", scope="agent", expected={403})
    wrong.wait_for_selector("[data-testid=auth-banner]:has-text('当前密钥是客服（agent）密钥')")
    wrong.wait_for_selector("#versions-table [data-testid=panel-error]:has-text('admin')")
    assert wrong.locator("[data-testid=no-versions]").count() == 0
    wrong.context.close()
    watch.check()


def test_server_messages_follow_the_page_language(live, browser):
    page, watch = open_page(browser, live, "/console/merchant#rules")
    assert page.title() == "知识库管理 · smartreply" and page.inner_text("#shop-badge") == "店铺: demo"
    page.fill("#x-msg", "什么时候发货呀"); page.fill("#x-at", "2025-01-03T23:30")
    page.click("#explain-form button")
    page.wait_for_selector("#explain-result [data-code=lower_priority]:has-text('也匹配且优先级更高')")
    page.click("#lang-toggle")
    assert page.title() == "Merchant console · smartreply" and page.inner_text("#shop-badge") == "Shop: demo"
    page.fill("#x-msg", "什么时候发货呀"); page.fill("#x-at", "2025-01-03T23:30")
    page.click("#explain-form button")
    page.wait_for_selector("#explain-result [data-code=lower_priority]:has-text('also matches and has a higher priority')")
    # An entry error from the server, in English on the English page.
    page.click("a[href='#phrases']")
    page.fill("#p-text", "有事打13812345678")
    page.click("#phrase-form button")
    page.wait_for_selector("#phrase-error:has-text('contains a phone number')")
    page.click("#lang-toggle")
    page.fill("#p-text", "有事打13812345678")
    page.click("#phrase-form button")
    page.wait_for_selector("#phrase-error:has-text('含电话号码')")
    page.context.close()
    watch.check()


def test_hit_test_shows_near_misses_greyed_with_reasons(live, browser):
    page, watch = open_page(browser, live, "/console/merchant#hit")
    page.fill("#hit-q", "你们家有卖猫粮吗")
    page.click("#hit-form button")
    page.wait_for_selector("#hit-result .hit-item")
    first = page.locator("#hit-result .hit-item").first
    assert first.get_attribute("data-status") == "below_threshold" and "near-miss" in first.get_attribute("class")
    assert float(first.evaluate("el => getComputedStyle(el).opacity")) < 1
    why = first.locator(".why li").all_inner_texts()
    assert any("不会推荐" in w for w in why) and any("相似度" in w for w in why)
    # The thresholds typed are the server's: with 0.00 the same candidate is suggested.
    page.fill("#hit-t1", "0")
    page.click("#hit-form button")
    page.wait_for_selector("#hit-result .hit-item[data-status=suggested]")
    assert "推荐阈值 0.00" in page.inner_text("[data-testid=hit-meta]")
    page.fill("#hit-t1", "0.10")
    page.click("#hit-form button")
    page.wait_for_selector("#hit-result .hit-item.near-miss")
    screenshot(page, "merchant-hit-test-1366x768.png")
    # Test questions never reach analytics.
    clusters = httpx.get(f"{live.base}/v1/shops/demo/analytics/unanswered?days=7", headers=live.headers("admin")).json()
    assert not any("猫粮" in m for c in clusters["data"] for m in c["examples"])
    page.context.close()
    watch.check()


def test_three_screen_sizes(live, browser):
    for viewport in ("1366x768", "1024x700", "1920x1080"):
        agent, awatch = open_page(browser, live, "/console/agent", viewport=viewport, scope="agent")
        agent.fill("#buyer-input", "衣服小了能换大一码吗")
        agent.press("#buyer-input", "Enter")
        agent.locator("#suggestions li.sugg").first.wait_for()
        assert agent.locator("#qp-list").bounding_box()["height"] >= 100  # was 0 px at 1024x700
        agent.locator("#qp-list button").first.click()
        agent.wait_for_selector("#status:has-text('已插入快捷短语')")
        assert "Alt+1…9" in agent.inner_text("#shortcut-hint")
        if viewport != "1366x768":
            screenshot(agent, f"agent-console-{viewport}.png")
        assert accessibility_problems(agent) == []
        # Conversations survive a reload.
        agent.reload()
        agent.wait_for_selector("body[data-ready=true]")
        assert "衣服小了能换大一码吗" in agent.inner_text("#messages")
        agent.context.close()
        awatch.check()

        merchant, mwatch = open_page(browser, live, "/console/merchant#entries", viewport=viewport)
        merchant.wait_for_selector("#entries-table tbody tr[data-entry]")
        wrap = merchant.locator("#entries-table").locator("xpath=..").bounding_box()
        assert wrap["y"] + wrap["height"] <= {"1366x768": 768, "1024x700": 700, "1920x1080": 1080}[viewport]
        if viewport == "1920x1080":
            assert wrap["height"] > 600  # the table uses the screen (it stopped at 420 px)
        button = merchant.locator("#entries-table tbody tr").first.locator("button").last
        box = button.bounding_box()
        assert box["x"] + box["width"] <= int(viewport.split("x")[0])  # row actions are not clipped
        screenshot(merchant, f"merchant-entries-{viewport}.png")
        assert accessibility_problems(merchant) == []
        merchant.context.close()
        mwatch.check()


def test_both_consoles_share_one_settings_dialog(live, browser):
    """One dialog built by common.js: the agent console also asks for the agent id; saving it is kept."""
    for path, has_agent in (("/console/merchant", False), ("/console/agent", True)):
        page, watch = open_page(browser, live, path, lang="en")
        page.click("#settings-open")
        dialog = page.locator("#settings-dialog")
        dialog.wait_for()
        assert dialog.locator("#settings-h").inner_text() == "Settings"  # translated like the rest of the page
        console = "agent" if has_agent else "merchant"
        saved = page.evaluate(f"() => localStorage.getItem('smartreply.key.{console}.demo')")
        assert page.input_value("#s-shop") == "demo" and page.input_value("#s-key") == saved and saved
        assert (dialog.locator("#s-agent").count() == 1) is has_agent
        if has_agent:
            page.fill("#s-agent", "agent-7")
        page.fill("#s-shop", "bad shop!")
        dialog.locator("button[value=save]").click()
        assert dialog.locator("[data-shop-error]").inner_text() != ""  # refused: the shop id is invalid
        page.fill("#s-shop", "demo")
        dialog.locator("button[value=save]").click()
        page.wait_for_selector("#settings-dialog", state="hidden")
        if has_agent:
            assert page.evaluate("() => localStorage.getItem('smartreply.agent')") == "agent-7"
        assert accessibility_problems(page) == []
        page.context.close()
        watch.check()
