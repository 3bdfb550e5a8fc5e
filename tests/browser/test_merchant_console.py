"""知识库管理 end to end in Chromium: upload a file with errors (drag and drop), read the report, fix it,
see the diff, roll back; edit entries and 相似问; hit test; quick phrases; rules + explain; analytics
showing the feedback an agent's send recorded."""

from __future__ import annotations

import time

import httpx

from .conftest import accessibility_problems, open_page, screenshot

HEADER = "编号,标准问题,相似问题,答案,分类,状态\n"
GOOD = ("T-1,下单后多久发货？,什么时候发货|几天能发货,亲，付款后48小时内发货哦～,发货时间,启用\n"
        "T-2,可以开发票吗？,能开票吗|有发票吗,亲，可以开电子发票哦～,发票,启用\n")
BAD_ROW = "T-3,能便宜点吗？,能优惠吗,,优惠,启用\n"   # no answer: rejected with row 4, column 答案
FIXED_ROW = "T-3,能便宜点吗？,能优惠吗,亲，领店铺券下单更划算哦～,优惠,启用\n"


def _drop(page, name: str, content: str) -> None:
    """Drag and drop a file onto the drop zone (a real DataTransfer with a File)."""
    page.evaluate("""([name, content]) => {
      const dt = new DataTransfer();
      dt.items.add(new File([content], name, {type: 'text/csv'}));
      const zone = document.getElementById('dropzone');
      for (const type of ['dragover', 'drop']) zone.dispatchEvent(new DragEvent(type, {dataTransfer: dt, bubbles: true, cancelable: true}));
    }""", [name, content])


