// 知识库管理: uploads with the validation report, versions/diff/rollback, entries and 相似问, hit test,
// quick phrases, auto-reply rules with explain, analytics (when the server has the analytics routes).
import {
  api, applyI18n, put, download, fmtTime, h, has, initChrome, loadCapabilities, say, settings, shopPath, t,
} from "./common.js";

const $ = (id) => document.getElementById(id);
const VIEWS = ["kb", "entries", "hit", "phrases", "rules", "analytics"];
const loaded = {};

function showView() {
  const name = VIEWS.includes(location.hash.slice(1)) ? location.hash.slice(1) : "kb";
  for (const v of VIEWS) $(`view-${v}`).hidden = v !== name;
  for (const a of document.querySelectorAll("#sidenav a")) {
    if (a.dataset.view === name) a.setAttribute("aria-current", "true"); else a.removeAttribute("aria-current");
  }
  if (!loaded[name]) { loaded[name] = true; LOADERS[name](); }
}
window.addEventListener("hashchange", () => { showView(); $("main").focus({ preventScroll: true }); });

const table = (el, head, rows) => put(el, 
  h("thead", {}, h("tr", {}, ...head.map((x) => h("th", { scope: "col" }, x)))), h("tbody", {}, ...rows));
const pill = (kind, text) => h("span", { class: `pill ${kind}` }, text);
const errorNote = (err) => h("p", { class: "error" }, `${err.message}${err.code ? ` (${err.code})` : ""}`);

// -- upload ---------------------------------------------------------------------------------------
let lastFile = null;
async function uploadFile(file, mode = "reject") {
  lastFile = file;
  const out = $("upload-result");
  put(out, h("p", { class: "muted" }, t("m.uploading", { name: file.name })));
  const form = new FormData();
  form.append("file", file, file.name);
  const before = (await versionsOrNull())?.active_version ?? null;
  try {
    const res = await api(shopPath(`/kb?mode=${mode}`), { method: "POST", form });
    put(out, 
      h("p", { class: "ok-line", "data-testid": "upload-ok" }, pill("ok", t("m.imported")), " ",
        t("m.importedDetail", { version: res.version, entries: res.entries, phrasings: res.phrasings, seconds: res.seconds })),
      res.skipped_rows ? h("p", {}, pill("warn", t("m.skippedRows", { n: res.skipped_rows }))) : null,
      res.skipped.length || res.warnings.length ? problemsTable([...res.skipped, ...res.warnings]) : null);
    say(t("m.imported"));
    await loadVersions();
    if (before) showDiff(before, res.version);
  } catch (err) {
    if (err.code !== "upload_invalid") { put(out, errorNote(err)); return; }
    const errors = err.details.filter((p) => (p.severity || "error") === "error").length;
    put(out, 
      h("p", { class: "error", "data-testid": "upload-invalid" }, t("m.invalid", { name: file.name, n: errors })),
      problemsTable(err.details),
      h("div", { class: "row" },
        h("button", { type: "button", class: "secondary", id: "reject-all", onclick: () => {
          put(out, h("p", { class: "muted" }, t("m.rejected")));
          say(t("m.rejected"));
        } }, t("m.rejectAll")),
        h("button", { type: "button", class: "primary", id: "import-valid", onclick: () => uploadFile(lastFile, "partial") },
          t("m.importValid"))));
    say(t("m.invalid", { name: file.name, n: errors }), "error");
  }
}

function problemsTable(problems) {
  const el = h("table", { "aria-label": t("m.report"), id: "problems-table" });
  table(el, [t("m.severity"), t("m.sheet"), t("m.row"), t("m.column"), t("m.reason"), t("m.value")],
    problems.map((p) => h("tr", { class: `sev-${p.severity || "error"}` },
      h("td", {}, pill(p.severity === "warning" ? "warn" : "err", t(`sev.${p.severity || "error"}`))),
      h("td", { class: "nowrap" }, p.sheet ?? ""), h("td", {}, p.row ?? ""), h("td", { class: "nowrap" }, p.column ?? ""),
      h("td", { class: "wrap" }, p.reason), h("td", { class: "wrap" }, p.value ?? ""))));
  return h("div", { class: "table-wrap" }, el);
}

