// The desk around the suggestions, merchant side: the routing table (分流) editor, response-time
// targets and the per-agent performance report (客服绩效) with its CSV export, and the routing and
// escalation panels of the analytics view.
import { api, download, h, has, put, say, shopPath, t } from "./common.js";

const $ = (id) => document.getElementById(id);
const errorNote = (err) => h("p", { class: "error" }, `${err.message}${err.code ? ` (${err.code})` : ""}`);
const problemList = (err) => (err.details?.length
  ? h("ul", { class: "error small", "data-testid": "routing-problems" },
    ...err.details.map((d) => h("li", {}, d.column ? `${d.column}: ${d.reason}` : d.reason)))
  : errorNote(err));

function table(head, rows, attrs = {}) {
  return h("div", { class: "table-wrap" }, h("table", attrs,
    h("thead", {}, h("tr", {}, ...head.map((x) => h("th", { scope: "col" }, x)))), h("tbody", {}, ...rows)));
}

// -- routing table --------------------------------------------------------------------------------
let routing = null;  // the table being edited (a copy of the server's)
let categories = [];  // the active KB's categories

export async function loadRouting() {
  const body = $("routing-body");
  if (!has("/v1/shops/{shop_id}/routing")) { put(body, h("p", { class: "note" }, t("routing.unavailable"))); return; }
  try {
    routing = await api(shopPath("/routing"));
  } catch (err) { put(body, errorNote(err)); return; }
  try {
    const entries = (await api(shopPath("/kb/entries"))).data;
    categories = [...new Set(entries.map((e) => e.category).filter(Boolean))].sort();
  } catch { categories = []; }
  renderRouting();
}

function groupSelect(value, onchange, { label, allowNone = null } = {}) {
  const sel = h("select", { "aria-label": label, onchange: (ev) => onchange(ev.target.value || null) },
    allowNone !== null ? h("option", { value: "" }, allowNone) : null,
    ...routing.groups.map((g) => h("option", { value: g }, g)));
  sel.value = value ?? "";
  return sel;
}