def test_merchant_console_end_to_end(live, browser, tmp_path):
    page, watch = open_page(browser, live, "/console/merchant")
    assert page.title().startswith("知识库管理")
    page.wait_for_selector("#versions-table tbody tr[data-version]")
    original = int(page.inner_text("#active-version").removeprefix("当前生效：v"))

    # 1. A file with an error, dropped: the report table, nothing imported; reject all.
    _drop(page, "faq.csv", HEADER + GOOD + BAD_ROW)
    page.wait_for_selector("[data-testid=upload-invalid]")
    row = page.locator("#problems-table tbody tr").first
    assert row.locator("td").nth(2).inner_text() == "4" and row.locator("td").nth(3).inner_text() == "答案"
    assert "答案为空" in row.inner_text()  # the server's reason, in the page's language
    screenshot(page, "merchant-upload-report-1366x768.png")
    page.click("#reject-all")
    assert page.inner_text("#active-version") == f"当前生效：v{original}"

    # 2. Fixed, uploaded with the file input (replace): previewed first. It would remove the demo shop's
    # entries, so importing asks for a confirmation that states the count; cancelled first, then given.
    fixed = tmp_path / "faq-fixed.csv"
    fixed.write_text(HEADER + GOOD + FIXED_ROW, encoding="utf-8")
    removed = len(httpx.get(f"{live.base}/v1/shops/demo/kb/entries", headers=live.headers("admin")).json()["data"])
    page.set_input_files("#kb-file", str(fixed))
    page.wait_for_selector("[data-testid=remove-warning]")
    assert f"删除 {removed} 个现有条目" in page.inner_text("[data-testid=remove-warning]")
    summary = page.inner_text("[data-testid=preview-summary]")
    assert "新增 3" in summary and f"删除 {removed}" in summary
    assert page.inner_text("#active-version") == f"当前生效：v{original}"  # the preview stored nothing
    screenshot(page, "merchant-upload-preview-1366x768.png")
    page.click("[data-testid=preview-import]")
    dialog = page.locator("[data-testid=confirm-remove]")
    dialog.wait_for()
    assert f"删除 {removed} 个条目？" in dialog.inner_text()
    assert page.is_disabled("[data-testid=confirm-remove] [data-testid=confirm-ok]")
    dialog.locator("button[value=cancel]").click()
    assert page.inner_text("#active-version") == f"当前生效：v{original}"
    page.click("[data-testid=preview-import]")
    page.check("[data-testid=confirm-remove] #confirm-ack")
    page.click("[data-testid=confirm-remove] [data-testid=confirm-ok]")
    page.wait_for_selector("[data-testid=upload-ok]")
    new = original + 1
    page.wait_for_selector(f"#active-version:has-text('v{new}')")
    page.wait_for_selector("[data-testid=diff-summary]")
    assert f"新增 3 · 删除 {removed}" in page.inner_text("[data-testid=diff-summary]")

    # 3. A file with an error, merged with "import the valid rows": one entry changed, nothing removed.
    page.check("input[name=upload-mode][value=merge]")
    _drop(page, "faq-partial.csv", HEADER + GOOD.replace("48小时内发货", "24小时内发货") + BAD_ROW)
    page.wait_for_selector("[data-testid=upload-invalid]")
    page.click("#import-valid")
    page.wait_for_selector("[data-testid=preview-summary]")
    summary = page.inner_text("[data-testid=preview-summary]")
    assert "修改 1" in summary and "删除 0" in summary
    assert "跳过了 1 行" in page.inner_text("#upload-result")
    page.click("[data-testid=preview-import]")
    page.wait_for_selector("[data-testid=upload-ok]")
    new += 1
    page.wait_for_selector(f"#active-version:has-text('v{new}')")
    # Identical content again: the preview says there is nothing to change.
    _drop(page, "faq-again.csv", HEADER + GOOD.replace("48小时内发货", "24小时内发货") + FIXED_ROW)
    page.wait_for_selector("[data-testid=no-changes]")
    screenshot(page, "merchant-console-1366x768.png")

    # 4. Entries: search, edit (add a 相似问), disable.
    page.click("a[href='#entries']")
    page.wait_for_selector("#entries-table tr[data-entry=T-2]")
    page.fill("#entries-q", "发票")
    assert page.locator("#entries-table tbody tr").count() == 1
    page.click("#entries-table tr[data-entry=T-2] button:has-text('编辑')")
    page.fill("#e-similar-add", "开票怎么弄")
    page.press("#e-similar-add", "Enter")
    page.click("#entry-dialog button[value=save]")
    page.wait_for_selector("#entry-dialog", state="hidden")
    page.wait_for_selector("#entries-table tr[data-entry=T-2]:has-text('(+1)') [data-testid=pending]")
    page.fill("#entries-q", "")
    page.click("#entries-table tr[data-entry=T-1] button:has-text('停用')")
    page.wait_for_selector("#entries-table tr[data-entry=T-1] .pill.off")
    # Both edits wait in the draft and go live together, as one version.
    assert page.inner_text("#draft-count") == "草稿：2 项未发布的修改"
    before = httpx.get(f"{live.base}/v1/shops/demo/kb/versions", headers=live.headers("admin")).json()["active_version"]
    page.click("#draft-publish")
    page.wait_for_selector("#draft-bar", state="hidden")
    versions = httpx.get(f"{live.base}/v1/shops/demo/kb/versions", headers=live.headers("admin")).json()
    assert versions["active_version"] == before + 1 and versions["data"][-1]["base_version"] == before
    entry = httpx.get(f"{live.base}/v1/shops/demo/kb/entries/T-2", headers=live.headers("admin")).json()
    assert entry["similar"] == ["能开票吗", "有发票吗", "开票怎么弄"]

    # 5. Hit test: ranked matches with scores, why, and the thresholds on the axis.
    page.click("a[href='#hit']")
    page.fill("#hit-q", "开票怎么弄")
    page.click("#hit-form button")
    page.wait_for_selector("#hit-result .hit-item")
    assert "T-2" in page.locator("#hit-result .hit-item").first.inner_text()
    assert page.locator("#hit-result svg line[stroke-dasharray]").count() == 2
    assert "测试问题" in page.inner_text("[data-testid=hit-meta]")
    screenshot(page, "merchant-hit-test-1366x768.png")

    # 6. Quick phrases: add one (and a refused one: a phone number fails the compliance check).
    page.click("a[href='#phrases']")
    page.fill("#p-group", "售后"); page.fill("#p-shortcut", "/thdz"); page.fill("#p-text", "亲，退货地址已发您，请查收～")
    page.click("#phrase-form button")
    page.wait_for_selector("#phrases-table td:has-text('退货地址已发您')")
    page.fill("#p-shortcut", "/dh"); page.fill("#p-text", "有事打13812345678")
    page.click("#phrase-form button")
    page.wait_for_selector("#phrase-error:has-text('13812345678')")

    # 7. Auto-reply rule and explain for a message and a time.
    page.click("a[href='#rules']")
    page.fill("#r-name", "夜间自动回复"); page.select_option("#r-mode", "any"); page.fill("#r-keywords", "发货, 快递")
    page.fill("#r-reply", "客服已下班，明早9点回复您"); page.fill("#r-start", "22:00"); page.fill("#r-end", "08:00")
    page.click("#rule-form button.primary")
    # The demo shop has a rule of the same name: wait for this one's reply, i.e. for the save to finish.
    page.wait_for_selector("#rules-list :text('客服已下班，明早9点回复您')")
    page.fill("#x-msg", "什么时候发货呀"); page.fill("#x-at", "2025-01-03T23:30")
    page.click("#explain-form button")
    page.wait_for_selector("#explain-result > *")
    result = page.inner_text("#explain-result")  # an error note instead of a winner fails with its text
    assert page.locator("[data-testid=explain-winner]:has-text('夜间自动回复')").count() == 1, result
    page.fill("#x-at", "2025-01-04T12:00")
    page.click("#explain-form button")
    page.wait_for_selector("#explain-result [data-code=outside_window]:has-text('不在该规则的任何时间段内')")
    screenshot(page, "merchant-rules-1366x768.png")

    # 8. Roll back to the version active before the test (the agent test's shop KB).
    page.click("a[href='#kb']")
    page.click(f"#versions-table tr[data-version='{original}'] button.secondary")
    page.click("[data-testid=confirm-activate] [data-testid=confirm-ok]")
    page.wait_for_selector(f"#active-version:has-text('v{original}')")

    assert accessibility_problems(page) == []
    # English toggle re-renders the current section.
    page.click("#lang-toggle")
    page.wait_for_selector("#versions-table th:has-text('Version')")
    page.click("#lang-toggle")
    page.context.close()
    watch.check()