const dz = $("dropzone");
dz.addEventListener("dragover", (ev) => { ev.preventDefault(); dz.classList.add("over"); });
dz.addEventListener("dragleave", () => dz.classList.remove("over"));
dz.addEventListener("drop", (ev) => {
  ev.preventDefault(); dz.classList.remove("over");
  const file = ev.dataTransfer.files[0];
  if (file) uploadFile(file);
});
$("kb-file").addEventListener("change", (ev) => { const f = ev.target.files[0]; if (f) uploadFile(f); ev.target.value = ""; });
$("dl-template-xlsx").addEventListener("click", () => download("/v1/kb/template?format=xlsx", "faq-template.xlsx"));
$("dl-template-csv").addEventListener("click", () => download("/v1/kb/template?format=csv", "faq-template.csv"));
$("export-xlsx").addEventListener("click", () => download(shopPath("/kb/export?format=xlsx"), "kb.xlsx").catch((e) => say(e.message, "error")));
$("export-csv").addEventListener("click", () => download(shopPath("/kb/export?format=csv"), "kb.csv").catch((e) => say(e.message, "error")));

// -- versions, diff, activate ---------------------------------------------------------------------
async function versionsOrNull() { try { return await api(shopPath("/kb/versions")); } catch { return null; } }

async function loadVersions() {
  const res = await versionsOrNull();
  const el = $("versions-table");
  if (!res) { put(el, h("tbody", {}, h("tr", {}, h("td", { class: "muted" }, t("m.noVersions"))))); $("active-version").textContent = ""; return; }
  $("active-version").textContent = res.active_version ? t("m.activeVersion", { v: res.active_version }) : "";
  const ready = res.data.filter((v) => v.status === "ready").map((v) => v.version);
  table(el, [t("m.version"), t("m.status"), t("m.created"), t("m.source"), t("m.entries"), t("m.phrasings"), t("m.note"), ""],
    [...res.data].reverse().map((v) => {
      const prev = ready.filter((n) => n < v.version).pop();
      return h("tr", { dataset: { version: v.version } },
        h("td", {}, `v${v.version} `, v.active ? pill("active", t("m.active")) : null),
        h("td", {}, pill(v.status === "ready" ? "ok" : v.status === "failed" ? "err" : "warn", t(`vs.${v.status}`))),
        h("td", { class: "nowrap" }, fmtTime(v.created_at)), h("td", { class: "wrap" }, v.source),
        h("td", {}, v.entry_count), h("td", {}, v.phrasing_count), h("td", { class: "wrap" }, v.note),
        h("td", { class: "nowrap" },
          prev ? h("button", { type: "button", class: "small", onclick: () => showDiff(prev, v.version) }, t("m.diffPrev")) : null, " ",
          v.status === "ready" && !v.active ? h("button", { type: "button", class: "small secondary",
            "aria-label": t("m.activateN", { v: v.version }), onclick: () => activate(v.version) },
          v.version < (res.active_version || 0) ? t("m.rollback") : t("m.activate")) : null));
    }));
}

async function activate(version) {
  try {
    await api(shopPath(`/kb/versions/${version}/activate`), { method: "POST" });
    say(t("m.activated", { v: version }));
    loaded.entries = false;
    await loadVersions();
  } catch (err) { say(err.message, "error"); }
}

