// 知识库管理: uploads with the validation report, versions/diff/rollback, entries and 相似问, hit test,
// quick phrases, auto-reply rules with explain, analytics (when the server has the analytics routes),
// 学习样本 (learned.js).
import {
  api, applyI18n, checkKey, confirmDialog, download, fmtTime, formDialog, h, has, initChrome, loadCapabilities,
  pickEntry, problemNote, put, say, settings, shopPath, t,
} from "./common.js";
import { deskAnalyticsPanels, initPerformance, loadPerformance, loadRouting } from "./desk-merchant.js";
import { initLearned, loadLearned, refreshLearnedBadge } from "./learned.js";

const $ = (id) => document.getElementById(id);
const VIEWS = ["kb", "entries", "hit", "phrases", "rules", "analytics", "learned", "routing", "performance"];
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
const errorNote = (err) => problemNote(err);

// -- upload: always previewed first (dry_run), then imported with the mode chosen ------------------
let lastFile = null;
const uploadMode = () => document.querySelector("input[name=upload-mode]:checked")?.value || "replace";

/** Preview what the file would change; nothing is stored until the merchant confirms. */
async function previewFile(file, onError = "reject") {
  lastFile = file;
  const out = $("upload-result");
  const mode = uploadMode();
  put(out, h("p", { class: "muted" }, t("m.previewing", { name: file.name })));
  const form = new FormData();
  form.append("file", file, file.name);
  try {
    const p = await api(shopPath(`/kb?dry_run=true&mode=${mode}&on_error=${onError}`), { method: "POST", form });
    renderPreview(file, p);
  } catch (err) {
    if (err.code !== "upload_invalid") { put(out, problemNote(err)); return; }
    const errors = err.details.filter((d) => (d.severity || "error") === "error").length;
    put(out,
      h("p", { class: "error", "data-testid": "upload-invalid" }, t("m.invalid", { name: file.name, n: errors })),
      problemsTable(err.details),
      h("div", { class: "row" },
        h("button", { type: "button", class: "secondary", id: "reject-all", onclick: () => {
          put(out, h("p", { class: "muted" }, t("m.rejected")));
          say(t("m.rejected"));
        } }, t("m.rejectAll")),
        h("button", { type: "button", class: "primary", id: "import-valid", onclick: () => previewFile(lastFile, "partial") },
          t("m.previewValid"))));
    say(t("m.invalid", { name: file.name, n: errors }), "error");
  }
}

function entryLine(cls, sign, e, extra = "") { return h("li", { class: cls }, `${sign} ${e.id} · ${e.question}${extra}`); }

function renderPreview(file, p) {
  const out = $("upload-result");
  const removedBig = p.confirm_remove_required;
  const counts = h("p", { class: "preview-counts", "data-testid": "preview-summary" },
    pill("ok", t("m.pAdded", { n: p.added.length })), " ", pill("warn", t("m.pChanged", { n: p.changed.length })), " ",
    pill(p.removed.length ? "err" : "off", t("m.pRemoved", { n: p.removed.length })), " ",
    h("span", { class: "muted small" }, t("m.pUnchanged", { n: p.unchanged, base: p.base_version ?? "-" })));
  const lists = h("div", { class: "preview-lists" },
    p.removed.length ? h("details", { open: removedBig, "data-testid": "preview-removed" }, h("summary", { class: "diff-removed" }, t("m.pRemovedList", { n: p.removed.length })),
      h("ul", {}, ...p.removed.map((e) => entryLine("diff-removed", "−", e)))) : null,
    p.added.length ? h("details", {}, h("summary", { class: "diff-added" }, t("m.pAddedList", { n: p.added.length })),
      h("ul", {}, ...p.added.map((e) => entryLine("diff-added", "+", e)))) : null,
    p.changed.length ? h("details", {}, h("summary", { class: "diff-changed" }, t("m.pChangedList", { n: p.changed.length })),
      h("ul", {}, ...p.changed.map((c) => entryLine("diff-changed", "~", c.after, ` (${c.fields.join(", ")})`)))) : null);
  if (p.no_changes) {
    put(out, h("p", { class: "ok-line", "data-testid": "no-changes" }, pill("off", t("m.noChanges")), " ", p.message));
    say(p.message);
    return;
  }
  put(out,
    h("h3", {}, t("m.previewTitle", { name: file.name, mode: t(p.mode === "merge" ? "m.modeMergeShort" : "m.modeReplaceShort") })),
    removedBig ? h("p", { class: "note", role: "alert", "data-testid": "remove-warning" }, t("m.removeWarning", { n: p.removed.length })) : null,
    counts, lists,
    p.problems.length ? h("div", {}, h("p", { class: "small" }, p.skipped_rows ? pill("warn", t("m.skippedRows", { n: p.skipped_rows })) : null),
      problemsTable(p.problems)) : null,
    h("div", { class: "row" },
      h("button", { type: "button", class: "secondary", id: "preview-cancel", onclick: () => { put(out, h("p", { class: "muted" }, t("m.rejected"))); say(t("m.rejected")); } }, t("common.cancel")),
      h("button", { type: "button", class: removedBig ? "danger" : "primary", id: "preview-import", "data-testid": "preview-import",
        onclick: () => importFile(file, p) }, t("m.importNow", { n: p.entries }))));
  say(p.message);
}

