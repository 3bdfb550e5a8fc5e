// 客服工作台: conversations, a buyer simulator, live suggestions, the draft's compliance check,
// quick phrases, feedback on every send. Keyboard: see the shortcuts dialog (agent.html).
import {
  api, applyI18n, authProblem, checkKey, put, codePoints, h, has, initChrome, loadCapabilities, say, settings, shopPath, t,
} from "./common.js";
import * as desk from "./desk.js";

const $ = (id) => document.getElementById(id);

// -- conversations (client-side until a real IM is connected) -------------------------------------
function makeConv(name, order, history = []) {
  return {
    id: desk.newConversationId(), name, order: { ...order }, unread: 0,
    messages: history.map(([role, text]) => ({ role, text, at: Date.now() })),
    lastBuyerAt: null, sugg: null, inserted: null, pendingFeedback: false, draft: "",
    closed: false, escalate: null, routing: null,  // desk.js: 已关闭, the pending message's escalation, 分流
  };
}
const sampleConvs = () => [
  makeConv("小雨点", { nickname: "小雨点", order: "6934720012885521", carrier: "中通快递", eta: "48小时内" }),
  makeConv("阿杰", { nickname: "阿杰", order: "6934720099013307", carrier: "顺丰速运", eta: "明天" },
    [["buyer", "衣服小了能换大一码吗"]]),
  makeConv("糖糖", { nickname: "糖糖", order: "6934720033214460", carrier: "", eta: "" },
    [["buyer", "在吗"], ["agent", "亲，您好呀～有什么可以帮您的呢？"], ["buyer", "可以开发票吗"]]),
];

// Conversations survive a reload: kept per shop in localStorage (messages, order panel, draft, unread);
// suggestions are asked for again, never restored stale.
const convKey = () => `smartreply.convs.${settings.shop}`;
function saveConvs() {
  try {
    localStorage.setItem(convKey(), JSON.stringify({ active,
      convs: convs.map(({ id, name, order, unread, messages, draft, closed, escalate, routing }) => ({
        id, name, order, unread, messages: messages.slice(-200), draft, closed, escalate, routing })) }));
  } catch { /* storage full or disabled: the page still works */ }
}
function restoreConvs() {
  try {
    const saved = JSON.parse(localStorage.getItem(convKey()) || "null");
    if (!saved || !Array.isArray(saved.convs) || !saved.convs.length) return null;
    active = Math.min(saved.active || 0, saved.convs.length - 1);
    // The desk's state of a conversation (closed, the pending message's escalation, its routing) is
    // kept too: it describes the messages, not stale suggestions.
    return saved.convs.map((c) => ({ ...makeConv(c.name, c.order), id: c.id, unread: c.unread || 0,
      messages: c.messages || [], draft: c.draft || "", closed: Boolean(c.closed), escalate: c.escalate || null,
      routing: c.routing || null }));
  } catch { return null; }
}
let active = 0;
let convs = restoreConvs() || sampleConvs();
const conv = () => convs[active];

// The list is grouped 待回复 / 已回复 / 已关闭, escalated and longest-waiting first (desk.js); "next"
// and "previous" follow that order.
function renderConvList() {
  const box = $("conv-list");
  desk.renderConversationList(box, convs, active, {
    select: (i) => selectConv(i),
    keydown: (ev, i) => {
      if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); selectConv(i); $("draft").focus(); }
      if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
        ev.preventDefault(); selectConv(desk.neighbour(convs, i, ev.key === "ArrowDown" ? 1 : -1));
        box.querySelector("[aria-selected=true]")?.focus();
      }
    },
  });
}
const nextConv = (step) => desk.neighbour(convs, active, step);

function selectConv(i) {
  const draft = $("draft");
  conv().draft = draft.value;
  active = (i + convs.length) % convs.length;
  conv().unread = 0;
  draft.value = conv().draft;
  renderAll();
  checkDraft();
  const last = conv().messages[conv().messages.length - 1];
  if (last && last.role === "buyer" && !conv().sugg) requestSuggestions(conv(), last.text);
  say(t("agent.switched", { name: conv().name }));
}

