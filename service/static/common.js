// Shared by both consoles: i18n (zh default, en toggle), settings (shop, key per console and shop, agent)
// in localStorage, the JSON API client (Bearer key, Accept-Language), API capability detection from
// /openapi.json, the key check with its explicit error states, dialogs (confirm, form), DOM helpers.
import { DICT } from "./i18n.js";

// Which console this page is: each keeps its own key (an agent key in 客服工作台 must not break 知识库管理).
export const CONSOLE = document.body.classList.contains("agent") ? "agent" : "merchant";
const NEEDS = { agent: "agent", merchant: "admin" };
const LS = { lang: "smartreply.lang", shop: "smartreply.shop", agent: "smartreply.agent" };
const keyName = (shop) => `smartreply.key.${CONSOLE}.${shop}`;
// Before keys were per console, one key was shared: give it to both consoles once (each then checks
// its scope with /v1/keys/me and says so if it is the wrong kind).
const legacyKey = localStorage.getItem("smartreply.key");
if (legacyKey) {
  const shop = localStorage.getItem(LS.shop) || "demo";
  for (const c of ["agent", "merchant"]) {
    if (!localStorage.getItem(`smartreply.key.${c}.${shop}`)) localStorage.setItem(`smartreply.key.${c}.${shop}`, legacyKey);
  }
  localStorage.removeItem("smartreply.key");
}

export const settings = {
  get lang() { return localStorage.getItem(LS.lang) || "zh"; },
  set lang(v) { localStorage.setItem(LS.lang, v); },
  get shop() { return localStorage.getItem(LS.shop) || "demo"; },
  set shop(v) { localStorage.setItem(LS.shop, v); },
  get key() { return localStorage.getItem(keyName(this.shop)) || ""; },
  set key(v) { if (v) localStorage.setItem(keyName(this.shop), v); else localStorage.removeItem(keyName(this.shop)); },
  keyFor(shop) { return localStorage.getItem(keyName(shop)) || ""; },
  get agent() { return localStorage.getItem(LS.agent) || "agent-1"; },
  set agent(v) { localStorage.setItem(LS.agent, v); },
};

/** Translate a key; `{name}` placeholders are filled from `vars`. Unknown keys show themselves. */
export function t(key, vars = {}) {
  const entry = DICT[key];
  let s = entry ? (entry[settings.lang] ?? entry.zh) : key;
  for (const [k, v] of Object.entries(vars)) s = s.replaceAll(`{${k}}`, String(v));
  return s;
}

/** Fill every [data-i18n], [data-i18n-placeholder], [data-i18n-aria-label], [data-i18n-title] under root. */
export function applyI18n(root = document) {
  document.documentElement.lang = settings.lang === "zh" ? "zh-CN" : "en";
  const title = document.body.dataset.titleKey;
  if (title) document.title = `${t(title)} · smartreply`;
  renderShopBadge();
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const attr of ["placeholder", "aria-label", "title"]) {
    for (const el of root.querySelectorAll(`[data-i18n-${attr}]`)) {
      el.setAttribute(attr, t(el.getAttribute(`data-i18n-${attr}`)));
    }
  }
}

/** Create an element: h("button", {class: "x", onclick}, "text", child…). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** el.replaceChildren without the null / false / undefined children (conditional parts). */
export function put(el, ...children) {
  el.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return el;
}

export class ApiError extends Error {
  constructor(status, code, message, details, messageCode, params) {
    super(message);
    this.status = status; this.code = code; this.details = details || [];
    this.messageCode = messageCode || ""; this.params = params || {};
  }
}

/** Call the JSON API. Throws ApiError with the service's {error: {code, message, details}}. */
export async function api(path, { method = "GET", body, form, raw = false } = {}) {
  // The server writes every message for a person in the page's language.
  const headers = { "Accept-Language": settings.lang === "en" ? "en" : "zh-CN" };
  if (settings.key) headers.Authorization = `Bearer ${settings.key}`;
  let payload;
  if (form) payload = form;
  else if (body !== undefined) { headers["Content-Type"] = "application/json"; payload = JSON.stringify(body); }
  let res;
  try {
    res = await fetch(path, { method, headers, body: payload });
  } catch (err) {
    throw new ApiError(0, "network", t("err.network"));
  }
  if (!res.ok) {
    let err = { code: "http_" + res.status, message: res.statusText, details: [] };
    try { const j = await res.json(); if (j && j.error) err = j.error; } catch { /* not JSON */ }
    const error = new ApiError(res.status, err.code, err.message, err.details, err.message_code, err.params);
    if (res.status === 401 || (res.status === 403 && path.startsWith("/v1/shops/"))) showAuthBanner(error);
    throw error;
  }
  if (raw) return res;
  if (res.status === 204) return null;
  return res.json();
}