async function showDiff(from, to) {
  const panel = $("diff-panel");
  panel.hidden = false;
  $("diff-h").textContent = t("m.diffTitle", { from, to });
  try {
    const d = await api(shopPath(`/kb/diff?from=${from}&to=${to}`));
    const line = (cls, sign, e, extra = "") => h("li", { class: cls }, `${sign} ${e.id} · ${e.question}${extra}`);
    put($("diff-body"), 
      h("p", { "data-testid": "diff-summary" }, t("m.diffSummary", { a: d.added.length, r: d.removed.length, c: d.changed.length, u: d.unchanged })),
      h("ul", {}, ...d.added.map((e) => line("diff-added", "+", e)), ...d.removed.map((e) => line("diff-removed", "−", e)),
        ...d.changed.map((c) => line("diff-changed", "~", c.after, ` (${c.fields.join(", ")})`))));
  } catch (err) { put($("diff-body"), errorNote(err)); }
}

// -- entries --------------------------------------------------------------------------------------
let entries = [];
async function loadEntries() {
  try {
    const res = await api(shopPath("/kb/entries"));
    entries = res.data;
    $("entries-count").dataset.version = res.version;
  } catch (err) { entries = []; put($("entries-table"), h("tbody", {}, h("tr", {}, h("td", {}, errorNote(err))))); return; }
  renderEntries();
}
function renderEntries() {
  const q = $("entries-q").value.trim().toLowerCase();
  const shown = entries.filter((e) => !q || [e.id, e.question, e.category, ...e.similar, ...e.answers].some((s) => s.toLowerCase().includes(q)));
  $("entries-count").textContent = t("m.entriesCount", { n: shown.length, total: entries.length, v: $("entries-count").dataset.version || "-" });
  table($("entries-table"), [t("m.id"), t("m.question"), t("m.similar"), t("m.answers"), t("m.category"), t("m.status"), ""],
    shown.map((e) => h("tr", { dataset: { entry: e.id } },
      h("td", { class: "nowrap" }, e.id), h("td", { class: "wrap" }, e.question),
      h("td", { class: "wrap" }, e.similar.length ? `${e.similar.slice(0, 2).join("、")}${e.similar.length > 2 ? ` …(+${e.similar.length - 2})` : ""}` : "—"),
      h("td", { class: "wrap" }, e.answers[0].length > 60 ? `${e.answers[0].slice(0, 60)}…` : e.answers[0]),
      h("td", { class: "nowrap" }, e.category), h("td", {}, e.enabled ? pill("ok", t("m.on")) : pill("off", t("m.off"))),
      h("td", { class: "nowrap" },
        h("button", { type: "button", class: "small", "aria-label": `${t("common.edit")} ${e.id}`, onclick: () => openEntry(e) }, t("common.edit")), " ",
        h("button", { type: "button", class: "small", "aria-label": `${e.enabled ? t("m.disable") : t("m.enable")} ${e.id}`,
          onclick: () => saveEntry(e.id, { enabled: !e.enabled }) }, e.enabled ? t("m.disable") : t("m.enable"))))));
}
$("entries-q").addEventListener("input", renderEntries);

