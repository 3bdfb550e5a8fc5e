// 学习样本: buyer messages an agent's pick labelled with an FAQ entry (a suggestion sent as is or edited,
// an own reply linked to an entry), reviewed by the merchant: approve, move to another entry, reject, or
// add to the knowledge base as a 相似问 (a new version); and the shop's auto-approve setting. Shown by
// merchant.js as the "learned" view; the nav badge counts the examples waiting for review.
import { api, auth, confirmDialog, download, fmtTime, h, has, pct, pickEntry, problemNote, put, say, shopPath, t } from "./common.js";

const $ = (id) => document.getElementById(id);
const ROUTE = "/v1/shops/{shop_id}/learned-examples";
const PAGE = 20;
const TABS = ["pending", "approved", "rejected", "promoted", ""];  // "" = every state
const view = { status: "pending", entry: "", offset: 0, counts: null, entries: new Map(), onKbChanged: () => {}, seq: 0 };

const short = (s, n = 40) => (s.length > n ? `${s.slice(0, n)}…` : s);
const entryQuestion = (id) => view.entries.get(id)?.question;

/** Wire the view's controls once; `onKbChanged` runs after a promote made a new KB version. */
export function initLearned({ onKbChanged } = {}) {
  view.onKbChanged = onKbChanged || (() => {});
  $("learned-entry").addEventListener("change", (ev) => { view.entry = ev.target.value; view.offset = 0; loadList(); });
  $("learned-prev").addEventListener("click", () => { view.offset = Math.max(0, view.offset - PAGE); loadList(); });
  $("learned-next").addEventListener("click", () => { view.offset += PAGE; loadList(); });
  $("learned-auto").addEventListener("change", (ev) => saveAutoApprove(ev.target.checked));
  for (const fmt of ["xlsx", "csv"]) {
    $(`learned-export-${fmt}`).addEventListener("click", () => download(shopPath(`/learned-examples/export?format=${fmt}`),
      `learned-examples.${fmt}`).catch((err) => say(err.message, "error")));
  }
}

/** The nav badge: how many examples wait for the merchant (hidden at zero or without the route). */
export async function refreshLearnedBadge(counts = null) {
  const badge = $("learned-badge");
  if (!counts) {
    if (!has(ROUTE) || auth.state !== "ok") { badge.hidden = true; return; }
    try { counts = (await api(shopPath("/learned-examples?status=pending&limit=1"))).counts; } catch { badge.hidden = true; return; }
  }
  badge.hidden = !counts.pending;
  badge.textContent = counts.pending;
  badge.setAttribute("aria-label", t("learn.badge", { n: counts.pending }));
}

/** The view: the active version's entries (their questions name each label), then the list. */
export async function loadLearned() {
  if (!has(ROUTE)) {
    put($("learned-error"), h("p", { class: "note" }, t("learn.unavailable")));
    return;
  }
  try {
    view.entries = new Map((await api(shopPath("/kb/entries"))).data.map((e) => [e.id, e]));
  } catch { view.entries = new Map(); }  // no active version: the ids are shown as they are
  renderEntryFilter();
  await loadList();
}

function renderEntryFilter() {
  const sel = $("learned-entry");
  put(sel, h("option", { value: "" }, t("learn.allEntries")),
    ...[...view.entries.values()].map((e) => h("option", { value: e.id }, `${short(e.question, 30)} · ${e.id}`)));
  if (view.entry && !view.entries.has(view.entry)) sel.append(h("option", { value: view.entry }, view.entry));
  sel.value = view.entry;
}

/** Load the page of the list the filters select; `focusIndex`: the row whose first button gets the focus
 * (after a decision the next example is one key press away). */