function renderMessages() {
  $("chat-title").textContent = `${conv().name}`;
  desk.renderDeskBanner($("desk-banner"), conv());
  $("conv-close").disabled = conv().closed;
  const q = $("history-search").hidden ? "" : $("history-q").value.trim();
  let hits = 0;
  put($("messages"), ...conv().messages.map((m) => {
    const hit = q && m.text.toLowerCase().includes(q.toLowerCase());
    if (hit) hits += 1;
    return h("li", { class: `msg ${m.role}${q ? (hit ? " hit" : " dim") : ""}` },
      h("span", { class: "who" }, m.role === "buyer" ? conv().name : t("agent.me")),
      h("span", { class: "bubble" }, highlight(m.text, q)),
      m.override ? h("span", { class: "flag" }, t("agent.overridden")) : null,
      m.learned ? h("span", { class: "learned-note", "data-testid": "learned-note" }, t(`agent.learned.${m.learned}`)) : null);
  }));
  $("history-count").textContent = q ? t("agent.hits", { n: hits }) : "";
  const box = $("messages");
  if (!q) box.scrollTop = box.scrollHeight;
  else box.querySelector(".hit")?.scrollIntoView({ block: "nearest" });
}

function highlight(text, q) {
  if (!q) return text;
  const frag = document.createDocumentFragment();
  const lower = text.toLowerCase(), ql = q.toLowerCase();
  let i = 0;
  for (let j = lower.indexOf(ql); j >= 0; j = lower.indexOf(ql, i)) {
    frag.append(text.slice(i, j), h("mark", {}, text.slice(j, j + q.length)));
    i = j + q.length;
  }
  frag.append(text.slice(i));
  return frag;
}

function renderOrder() {
  const f = $("order-form").elements;
  f.nickname.value = conv().order.nickname; f.order.value = conv().order.order;
  f.carrier.value = conv().order.carrier; f.eta.value = conv().order.eta;
}

function renderAll() { renderConvList(); renderMessages(); renderOrder(); renderSuggestions(); saveConvs(); }

// -- answer variables, filled from the order panel ------------------------------------------------
const VARS = {
  "买家昵称": (o) => o.nickname, "昵称": (o) => o.nickname,
  "订单尾号": (o) => (o.order ? o.order.replace(/\D/g, "").slice(-4) : ""),
  "订单号": (o) => o.order, "物流公司": (o) => o.carrier, "预计发货时间": (o) => o.eta,
};
/** Fill {变量} from the order; returns the text and the variables that could not be filled. */
export function fillVariables(text, order) {
  const missing = [];
  const filled = text.replace(/\{([^{}\s]{1,20})\}/g, (whole, name) => {
    const value = VARS[name] ? (VARS[name](order) || "").trim() : "";
    if (!value) { missing.push(name); return whole; }
    return value;
  });
  return { text: filled, missing };
}

// -- suggestions ----------------------------------------------------------------------------------
const SOURCE = { kb: "src.kb", faq: "src.kb", quick_phrase: "src.qp", rule: "src.rule", template: "src.tpl", intent_template: "src.tpl" };

async function requestSuggestions(c, message) {
  c.sugg = { loading: true, list: [], message };
  if (c === conv()) renderSuggestions();
  const t0 = performance.now();
  try {
    // The order panel's variables go to the server (it fills them); the page fills whatever is left.
    const variables = Object.fromEntries(Object.entries(VARS).map(([k, f]) => [k, (f(c.order) || "").trim()]).filter(([, v]) => v));
    const sent = c.messages[c.messages.length - 1];
    const turns = c.messages.slice(0, -1).slice(-6).map((m) => ({ role: m.role, text: m.text.slice(0, 2000), at: new Date(m.at).toISOString() }));
    const res = await api(shopPath("/suggestions"), { method: "POST", body: { message, top_k: 3, variables, turns,
      conversation_id: c.id, at: sent ? new Date(sent.at).toISOString() : undefined } });
    c.sugg = { request_id: res.request_id, list: res.suggestions, message, kb_version: res.kb_version,
      server_ms: res.timings_ms?.total, client_ms: performance.now() - t0 };
    c.pendingFeedback = true;
    if (res.routing) c.routing = res.routing;
    if (res.escalate) c.escalate = res.escalate;  // stays until the agent answers
  } catch (err) {
    const problem = authProblem(err);
    c.sugg = { error: problem ? t(problem, { shop: settings.shop }) : err.code === "no_active_kb" || err.status === 404 ? t("agent.noKb") : err.message,
      list: [], message };
  }
  if (c.shownPending) { desk.messageShown(c, c.shownPending, c.sugg?.request_id); c.shownPending = null; }
  renderConvList();
  if (c === conv()) { renderSuggestions(); desk.renderDeskBanner($("desk-banner"), c); }
}