let editing = null, similarDraft = [];
function renderSimilar() {
  put($("e-similar"), ...similarDraft.map((s, i) => h("li", {}, s,
    h("button", { type: "button", "aria-label": `${t("common.remove")} ${s}`, onclick: () => { similarDraft.splice(i, 1); renderSimilar(); } }, "×"))));
}
function openEntry(e) {
  editing = e ? e.id : null;
  $("entry-dialog-h").textContent = e ? t("m.editEntry", { id: e.id }) : t("m.addEntry");
  $("e-question").value = e ? e.question : "";
  $("e-answers").value = e ? e.answers.join("\n") : "";
  $("e-category").value = e ? e.category : "";
  $("e-enabled").checked = e ? e.enabled : true;
  similarDraft = e ? [...e.similar] : [];
  renderSimilar();
  $("entry-error").textContent = "";
  $("entry-dialog").showModal();
}
function addSimilar() {
  const v = $("e-similar-add").value.trim();
  if (v && !similarDraft.includes(v)) similarDraft.push(v);
  $("e-similar-add").value = "";
  renderSimilar();
}
$("e-similar-btn").addEventListener("click", addSimilar);
$("e-similar-add").addEventListener("keydown", (ev) => { if (ev.key === "Enter") { ev.preventDefault(); addSimilar(); } });
$("entry-add").addEventListener("click", () => openEntry(null));
$("entry-form").addEventListener("submit", async (ev) => {
  if (ev.submitter?.value !== "save") return;
  ev.preventDefault();
  const body = {
    question: $("e-question").value.trim(), similar: similarDraft,
    answers: $("e-answers").value.split("\n").map((s) => s.trim()).filter(Boolean),
    category: $("e-category").value.trim(), enabled: $("e-enabled").checked,
  };
  const ok = await saveEntry(editing, body, $("entry-error"));
  if (ok) $("entry-dialog").close();
});
async function saveEntry(id, body, errorEl) {
  try {
    const res = id ? await api(shopPath(`/kb/entries/${encodeURIComponent(id)}`), { method: "PATCH", body })
      : await api(shopPath("/kb/entries"), { method: "POST", body });
    say(t("m.saved", { v: res.version }));
    await loadEntries();
    loadVersions();
    return true;
  } catch (err) {
    const msg = err.details?.length ? err.details.map((d) => d.reason).join("；") : err.message;
    if (errorEl) errorEl.textContent = msg; else say(msg, "error");
    return false;
  }
}

// -- hit test -------------------------------------------------------------------------------------
$("hit-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const q = $("hit-q").value.trim();
  const out = $("hit-result");
  try {
    const res = await api(shopPath("/suggestions"), { method: "POST", body: { message: q, top_k: 10 } });
    const th = { suggest: res.thresholds?.suggest ?? Number($("hit-t1").value),
      auto: res.thresholds?.auto_reply ?? Number($("hit-t2").value) };
    put(out, h("p", { class: "small muted" }, `${t("m.msgIntent")}: ${res.intent ? `${res.intent.label ?? res.intent.name ?? res.intent.intent ?? ""} ${res.intent.confidence !== undefined ? `(${Number(res.intent.confidence).toFixed(2)})` : ""}` : "—"}${res.abstained ? ` · ${t("agent.abstain")}` : ""}`), scoreAxis(res.suggestions, th), h("ol", { class: "hits", style: "list-style:none;padding:0;margin:0" },
      ...res.suggestions.map((s, i) => h("li", { class: "hit-item" },
        h("strong", {}, `#${i + 1}`),
        h("div", {}, h("div", {}, `${s.entry_id} · ${s.question}`),
          h("div", { class: "why" }, whyText(s, th))),
        h("div", { class: "score" }, (s.confidence ?? s.score).toFixed(3))))),
    ...(res.suggestions.length ? [] : [h("p", { class: "muted" }, t("agent.abstain"))]));
  } catch (err) { put(out, errorNote(err)); }
});
function whyText(s, th) {
  const parts = [`${t("agent.matched")}: ${s.matched_question}`];
  if (s.intent) parts.push(`${t("agent.intent")}: ${s.intent}`);
  const f = s.features || {};
  const lex = f.lexical, dense = f.dense ?? f.cosine ?? s.score;
  parts.push(lex !== undefined ? `${t("m.lexical")} ${lex.toFixed(3)} · ${t("m.dense")} ${dense.toFixed(3)}` : `${t("m.dense")} ${dense.toFixed(3)}`);
  const rest = Object.entries(f).filter(([k]) => !["lexical", "dense", "cosine"].includes(k));
  if (rest.length) parts.push(rest.map(([k, v]) => `${k} ${Number(v).toFixed(2)}`).join(", "));
  const x = s.confidence ?? s.score;
  parts.push(x >= th.auto ? t("m.aboveAuto") : x >= th.suggest ? t("m.aboveSuggest") : t("m.belowSuggest"));
  return parts.join(" · ");
}
/** The 0..1 score axis with each match as a dot and the two thresholds as lines (inline SVG). */
function scoreAxis(list, th) {
  const W = 760, H = 86, L = 20, R = 20, x = (v) => L + Math.max(0, Math.min(1, v)) * (W - L - R);
  const ns = "http://www.w3.org/2000/svg";
  const s = (tag, attrs, text) => { const e = document.createElementNS(ns, tag); for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v); if (text !== undefined) e.textContent = text; return e; };
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, width: "100%", class: "chart", role: "img", "aria-label": t("m.axisLabel") });
  svg.append(s("line", { x1: L, x2: W - R, y1: 50, y2: 50, stroke: "#6b7280" }));
  for (let v = 0; v <= 10; v += 1) {
    svg.append(s("line", { x1: x(v / 10), x2: x(v / 10), y1: 46, y2: 54, stroke: "#6b7280" }));
    svg.append(s("text", { x: x(v / 10), y: 68, "text-anchor": "middle" }, (v / 10).toFixed(1)));
  }
  for (const [v, label, color] of [[th.suggest, t("m.suggestThreshold"), "#b45309"], [th.auto, t("m.autoThreshold"), "#166534"]]) {
    svg.append(s("line", { x1: x(v), x2: x(v), y1: 14, y2: 58, stroke: color, "stroke-width": 2, "stroke-dasharray": "4 3" }));
    const right = v > 0.7;  // label on the line's left near the axis end, so it is not clipped
    svg.append(s("text", { x: x(v) + (right ? -4 : 4), y: v === th.auto ? 12 : 24, fill: color,
      "text-anchor": right ? "end" : "start" }, `${label} ${v.toFixed(2)}`));
  }
  list.forEach((m, i) => {
    const v = m.confidence ?? m.score;
    svg.append(s("circle", { cx: x(v), cy: 50, r: i === 0 ? 7 : 5, fill: i === 0 ? "#1d4ed8" : "#60a5fa", stroke: "#fff" }));
    svg.append(s("text", { x: x(v), y: 40 - (i % 2) * 8, "text-anchor": "middle" }, `#${i + 1}`));
  });
  return svg;
}

