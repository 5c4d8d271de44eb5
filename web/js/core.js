// Sign-in, API calls, formatting and small DOM helpers shared by every view.

const TOKEN_KEY = "license-usage-token";

// The token arrives in the URL fragment (#token=…), which browsers never send to a server; it is
// kept for this tab only and removed from the address bar at once.
export function keepToken(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function takeToken(local = true) {
  const hash = new URLSearchParams(location.hash.replace(/^#/, ""));
  // Only the local stack signs in by link; in production a crafted link must not sign anyone in.
  const fromFragment = local ? hash.get("token") : null;
  if (fromFragment) {
    sessionStorage.setItem(TOKEN_KEY, fromFragment);
    history.replaceState(null, "", location.pathname + location.search + "#/");
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

export function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
  location.hash = "#/";
  location.reload();
}

export function claimsOf(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const claims = JSON.parse(atob(part + "=".repeat((4 - (part.length % 4)) % 4)));
    return {
      role: claims.role || claims["custom:role"] || "",
      org: claims.org_id || claims["custom:org_id"] || "",
      subject: claims.email || claims.sub || "",
      expires: claims.exp ? new Date(claims.exp * 1000) : null,
    };
  } catch {
    return null;
  }
}

export class ApiError extends Error {
  constructor(status, message, details) {
    super(message);
    this.status = status;
    this.details = details || [];
  }
}

// One request per figure set: GETs are cached while the view is open (``clearCache`` on leaving).
const cache = new Map();

export function clearCache() {
  cache.clear();
}

// ``fresh``: read again (a status being polled), and keep the answer out of the cache.
export async function api(path, { method = "GET", body, token, fresh = false } = {}) {
  const key = method === "GET" && !fresh ? path : null;
  if (key && cache.has(key)) return cache.get(key);
  const request = (async () => {
    const response = await fetch(path, {
      method,
      headers: {
        Authorization: `Bearer ${token || sessionStorage.getItem(TOKEN_KEY)}`,
        ...(body === undefined ? {} : { "Content-Type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = null;
    }
    if (!response.ok) {
      const error = (data && data.error) || {};
      throw new ApiError(response.status, error.message || `The API answered ${response.status}.`, error.details);
    }
    return data;
  })();
  if (key) {
    cache.set(key, request);
    request.catch(() => cache.delete(key));
  }
  return request;
}

// ---------------------------------------------------------------- formatting

const integer = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
const decimal = new Intl.NumberFormat("en-US", { maximumFractionDigits: 1 });

export const fmt = {
  n: (value) => (value === null || value === undefined ? "—" : integer.format(value)),
  d1: (value) => (value === null || value === undefined ? "—" : decimal.format(value)),
  pct: (value) => (value === null || value === undefined ? "—" : `${decimal.format(value)} %`),
  day: (value) => (value ? `${String(value).slice(0, 10)}` : "—"),
  instant: (value) => (value ? `${String(value).slice(0, 10)} ${String(value).slice(11, 16)} UTC` : "—"),
};

// ---------------------------------------------------------------- DOM

export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.className = value;
    else if (name.startsWith("on") && typeof value === "function") node.addEventListener(name.slice(2), value);
    else if (value === true) node.setAttribute(name, "");
    else node.setAttribute(name, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function stateBox(text, kind = "") {
  return el("p", { class: `state ${kind}`.trim(), role: kind === "error" ? "alert" : "status" }, text);
}

export function freshnessBadge(freshness, dataAsOf) {
  const label = freshness === "aggregating" ? "aggregating: some figures wait for the nightly rollup" : "current";
  return el(
    "span",
    { class: `badge ${freshness || ""}`, title: "How fresh these figures are" },
    `Data as of ${dataAsOf ? fmt.instant(dataAsOf) : "—"} · ${label}`,
  );
}

export function card(label, value, bad = false) {
  return el("div", { class: "card" }, el("div", { class: "label" }, label), el("div", { class: `value${bad ? " bad" : ""}` }, value));
}

// A table; ``columns``: [{label, value: row => text, num}]
export function table(caption, columns, rows, { empty = "Nothing to show." } = {}) {
  if (!rows.length) return stateBox(empty);
  return el(
    "div",
    { class: "table-wrap" },
    el(
      "table",
      {},
      el("caption", { class: "sr-only" }, caption),
      el("thead", {}, el("tr", {}, columns.map((c) => el("th", { scope: "col", class: c.num ? "num" : "" }, c.label)))),
      el(
        "tbody",
        {},
        rows.map((row) =>
          el("tr", {}, columns.map((c) => el("td", { class: c.num ? "num" : c.wrap ? "wrap" : "" }, c.value(row)))),
        ),
      ),
    ),
  );
}