function suggestionView(s, i) {
  const filled = fillVariables(s.answer, conv().order);
  // The server may have filled some variables already; what is still in the text is missing.
  const missing = [...new Set([...(s.variables_missing || []).filter((m) => filled.text.includes(`{${m}}`)), ...filled.missing])];
  const conf = s.confidence ?? s.score;
  const src = t(SOURCE[s.source] || "src.kb");
  return { text: filled.text, missing, conf, src, rank: i + 1, s };
}

function renderSuggestions() {
  const ol = $("suggestions");
  const sg = conv().sugg;
  $("sugg-timing").textContent = sg && sg.client_ms !== undefined
    ? t("agent.timing", { server: (sg.server_ms ?? 0).toFixed(1), client: sg.client_ms.toFixed(0) }) : "";
  if (!sg) { put(ol, h("li", { class: "muted empty" }, t("agent.noSugg"))); return; }
  if (sg.loading) { put(ol, h("li", { class: "muted empty" }, t("agent.loading"))); return; }
  if (sg.error) { put(ol, h("li", { class: "error empty" }, sg.error)); return; }
  if (!sg.list.length) { put(ol, h("li", { class: "muted empty" }, t("agent.abstain"))); return; }
  put(ol, ...sg.list.map((s, i) => {
    const v = suggestionView(s, i);
    const blocked = v.missing.length > 0;
    return h("li", { class: `sugg${blocked ? " blocked" : ""}`, dataset: { rank: v.rank } },
      h("button", {
        type: "button", class: "sugg-btn", disabled: blocked, dataset: { rank: v.rank },
        "aria-describedby": `sugg-meta-${v.rank}`, onclick: () => insertSuggestion(i),
        onkeydown: (ev) => { if (/^[1-9]$/.test(ev.key)) { ev.preventDefault(); insertSuggestion(Number(ev.key) - 1); } },
      }, h("kbd", { class: "rank" }, v.rank), h("span", { class: "sugg-text" }, v.text)),
      h("div", { class: "sugg-meta", id: `sugg-meta-${v.rank}` },
        h("span", { class: `src src-${s.source || "kb"}` }, v.src),
        h("span", {}, `${s.confidence !== undefined ? t("agent.confidence") : t("agent.similarity")} ${Math.round(v.conf * 100)}%`),
        s.intent ? h("span", {}, `${t("agent.intent")}: ${s.intent}`) : null,
        h("span", { class: "matched", title: s.matched_question }, `${t("agent.matched")}: ${s.matched_question || s.question}`)),
      blocked ? h("div", { class: "missing", role: "note" }, t("agent.missingVars", { vars: v.missing.map((m) => `{${m}}`).join(" ") })) : null);
  }));
}

function insertSuggestion(i) {
  const sg = conv().sugg;
  if (!sg || !sg.list || !sg.list[i]) return;
  const v = suggestionView(sg.list[i], i);
  if (v.missing.length) { say(t("agent.missingVars", { vars: v.missing.join(", ") }), "warn"); return; }
  const draft = $("draft");
  draft.value = v.text;
  conv().inserted = { rank: v.rank, entry_id: sg.list[i].entry_id, text: v.text, request_id: sg.request_id };
  draft.focus();
  draft.setSelectionRange(draft.value.length, draft.value.length);
  checkDraft();
  say(t("agent.inserted", { n: v.rank }));
}

// -- buyer simulator ------------------------------------------------------------------------------
function buyerSays(c, text) {
  if (c.pendingFeedback && c.sugg?.request_id) recordFeedback(c, "ignored", "");  // unanswered suggestions
  const message = { role: "buyer", text, at: Date.now() };
  c.messages.push(message);
  c.closed = false;  // a buyer message opens a closed conversation again
  c.shownPending = message;  // reported as shown once its suggestion request is known
  c.lastBuyerAt = performance.now();
  c.inserted = null;
  if (c !== conv()) c.unread += 1;
  saveConvs();
  renderConvList();
  if (c === conv()) renderMessages();
  return requestSuggestions(c, text);
}

$("buyer-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const input = $("buyer-input");
  const text = input.value.trim();
  if (!text) return;
  input.value = "";
  buyerSays(conv(), text);
});