// -- quick phrases --------------------------------------------------------------------------------
let phrases = [];
async function loadPhrases() {
  try { phrases = (await api(shopPath("/quick-phrases"))).data; } catch (err) { phrases = []; $("phrase-error").textContent = err.message; }
  renderPhrases();
}
function renderPhrases(editId = null) {
  table($("phrases-table"), [t("m.group"), t("m.shortcut"), t("m.text"), ""], phrases.map((p) => {
    if (p.id === editId) {
      const g = h("input", { value: p.group, "aria-label": t("m.group"), style: "width:80px" });
      const sc = h("input", { value: p.shortcut, "aria-label": t("m.shortcut"), style: "width:80px" });
      const tx = h("input", { value: p.text, "aria-label": t("m.text"), style: "width:100%" });
      return h("tr", {}, h("td", {}, g), h("td", {}, sc), h("td", {}, tx), h("td", { class: "nowrap" },
        h("button", { type: "button", class: "small primary", onclick: () => phraseCall(`/quick-phrases/${p.id}`, "PATCH", { group: g.value, shortcut: sc.value, text: tx.value }) }, t("common.save")), " ",
        h("button", { type: "button", class: "small", onclick: () => renderPhrases() }, t("common.cancel"))));
    }
    return h("tr", {}, h("td", { class: "nowrap" }, p.group), h("td", {}, p.shortcut ? h("code", {}, p.shortcut) : ""), h("td", { class: "wrap" }, p.text),
      h("td", { class: "nowrap" },
        h("button", { type: "button", class: "small", "aria-label": `${t("common.edit")} ${p.shortcut || p.id}`, onclick: () => renderPhrases(p.id) }, t("common.edit")), " ",
        h("button", { type: "button", class: "small", "aria-label": `${t("common.delete")} ${p.shortcut || p.id}`, onclick: () => phraseCall(`/quick-phrases/${p.id}`, "DELETE") }, t("common.delete"))));
  }));
}
async function phraseCall(path, method, body) {
  try {
    await api(shopPath(path), { method, body });
    $("phrase-error").textContent = "";
    say(t("m.savedRevision"));
    await loadPhrases();
    return true;
  } catch (err) {
    $("phrase-error").textContent = err.details?.length ? err.details.map((d) => d.reason).join("；") : err.message;
    return false;
  }
}
$("phrase-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const ok = await phraseCall("/quick-phrases", "POST", { group: $("p-group").value.trim(), shortcut: $("p-shortcut").value.trim(), text: $("p-text").value.trim() });
  if (ok) { $("p-text").value = ""; $("p-shortcut").value = ""; }
});