async function importFile(file, p) {
  const out = $("upload-result");
  let confirm = "";
  if (p.confirm_remove_required) {
    const ok = await confirmDialog({ title: t("m.confirmRemoveTitle", { n: p.removed.length }), danger: true,
      body: [h("p", {}, t("m.confirmRemoveBody", { n: p.removed.length, base: p.base_version })),
        h("ul", { class: "small" }, ...p.removed.slice(0, 8).map((e) => h("li", {}, `${e.id} · ${e.question}`)),
          p.removed.length > 8 ? h("li", {}, "…") : null)],
      ack: t("m.confirmRemoveAck", { n: p.removed.length }), confirm: t("m.confirmRemoveOk", { n: p.removed.length }),
      testid: "confirm-remove" });
    if (!ok) { say(t("m.rejected")); return; }
    confirm = `&confirm_remove=${p.removed.length}`;
  }
  put(out, h("p", { class: "muted" }, t("m.uploading", { name: file.name })));
  const form = new FormData();
  form.append("file", file, file.name);
  try {
    const res = await api(shopPath(`/kb?mode=${p.mode}&on_error=${p.on_error}${confirm}`), { method: "POST", form });
    if (res.no_changes) { put(out, h("p", { "data-testid": "no-changes" }, res.message)); return; }
    put(out,
      h("p", { class: "ok-line", "data-testid": "upload-ok" }, pill("ok", t("m.imported")), " ",
        t("m.importedDetail", { version: res.version, entries: res.entries, phrasings: res.phrasings, seconds: res.seconds })),
      h("p", { class: "small" }, t("m.importedDiff", { a: res.added, c: res.changed, r: res.removed, base: res.base_version ?? "-" })),
      res.skipped_rows ? h("p", {}, pill("warn", t("m.skippedRows", { n: res.skipped_rows }))) : null,
      res.skipped.length || res.warnings.length ? problemsTable([...res.skipped, ...res.warnings]) : null);
    say(t("m.imported"));
    loaded.entries = false;
    await loadVersions();
    showDiff(null, res.version);
  } catch (err) { put(out, problemNote(err)); say(err.message, "error"); }
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
  if (file) previewFile(file);
});
$("kb-file").addEventListener("change", (ev) => { const f = ev.target.files[0]; if (f) previewFile(f); ev.target.value = ""; });
for (const r of document.querySelectorAll("input[name=upload-mode]")) r.addEventListener("change", () => { if (lastFile && $("upload-result").querySelector("[data-testid=preview-summary]")) previewFile(lastFile); });
$("dl-template-xlsx").addEventListener("click", () => download("/v1/kb/template?format=xlsx", "faq-template.xlsx"));
$("dl-template-csv").addEventListener("click", () => download("/v1/kb/template?format=csv", "faq-template.csv"));
$("export-xlsx").addEventListener("click", () => download(shopPath("/kb/export?format=xlsx"), "kb.xlsx").catch((e) => say(e.message, "error")));
$("export-csv").addEventListener("click", () => download(shopPath("/kb/export?format=csv"), "kb.csv").catch((e) => say(e.message, "error")));

