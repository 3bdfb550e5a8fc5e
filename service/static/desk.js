// The desk around the suggestions, agent side: conversation states (待回复 / 已回复 / 已关闭) with the
// waiting time against the shop's response-time targets, escalated conversations at the top, where
// each message is routed (分流), and the events the performance report (客服绩效) is computed from:
// message shown, reply sent, conversation closed, each with the time this page saw it happen.
import { api, h, has, put, say, settings, shopPath, t } from "./common.js";

export const targets = { first_response_target_seconds: 30, reply_deadline_hours: 48, deadline_warning_hours: 24 };
const STATES = ["waiting", "replied", "closed"];
const LEVEL = { high: 2, medium: 1 };

/** The shop's targets (agent keys may read the settings); the defaults when the route is missing. */
export async function loadTargets() {
  if (!has("/v1/shops/{shop_id}/settings")) return targets;
  try {
    const s = await api(shopPath("/settings"));
    for (const k of Object.keys(targets)) if (typeof s[k] === "number") targets[k] = s[k];
  } catch { /* keep the defaults; the auth banner says what is wrong */ }
  return targets;
}

/** A conversation id unique in the shop (events of every console of the shop land in one place). */
export function newConversationId() {
  const rnd = globalThis.crypto?.randomUUID ? crypto.randomUUID().replaceAll("-", "").slice(0, 12)
    : `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
  return `c-${rnd}`;
}

// -- states ---------------------------------------------------------------------------------------
/** The first buyer message after the agent's last reply (ms), or null when nothing waits. */
export function waitingSince(c) {
  if (c.closed) return null;
  let since = null;
  for (const m of c.messages) {
    if (m.role === "agent") since = null;
    else if (m.role === "buyer" && since === null) since = m.at;
  }
  return since;
}

export function stateOf(c) {
  if (c.closed) return "closed";
  return waitingSince(c) !== null ? "waiting" : "replied";
}

/** Indices of `convs` in list order: escalated waiting ones first (high, then medium), then the
 * longest waits, then replied and closed ones, most recent first. */
export function displayOrder(convs) {
  const lastAt = (c) => (c.messages.length ? c.messages[c.messages.length - 1].at : 0);
  return convs.map((c, i) => i).sort((a, b) => {
    const ca = convs[a], cb = convs[b];
    const sa = STATES.indexOf(stateOf(ca)), sb = STATES.indexOf(stateOf(cb));
    if (sa !== sb) return sa - sb;
    if (sa === 0) {
      const la = LEVEL[ca.escalate?.level] || 0, lb = LEVEL[cb.escalate?.level] || 0;
      if (la !== lb) return lb - la;
      const wa = waitingSince(ca), wb = waitingSince(cb);
      if (wa !== wb) return wa - wb;
    } else if (lastAt(ca) !== lastAt(cb)) return lastAt(cb) - lastAt(ca);
    return a - b;
  });
}

/** The conversation `step` places away from index `active` in list order (wrapping). */
export function neighbour(convs, active, step) {
  const order = displayOrder(convs);
  const at = order.indexOf(active);
  return order[(at + step + order.length) % order.length];
}

export function fmtWait(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const en = settings.lang === "en";
  if (s < 60) return en ? `${s} s` : `${s}秒`;
  if (s < 3600) {
    const m = Math.floor(s / 60), r = String(s % 60).padStart(2, "0");
    return en ? `${m} min ${r} s` : `${m}分${r}秒`;
  }
  const hrs = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
  return en ? `${hrs} h ${m} min` : `${hrs}小时${m}分`;
}

/** What the list shows about a conversation's wait: text, and whether it is past the targets. */
export function waitInfo(c, now = Date.now()) {
  const since = waitingSince(c);
  if (since === null) return null;
  const waited = (now - since) / 1000;
  const deadline = targets.reply_deadline_hours * 3600;
  return {
    waited,
    over: waited > targets.first_response_target_seconds,
    warn: waited >= deadline - targets.deadline_warning_hours * 3600,
    past: waited >= deadline,
    left: Math.max(0, deadline - waited),
  };
}

function escalationPill(esc) {
  if (!esc) return null;
  const reasons = (esc.reasons || []).map((r) => t(`esc.${r.code || r}`));
  return h("span", { class: `esc esc-${esc.level}`, title: reasons.join("、") },
    t(esc.level === "high" ? "desk.escHigh" : "desk.escMedium"));
}

function waitText(wait) {
  if (!wait) return "";
  return wait.past ? t("desk.pastDeadline", { h: targets.reply_deadline_hours })
    : wait.warn ? t("desk.deadlineLeft", { left: fmtWait(wait.left) })
      : wait.over ? t("desk.overTarget", { wait: fmtWait(wait.waited) }) : t("desk.waiting", { wait: fmtWait(wait.waited) });
}

function waitClasses(el, wait) {
  el.classList.toggle("over-target", Boolean(wait?.over));
  el.classList.toggle("deadline-warning", Boolean(wait?.warn));
}

/** The conversation list, grouped by state: a listbox of three groups of options. */
export function renderConversationList(box, convs, active, { select, keydown }) {
  const order = displayOrder(convs);
  const now = Date.now();
  put(box, ...STATES.map((state) => {
    const items = order.filter((i) => stateOf(convs[i]) === state);
    const hid = `conv-group-${state}`;
    return h("div", { role: "group", "aria-labelledby": hid, class: `conv-group conv-group-${state}` },
      h("div", { id: hid, class: "conv-group-h", "aria-hidden": "true" }, `${t(`desk.state.${state}`)} (${items.length})`),
      ...items.map((i) => {
        const c = convs[i];
        const last = c.messages[c.messages.length - 1];
        const wait = waitInfo(c, now);
        const escalated = state === "waiting" && c.escalate;
        const el = h("div", {
          role: "option", "aria-selected": String(i === active), tabindex: i === active ? "0" : "-1",
          class: ["conv", i === active ? "active" : "", escalated ? `escalated escalated-${c.escalate.level}` : ""].join(" ").trim(),
          dataset: { index: i, conv: c.id, state }, onclick: () => select(i), onkeydown: (ev) => keydown(ev, i),
        },
        h("span", { class: "conv-name" }, c.name),
        c.unread ? h("span", { class: "unread", "aria-label": t("agent.unread", { n: c.unread }) }, c.unread) : null,
        h("span", { class: "conv-last" }, last ? last.text : t("agent.noMessages")),
        wait ? h("span", { class: "conv-wait" }, waitText(wait)) : null,
        escalated ? escalationPill(c.escalate) : null,
        c.routing ? h("span", { class: "conv-group-tag", title: routingText(c.routing) }, c.routing.group) : null);
        waitClasses(el, wait);
        return el;
      }));
  }));
}

/** Move the waiting times on (once a second) in place: focus and order stay as they are. */
export function tick(box, convs) {
  const now = Date.now();
  for (const el of box.querySelectorAll("[role=option][data-state=waiting]")) {
    const c = convs[Number(el.dataset.index)];
    const wait = c ? waitInfo(c, now) : null;
    const span = el.querySelector(".conv-wait");
    if (span) span.textContent = waitText(wait);
    waitClasses(el, wait);
  }
}

export function routingText(r) {
  if (!r) return "";
  const why = r.reason === "intent" || r.reason === "handoff" ? `${t(`route.${r.reason}`)} ${r.intent}`
    : r.reason === "category" ? `${t("route.category")} ${r.category}`
      : r.reason === "keyword" ? `${t("route.keyword")} “${r.keyword}”` : t(`route.${r.reason}`);
  return t("desk.routedTo", { group: r.group, why });
}

/** The current conversation's routing and escalation, above the messages. */
export function renderDeskBanner(el, c) {
  const esc = stateOf(c) === "waiting" ? c.escalate : null;
  put(el,
    c.routing ? h("span", { class: "route", "data-testid": "routing" }, routingText(c.routing)) : null,
    esc ? h("span", { class: `esc-banner esc-${esc.level}`, role: "alert", "data-testid": "escalation" },
      h("strong", {}, t(esc.level === "high" ? "desk.escHighLong" : "desk.escMediumLong")), " ",
      (esc.reasons || []).map((r) => t(`esc.${r.code}`)).filter((x, i, a) => a.indexOf(x) === i).join("、"),
      " · ", t("desk.noAutoReply")) : null);
  el.hidden = !c.routing && !esc;
}

// -- events ---------------------------------------------------------------------------------------
const queue = [];
let sending = null, eventsNoted = false;
const eventId = () => (globalThis.crypto?.randomUUID ? crypto.randomUUID()
  : `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 12)}`);

function report(event) {
  if (!has("/v1/shops/{shop_id}/events", "post")) {
    if (!eventsNoted) { eventsNoted = true; say(t("desk.eventsUnavailable"), "warn"); }
    return;
  }
  queue.push({ event_id: eventId(), agent_id: settings.agent, ...event });
  flush();
}

/** Send what is queued, in order; a failed batch stays queued with the same event ids (no double count). */
export async function flush() {
  if (sending) return sending;
  sending = (async () => {
    while (queue.length) {
      const batch = queue.slice(0, 100);
      try {
        await api(shopPath("/events"), { method: "POST", body: { events: batch } });
        queue.splice(0, batch.length);
      } catch (err) {
        if (err.status === 422) { queue.splice(0, batch.length); say(`${t("desk.eventsFailed")}: ${err.message}`, "error"); }
        else { setTimeout(flush, 5000); break; }
      }
    }
    sending = null;
  })();
  return sending;
}

const iso = (ms) => new Date(ms).toISOString();

/** A buyer message appeared in this desk (with its suggestion request, once known). */
export function messageShown(c, message, requestId) {
  report({ type: "message_shown", at: iso(Date.now()), message_at: iso(message.at), conversation_id: c.id,
    request_id: requestId || null });
}

/** The agent sent a reply; `action`: accepted / edited / own_reply. */
export function replySent(c, action, requestId) {
  report({ type: "reply_sent", at: iso(Date.now()), conversation_id: c.id, request_id: requestId || null, action });
}

export function conversationClosed(c) {
  report({ type: "conversation_closed", at: iso(Date.now()), conversation_id: c.id });
}

/** Update the waiting times every second; `getConvs` gives the conversations shown now. */
export function startTicker(box, getConvs) {
  return setInterval(() => tick(box, getConvs()), 1000);
}