export const shopPath = (suffix = "") => `/v1/shops/${encodeURIComponent(settings.shop)}${suffix}`;

// -- capabilities: which API routes this server has (issue-6 routes may not exist yet) ------------
let openapiPaths = null;
export async function loadCapabilities() {
  try {
    const res = await fetch("/openapi.json");
    openapiPaths = res.ok ? (await res.json()).paths || {} : {};
  } catch { openapiPaths = {}; }
  return openapiPaths;
}
/** has("/v1/shops/{shop_id}/feedback", "post") */
export function has(path, method = "get") {
  const p = openapiPaths && openapiPaths[path];
  return Boolean(p && p[method.toLowerCase()]);
}

// -- status line (aria-live) and auth banner ------------------------------------------------------
export function say(message, kind = "info") {
  const el = document.getElementById("status");
  if (!el) return;
  el.textContent = message;
  el.dataset.kind = kind;
}

// -- the key: checked once per load, with a state that says what is wrong -------------------------
export const auth = { state: "unknown", identity: null };

/** What is wrong with this console's key, as an i18n key: missing, invalid, wrong scope, other shop. */
export function authProblem(err) {
  if (!err) return null;
  if (err.messageCode === "auth.missing_key") return "auth.missing";
  if (err.status === 401) return "auth.invalid";
  if (err.messageCode === "auth.scope") return CONSOLE === "merchant" ? "auth.needAdmin" : "auth.needAgent";
  if (err.messageCode === "auth.other_shop") return "auth.otherShop";
  if (err.status === 403) return "auth.forbidden";
  return null;
}

/** Ask the server who this key is (GET /v1/keys/me) and set auth.state: ok | missing | invalid | scope | shop. */
export async function checkKey() {
  if (!settings.key) { auth.state = "missing"; auth.identity = null; showAuthBanner(null, "auth.missing"); return auth; }
  try {
    const me = await api("/v1/keys/me");
    auth.identity = me;
    const scopes = new Set(me.scopes);
    const ok = scopes.has("operator") || scopes.has(NEEDS[CONSOLE]) || (NEEDS[CONSOLE] === "agent" && scopes.has("admin"));
    if (me.shop_id && me.shop_id !== settings.shop) { auth.state = "shop"; showAuthBanner(null, "auth.otherShop"); }
    else if (!ok) { auth.state = "scope"; showAuthBanner(null, CONSOLE === "merchant" ? "auth.needAdmin" : "auth.needAgent"); }
    else { auth.state = "ok"; hideAuthBanner(); }
  } catch (err) {
    auth.state = err.status === 401 ? "invalid" : "unknown";
    auth.identity = null;
  }
  return auth;
}

/** A panel's error as a sentence that says what is wrong (never a false "nothing yet"). */
export function problemNote(err, attrs = {}) {
  const key = authProblem(err);
  return h("p", { class: "error", role: "alert", "data-testid": "panel-error", ...attrs },
    key ? t(key, { shop: settings.shop }) : err.message, key ? " " : null,
    key ? h("button", { type: "button", class: "small", onclick: openSettings }, t("settings.title")) : null);
}

function hideAuthBanner() { const el = document.getElementById("auth-banner"); if (el) el.hidden = true; }

function showAuthBanner(err, key = null) {
  const el = document.getElementById("auth-banner");
  if (!el) return;
  el.hidden = false;
  el.dataset.state = key || authProblem(err) || "auth.forbidden";
  el.querySelector("[data-msg]").textContent = t(el.dataset.state, { shop: settings.shop });
  const demo = el.querySelector("[data-demo-keys]");
  if (demo) demo.hidden = !has("/v1/demo/keys");
}

let openSettings = () => {};

/** serve --demo on this machine: fetch the demo shop's keys and keep them for both consoles. */
export async function loadDemoKeys() {
  const res = await fetch("/v1/demo/keys");
  if (!res.ok) throw new Error(t("settings.demoUnavailable"));
  const keys = await res.json();
  settings.shop = keys.shop_id;
  localStorage.setItem(`smartreply.key.agent.${keys.shop_id}`, keys.agent);
  localStorage.setItem(`smartreply.key.merchant.${keys.shop_id}`, keys.admin);
  return keys;
}