// -- rules ----------------------------------------------------------------------------------------
let rules = [], editingRule = null;
async function loadRules() {
  try { rules = (await api(shopPath("/rules"))).data; } catch (err) { rules = []; put($("rules-list"), errorNote(err)); return; }
  put($("rules-list"), rules.length ? h("ul", { style: "list-style:none;padding:0;margin:0" }, ...rules.map((r) => h("li", { class: "explain-rule" },
    h("div", { class: "row" }, h("strong", {}, r.name), pill(r.enabled ? "ok" : "off", r.enabled ? t("m.on") : t("m.off")),
      h("span", { class: "muted small" }, `${r.trigger.mode} · P${r.priority}`), h("span", { style: "margin-left:auto" }),
      h("button", { type: "button", class: "small", "aria-label": `${t("common.edit")} ${r.name}`, onclick: () => editRule(r) }, t("common.edit")),
      h("button", { type: "button", class: "small", "aria-label": `${t("common.delete")} ${r.name}`, onclick: () => ruleCall(`/rules/${r.id}`, "DELETE") }, t("common.delete"))),
    h("div", { class: "small" }, `${t("m.ruleKeywords")}: ${[...r.trigger.keywords, ...r.trigger.examples].join("、")}`),
    r.schedule.windows.length ? h("div", { class: "small muted" }, r.schedule.windows.map((w) => `${w.start}–${w.end}`).join(", ")) : null,
    h("div", { class: "small" }, `→ ${r.reply}`)))) : h("p", { class: "muted" }, t("m.noRules")));
}
function editRule(r) {
  editingRule = r ? r.id : null;
  $("rule-form-h").textContent = r ? t("m.ruleEdit", { name: r.name }) : t("m.ruleNew");
  $("r-name").value = r ? r.name : ""; $("r-mode").value = r ? r.trigger.mode : "any";
  $("r-keywords").value = r ? (r.trigger.mode === "semantic" ? r.trigger.examples : r.trigger.keywords).join(", ") : "";
  $("r-reply").value = r ? r.reply : ""; $("r-priority").value = r ? r.priority : 0;
  const w = r?.schedule.windows[0];
  $("r-start").value = w ? w.start : ""; $("r-end").value = w ? (w.end === "24:00" ? "23:59" : w.end) : "";
  $("r-name").focus();
}
$("rule-reset").addEventListener("click", () => editRule(null));
async function ruleCall(path, method, body) {
  try {
    await api(shopPath(path), { method, body });
    $("rule-error").textContent = "";
    say(t("m.savedRevision"));
    await loadRules();
    return true;
  } catch (err) {
    $("rule-error").textContent = err.details?.length ? err.details.map((d) => d.reason).join("；") : err.message;
    return false;
  }
}
$("rule-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const mode = $("r-mode").value;
  const words = $("r-keywords").value.split(/[,，、]/).map((s) => s.trim()).filter(Boolean);
  const windows = $("r-start").value && $("r-end").value ? [{ start: $("r-start").value, end: $("r-end").value }] : [];
  const body = { name: $("r-name").value.trim(), reply: $("r-reply").value.trim(), priority: Number($("r-priority").value) || 0,
    trigger: mode === "semantic" ? { mode, examples: words } : { mode, keywords: words }, schedule: { windows } };
  const ok = editingRule ? await ruleCall(`/rules/${editingRule}`, "PATCH", body) : await ruleCall("/rules", "POST", body);
  if (ok) editRule(null);
});
$("explain-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const out = $("explain-result");
  const at = $("x-at").value ? `${$("x-at").value}:00`.slice(0, 19) : null;
  try {
    const res = await api(shopPath("/rules/explain"), { method: "POST", body: { message: $("x-msg").value.trim(), at } });
    put(out, 
      h("p", { "data-testid": "explain-winner" }, res.winner ? t("m.winner", { name: res.winner.name, reply: res.winner.reply }) : t("m.noWinner"),
        h("span", { class: "muted small" }, ` · ${res.local_time.replace("T", " ").slice(0, 16)} (${res.timezone})`)),
      h("ul", { style: "list-style:none;padding:0;margin:0" }, ...res.rules.map((d) => h("li", { class: "explain-rule" },
        h("div", { class: "row" }, pill(d.fires ? "ok" : "off", d.fires ? t("m.fires") : t("m.notFires")), h("strong", {}, d.name), h("span", { class: "muted small" }, `P${d.priority}`)),
        ...d.reasons.map((r) => h("div", { class: "small error" }, `✗ ${r.code}: ${r.message}`)),
        ...d.matched.map((m) => h("div", { class: "small" }, `✓ ${m}`))))),
      ...res.notes.map((n) => h("p", { class: "muted small" }, n)));
  } catch (err) { put(out, errorNote(err)); }
});