// -- versions, diff (against the version each was based on), activate ------------------------------
async function loadVersions() {
  const el = $("versions-table");
  let res;
  try { res = await api(shopPath("/kb/versions")); } catch (err) {
    $("active-version").textContent = "";
    // No shop yet is the one true "no versions"; a key problem says what is wrong instead.
    const empty = err.code === "shop_not_found";
    put(el, h("tbody", {}, h("tr", {}, h("td", {}, empty ? h("p", { class: "muted", "data-testid": "no-versions" }, t("m.noVersions")) : problemNote(err)))));
    return;
  }
  $("active-version").textContent = res.active_version ? t("m.activeVersion", { v: res.active_version }) : "";
  if (!res.data.length) { put(el, h("tbody", {}, h("tr", {}, h("td", { class: "muted", "data-testid": "no-versions" }, t("m.noVersions"))))); return; }
  table(el, [t("m.version"), t("m.status"), t("m.created"), t("m.source"), t("m.entries"), t("m.phrasings"), t("m.note"), ""],
    [...res.data].reverse().map((v) => h("tr", { dataset: { version: v.version } },
      h("td", { class: "nowrap" }, `v${v.version} `, v.active ? pill("active", t("m.active")) : null),
      h("td", {}, pill(v.status === "ready" ? "ok" : v.status === "failed" ? "err" : "warn", t(`vs.${v.status}`))),
      h("td", { class: "nowrap" }, fmtTime(v.created_at)), h("td", { class: "wrap" }, v.source),
      h("td", {}, v.entry_count), h("td", {}, v.phrasing_count), h("td", { class: "wrap" }, v.note),
      h("td", { class: "nowrap actions-cell" },
        h("button", { type: "button", class: "small", "data-testid": "diff-base",
          onclick: () => showDiff(null, v.version) }, v.base_version ? t("m.diffBase", { v: v.base_version }) : t("m.diffFirst")), " ",
        v.status === "ready" && !v.active ? h("button", { type: "button", class: "small secondary",
          "aria-label": t("m.activateN", { v: v.version }), onclick: () => activate(v, res.active_version) },
        v.version < (res.active_version || 0) ? t("m.rollback") : t("m.activate")) : null))));
}

async function activate(v, current) {
  const back = v.version < (current || 0);
  const ok = await confirmDialog({ title: t(back ? "m.confirmRollbackTitle" : "m.confirmActivateTitle", { v: v.version }),
    body: t("m.confirmActivateBody", { v: v.version, current: current ?? "-", n: v.entry_count }),
    confirm: back ? t("m.rollback") : t("m.activate"), testid: "confirm-activate" });
  if (!ok) return;
  try {
    await api(shopPath(`/kb/versions/${v.version}/activate`), { method: "POST" });
    say(t("m.activated", { v: v.version }));
    loaded.entries = false;
    await loadVersions();
  } catch (err) { say(err.message, "error"); }
}

/** The diff of version `to` against `from`, or (from = null) against the version it was based on. */
async function showDiff(from, to) {
  const panel = $("diff-panel");
  panel.hidden = false;
  try {
    const d = await api(shopPath(`/kb/diff?${from ? `from=${from}&` : ""}to=${to}`));
    $("diff-h").textContent = d.from_version ? t("m.diffTitle", { from: d.from_version, to: d.to_version }) : t("m.diffTitleFirst", { to: d.to_version });
    put($("diff-body"),
      h("p", { "data-testid": "diff-summary" }, t("m.diffSummary", { a: d.added.length, r: d.removed.length, c: d.changed.length, u: d.unchanged })),
      h("ul", {}, ...d.added.slice(0, 200).map((e) => entryLine("diff-added", "+", e)), ...d.removed.slice(0, 200).map((e) => entryLine("diff-removed", "−", e)),
        ...d.changed.map((c) => entryLine("diff-changed", "~", c.after, ` (${c.fields.join(", ")})`))));
  } catch (err) { put($("diff-body"), problemNote(err)); }
}