// -- dialogs: one confirm dialog and one form dialog for both consoles (no browser prompt/confirm) --
/** Ask before an action; resolves true only on the confirm button. `ack`: a checkbox that must be ticked. */
export function confirmDialog({ title, body, confirm, danger = false, ack = null, testid = "confirm-dialog" }) {
  return new Promise((resolve) => {
    const box = ack ? h("input", { type: "checkbox", id: "confirm-ack" }) : null;
    const ok = h("button", { value: "ok", class: danger ? "danger" : "primary", "data-testid": "confirm-ok",
      disabled: Boolean(ack) }, confirm || t("common.confirm"));
    if (box) box.addEventListener("change", () => { ok.disabled = !box.checked; });
    const dialog = h("dialog", { "aria-labelledby": "confirm-h", "data-testid": testid },
      h("form", { method: "dialog" }, h("h2", { id: "confirm-h" }, title),
        ...(Array.isArray(body) ? body : [h("p", {}, body)]),
        ack ? h("p", {}, h("label", {}, box, " ", ack)) : null,
        h("div", { class: "actions" }, h("button", { value: "cancel", class: "secondary", formnovalidate: true },
          t("common.cancel")), ok)));
    dialog.addEventListener("close", () => { resolve(dialog.returnValue === "ok"); dialog.remove(); });
    document.body.append(dialog);
    dialog.showModal();
  });
}

/** A small form in a dialog; resolves with the form's values, or null when cancelled. */
export function formDialog({ title, fields, submit, intro = null, testid = "form-dialog", extra = null }) {
  return new Promise((resolve) => {
    const inputs = fields.map((f) => {
      const id = `fd-${f.name}`;
      const input = f.multiline ? h("textarea", { id, name: f.name, rows: 3, required: f.required || false }, f.value || "")
        : h("input", { id, name: f.name, value: f.value || "", required: f.required || false, autocomplete: "off" });
      return [h("label", { for: id }, f.label), input];
    });
    const dialog = h("dialog", { "aria-labelledby": "fd-h", "data-testid": testid },
      h("form", { method: "dialog" }, h("h2", { id: "fd-h" }, title), intro ? h("div", {}, intro) : null,
        h("div", { class: "form-grid" }, ...inputs.flat()), extra,
        h("div", { class: "actions" }, h("button", { value: "cancel", class: "secondary", formnovalidate: true }, t("common.cancel")),
          h("button", { value: "ok", class: "primary", "data-testid": "form-ok" }, submit))));
    dialog.addEventListener("close", () => {
      const values = dialog.returnValue === "ok" ? Object.fromEntries(fields.map((f) => [f.name, dialog.querySelector(`[name=${f.name}]`).value.trim()])) : null;
      if (values && dialog.dataset.choice) values.choice = dialog.dataset.choice;
      resolve(values); dialog.remove();
    });
    document.body.append(dialog);
    dialog.showModal();
    dialog.querySelector("input, textarea")?.focus();
  });
}

/** Pick an FAQ entry by its question (searchable by text or id): `suggested` entries first, each with
 * its note, then the others; `current` (the entry something already belongs to) is shown, not offered.
 * Resolves with the entry id, or null when cancelled. */
export async function pickEntry({ title, intro, entries, suggested = [], current = null, testid = "pick-entry-dialog" }) {
  const list = h("ul", { class: "picker", role: "listbox", "aria-label": t("m.pickEntry") });
  const search = h("input", { type: "search", id: "pick-q", "aria-label": t("m.searchEntries"), placeholder: t("m.searchEntries") });
  let dialog;
  const render = () => {
    const q = search.value.trim().toLowerCase();
    const rest = entries.filter((e) => !suggested.some((x) => x.id === e.id)).map((e) => ({ id: e.id, question: e.question, note: "" }));
    const items = [...suggested, ...rest].filter((e) => !q || `${e.id} ${e.question}`.toLowerCase().includes(q)).slice(0, 40);
    put(list, ...items.map((e) => h("li", {}, h("button", { type: "button", class: "pick", dataset: { entry: e.id },
      disabled: e.id === current, onclick: () => { dialog.dataset.choice = e.id; dialog.close("ok"); } },
    h("strong", {}, e.question), " ", h("span", { class: "muted small" }, e.id),
    e.id === current ? h("span", { class: "pill off" }, t("m.pickCurrent")) : null,
    e.note ? h("span", { class: "pill ok" }, e.note) : null))));
    if (!items.length) list.append(h("li", { class: "muted small" }, t("common.noMatch")));
  };
  search.addEventListener("input", render);
  const chosen = formDialog({ title, submit: t("common.cancel"), testid, fields: [], intro: [intro, search, list] });
  dialog = document.querySelector(`[data-testid=${testid}]`);
  dialog.querySelector("[data-testid=form-ok]").remove();
  render();
  return (await chosen)?.choice || null;
}