function renderRouting(problems = null) {
  const r = routing;
  const unmapped = t("routing.unmapped", { group: r.default_group });
  const addGroup = h("input", { id: "routing-group-add", "aria-label": t("routing.newGroup"), placeholder: t("routing.newGroup"), maxlength: 32 });
  const add = () => {
    const g = addGroup.value.trim();
    if (g && !r.groups.includes(g)) { r.groups.push(g); renderRouting(); $("routing-group-add")?.focus(); }
  };
  addGroup.addEventListener("keydown", (ev) => { if (ev.key === "Enter") { ev.preventDefault(); add(); } });
  const removeGroup = (g) => {
    if (r.groups.length <= 1) return;
    r.groups = r.groups.filter((x) => x !== g);
    const fallback = r.groups[0];
    for (const k of ["default_group", "handoff_group"]) if (r[k] === g) r[k] = fallback;
    if (r.escalation_group === g) r.escalation_group = null;
    for (const map of [r.intents, r.categories]) for (const k of Object.keys(map)) if (map[k] === g) delete map[k];
    r.keywords = r.keywords.filter((k) => k.group !== g);
    renderRouting();
  };
  const mapSelect = (map, key, label, none) => groupSelect(map[key], (v) => { if (v) map[key] = v; else delete map[key]; },
    { label, allowNone: none });
  const cats = [...new Set([...categories, ...Object.keys(r.categories)])];
  put($("routing-body"),
    h("p", { class: "muted small", "data-testid": "routing-state" },
      r.is_default ? t("routing.isDefault") : t("routing.saved", { at: (r.updated_at || "").replace("T", " ").slice(0, 16) })),
    h("h3", {}, t("routing.groups")),
    h("ul", { class: "similar-list", "aria-label": t("routing.groups"), id: "routing-groups" }, ...r.groups.map((g) => h("li", {}, g,
      h("button", { type: "button", "aria-label": `${t("common.remove")} ${g}`, disabled: r.groups.length <= 1, onclick: () => removeGroup(g) }, "×")))),
    h("div", { class: "row" }, addGroup, h("button", { type: "button", class: "small", onclick: add }, t("common.add"))),
    h("div", { class: "form-grid routing-main" },
      h("label", { for: "routing-default" }, t("routing.default")),
      Object.assign(groupSelect(r.default_group, (v) => { r.default_group = v; renderRouting(); }, {}), { id: "routing-default" }),
      h("label", { for: "routing-handoff" }, t("routing.handoff")),
      Object.assign(groupSelect(r.handoff_group, (v) => { r.handoff_group = v; }, {}), { id: "routing-handoff" }),
      h("label", { for: "routing-escalation" }, t("routing.escalation")),
      Object.assign(groupSelect(r.escalation_group, (v) => { r.escalation_group = v; }, { allowNone: t("routing.noEscalationGroup") }),
        { id: "routing-escalation" }),
      h("label", { for: "routing-confidence" }, t("routing.minConfidence")),
      h("input", { id: "routing-confidence", type: "number", min: 0, max: 1, step: 0.05, value: r.min_intent_confidence,
        oninput: (ev) => { r.min_intent_confidence = Number(ev.target.value); } })),
    h("div", { class: "grid2" }, h("div", {}, h("h3", {}, t("routing.byIntent")),
    table([t("routing.intent"), t("routing.group")], r.platform_intents.filter((i) => i !== "转人工").map((i) =>
      h("tr", { dataset: { intent: i } }, h("td", {}, i), h("td", {}, mapSelect(r.intents, i, `${t("routing.group")}: ${i}`, unmapped)))),
    { id: "routing-intents", "aria-label": t("routing.byIntent") })),
    h("div", {}, h("h3", {}, t("routing.byCategory")),
    cats.length ? table([t("m.category"), t("routing.group")], cats.map((c) =>
      h("tr", { dataset: { category: c } }, h("td", {}, c), h("td", {}, mapSelect(r.categories, c, `${t("routing.group")}: ${c}`, t("routing.categoryUnmapped"))))),
    { id: "routing-categories", "aria-label": t("routing.byCategory") }) : h("p", { class: "muted" }, t("routing.noCategories")))),
    h("h3", {}, t("routing.byKeyword")),
    h("p", { class: "muted small" }, t("routing.keywordHint")),
    h("div", { id: "routing-keywords" }, ...r.keywords.map((k, i) => h("div", { class: "row keyword-rule" },
      h("input", { value: k.keywords.join("，"), "aria-label": `${t("routing.keywords")} ${i + 1}`, style: "flex:1",
        oninput: (ev) => { k.keywords = ev.target.value.split(/[,，、]/).map((s) => s.trim()).filter(Boolean); } }),
      groupSelect(k.group, (v) => { k.group = v; }, { label: `${t("routing.group")} ${i + 1}` }),
      h("button", { type: "button", class: "small", "aria-label": `${t("common.remove")} ${i + 1}`,
        onclick: () => { r.keywords.splice(i, 1); renderRouting(); } }, t("common.remove"))))),
    h("button", { type: "button", class: "small", id: "routing-keyword-add",
      onclick: () => { r.keywords.push({ keywords: [], group: r.groups[0] }); renderRouting(); } }, t("routing.addKeyword")),
    problems,
    h("div", { class: "row routing-actions" },
      h("button", { type: "button", class: "primary", id: "routing-save", onclick: saveRouting }, t("common.save")),
      h("button", { type: "button", class: "secondary", id: "routing-reset", onclick: resetRouting }, t("routing.reset"))));
}

async function saveRouting() {
  const r = routing;
  const body = { groups: r.groups, default_group: r.default_group, handoff_group: r.handoff_group,
    escalation_group: r.escalation_group, intents: r.intents, categories: r.categories,
    keywords: r.keywords.filter((k) => k.keywords.length), min_intent_confidence: r.min_intent_confidence };
  try {
    routing = await api(shopPath("/routing"), { method: "PUT", body });
    renderRouting();
    say(t("routing.savedNow"));
  } catch (err) { renderRouting(problemList(err)); say(err.message, "error"); }
}

async function resetRouting() {
  try {
    routing = await api(shopPath("/routing"), { method: "DELETE" });
    renderRouting();
    say(t("routing.resetDone"));
  } catch (err) { say(err.message, "error"); }
}

// -- 客服绩效 and the response-time targets ------------------------------------------------------------
const PERF_COLUMNS = ["conversations", "sessions_assigned", "replies", "first_response_seconds_median",
  "first_response_seconds_p90", "avg_response_seconds", "reply_rate_within_target", "unanswered", "accepted", "edited",
  "ignored", "own_reply", "adoption_rate", "escalations_handled"];
const RATES = new Set(["reply_rate_within_target", "adoption_rate"]);
const fmtCell = (k, v) => (v === null || v === undefined ? "—" : RATES.has(k) ? `${(v * 100).toFixed(1)}%`
  : k.includes("seconds") ? `${Number(v).toFixed(1)}` : String(v));