// -- entries: edits collect in a draft and are published together as ONE version -----------------
let entries = [];
let draft = [];  // [{op: add|update|delete, id, ...fields}], in order
async function loadEntries() {
  try {
    const res = await api(shopPath("/kb/entries"));
    entries = res.data;
    $("entries-count").dataset.version = res.version;
  } catch (err) {
    entries = [];
    put($("entries-table"), h("tbody", {}, h("tr", {}, h("td", {}, err.code === "no_active_kb" || err.code === "shop_not_found"
      ? h("p", { class: "muted" }, t("m.noVersions")) : errorNote(err)))));
    return;
  }
  renderEntries();
}
/** The entries as they will be once the draft is published, each marked with its pending change. */
function withDraft() {
  const out = entries.map((e) => ({ ...e, pending: null }));
  for (const op of draft) {
    const i = out.findIndex((e) => e.id === op.id);
    if (op.op === "add") out.push({ id: op.id || t("m.newId"), question: op.question, similar: op.similar || [], answers: op.answers || [],
      category: op.category || "", enabled: op.enabled ?? true, pending: "add" });
    else if (i >= 0 && op.op === "delete") out[i].pending = "delete";
    else if (i >= 0) { Object.assign(out[i], Object.fromEntries(Object.entries(op).filter(([k]) => k !== "op" && k !== "id"))); out[i].pending = out[i].pending || "update"; }
  }
  return out;
}
function renderDraftBar() {
  $("draft-bar").hidden = !draft.length;
  $("draft-count").textContent = t("m.draftCount", { n: draft.length });
}
function renderEntries() {
  renderDraftBar();
  const q = $("entries-q").value.trim().toLowerCase();
  const all = withDraft();
  const shown = all.filter((e) => !q || [e.id, e.question, e.category, ...e.similar, ...e.answers].some((s) => s.toLowerCase().includes(q)));
  $("entries-count").textContent = t("m.entriesCount", { n: shown.length, total: all.length, v: $("entries-count").dataset.version || "-" });
  table($("entries-table"), [t("m.id"), t("m.question"), t("m.similar"), t("m.answers"), t("m.category"), t("m.status"), ""],
    shown.map((e) => h("tr", { dataset: { entry: e.id }, class: e.pending ? `pending pending-${e.pending}` : "" },
      h("td", { class: "nowrap" }, e.id, e.pending ? h("span", { class: "pill warn", "data-testid": "pending" }, t(`m.pending.${e.pending}`)) : null),
      h("td", { class: "wrap" }, e.question),
      h("td", { class: "wrap" }, e.similar.length ? `${e.similar.slice(0, 2).join("、")}${e.similar.length > 2 ? ` …(+${e.similar.length - 2})` : ""}` : "—"),
      h("td", { class: "wrap" }, (e.answers[0] || "").length > 60 ? `${e.answers[0].slice(0, 60)}…` : (e.answers[0] || "")),
      h("td", { class: "nowrap" }, e.category), h("td", {}, e.enabled ? pill("ok", t("m.on")) : pill("off", t("m.off"))),
      h("td", { class: "nowrap actions-cell" }, e.pending === "add" || e.pending === "delete" ? null : [
        h("button", { type: "button", class: "small", "aria-label": `${t("common.edit")} ${e.id}`, onclick: () => openEntry(e) }, t("common.edit")), " ",
        h("button", { type: "button", class: "small", "aria-label": `${e.enabled ? t("m.disable") : t("m.enable")} ${e.id}`,
          onclick: () => saveEntry(e.id, { enabled: !e.enabled }) }, e.enabled ? t("m.disable") : t("m.enable")), " ",
        h("button", { type: "button", class: "small", "aria-label": `${t("common.delete")} ${e.id}`,
          onclick: () => { draft.push({ op: "delete", id: e.id }); renderEntries(); say(t("m.draftAdded")); } }, t("common.delete"))]))));
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
$("entry-form").addEventListener("submit", (ev) => {
  if (ev.submitter?.value !== "save") return;
  const body = {
    question: $("e-question").value.trim(), similar: similarDraft,
    answers: $("e-answers").value.split("\n").map((s) => s.trim()).filter(Boolean),
    category: $("e-category").value.trim(), enabled: $("e-enabled").checked,
  };
  saveEntry(editing, body);
});
/** Put a change in the draft (a later change of the same entry is folded into its pending update). */
function saveEntry(id, body) {
  if (!id) draft.push({ op: "add", ...body });
  else {
    const pending = draft.find((o) => o.id === id && o.op !== "delete");
    if (pending) Object.assign(pending, body); else draft.push({ op: "update", id, ...body });
  }
  renderEntries();
  say(t("m.draftAdded"));
}
$("draft-discard").addEventListener("click", async () => {
  if (!(await confirmDialog({ title: t("m.draftDiscardTitle", { n: draft.length }), body: t("m.draftDiscardBody"), confirm: t("m.draftDiscard"), danger: true }))) return;
  draft = []; renderEntries(); say(t("m.draftDiscarded"));
});
$("draft-publish").addEventListener("click", async () => {
  try {
    const res = await api(shopPath("/kb/edits"), { method: "POST", body: { operations: draft } });
    draft = [];
    say(t("m.published", { v: res.version, n: res.action }));
    await loadEntries();
    loadVersions();
  } catch (err) {
    const msg = err.details?.length ? err.details.map((d) => `${d.column ? `${d.column}: ` : ""}${d.reason}`).join("；") : err.message;
    say(msg, "error");
  }
});

// -- hit test: the server's own ranking under the thresholds typed here; near misses greyed -------
$("hit-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const q = $("hit-q").value.trim();
  const out = $("hit-result");
  const body = { message: q, top_k: 3, suggest_threshold: Number($("hit-t1").value), auto_reply_threshold: Number($("hit-t2").value) };
  try {
    const res = await api(shopPath("/hit-test"), { method: "POST", body });
    const th = { suggest: res.thresholds.suggest, auto: res.thresholds.auto_reply };
    const shown = res.ranking.slice(0, 10);
    put(out,
      h("p", { class: "small muted", "data-testid": "hit-meta" }, pill("off", t("m.testMark")), " ",
        t("m.hitApplied", { s: th.suggest.toFixed(2), a: th.auto.toFixed(2) }), " · ",
        `${t("m.msgIntent")}: ${res.intent ? `${res.intent.intent} (${res.intent.confidence.toFixed(2)})` : "—"}`,
        res.abstained ? ` · ${t("agent.abstain")}` : ""),
      scoreAxis(shown, th),
      shown.length ? h("ol", { class: "hits" }, ...shown.map((c) => h("li", {
        class: `hit-item status-${c.status}${c.passes ? "" : " near-miss"}`, dataset: { status: c.status, entry: c.entry_id || "" } },
        h("strong", { class: "rank" }, `#${c.rank}`),
        h("div", {}, h("div", { class: "hit-q" }, `${c.entry_id} · ${c.question}`, " ", hitPill(c)),
          h("ul", { class: "why" }, ...c.why.map((w) => h("li", { dataset: { code: w.code } }, w.text)))),
        h("div", { class: "score" }, c.confidence.toFixed(3))))) : h("p", { class: "muted" }, t("m.hitNothing")));
  } catch (err) { put(out, errorNote(err)); }
});
function hitPill(c) {
  if (c.status === "suggested") return pill(c.auto_reply ? "ok" : "active", t(c.auto_reply ? "m.hitAuto" : "m.hitShown"));
  if (c.status === "below_threshold") return pill("off", t("m.hitNear"));
  return pill("warn", t(`m.hit.${c.status}`));
}
/** The 0..1 confidence axis: candidates as dots (rank labels below, staggered), the two thresholds above. */
function scoreAxis(list, th) {
  const W = 760, H = 140, L = 20, R = 20, Y = 56, x = (v) => L + Math.max(0, Math.min(1, v)) * (W - L - R);
  const ns = "http://www.w3.org/2000/svg";
  const s = (tag, attrs, text) => { const e = document.createElementNS(ns, tag); for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v); if (text !== undefined) e.textContent = text; return e; };
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, width: "100%", class: "chart", role: "img", "aria-label": t("m.axisLabel") });
  svg.append(s("line", { x1: L, x2: W - R, y1: Y, y2: Y, stroke: "#6b7280" }));
  for (let v = 0; v <= 10; v += 1) {
    svg.append(s("line", { x1: x(v / 10), x2: x(v / 10), y1: Y - 3, y2: Y + 3, stroke: "#6b7280" }));
    svg.append(s("text", { x: x(v / 10), y: H - 4, "text-anchor": "middle", fill: "#6b7280" }, (v / 10).toFixed(1)));
  }
  // Threshold labels on two rows above the axis, so they never sit on the rank labels (below it).
  for (const [v, label, color, row] of [[th.suggest, t("m.suggestThreshold"), "#b45309", 26], [th.auto, t("m.autoThreshold"), "#166534", 12]]) {
    svg.append(s("line", { x1: x(v), x2: x(v), y1: row + 2, y2: Y + 8, stroke: color, "stroke-width": 2, "stroke-dasharray": "4 3" }));
    const right = v > 0.7;
    svg.append(s("text", { x: x(v) + (right ? -4 : 4), y: row, fill: color, "text-anchor": right ? "end" : "start" }, `${label} ${v.toFixed(2)}`));
  }
  const placed = [];
  [...list].reverse().forEach((m) => {
    const v = m.confidence;
    svg.append(s("circle", { cx: x(v), cy: Y, r: m.rank === 1 ? 7 : 5, fill: m.passes ? (m.rank === 1 ? "#1d4ed8" : "#60a5fa") : "#d1d5db",
      stroke: m.passes ? "#fff" : "#6b7280", "data-rank": m.rank }));
  });
  list.slice(0, 5).forEach((m) => {
    // Rank labels (the first five) below the axis; one that would overlap another drops a row.
    const cx = x(m.confidence);
    let row = 0;
    while (row < 3 && placed.some((p) => p.row === row && Math.abs(p.x - cx) < 22)) row += 1;
    placed.push({ x: cx, row });
    svg.append(s("text", { x: cx, y: Y + 20 + row * 12, "text-anchor": "middle", fill: m.passes ? "#1f2937" : "#6b7280" }, `#${m.rank}`));
  });
  return svg;
}