async function loadList(focusIndex = null) {
  const seq = ++view.seq;  // a later click's answer wins over an earlier one still on its way
  const query = new URLSearchParams({ limit: PAGE + 1, offset: view.offset });  // one more: is there a next page?
  if (view.status) query.set("status", view.status);
  if (view.entry) query.set("entry_id", view.entry);
  let res;
  try {
    res = await api(shopPath(`/learned-examples?${query}`));
  } catch (err) {
    if (seq !== view.seq) return;
    put($("learned-error"), problemNote(err));
    put($("learned-table"));
    return;
  }
  if (seq !== view.seq) return;
  if (!res.items.length && view.offset > 0) {  // the last row of a page was decided: show the page before
    view.offset = Math.max(0, view.offset - PAGE);
    loadList(focusIndex === null ? null : PAGE - 1);
    return;
  }
  put($("learned-error"));
  view.counts = res.counts;
  if (!$("learned-auto").disabled) $("learned-auto").checked = res.auto_approve;  // (disabled: a change is being saved)
  renderAutoState();
  renderTabs();
  renderTable(res.items.slice(0, PAGE));
  renderPager(res.items.length > PAGE, Math.min(PAGE, res.items.length));
  refreshLearnedBadge(res.counts);
  if (focusIndex !== null) {
    const rows = $("learned-table").querySelectorAll("tbody tr[data-example]");
    (rows[Math.min(focusIndex, rows.length - 1)]?.querySelector("button") || $("learned-tabs").querySelector("[aria-pressed=true]"))?.focus();
  }
}
const rowIndex = (ex) => [...$("learned-table").querySelectorAll("tbody tr[data-example]")].findIndex((r) => r.dataset.example === ex.id);

function renderTabs() {
  const hadFocus = $("learned-tabs").contains(document.activeElement);
  const total = Object.values(view.counts).reduce((a, b) => a + b, 0);
  put($("learned-tabs"), ...TABS.map((s) => h("button", {
    type: "button", class: "seg-btn", "aria-pressed": String(view.status === s), dataset: { status: s || "all" },
    onclick: () => { view.status = s; view.offset = 0; loadList(); },
  }, t(s ? `learn.status.${s}` : "learn.all"), " ",
  h("span", { class: s === "pending" && view.counts.pending ? "count hot" : "count" }, s ? view.counts[s] : total))));
  if (hadFocus) $("learned-tabs").querySelector("[aria-pressed=true]").focus();
}

function renderPager(more, shown) {
  const total = view.entry ? null : view.status ? view.counts[view.status] : Object.values(view.counts).reduce((a, b) => a + b, 0);
  const from = shown ? view.offset + 1 : 0, to = view.offset + shown;
  $("learned-range").textContent = !shown ? "" : total === null ? t("learn.range", { from, to }) : t("learn.rangeOf", { from, to, total });
  $("learned-prev").disabled = view.offset === 0;
  $("learned-next").disabled = !more;
}

function renderTable(items) {
  const el = $("learned-table");
  if (!items.length) {
    put(el, h("tbody", {}, h("tr", {}, h("td", { class: "muted", "data-testid": "learned-empty" },
      t(view.status === "pending" && !view.entry ? "learn.nonePending" : "learn.none")))));
    return;
  }
  put(el, h("thead", {}, h("tr", {}, ...[t("learn.message"), t("learn.entry"), t("learn.origin"), t("m.status"), ""]
    .map((x) => h("th", { scope: "col" }, x)))),
  h("tbody", {}, ...items.map(row)));
}

function row(ex) {
  const question = entryQuestion(ex.entry_id);
  const decided = ex.decided_at ? t(ex.decided_by === "auto" ? "learn.byAuto" : "learn.byMerchant", { time: fmtTime(ex.decided_at) }) : "";
  return h("tr", { dataset: { example: ex.id, status: ex.status, entry: ex.entry_id } },
    h("td", { class: "wrap learned-text" }, ex.text),
    h("td", { class: "wrap" }, question ? h("strong", { class: "entry-q" }, question) : h("span", { class: "pill warn" }, t("learn.entryGone")),
      h("div", { class: "muted small" }, ex.entry_id)),
    h("td", { class: "learned-origin" }, h("span", { class: `pill origin-${ex.origin}` }, t(`learn.originOf.${ex.origin}`)),
      ex.count > 1 ? h("span", { class: "small", title: t("learn.countTitle") }, ` ×${ex.count}`) : null,
      h("div", { class: "muted small" }, `${ex.agent_id || "—"} · ${fmtTime(ex.created_at)}`)),
    h("td", {}, h("span", { class: `pill ${{ pending: "warn", approved: "ok", rejected: "off", promoted: "active" }[ex.status]}` },
      t(`learn.status.${ex.status}`)), decided ? h("div", { class: "muted small" }, decided) : null),
    h("td", { class: "learned-actions" }, h("div", { class: "row" }, ...actions(ex))));
}