/** A conversation file: JSON list (strings or {role, text}), JSONL, or plain lines (buyer turns). */
export function parseConversation(content) {
  const norm = (x) => (typeof x === "string" ? { role: "buyer", text: x }
    : { role: /agent|客服|seller|staff/i.test(x.role || x.speaker || "") ? "agent" : "buyer",
        text: String(x.text ?? x.content ?? x.message ?? "") });
  const trimmed = content.trim();
  let items;
  if (trimmed.startsWith("[") || trimmed.startsWith("{\"messages\"")) {
    const data = JSON.parse(trimmed);
    items = Array.isArray(data) ? data : data.messages;
  } else if (trimmed.startsWith("{")) {
    items = trimmed.split(/\r?\n/).filter((l) => l.trim()).map((l) => JSON.parse(l));
  } else {
    items = trimmed.split(/\r?\n/).filter((l) => l.trim());
  }
  return items.map(norm).filter((m) => m.text);
}

$("replay-file").addEventListener("change", async (ev) => {
  const file = ev.target.files[0];
  if (!file) return;
  let turns;
  try { turns = parseConversation(await file.text()); } catch (err) {
    say(t("agent.replayBad", { name: file.name }), "error"); return;
  }
  ev.target.value = "";
  const c = conv();
  say(t("agent.replaying", { n: turns.length, name: file.name }));
  for (const turn of turns) {
    if (turn.role === "buyer") await buyerSays(c, turn.text);
    else { c.messages.push({ role: "agent", text: turn.text, at: Date.now() }); if (c === conv()) renderMessages(); }
    await new Promise((r) => setTimeout(r, 400));
  }
  say(t("agent.replayDone", { n: turns.length }));
});

$("conv-close").addEventListener("click", () => {
  const c = conv();
  if (c.closed) return;
  c.closed = true;
  c.escalate = null;
  desk.conversationClosed(c);
  renderAll();
  say(t("desk.closed", { name: c.name }));
});

$("conv-new").addEventListener("click", () => {
  convs.push(makeConv(`${t("agent.buyer")} ${convs.length + 1}`, { nickname: "", order: "", carrier: "", eta: "" }));
  selectConv(convs.length - 1);
  $("buyer-input").focus();
});

$("order-form").addEventListener("input", (ev) => {
  conv().order[ev.target.name] = ev.target.value;
  renderSuggestions();
  saveConvs();
});
$("order-form").addEventListener("submit", (ev) => ev.preventDefault());

// -- compliance check of the draft, live ----------------------------------------------------------
let checkSeq = 0, checkTimer = 0, lastCheck = { text: "", allowed: true, violations: [] };

function escapeHtml(s) { return s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c])); }

function renderDraftMarks(text, violations) {
  const cps = codePoints(text);
  const spans = [...violations].sort((a, b) => a.start - b.start);
  let html = "", i = 0;
  for (const v of spans) {
    if (v.start < i) continue;
    html += escapeHtml(cps.slice(i, v.start).join(""));
    html += `<mark class="viol">${escapeHtml(cps.slice(v.start, v.end).join(""))}</mark>`;
    i = v.end;
  }
  html += escapeHtml(cps.slice(i).join("")) + " ";
  $("draft-backdrop").innerHTML = html;
  $("draft-backdrop").scrollTop = $("draft").scrollTop;
  const box = $("compliance-msg");
  if (!violations.length) {
    put(box, text ? h("span", { class: "ok" }, t("agent.compliant")) : "");
    box.dataset.state = text ? "ok" : "";
    return;
  }
  box.dataset.state = "blocked";
  put(box, h("strong", {}, t("agent.blocked")), h("ul", {}, ...violations.map((v) =>
    h("li", {}, h("mark", { class: "viol" }, v.matched), " ", v.reason))));
}

async function runCheck(text) {
  if (!text.trim()) { lastCheck = { text, allowed: true, violations: [] }; renderDraftMarks(text, []); return lastCheck; }
  if (lastCheck.text === text) return lastCheck;
  const seq = ++checkSeq;
  try {
    const res = await api("/v1/compliance/check", { method: "POST", body: { text } });
    const result = { text, allowed: res.allowed, reason: res.reason, violations: res.violations };
    if (seq === checkSeq && $("draft").value === text) { lastCheck = result; renderDraftMarks(text, res.violations); }
    return result;
  } catch (err) {
    put($("compliance-msg"), h("span", { class: "muted" }, t("agent.checkUnavailable")));
    return { text, allowed: true, violations: [], unchecked: true };
  }
}

