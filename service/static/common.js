// Shared by both consoles: i18n (zh default, en toggle), settings (shop, key, agent) in localStorage,
// the JSON API client with the Bearer key, API capability detection from /openapi.json, small DOM helpers.
import { DICT } from "./i18n.js";

const LS = { lang: "smartreply.lang", shop: "smartreply.shop", key: "smartreply.key", agent: "smartreply.agent" };

export const settings = {
  get lang() { return localStorage.getItem(LS.lang) || "zh"; },
  set lang(v) { localStorage.setItem(LS.lang, v); },
  get shop() { return localStorage.getItem(LS.shop) || "demo"; },
  set shop(v) { localStorage.setItem(LS.shop, v); },
  get key() { return localStorage.getItem(LS.key) || ""; },
  set key(v) { localStorage.setItem(LS.key, v); },
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
  constructor(status, code, message, details) {
    super(message);
    this.status = status; this.code = code; this.details = details || [];
  }
}

/** Call the JSON API. Throws ApiError with the service's {error: {code, message, details}}. */
export async function api(path, { method = "GET", body, form, raw = false } = {}) {
  const headers = {};
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
  if (res.status === 401 || res.status === 403) showAuthBanner(res.status);
  if (!res.ok) {
    let err = { code: "http_" + res.status, message: res.statusText, details: [] };
    try { const j = await res.json(); if (j && j.error) err = j.error; } catch { /* not JSON */ }
    throw new ApiError(res.status, err.code, err.message, err.details);
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

function showAuthBanner(status) {
  const el = document.getElementById("auth-banner");
  if (!el) return;
  el.hidden = false;
  el.querySelector("[data-msg]").textContent = t(status === 401 ? "auth.needed" : "auth.forbidden");
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
export function initChrome(onChange) {
  const langBtn = document.getElementById("lang-toggle");
  langBtn.addEventListener("click", () => {
    settings.lang = settings.lang === "zh" ? "en" : "zh";
    applyI18n();
    onChange?.("lang");
  });
  const dialog = document.getElementById("settings-dialog");
  const form = dialog.querySelector("form");
  const open = () => {
    form.elements.shop.value = settings.shop;
    form.elements.key.value = settings.key;
    if (form.elements.agent) form.elements.agent.value = settings.agent;
    dialog.showModal();
    form.elements.shop.focus();
  };
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
    document.getElementById("auth-banner").hidden = true;
    renderShopBadge();
    onChange?.("settings");
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