/** What can still be decided: promoted examples are in a KB version; a rejected one can be approved again. */
function actions(ex) {
  if (ex.status === "promoted") return [];
  const label = (key) => `${t(key)}: ${short(ex.text, 20)}`;
  return [
    ex.status !== "approved" ? h("button", { type: "button", class: "small primary", "data-action": "approve", "aria-label": label("learn.approve"),
      onclick: () => decide(ex, { action: "approve" }) }, t("learn.approve")) : null,
    h("button", { type: "button", class: "small", "data-action": "move", "aria-label": label("learn.move"), onclick: () => move(ex) }, t("learn.move")),
    ex.status !== "rejected" ? h("button", { type: "button", class: "small", "data-action": "reject", "aria-label": label("learn.reject"),
      onclick: () => decide(ex, { action: "reject" }) }, t("learn.reject")) : null,
    ex.status !== "rejected" ? h("button", { type: "button", class: "small secondary", "data-action": "promote", "aria-label": label("learn.promote"),
      onclick: () => promote(ex) }, t("learn.promote")) : null,
  ];
}

async function decide(ex, body) {
  const index = rowIndex(ex);
  try {
    const done = await api(shopPath(`/learned-examples/${encodeURIComponent(ex.id)}/decision`), { method: "POST", body });
    const q = entryQuestion(done.entry_id) || done.entry_id;
    say(t(`learn.done.${body.action}`, { text: short(ex.text), entry: q }));
  } catch (err) { failed(err); return; }
  await loadList(index);
}

/** Move to another entry: the entries the server would rank for this message first, then any. */
async function move(ex) {
  let ranked = [];
  if (has("/v1/shops/{shop_id}/hit-test", "post")) {
    try {
      const res = await api(shopPath("/hit-test"), { method: "POST", body: { message: ex.text, top_k: 3 } });
      ranked = res.ranking.filter((c) => c.entry_id && c.entry_id !== ex.entry_id).slice(0, 3)
        .map((c) => ({ id: c.entry_id, question: c.question, note: t("learn.ranked", { p: pct(c.confidence) }) }));
    } catch { /* the picker still lists every entry */ }
  }
  const target = await pickEntry({ title: t("learn.moveTitle"), entries: [...view.entries.values()], suggested: ranked,
    current: ex.entry_id, testid: "move-entry-dialog",
    intro: h("p", { class: "small" }, t("learn.moveIntro", { text: ex.text, entry: entryQuestion(ex.entry_id) || ex.entry_id })) });
  if (target) decide(ex, { action: "move", entry_id: target });
}

async function promote(ex) {
  const entry = entryQuestion(ex.entry_id) || ex.entry_id;
  const ok = await confirmDialog({ title: t("learn.promoteTitle"), testid: "confirm-promote", confirm: t("learn.promote"),
    body: [h("p", {}, t("learn.promoteBody", { text: ex.text, entry })), h("p", { class: "small muted" }, t("learn.promoteNote"))] });
  if (!ok) return;
  const index = rowIndex(ex);
  try {
    const res = await api(shopPath(`/learned-examples/${encodeURIComponent(ex.id)}/promote`), { method: "POST" });
    say(t("learn.promoted", { text: short(ex.text), entry, v: res.version }));
    view.onKbChanged(res.version);
  } catch (err) { failed(err); return; }
  await loadList(index);
}

async function saveAutoApprove(on) {
  const box = $("learned-auto");
  box.disabled = true;
  try {
    const res = await api(shopPath("/settings"), { method: "PUT", body: { learning_auto_approve: on } });
    box.checked = res.learning_auto_approve;
    say(t(res.learning_auto_approve ? "learn.autoSavedOn" : "learn.autoSavedOff"));
  } catch (err) {
    box.checked = !on;
    failed(err);
  } finally {
    box.disabled = false;
    renderAutoState();
  }
}

function renderAutoState() {
  $("learned-auto-state").textContent = t($("learned-auto").checked ? "learn.autoOn" : "learn.autoOff");
}

/** A refused decision: the server's sentence (in the page's language) above the list and in the status line. */
function failed(err) {
  put($("learned-error"), problemNote(err));
  say(err.message, "error");
}