export async function loadPerformance() {
  const body = $("perf-body");
  if (!has("/v1/shops/{shop_id}/performance")) { put(body, h("p", { class: "note" }, t("perf.unavailable"))); return; }
  const days = $("perf-days").value;
  try {
    const r = await api(shopPath(`/performance?days=${days}`));
    put(body,
      h("p", { class: "muted small" }, t("perf.window", { since: r.since.slice(0, 16).replace("T", " "),
        until: r.until.slice(0, 16).replace("T", " "), target: r.first_response_target_seconds })),
      r.agents.length ? table([t("perf.agent"), ...PERF_COLUMNS.map((k) => t(`perf.col.${k}`))],
        [...r.agents, r.overall].map((a) => h("tr", { class: a.agent_id === "*" ? "total" : "", dataset: { agent: a.agent_id } },
          h("th", { scope: "row" }, a.agent_id === "*" ? t("perf.total") : a.agent_id),
          ...PERF_COLUMNS.map((k) => h("td", { dataset: { col: k } }, fmtCell(k, a[k]))))),
      { id: "perf-table", "aria-label": t("m.nav.performance") }) : h("p", { class: "muted" }, t("perf.none")));
  } catch (err) { put(body, errorNote(err)); }
  loadTargetsForm();
}

async function loadTargetsForm() {
  try {
    const s = await api(shopPath("/settings"));
    $("t-first").value = s.first_response_target_seconds;
    $("t-deadline").value = s.reply_deadline_hours;
    $("t-warning").value = s.deadline_warning_hours;
  } catch (err) { $("targets-error").textContent = err.message; }
}

export function initPerformance() {
  $("perf-days").addEventListener("change", loadPerformance);
  $("perf-refresh").addEventListener("click", loadPerformance);
  $("perf-export").addEventListener("click", () => download(shopPath(`/performance/export?days=${$("perf-days").value}`),
    "performance.csv").catch((err) => say(err.message, "error")));
  $("targets-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = { first_response_target_seconds: Number($("t-first").value), reply_deadline_hours: Number($("t-deadline").value),
      deadline_warning_hours: Number($("t-warning").value) };
    try {
      await api(shopPath("/settings"), { method: "PUT", body });
      $("targets-error").textContent = "";
      say(t("perf.targetsSaved"));
      loadPerformance();
    } catch (err) {
      $("targets-error").textContent = err.details?.length ? err.details.map((d) => `${d.column || d.field}: ${d.reason}`).join("；") : err.message;
    }
  });
}

// -- analytics: routing and escalation per day, the intents that escalate most ----------------------
export async function deskAnalyticsPanels(days) {
  const parts = [];
  if (has("/v1/shops/{shop_id}/analytics/routing")) {
    try {
      const r = await api(shopPath(`/analytics/routing?days=${days}`));
      parts.push(h("div", { class: "panel", "data-testid": "routing-per-day" }, h("h3", {}, t("an.routing")),
        perDay(r.series, Object.keys(r.by_group)),
        h("p", { class: "small muted" }, Object.entries(r.by_reason).map(([k, n]) => `${t(`route.${k}`)} ${n}`).join(" · "))));
    } catch (err) { parts.push(errorNote(err)); }
  }
  if (has("/v1/shops/{shop_id}/analytics/escalations")) {
    try {
      const r = await api(shopPath(`/analytics/escalations?days=${days}`));
      const max = Math.max(1, ...r.by_intent.map((i) => i.escalated));
      parts.push(h("div", { class: "panel", "data-testid": "escalations-per-day" },
        h("h3", {}, t("an.escalations", { n: r.escalated, total: r.requests })),
        perDay(r.series, ["high", "medium"], (k) => t(k === "high" ? "desk.escHigh" : "desk.escMedium")),
        h("h3", {}, t("an.escalatingIntents")),
        r.by_intent.length ? table([t("routing.intent"), t("an.escalated"), t("an.rate")], r.by_intent.map((i) =>
          h("tr", { dataset: { intent: i.intent } }, h("td", {}, i.intent),
            h("td", {}, h("span", { class: "bar", style: `--w:${(100 * i.escalated) / max}%` }), ` ${i.escalated} / ${i.requests}`),
            h("td", {}, `${(i.rate * 100).toFixed(0)}%`))), { id: "escalating-intents", "aria-label": t("an.escalatingIntents") })
          : h("p", { class: "muted" }, t("common.none"))));
    } catch (err) { parts.push(errorNote(err)); }
  }
  return parts;
}

/** A day × key table of counts. */
function perDay(series, keys, label = (k) => k) {
  if (!series.length) return h("p", { class: "muted" }, t("common.none"));
  const days = [...new Set(series.map((s) => s.day))].sort();
  const count = (d, k) => series.find((s) => s.day === d && s.key === k)?.count || 0;
  return table([t("an.day"), ...keys.map(label)], days.map((d) => h("tr", { dataset: { day: d } }, h("td", { class: "nowrap" }, d),
    ...keys.map((k) => h("td", { dataset: { key: k } }, count(d, k))))));
}