def test_feedback_shows_in_analytics(live, browser):
    """An agent accepts a suggestion (keyboard) and sends; the merchant's analytics count it."""
    paths = httpx.get(f"{live.base}/openapi.json").json()["paths"]
    merchant, mwatch = open_page(browser, live, "/console/merchant#analytics")
    if "/v1/shops/{shop_id}/analytics/adoption" not in paths:
        merchant.wait_for_selector("[data-testid=analytics-unavailable]")
        merchant.context.close(); mwatch.check()
        return
    merchant.wait_for_selector("[data-testid=adoption]")
    before = httpx.get(f"{live.base}/v1/shops/demo/analytics/adoption?days=7", headers=live.headers("admin")).json()

    agent, awatch = open_page(browser, live, "/console/agent", scope="agent")
    agent.fill("#buyer-input", "可以开发票吗")
    agent.press("#buyer-input", "Enter")
    agent.locator("#suggestions li.sugg").first.wait_for()
    agent.focus("#draft")
    agent.keyboard.press("Alt+1")
    with agent.expect_response(lambda r: r.url.endswith("/feedback")) as fb:
        agent.keyboard.press("Control+Enter")
    assert fb.value.ok
    agent.context.close()
    awatch.check()

    target = before["overall"]["accepted"] + 1
    deadline = time.monotonic() + 15
    while True:
        merchant.click("#a-refresh")
        merchant.wait_for_selector("[data-testid=adoption]")
        if f"采纳 {target}" in merchant.inner_text("[data-testid=adoption]") or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert f"采纳 {target}" in merchant.inner_text("[data-testid=adoption]")
    screenshot(merchant, "merchant-analytics-1366x768.png")
    merchant.set_viewport_size({"width": 1920, "height": 1080})
    merchant.goto(live.base + "/console/merchant#kb")
    merchant.wait_for_selector("#versions-table tbody tr[data-version]")
    screenshot(merchant, "merchant-console-1920x1080.png")
    assert accessibility_problems(merchant) == []
    merchant.context.close()
    mwatch.check()
