"""学习样本 in Chromium: agents' picks made through the real API (suggest + feedback) are reviewed in the
merchant console — approve, move to another entry, reject, add to the knowledge base (a new version),
a refused move shows the server's reason, filter and paging, export, the auto-approve shop setting
(persisted) — in Chinese and English, at 1366×768 and 1024×700; and the agent console's note that a sent
reply's message was kept as a learned example."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest

from tests.conftest import OPERATOR_HEADERS

from .conftest import accessibility_problems, open_page, screenshot

SHOP = "learn-review"
FAQ = ("编号,标准问题,相似问题,答案,分类\n"
       "L-1,包邮吗？,免运费吗|运费谁出,亲，全场包邮哦～,运费\n"
       "L-2,下单后多久发货？,什么时候发货|几天能发出,亲，付款后48小时内发货～,发货时间\n"
       "L-3,可以开发票吗？,能开票吗|有发票吗,亲，可以开电子发票～,发票\n"
       "L-4,支持七天无理由退货吗？,能退货吗|不喜欢可以退吗,亲，支持七天无理由退货～,退换货\n"
       "L-5,衣服起球怎么办？,起毛球了|穿了几次就起球,亲，可以申请售后处理～,质量问题\n")
EXTRA = 20  # older pending examples, so the pending list has a second page


@dataclass
class Shop:
    base: str
    admin: str
    agent: str

    def get(self, path: str, **params) -> dict:
        r = httpx.get(f"{self.base}/v1/shops/{SHOP}{path}", params=params, headers=self.auth, timeout=30)
        assert r.status_code == 200, r.text
        return r.json()

    @property
    def auth(self) -> dict:
        return {"Authorization": f"Bearer {self.admin}"}

    def learn(self, message: str, action: str, entry_id: str | None = None, agent: str = "客服-小王") -> dict:
        """Ask for suggestions for `message`, then tell the service what the agent sent (as the console does)."""
        s = httpx.post(f"{self.base}/v1/shops/{SHOP}/suggestions", json={"message": message, "top_k": 3},
                       headers=self.auth, timeout=30)
        assert s.status_code == 200, s.text
        body = {"request_id": s.json()["request_id"], "action": action, "agent_id": agent}
        if action == "accepted":
            body["suggestion_rank"] = 1
        else:
            body |= {"entry_id": entry_id, "final_text": "亲，已为您处理～"}
        r = httpx.post(f"{self.base}/v1/shops/{SHOP}/feedback", json=body, headers=self.auth, timeout=30)
        assert r.status_code == 201, r.text
        return r.json()

    def example(self, example_id: str) -> dict:
        return next(e for e in self.get("/learned-examples", limit=1000)["items"] if e["id"] == example_id)


@pytest.fixture(scope="module")
def shop(live) -> Shop:
    """Its own shop (the demo shop's KB is changed by the other tests), with a KB the team wrote."""
    r = httpx.post(f"{live.base}/v1/shops", json={"id": SHOP, "name": "学习样本测试店"}, headers=OPERATOR_HEADERS)
    assert r.status_code == 201, r.text
    keys = {}
    for scope in ("admin", "agent"):
        r = httpx.post(f"{live.base}/v1/shops/{SHOP}/keys", json={"scopes": [scope]}, headers=OPERATOR_HEADERS)
        assert r.status_code == 201, r.text
        keys[scope] = r.json()["key"]
    r = httpx.post(f"{live.base}/v1/shops/{SHOP}/kb", files={"file": ("faq.csv", FAQ.encode())},
                   headers={"Authorization": f"Bearer {keys['admin']}"}, timeout=120)
    assert r.status_code == 201, r.text
    return Shop(base=live.base, **keys)


def _row(page, example_id: str):
    return page.locator(f"#learned-table tr[data-example='{example_id}']")


def _nothing_clipped(page) -> None:
    """The page does not scroll sideways, the table fits its box, and every row's buttons are inside it."""
    assert accessibility_problems(page) == []
    box = page.evaluate("""() => {
      const wrap = document.querySelector('.learned-wrap');
      const r = wrap.getBoundingClientRect();
      const out = [];
      if (wrap.scrollWidth > wrap.clientWidth + 1) out.push(`table scrolls sideways: ${wrap.scrollWidth} > ${wrap.clientWidth}`);
      for (const b of document.querySelectorAll('#view-learned button, #view-learned select, #view-learned input')) {
        const br = b.getBoundingClientRect();
        if (!br.width) continue;
        if (br.right > window.innerWidth || (wrap.contains(b) && br.right > r.right + 1)) out.push(`clipped: ${b.textContent || b.id}`);
        if (b.scrollWidth > b.clientWidth + 1) out.push(`text cut: ${b.textContent}`);
      }
      return out;
    }""")
    assert box == []


def test_merchant_reviews_learned_examples(live, browser, shop):
    made = {}
    for i in range(EXTRA):
        shop.learn(f"第{i + 1}件衣服的发票抬头能写公司吗", "own_reply", "L-3", agent="客服-小李")
    made["approve"] = shop.learn("邮费要我自己出吗", "accepted")
    again = shop.learn("邮费要我自己出吗", "accepted", agent="客服-小李")  # confirmed again: counted, not added
    assert again["learned_example_id"] == made["approve"]["learned_example_id"]
    made["move"] = shop.learn("开个发票给公司报销", "edited", "L-2")             # labelled wrong: moved to L-3
    made["reject"] = shop.learn("在吗在吗", "own_reply", "L-4")                   # no question in it: rejected
    made["dup"] = shop.learn("几号能发货呀", "own_reply", "L-1")                  # the same message is already …
    shop.learn("几号能发货呀", "own_reply", "L-2")                                 # … an example of L-2
    made["promote"] = shop.learn("衣服洗完起了好多球", "edited", "L-5")
    assert {m["learned_status"] for m in made.values()} == {"pending"}
    ids = {k: m["learned_example_id"] for k, m in made.items()}
    pending = EXTRA + 6
    approve_entry = shop.example(ids["approve"])["entry_id"]
    entries = {e["id"]: e["question"] for e in shop.get("/kb/entries")["data"]}

    page, watch = open_page(browser, live, "/console/merchant#learned", shop=SHOP, key=shop.admin)
    # Pending first: the nav badge and the selected filter count what waits for review.
    page.wait_for_selector(f"[data-testid=learned-badge]:text-is('{pending}')")
    assert page.locator("#learned-tabs [aria-pressed=true]").inner_text().split() == ["待审核", str(pending)]
    assert page.inner_text("#learned-range") == f"第 1–20 条，共 {pending} 条"
    row = _row(page, ids["approve"])
    cells = [row.locator("td").nth(i).inner_text() for i in range(4)]
    assert cells[0] == "邮费要我自己出吗"
    assert entries[approve_entry] in cells[1] and approve_entry in cells[1]    # the entry's question, not only its id
    assert "采用推荐" in cells[2] and "×2" in cells[2] and "客服-小王" in cells[2] and cells[3] == "待审核"
    assert "修改后发送" in _row(page, ids["move"]).inner_text()
    assert "自行回复" in _row(page, ids["reject"]).inner_text()
    assert not page.is_checked("#learned-auto") and page.inner_text("#learned-auto-state") == "已关闭"
    _nothing_clipped(page)
    screenshot(page, "merchant-learned-1366x768.png")

    # Approve: the row leaves the pending list without a reload, the badge counts down.
    row.locator("[data-action=approve]").click()
    row.wait_for(state="detached")
    page.wait_for_selector(f"[data-testid=learned-badge]:text-is('{pending - 1}')")
    assert page.inner_text("#status").startswith("已通过：「邮费要我自己出吗」")
    assert shop.example(ids["approve"])["status"] == "approved"

    # Move: the picker names entries by their question; the current one is not offered.
    _row(page, ids["move"]).locator("[data-action=move]").click()
    dialog = page.locator("[data-testid=move-entry-dialog]")
    dialog.wait_for()
    assert "「开个发票给公司报销」现在标注为「下单后多久发货？」" in dialog.inner_text()
    assert dialog.locator("button.pick[data-entry='L-2']").is_disabled()
    dialog.locator("#pick-q").fill("发票")
    assert dialog.locator("button.pick").count() == 1
    dialog.locator("button.pick[data-entry='L-3']").click()
    _row(page, ids["move"]).wait_for(state="detached")
    assert page.inner_text("#status") == "已移到「可以开发票吗？」并通过：「开个发票给公司报销」"
    assert (shop.example(ids["move"])["entry_id"], shop.example(ids["move"])["status"]) == ("L-3", "approved")

    # Reject.
    _row(page, ids["reject"]).locator("[data-action=reject]").click()
    _row(page, ids["reject"]).wait_for(state="detached")
    assert shop.example(ids["reject"])["status"] == "rejected"

    # A move the server refuses (L-2 already has this message): its reason, in the page's language.
    _row(page, ids["dup"]).locator("[data-action=move]").click()
    page.locator("[data-testid=move-entry-dialog] button.pick[data-entry='L-2']").click()
    page.wait_for_selector("#learned-error [data-testid=panel-error]:has-text('已有这条买家消息')")
    assert _row(page, ids["dup"]).count() == 1 and shop.example(ids["dup"])["status"] == "pending"

    # Add to the knowledge base: confirmed, a new version holds it as a 相似问 of its entry.
    before = shop.get("/kb/versions")["active_version"]
    _row(page, ids["promote"]).locator("[data-action=promote]").click()
    confirm = page.locator("[data-testid=confirm-promote]")
    confirm.wait_for()
    assert "「衣服洗完起了好多球」将作为条目「衣服起球怎么办？」的相似问" in confirm.inner_text()
    confirm.locator("[data-testid=confirm-ok]").click()
    page.wait_for_selector(f"#status:has-text('新版本 v{before + 1} 已生效')")
    _row(page, ids["promote"]).wait_for(state="detached")
    assert shop.get("/kb/versions")["active_version"] == before + 1
    assert "衣服洗完起了好多球" in shop.get("/kb/entries/L-5")["similar"]
    page.click("#learned-tabs [data-status=promoted]")
    page.wait_for_selector(f"#learned-table tr[data-example='{ids['promote']}'][data-status=promoted]")
    assert _row(page, ids["promote"]).locator("button").count() == 0  # it is in a version now: nothing to decide
    page.click("a[href='#kb']")  # the versions list shows the new version without a reload
    page.wait_for_selector(f"#versions-table tr[data-version='{before + 1}']")
    page.click("a[href='#learned']")

    # Paging and the entry filter.
    page.click("#learned-tabs [data-status=pending]")
    left = pending - 4
    page.wait_for_selector(f"#learned-range:text-is('第 1–20 条，共 {left} 条')")
    page.click("#learned-next")
    page.wait_for_selector(f"#learned-range:text-is('第 21–{left} 条，共 {left} 条')")
    assert page.locator("#learned-table tbody tr").count() == left - 20
    assert page.is_disabled("#learned-next")
    page.click("#learned-prev")
    page.wait_for_selector("#learned-range:text-is('第 1–20 条，共 {0} 条')".format(left))
    page.click("#learned-tabs [data-status=all]")
    page.wait_for_selector("#learned-tabs [data-status=all][aria-pressed=true]")
    page.select_option("#learned-entry", "L-3")
    page.wait_for_function("""() => {
      const rows = [...document.querySelectorAll('#learned-table tbody tr')];
      return rows.length && rows.every((r) => r.dataset.entry === 'L-3');
    }""")
    assert _row(page, ids["move"]).count() == 1  # moved there, approved: listed under all states
    assert page.inner_text("#learned-range") == "第 1–20 条"  # the shop's counts do not say how many L-3 has
    page.select_option("#learned-entry", "")

    # Export (all states).
    with page.expect_download() as dl:
        page.click("#learned-export-csv")
    assert "衣服洗完起了好多球" in open(dl.value.path(), encoding="utf-8-sig").read()

    # Auto-approve: saved to the shop's settings, still on after a reload.
    page.click("label[for=learned-auto]")
    page.wait_for_selector("#status:text-is('已保存：客服的选择将自动通过')")
    assert shop.get("/settings")["learning_auto_approve"] is True
    page.reload()
    page.wait_for_selector("#learned-table tbody tr")
    assert page.is_checked("#learned-auto") and page.inner_text("#learned-auto-state") == "已开启"
    assert shop.learn("发票可以开个人抬头吗", "edited", "L-3")["learned_status"] == "approved"

    # English: the page's words and the server's reasons.
    page.click("#lang-toggle")
    page.wait_for_selector("#learned-tabs [data-status=pending]:has-text('Pending')")
    assert "Auto-approve agents' picks" in page.inner_text(".auto-approve")
    assert page.inner_text("#learned-auto-state") == "on"
    _row(page, ids["dup"]).locator("[data-action=move]").click()
    dialog = page.locator("[data-testid=move-entry-dialog]")
    assert "Move to which entry?" in dialog.inner_text()
    dialog.locator("button.pick[data-entry='L-2']").click()
    page.wait_for_selector("#learned-error [data-testid=panel-error]:has-text('already has this message as example')")
    _row(page, ids["dup"]).locator("[data-action=reject]").click()
    _row(page, ids["dup"]).wait_for(state="detached")
    assert page.inner_text("#status") == "Rejected: “几号能发货呀” (never used)"
    assert page.locator("#learned-error [data-testid=panel-error]").count() == 0  # the list loaded again
    page.click("label[for=learned-auto]")
    page.wait_for_selector("#status:text-is(\"Saved: agents' picks wait for your review\")")
    assert shop.get("/settings")["learning_auto_approve"] is False
    page.reload()
    page.wait_for_selector("#learned-table tbody tr")
    assert not page.is_checked("#learned-auto")
    assert page.inner_text("#learned-table thead").split("\t")[0] == "Buyer message"
    _nothing_clipped(page)
    screenshot(page, "merchant-learned-en-1366x768.png")

    # 1024×700, both languages: nothing clipped.
    page.set_viewport_size({"width": 1024, "height": 700})
    _nothing_clipped(page)
    page.click("#lang-toggle")
    page.wait_for_selector("#learned-tabs [data-status=pending]:has-text('待审核')")
    _nothing_clipped(page)
    screenshot(page, "merchant-learned-1024x700.png")
    page.context.close()
    watch.check()


def test_agent_console_says_the_message_was_kept(live, browser, shop):
    """After a suggestion is sent, the reply carries a note: kept as a learned example (pending review)."""
    page, watch = open_page(browser, live, "/console/agent", shop=SHOP, key=shop.agent)
    page.fill("#buyer-input", "买两件包不包邮")
    page.press("#buyer-input", "Enter")
    page.locator("#suggestions li.sugg").first.wait_for()
    page.focus("#draft")
    page.keyboard.press("Alt+1")
    page.wait_for_selector("#compliance-msg .ok")
    page.keyboard.press("Control+Enter")
    note = page.locator("#messages li.msg.agent [data-testid=learned-note]").last
    note.wait_for()
    assert note.inner_text() == "已记为学习样本，待店铺审核"
    mine = shop.get("/learned-examples", status="pending")["items"]
    assert any(e["text"] == "买两件包不包邮" and e["origin"] == "accepted" for e in mine)
    page.reload()  # the note is kept with the conversation
    page.wait_for_selector("body[data-ready=true]")
    assert page.locator("#messages li.msg.agent [data-testid=learned-note]").last.inner_text() == "已记为学习样本，待店铺审核"
    page.context.close()
    watch.check()
