// The dashboard's shell: sign-in from the URL fragment, the views a role may see, a hash router.

import { disposeCharts } from "./charts.js";
import { finishSignIn, loadConfig, signIn } from "./cognito.js";
import { api, claimsOf, clearCache, el, keepToken, signOut, stateBox, takeToken } from "./core.js";
import { insightsView, opportunitiesView } from "./insights.js";
import {
  activityView,
  auditView,
  errorBox,
  exportsView,
  notificationsView,
  reportView,
  seatsView,
  usageView,
  usersView,
  vendorView,
} from "./views.js";

// Which roles may open each view: what SPEC §5 lets them call.
const VIEWS = [
  { id: "usage", label: "Usage", roles: ["org_admin", "reporter", "vendor_admin"], org: true, render: usageView },
  { id: "seats", label: "Seat history", roles: ["org_admin", "reporter", "vendor_admin"], org: true, render: seatsView },
  { id: "report", label: "License & AI report", roles: ["org_admin", "reporter", "vendor_admin"], org: true, render: reportView },
  { id: "insights", label: "Insights", roles: ["org_admin", "reporter", "vendor_admin"], org: true, render: insightsView },
  { id: "activity", label: "Activity", roles: ["org_admin", "reporter", "vendor_admin"], org: true, render: activityView },
  { id: "users", label: "Users", roles: ["org_admin", "reporter", "vendor_admin"], org: true, render: usersView },
  { id: "exports", label: "Exports", roles: ["org_admin", "reporter", "vendor_admin"], org: true, render: exportsView },
  { id: "notifications", label: "Notifications", roles: ["org_admin", "vendor_admin"], org: true, render: notificationsView },
  { id: "audit", label: "Audit trail", roles: ["org_admin", "vendor_admin"], org: true, render: auditView },
  { id: "vendor", label: "Vendor", roles: ["vendor_admin"], org: false, render: vendorView },
  { id: "opportunities", label: "Opportunities", roles: ["vendor_admin"], org: false, render: opportunitiesView },
];
const ABILITIES = {
  export: ["org_admin", "reporter", "vendor_admin"],
  release: ["org_admin", "vendor_admin"],
};

const main = document.getElementById("view");
const tabs = document.getElementById("tabs");
let session = null;
let renderToken = 0;

function parseHash() {
  const [path, query] = location.hash.replace(/^#\/?/, "").split("?");
  return { view: path || "", params: Object.fromEntries(new URLSearchParams(query || "")) };
}

function hashFor(view, params) {
  const kept = Object.fromEntries(Object.entries(params).filter(([, v]) => v !== null && v !== undefined && v !== ""));
  const query = new URLSearchParams(kept).toString();
  return `#/${view}${query ? `?${query}` : ""}`;
}

function allowed(view) {
  return view.roles.includes(session.role) && (!view.org || session.org);
}

function drawTabs(current) {
  tabs.replaceChildren(
    ...VIEWS.filter(allowed).map((view) =>
      el(
        "a",
        {
          href: hashFor(view.id, view.org && session.role === "vendor_admin" ? { org: session.org } : {}),
          "aria-current": view.id === current ? "page" : null,
        },
        view.label,
      ),
    ),
  );
}

async function render() {
  const mine = ++renderToken; // a render still waiting for the API must not overwrite this one
  const { view: id, params } = parseHash();
  if (session.role === "vendor_admin" && params.org && params.org !== session.org) {
    session.org = params.org;
    syncOrgPicker();
  }
  const fallback = VIEWS.find(allowed);
  const view = VIEWS.find((v) => v.id === id);
  if (!view || !allowed(view)) {
    if (view && !allowed(view)) {
      drawTabs("");
      main.replaceChildren(stateBox(`The ${session.role} role cannot open the ${view.label} view.`, "error"));
      return;
    }
    location.replace(hashFor(fallback.id, session.org && session.role === "vendor_admin" ? { org: session.org } : {}));
    return;
  }
  drawTabs(view.id);
  disposeCharts();
  clearCache();
  main.replaceChildren(stateBox("Loading…"));
  const ctx = {
    org: session.org,
    role: session.role,
    params,
    can: (ability) => ABILITIES[ability].includes(session.role),
    go: (next, nextParams) => {
      const withOrg = session.role === "vendor_admin" && session.org ? { org: session.org, ...nextParams } : nextParams;
      location.hash = hashFor(next, withOrg);
    },
    refresh: () => render(),
  };
  try {
    const content = await view.render(ctx);
    if (mine !== renderToken) return;
    main.replaceChildren(...content.filter(Boolean));
  } catch (error) {
    if (mine !== renderToken) return;
    main.replaceChildren(el("h1", {}, view.label), errorBox(error));
  }
  document.title = `${view.label} · License & AI Usage`;
}

function syncOrgPicker() {
  const select = document.getElementById("org-select");
  if (session.org && ![...select.options].some((o) => o.value === session.org)) {
    select.append(el("option", { value: session.org }, session.org));
  }
  select.value = session.org || "";
}

async function setUpVendor() {
  const picker = document.getElementById("org-picker");
  const select = document.getElementById("org-select");
  picker.hidden = false;
  select.append(el("option", { value: "" }, "choose…"));
  try {
    const orgs = await api("/v1/orgs?limit=1000");
    for (const org of orgs.items) select.append(el("option", { value: org.org_id }, org.org_id));
  } catch {
    // The vendor view says what failed; the picker stays with what it has.
  }
  syncOrgPicker();
  select.addEventListener("change", () => {
    session.org = select.value;
    const { view } = parseHash();
    location.hash = hashFor(session.org ? (view === "vendor" || !view ? "usage" : view) : "vendor", session.org ? { org: session.org } : {});
  });
}

async function start() {
  const config = await loadConfig();
  if (config.auth === "cognito") {
    const fresh = await finishSignIn(config);
    if (fresh) keepToken(fresh);
  }
  const token = takeToken(config.auth !== "cognito");
  const claims = token ? claimsOf(token) : null;
  if (!claims || !claims.role) {
    tabs.replaceChildren();
    const how =
      config.auth === "cognito"
        ? el("p", {}, el("button", { type: "button", onclick: () => signIn(config) }, "Sign in"))
        : stateBox("Open the sign-in link the local stack printed (…/#token=…), or run: .venv/bin/usage-local dashboard --role org_admin --org <org>");
    main.replaceChildren(el("h1", {}, "Sign in"), how);
    return;
  }
  if (claims.expires && claims.expires < new Date()) {
    main.replaceChildren(el("h1", {}, "Sign in"), stateBox("This sign-in link has expired: ask for a new one.", "error"));
    return;
  }
  session = { ...claims };
  if (session.role === "vendor_admin") session.org = parseHash().params.org || "";
  document.getElementById("who").textContent = `${session.role.replace("_", " ")}${claims.org ? ` · ${claims.org}` : ""}`;
  const out = document.getElementById("sign-out");
  out.hidden = false;
  out.addEventListener("click", signOut);
  if (session.role === "vendor_admin") await setUpVendor();
  window.addEventListener("hashchange", render);
  await render();
}

start();