// -- analytics (issue-6 routes; degrade to a visible note when the server does not have them) -------
const A = "/v1/shops/{shop_id}/analytics";
async function loadAnalytics() {
  const body = $("analytics-body");
  const days = $("a-days").value;
  const parts = [];
  if (!has(`${A}/hot-questions`) && !has(`${A}/unanswered`) && !has(`${A}/adoption`)) {
    put(body, h("p", { class: "note", "data-testid": "analytics-unavailable" }, t("m.analyticsUnavailable")));
    return;
  }
  if (has(`${A}/adoption`)) {
    try {
      const a = await api(shopPath(`/analytics/adoption?days=${days}`));
      const counts = a.overall || a;
      const rate = counts.adoption_rate ?? 0;
      parts.push(h("div", { class: "panel", "data-testid": "adoption" }, h("h3", {}, t("m.adoption")),
        h("div", { class: "kpi" }, `${(rate * 100).toFixed(1)}%`),
        h("p", { class: "small muted" }, ["accepted", "edited", "ignored", "own_reply"].map((k) => `${t(`fb.${k}`)} ${counts[k] ?? 0}`).join(" · "))));
    } catch (err) { parts.push(errorNote(err)); }
  }
  for (const by of ["entry", "intent"]) {
    if (!has(`${A}/hot-questions`)) break;
    try {
      const r = await api(shopPath(`/analytics/hot-questions?days=${days}&by=${by}&bucket=day`));
      parts.push(h("div", { class: "panel" }, h("h3", {}, t(by === "entry" ? "m.hotQuestions" : "m.hotIntents")), hotChart(r)));
    } catch (err) { parts.push(errorNote(err)); }
  }
  if (has(`${A}/unanswered`)) {
    try {
      const r = await api(shopPath(`/analytics/unanswered?days=${days}`));
      const clusters = r.clusters || r.data || [];
      parts.push(h("div", { class: "panel" }, h("h3", {}, t("m.unanswered")), clusters.length ? h("ul", { style: "list-style:none;padding:0;margin:0" },
        ...clusters.map((c) => h("li", { class: "explain-rule" }, h("div", { class: "row" }, h("strong", {}, (c.examples || [])[0] || c.id), pill("warn", `×${c.count}`),
          h("span", { style: "margin-left:auto" }),
          has(`${A}/unanswered/{cluster_id}/add-as-entry`, "post") ? h("button", { type: "button", class: "small secondary", onclick: () => clusterAction(c, "add-as-entry") }, t("m.addAsFaq")) : null,
          c.suggested_entry_id && has(`${A}/unanswered/{cluster_id}/add-as-similar`, "post") ? h("button", { type: "button", class: "small", onclick: () => clusterAction(c, "add-as-similar") }, t("m.addAsSimilar", { id: c.suggested_entry_id })) : null),
        h("div", { class: "small muted" }, (c.examples || []).slice(1, 4).join(" / "))))) : h("p", { class: "muted" }, t("common.none"))));
    } catch (err) { parts.push(errorNote(err)); }
  }
  put(body, ...parts);
}
async function clusterAction(c, action) {
  let body = {};
  if (action === "add-as-entry") {
    const answer = window.prompt(t("m.answerFor", { q: (c.examples || [])[0] || c.id }));
    if (!answer) return;
    body = { answer, days: Number($("a-days").value) };
  } else body = { entry_id: c.suggested_entry_id, days: Number($("a-days").value) };
  try { await api(shopPath(`/analytics/unanswered/${encodeURIComponent(c.id)}/${action}`), { method: "POST", body }); say(t("m.savedRevision")); loadAnalytics(); }
  catch (err) { say(err.message, "error"); }
}
/** Hot questions: horizontal bars of totals + a small line per item over the buckets (inline SVG). */
function hotChart(r) {
  const items = (r.data || r.items || []).slice(0, 8).map((x) => ({
    label: x.label || x.question || x.intent || x.key || x.entry_id || "?",
    total: x.count ?? x.total ?? (x.series || []).reduce((a, p) => a + (p.count || 0), 0),
    series: (x.series || x.buckets || []).map((p) => p.count ?? 0),
  }));
  if (!items.length) return h("p", { class: "muted" }, t("common.none"));
  const ns = "http://www.w3.org/2000/svg", W = 760, row = 24, H = items.length * row + 8, LW = 260;
  const s = (tag, attrs, text) => { const e = document.createElementNS(ns, tag); for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v); if (text !== undefined) e.textContent = text; return e; };
  const max = Math.max(...items.map((i) => i.total), 1);
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, width: "100%", class: "chart", role: "img", "aria-label": items.map((i) => `${i.label} ${i.total}`).join(", ") });
  items.forEach((it, k) => {
    const y = 4 + k * row;
    svg.append(s("text", { x: 0, y: y + 15 }, it.label.length > 18 ? `${it.label.slice(0, 18)}…` : it.label));
    const w = (W - LW - 200) * it.total / max;
    svg.append(s("rect", { x: LW, y: y + 3, width: Math.max(2, w), height: 16, fill: "#1d4ed8", rx: 2 }));
    svg.append(s("text", { x: LW + w + 6, y: y + 15 }, it.total));
    if (it.series.length > 1) {
      const m = Math.max(...it.series, 1), x0 = W - 150, sw = 140;
      const pts = it.series.map((v, j) => `${x0 + (j * sw) / (it.series.length - 1)},${y + 20 - (v / m) * 16}`).join(" ");
      svg.append(s("polyline", { points: pts, fill: "none", stroke: "#b45309", "stroke-width": 1.5 }));
    }
  });
  return svg;
}
$("a-refresh").addEventListener("click", loadAnalytics);
$("a-days").addEventListener("change", loadAnalytics);

const LOADERS = { kb: loadVersions, entries: loadEntries, hit: () => {}, phrases: loadPhrases, rules: loadRules, analytics: loadAnalytics };

async function start() {
  initChrome(() => { for (const k of VIEWS) loaded[k] = false; showView(); });
  await loadCapabilities();
  applyI18n();
  showView();
  document.body.dataset.ready = "true";
}
start();