function checkDraft() {
  clearTimeout(checkTimer);
  const text = $("draft").value;
  renderDraftMarks(text, lastCheck.text === text ? lastCheck.violations : []);
  checkTimer = setTimeout(() => runCheck(text), 150);
}

$("draft").addEventListener("input", checkDraft);
$("draft").addEventListener("scroll", () => { $("draft-backdrop").scrollTop = $("draft").scrollTop; });

// -- send + feedback ------------------------------------------------------------------------------
let feedbackNoted = false;
async function recordFeedback(c, action, finalText) {
  const sg = c.sugg;
  c.pendingFeedback = false;
  if (!sg || !sg.request_id) return;
  if (!has("/v1/shops/{shop_id}/feedback", "post")) {
    if (!feedbackNoted) { feedbackNoted = true; say(t("agent.feedbackUnavailable"), "warn"); }
    return;
  }
  const ins = c.inserted;
  const body = {
    request_id: sg.request_id, action,
    suggestion_rank: ins && action !== "ignored" && action !== "own_reply" ? ins.rank : null,
    entry_id: ins && action !== "ignored" && action !== "own_reply" ? ins.entry_id : null,
    final_text: finalText, agent_id: settings.agent,
    time_to_reply_ms: c.lastBuyerAt ? Math.round(performance.now() - c.lastBuyerAt) : null,
  };
  const sent = c.messages[c.messages.length - 1];  // deliver() records feedback right after adding the reply
  try { noteLearned(c, sent, await api(shopPath("/feedback"), { method: "POST", body })); }
  catch (err) { say(`${t("agent.feedbackFailed")}: ${err.message}`, "error"); }
}
/** The reply's buyer message became a learned example (pending review, or approved by the shop's
 * setting): a small note under the reply says so. */
function noteLearned(c, sent, res) {
  if (!res?.learned_status || sent?.role !== "agent") return;
  sent.learned = res.learned_status;
  saveConvs();
  if (c === conv()) renderMessages();
}

async function send() {
  const draft = $("draft");
  const text = draft.value.trim();
  if (!text) { say(t("agent.emptyDraft"), "warn"); return; }
  clearTimeout(checkTimer);
  const check = await runCheck(draft.value);
  if (!check.allowed) {
    const dialog = $("override-dialog");
    if (dialog.open) return;
    $("override-reason").textContent = check.reason || check.violations.map((v) => v.reason).join("；");
    $("override-ack").checked = false;
    $("override-send").disabled = true;
    overrideText = text;
    dialog.returnValue = "";
    dialog.showModal();
    return;
  }
  deliver(text, false);
}
$("override-ack").addEventListener("change", (ev) => { $("override-send").disabled = !ev.target.checked; });

// The draft waiting in the override dialog. One listener for every close: a listener added per
// opening could be consumed by the close event of the previous opening, which the browser delivers
// as a task that a fast Ctrl+Enter (input runs first) can overtake; the send then did nothing.
let overrideText = null;
$("override-dialog").addEventListener("close", () => {
  const dialog = $("override-dialog");
  if (dialog.open) return;  // the close of an earlier opening, delivered after it was opened again
  const text = overrideText;
  overrideText = null;
  if (dialog.returnValue === "send" && text !== null) deliver(text, true);
  else $("draft").focus();
});

function deliver(text, override) {
  const c = conv();
  const ins = c.inserted;
  const action = ins ? (ins.text === text ? "accepted" : "edited") : "own_reply";
  c.messages.push({ role: "agent", text, at: Date.now(), override });
  desk.replySent(c, action, c.sugg?.request_id);
  c.escalate = null;
  recordFeedback(c, action, text);
  c.inserted = null;
  $("draft").value = "";
  c.draft = "";
  saveConvs();
  lastCheck = { text: "", allowed: true, violations: [] };
  renderDraftMarks("", []);
  renderConvList();
  renderMessages();
  say(t(override ? "agent.sentOverride" : "agent.sent", { action: t(`fb.${action}`) }));
  $("draft").focus();
}
$("send").addEventListener("click", send);

// -- keyboard: the Feige shortcuts ----------------------------------------------------------------
let tabEscape = false;
$("draft").addEventListener("keydown", (ev) => {
  if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) { ev.preventDefault(); send(); return; }
  if (ev.key === "Escape") { tabEscape = true; say(t("agent.tabEscape")); return; }
  if (ev.key === "Tab" && !ev.shiftKey && !ev.altKey && !ev.ctrlKey) {
    if (tabEscape) { tabEscape = false; return; }          // leave the input: normal focus move
    ev.preventDefault();
    selectConv(nextConv(1));
    return;
  }
  tabEscape = false;
});