/** Download an API file (export, template) with the key: fetch → blob → temporary link. */
export async function download(path, fallbackName) {
  const res = await api(path, { raw: true });
  const disposition = res.headers.get("Content-Disposition") || "";
  const m = disposition.match(/filename="([^"]+)"/);
  const blob = await res.blob();
  const url = URL.createObjectURL(blob);
  const a = h("a", { href: url, download: m ? m[1] : fallbackName });
  document.body.append(a); a.click(); a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

// -- header: language toggle and the settings dialog ----------------------------------------------
/** The settings dialog both consoles share (the agent console also asks for the agent's id). */
function settingsDialog({ agentField }) {
  const field = (id, name, i18n, text, attrs = {}) => [
    h("label", { for: id, "data-i18n": i18n }, text),
    h("input", { id, name, autocomplete: "off", ...attrs })];
  return h("dialog", { id: "settings-dialog", "aria-labelledby": "settings-h" },
    h("form", { method: "dialog" },
      h("h2", { id: "settings-h", "data-i18n": "settings.title" }, "设置"),
      field("s-shop", "shop", "settings.shop", "店铺", { required: true }),
      h("span", { class: "error small", "data-shop-error": true, "aria-live": "polite" }),
      field("s-key", "key", "settings.key", "API 密钥", { type: "password" }),
      agentField ? field("s-agent", "agent", "settings.agent", "客服编号") : null,
      h("p", { class: "muted small", "data-i18n": "settings.note" }, "保存在本浏览器（localStorage），每个工作台、每个店铺分别保存。"),
      h("p", {}, h("button", { type: "button", class: "secondary small", "data-demo-keys": true, hidden: true,
                                "data-i18n": "settings.demoKeys" }, "加载演示密钥")),
      h("div", { class: "actions" },
        h("button", { value: "cancel", class: "secondary", formnovalidate: true, "data-i18n": "common.cancel" }, "取消"),
        h("button", { value: "save", class: "primary", "data-i18n": "common.save" }, "保存"))));
}

export function initChrome(onChange, { agentField = false } = {}) {
  const langBtn = document.getElementById("lang-toggle");
  langBtn.addEventListener("click", () => {
    settings.lang = settings.lang === "zh" ? "en" : "zh";
    applyI18n();
    onChange?.("lang");
  });
  const dialog = settingsDialog({ agentField });
  document.body.append(dialog);
  const form = dialog.querySelector("form");
  const open = () => {
    form.elements.shop.value = settings.shop;
    form.elements.key.value = settings.key;
    if (form.elements.agent) form.elements.agent.value = settings.agent;
    const demo = form.querySelector("[data-demo-keys]");
    if (demo) demo.hidden = !has("/v1/demo/keys");
    dialog.showModal();
    form.elements.shop.focus();
  };
  openSettings = open;
  // Switching the shop shows that shop's saved key for this console.
  form.elements.shop.addEventListener("change", () => { form.elements.key.value = settings.keyFor(form.elements.shop.value.trim()); });
  for (const b of document.querySelectorAll("[data-demo-keys]")) {
    b.addEventListener("click", async () => {
      try {
        await loadDemoKeys();
        if (dialog.open) dialog.close("cancel");
        await checkKey();
        say(t("settings.demoLoaded"));
        onChange?.("settings");
      } catch (err) { say(err.message, "error"); }
    });
  }
  document.getElementById("settings-open").addEventListener("click", open);
  for (const b of document.querySelectorAll("[data-open-settings]")) b.addEventListener("click", open);
  form.addEventListener("submit", (ev) => {
    if (ev.submitter && ev.submitter.value === "cancel") return;
    const shop = form.elements.shop.value.trim();
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(shop)) {
      ev.preventDefault();
      form.elements.shop.setAttribute("aria-invalid", "true");
      form.querySelector("[data-shop-error]").textContent = t("settings.badShop");
      return;
    }
    settings.shop = shop;
    settings.key = form.elements.key.value.trim();
    if (form.elements.agent) settings.agent = form.elements.agent.value.trim() || "agent-1";
    renderShopBadge();
    checkKey().then(() => onChange?.("settings"));
  });
  renderShopBadge();
  applyI18n();
}

export function renderShopBadge() {
  const el = document.getElementById("shop-badge");
  if (el) el.textContent = `${t("settings.shop")}: ${settings.shop}`;
}

/** Split a string by code points (the API's offsets count code points, JS strings UTF-16 units). */
export const codePoints = (s) => Array.from(s);

export function pct(x) { return `${Math.round(x * 100)}%`; }

export function fmtTime(d) {
  const date = d instanceof Date ? d : new Date(d);
  return date.toLocaleString(settings.lang === "zh" ? "zh-CN" : "en-GB",
    { month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" });
}