// -- quick phrases --------------------------------------------------------------------------------
let phrases = [];
async function loadPhrases() {
  try { phrases = (await api(shopPath("/quick-phrases"))).data; $("phrase-error").textContent = ""; } catch (err) { phrases = []; put($("phrase-error"), problemNote(err)); }
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
        h("button", { type: "button", class: "small", "aria-label": `${t("common.delete")} ${p.shortcut || p.id}`, onclick: async () => {
          if (await confirmDialog({ title: t("m.confirmDeletePhrase"), body: p.text, confirm: t("common.delete"), danger: true })) phraseCall(`/quick-phrases/${p.id}`, "DELETE");
        } }, t("common.delete"))));
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
      h("button", { type: "button", class: "small", "aria-label": `${t("common.delete")} ${r.name}`, onclick: async () => {
        if (await confirmDialog({ title: t("m.confirmDeleteRule", { name: r.name }), body: `→ ${r.reply}`, confirm: t("common.delete"), danger: true })) ruleCall(`/rules/${r.id}`, "DELETE");
      } }, t("common.delete"))),
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
        ...d.reasons.map((r) => h("div", { class: "small error", dataset: { code: r.code } }, `✗ ${r.message}`)),
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
  if (!has(`${A}/hot-questions`) && !has(`${A}/unanswered`) && !has(`${A}/adoption`) && !has(`${A}/routing`)) {
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
      const clusters = r.data || [];
      parts.push(h("div", { class: "panel" }, h("h3", {}, t("m.unanswered")), clusters.length ? h("ul", { class: "plain", "data-testid": "unanswered" },
        ...clusters.map((c) => h("li", { class: "explain-rule", dataset: { cluster: c.id } },
          h("div", { class: "row" }, h("strong", {}, c.examples[0] || c.id), pill("warn", `×${c.count}`),
            h("span", { style: "margin-left:auto" }),
            has(`${A}/unanswered/{cluster_id}/add-as-entry`, "post") ? h("button", { type: "button", class: "small secondary", onclick: () => addAsEntry(c) }, t("m.addAsFaq")) : null,
            has(`${A}/unanswered/{cluster_id}/add-as-similar`, "post") ? h("button", { type: "button", class: "small", "data-testid": "add-as-similar", onclick: () => addAsSimilar(c) }, t("m.addAsSimilarPick")) : null),
          h("ul", { class: "small reasons" }, ...(c.reasons || []).map((x) => h("li", { dataset: { code: x.code } }, x.text))),
          c.examples.length > 1 ? h("div", { class: "small muted" }, c.examples.slice(1, 4).join(" / ")) : null))) : h("p", { class: "muted" }, t("common.none"))));
    } catch (err) { parts.push(errorNote(err)); }
  }
  parts.push(...await deskAnalyticsPanels(days));  // routing and escalation per day (desk-merchant.js)
  put(body, ...parts);
}
async function clusterAction(c, action, body) {
  try {
    const res = await api(shopPath(`/analytics/unanswered/${encodeURIComponent(c.id)}/${action}`), { method: "POST", body: { ...body, days: Number($("a-days").value) } });
    say(t("m.clusterAdded", { v: res.version, id: res.entry?.id || "" }));
    loaded.entries = false;
    loadAnalytics();
  } catch (err) { say(err.message, "error"); }
}
async function addAsEntry(c) {
  const values = await formDialog({ title: t("m.addAsFaqTitle"), submit: t("m.addAsFaq"), testid: "add-entry-dialog",
    intro: h("p", { class: "small muted" }, t("m.addAsFaqIntro", { n: c.examples.length })),
    fields: [{ name: "question", label: t("m.question"), value: c.examples[0] || "", required: true },
      { name: "answer", label: t("m.answer"), multiline: true, required: true }] });
  if (values) clusterAction(c, "add-as-entry", { question: values.question, answer: values.answer });
}
/** Pick the entry these questions belong to: suggested entries first (named, with how often), then any. */
async function addAsSimilar(c) {
  if (!entries.length) await loadEntries();
  const choice = await pickEntry({ title: t("m.addAsSimilarTitle"), entries,
    intro: h("p", { class: "small" }, t("m.addAsSimilarIntro", { q: c.examples[0] || "" })),
    suggested: (c.candidates || []).map((x) => ({ id: x.entry_id, question: x.question, note: t("m.pickSuggested", { n: x.count }) })) });
  if (choice) clusterAction(c, "add-as-similar", { entry_id: choice });
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

const LOADERS = { kb: loadVersions, entries: loadEntries, hit: () => {}, phrases: loadPhrases, rules: loadRules, analytics: loadAnalytics,
  learned: loadLearned, routing: loadRouting, performance: loadPerformance };
initPerformance();
// A learned example promoted into the KB made a new version: versions and entries load again when shown.
initLearned({ onKbChanged: () => { loaded.kb = false; loaded.entries = false; } });

async function start() {
  initChrome(() => { for (const k of VIEWS) loaded[k] = false; showView(); refreshLearnedBadge(); });
  await loadCapabilities();
  applyI18n();
  await checkKey();
  showView();
  refreshLearnedBadge();
  document.body.dataset.ready = "true";
}
start();