document.addEventListener("keydown", (ev) => {
  if ((ev.ctrlKey || ev.metaKey) && (ev.key === "f" || ev.key === "F")) {
    ev.preventDefault();
    $("history-search").hidden = false;
    $("history-q").focus();
    $("history-q").select();
    return;
  }
  if (ev.altKey && (ev.key === "ArrowDown" || ev.key === "ArrowUp")) {
    ev.preventDefault();
    selectConv(nextConv(ev.key === "ArrowDown" ? 1 : -1));
    return;
  }
  if (ev.altKey && !ev.ctrlKey && /^Digit[1-9]$/.test(ev.code)) {
    ev.preventDefault();
    insertSuggestion(Number(ev.code.slice(5)) - 1);
  }
});
$("history-q").addEventListener("input", renderMessages);
$("history-q").addEventListener("keydown", (ev) => {
  if (ev.key === "Escape") { ev.preventDefault(); $("history-q").value = ""; $("history-search").hidden = true; renderMessages(); $("draft").focus(); }
});
$("shortcuts-open").addEventListener("click", () => $("shortcuts-dialog").showModal());

// -- quick phrases --------------------------------------------------------------------------------
let phrases = null;
async function loadPhrases() {
  try {
    phrases = (await api(shopPath("/quick-phrases"))).data;
  } catch (err) {
    const problem = authProblem(err);
    phrases = { error: problem ? t(problem, { shop: settings.shop }) : t("agent.qpUnavailable") };
  }
  renderPhrases();
}
function renderPhrases() {
  const ul = $("qp-list");
  if (!phrases) return;
  if (phrases.error) { put(ul, h("li", { class: "error", "data-testid": "qp-error" }, phrases.error)); return; }
  const q = $("qp-q").value.trim().toLowerCase();
  const shown = phrases.filter((p) => !q || p.text.toLowerCase().includes(q) || p.shortcut.toLowerCase().includes(q)
    || p.group.toLowerCase().includes(q));
  if (!shown.length) { put(ul, h("li", { class: "muted" }, phrases.length ? t("common.noMatch") : t("agent.qpEmpty"))); return; }
  put(ul, ...shown.map((p) => h("li", {},
    h("button", { type: "button", class: "qp", onclick: () => insertPhrase(p) },
      p.shortcut ? h("code", {}, p.shortcut) : null, p.group ? h("span", { class: "grp" }, p.group) : null,
      h("span", { class: "qp-text" }, p.text)))));
}
function insertPhrase(p) {
  const draft = $("draft");
  const { text, missing } = fillVariables(p.text, conv().order);
  if (missing.length) { say(t("agent.missingVars", { vars: missing.join(", ") }), "warn"); return; }
  const start = draft.selectionStart ?? draft.value.length, end = draft.selectionEnd ?? draft.value.length;
  draft.value = draft.value.slice(0, start) + text + draft.value.slice(end);
  draft.focus();
  draft.setSelectionRange(start + text.length, start + text.length);
  checkDraft();
  say(t("agent.phraseInserted", { code: p.shortcut || p.group || "" }));
}
$("qp-q").addEventListener("input", renderPhrases);
$("qp-q").addEventListener("keydown", (ev) => {
  if (ev.key === "Enter") { ev.preventDefault(); $("qp-list").querySelector("button")?.click(); }
});

// -- start ----------------------------------------------------------------------------------------
async function start() {
  initChrome((what) => {
    if (what === "settings") {
      convs = restoreConvs() || sampleConvs();  // another shop: its own conversations
      for (const c of convs) c.sugg = null;
      $("draft").value = conv().draft;
      loadPhrases();
      desk.loadTargets().then(renderConvList);  // and its own response-time targets
    }
    renderAll(); renderPhrases(); checkDraft();
  }, { agentField: true });
  await loadCapabilities();
  await checkKey();
  await desk.loadTargets();
  $("draft").value = conv().draft || "";
  renderAll();
  applyI18n();
  loadPhrases();
  const last = conv().messages[conv().messages.length - 1];
  if (last && last.role === "buyer") requestSuggestions(conv(), last.text);
  window.addEventListener("pagehide", () => { conv().draft = $("draft").value; saveConvs(); });
  desk.startTicker($("conv-list"), () => convs);
  document.body.dataset.ready = "true";
}
start();
