// SPEC §11 Insights: an organization's recommendations with their evidence (and the call that acts
// on them, behind an in-page confirmation), and the vendor's opportunities and renewals at risk.

import { chartPanel } from "./charts.js";
import { api, el, fmt, freshnessBadge, stateBox } from "./core.js";

const enc = encodeURIComponent;

const SEVERITY = {
  critical: { label: "Critical", mark: "!!" },
  warning: { label: "Warning", mark: "!" },
  info: { label: "Info", mark: "i" },
};

const KINDS = {
  "seats.reclaimable": "Reclaimable seats",
  "credits.run_out": "Credits run out",
  "mau.over_allowance": "Over the monthly allowance",
  "renewal.sizing": "Renewal sizing",
  "hard_limit.denials": "Hard-limit denials",
  "ai.low_adoption": "Low AI adoption",
  overdraft: "Overdraft",
  "renewal.at_risk": "Renewal at risk",
};

// What an opportunity's ``units`` count, per kind.
const UNITS = {
  overdraft: "excess × days",
  "credits.run_out": "credits to add",
  "mau.over_allowance": "extra monthly users",
};

const LABELS = {
  user_ids: "Users",
  last_complete_months: "Last complete months",
  over_months: "Months over the allowance",
  forecast_exhausted_on: "Forecast: runs out on",
  tied_up: "Money tied up",
  per_active_user: "AI actions per active user",
  median_per_active_user: "Median group, per active user",
  threshold_per_active_user: "Threshold, per active user",
};

const LIST_SHOWN = 10; // longer lists show this many, the rest behind a disclosure

function labelOf(key) {
  if (LABELS[key]) return LABELS[key];
  const words = key.replace(/_pct$/, " %").replace(/_/g, " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}

function isMoney(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value) && "amount" in value && "currency" in value;
}

export function money(value) {
  return isMoney(value) ? `${value.amount} ${value.currency}` : "—";
}

// One evidence figure as text (or a node for lists and nested rows).
function scalar(value) {
  if (value === null || value === undefined) return "—";
  if (typeof value === "boolean") return value ? "yes" : "no";
  if (typeof value === "number") return Number.isInteger(value) ? fmt.n(value) : String(value);
  if (typeof value === "string" && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(value)) return fmt.instant(value);
  return String(value);
}

function listOf(values) {
  const item = (v) => el("li", {}, scalar(v));
  if (values.length === 0) return "none";
  if (values.length <= LIST_SHOWN) return el("ul", { class: "evidence-list" }, values.map(item));
  return el(
    "div",
    {},
    el("ul", { class: "evidence-list" }, values.slice(0, LIST_SHOWN).map(item)),
    el(
      "details",
      { class: "more" },
      el("summary", {}, `Show all ${fmt.n(values.length)} (${fmt.n(values.length - LIST_SHOWN)} more)`),
      el("ul", { class: "evidence-list" }, values.slice(LIST_SHOWN).map(item)),
    ),
  );
}

function rowsTable(caption, rows) {
  const keys = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  return el(
    "table",
    { class: "mini" },
    el("caption", { class: "sr-only" }, caption),
    el("thead", {}, el("tr", {}, keys.map((k) => el("th", { scope: "col" }, labelOf(k))))),
    el(
      "tbody",
      {},
      rows.map((r) => el("tr", {}, keys.map((k) => el("td", { class: typeof r[k] === "number" ? "num" : "" }, figure(k, r[k]))))),
    ),
  );
}

function figure(key, value) {
  if (isMoney(value)) return money(value);
  if (Array.isArray(value)) {
    if (value.length && value.every((v) => v !== null && typeof v === "object")) return rowsTable(labelOf(key), value);
    return listOf(value);
  }
  if (value !== null && typeof value === "object") {
    return el("ul", { class: "evidence-list" }, Object.entries(value).map(([k, v]) => el("li", {}, `${labelOf(k)}: `, figure(k, v))));
  }
  return scalar(value);
}

function evidenceTable(item) {
  const entries = Object.entries(item.evidence || {});
  if (!entries.length) return null;
  return el(
    "table",
    { class: "evidence" },
    el("caption", { class: "sr-only" }, `Evidence: ${item.title}`),
    el(
      "tbody",
      {},
      entries.map(([key, value]) =>
        el("tr", { "data-field": key }, el("th", { scope: "row" }, labelOf(key)), el("td", { class: "wrap" }, figure(key, value))),
      ),
    ),
  );
}

// ---------------------------------------------------------------- confirmation

// An in-page modal dialog (keyboard: focus starts on Cancel, Tab stays inside, Escape cancels).
// Resolves true only on Confirm.
export function confirmDialog(host, title, body, confirmLabel) {
  return new Promise((resolve) => {
    const heading = `confirm-title-${Math.random().toString(36).slice(2)}`;
    const cancel = el("button", { type: "button", class: "secondary", value: "cancel" }, "Cancel");
    const confirm = el("button", { type: "button", class: "danger", value: "confirm" }, confirmLabel);
    const dialog = el(
      "dialog",
      { class: "confirm", "aria-labelledby": heading },
      el("h2", { id: heading }, title),
      el("div", { class: "confirm-body" }, body),
      el("div", { class: "bar end" }, cancel, confirm),
    );
    let answered = false;
    const finish = (answer) => {
      if (answered) return;
      answered = true;
      if (dialog.open) dialog.close();
      dialog.remove();
      resolve(answer);
    };
    cancel.addEventListener("click", () => finish(false));
    confirm.addEventListener("click", () => finish(true));
    dialog.addEventListener("cancel", (event) => {
      event.preventDefault();
      finish(false);
    });
    dialog.addEventListener("close", () => finish(false));
    host.append(dialog);
    dialog.showModal();
    cancel.focus();
  });
}

// ---------------------------------------------------------------- actions

// The path of the same DELETE as the action's, for another user id.
function seatPath(action, userId) {
  const [path, query] = action.path.split("?");
  const base = path.slice(0, path.lastIndexOf("/") + 1);
  return `${base}${enc(userId)}${query ? `?${query}` : ""}`;
}

function failureList(failures) {
  return el("ul", { class: "failures" }, failures.map(([who, why]) => el("li", {}, `${who}: ${why}`)));
}

function why(error) {
  return error.status ? `${error.message} (HTTP ${error.status})` : error.message;
}

function releaseAction(item, host) {
  const users = item.evidence.user_ids || [];
  const status = el("p", { class: "msg", role: "status", "aria-live": "polite" });
  const failures = el("div", { class: "msg err", role: "alert" });
  const button = el("button", { type: "button", class: "danger action" }, `Release the ${fmt.n(users.length)} idle ${users.length === 1 ? "seat" : "seats"}`);
  button.addEventListener("click", async () => {
    const yes = await confirmDialog(
      host,
      `Release ${fmt.n(users.length)} ${users.length === 1 ? "seat" : "seats"}?`,
      [
        el("p", {}, "These users have not logged in for 30 days or more. Each loses their seat now (where seats come with logins, a user takes one again at their next login):"),
        listOf(users),
      ],
      "Release",
    );
    if (!yes) return;
    button.disabled = true;
    failures.replaceChildren();
    status.className = "msg";
    const failed = [];
    let released = 0;
    for (const [index, user] of users.entries()) {
      status.textContent = `Releasing ${fmt.n(index + 1)} of ${fmt.n(users.length)}…`;
      try {
        const answer = await api(seatPath(item.action, user), { method: "DELETE" });
        if (answer && answer.released === false) failed.push([user, "held no seat (already released?)"]);
        else released += 1;
      } catch (error) {
        failed.push([user, why(error)]);
      }
    }
    const seats = `${fmt.n(released)} ${released === 1 ? "seat" : "seats"}`;
    if (!failed.length) {
      status.className = "msg ok";
      status.textContent = `Released ${seats}; the insight disappears after the next daily rollup.`;
      button.textContent = "Released";
      return;
    }
    status.className = released ? "msg" : "msg err";
    status.textContent = `Released ${seats} of ${fmt.n(users.length)}; ${fmt.n(failed.length)} not released:`;
    failures.replaceChildren(failureList(failed));
    button.disabled = false;
  });
  return [button, status, failures];
}

function callAction(item, host, label, done) {
  const action = item.action;
  const status = el("p", { class: "msg", role: "status", "aria-live": "polite" });
  const button = el("button", { type: "button", class: "action" }, label);
  button.addEventListener("click", async () => {
    const yes = await confirmDialog(
      host,
      "Do this?",
      [
        el("p", {}, action.summary),
        el("p", { class: "msg" }, el("code", {}, `${action.method} ${action.path}`), action.body ? el("code", {}, ` ${JSON.stringify(action.body)}`) : null),
      ],
      "Confirm",
    );
    if (!yes) return;
    button.disabled = true;
    status.className = "msg";
    status.textContent = "Working…";
    try {
      const answer = await api(action.path, { method: action.method, body: action.body === null || action.body === undefined ? undefined : action.body });
      status.className = "msg ok";
      status.textContent = done(answer);
    } catch (error) {
      status.className = "msg err";
      status.textContent = `Failed: ${why(error)}`;
      button.disabled = false;
    }
  });
  return [button, status];
}

function actionOf(ctx, item, host) {
  const action = item.action;
  if (!action) return null;
  const parts = [el("p", { class: "suggested" }, el("strong", {}, "Suggested: "), action.summary)];
  if (item.kind === "seats.reclaimable") {
    if (ctx.can("release")) parts.push(...releaseAction(item, host));
    else parts.push(el("p", { class: "msg" }, "An organization admin can release these seats."));
  } else if (item.kind === "renewal.sizing") {
    const amount = action.body && action.body.amount;
    if (ctx.role === "vendor_admin") {
      parts.push(...callAction(item, host, `Renew with an amount of ${fmt.n(amount)}`, (next) => `Renewed: plan ${next.plan_id} starts ${fmt.day(next.start)}; the insight disappears after the next daily rollup.`));
    } else {
      parts.push(el("p", { class: "msg" }, `The vendor renews plans: ask them to renew with an amount of ${fmt.n(amount)}.`));
    }
  } else if (ctx.role !== "reporter") {
    parts.push(...callAction(item, host, action.summary, () => "Done; the insight disappears after the next daily rollup."));
  }
  return el("div", { class: "action-box" }, parts);
}

// ---------------------------------------------------------------- the organization's insights

function planLink(ctx, planId) {
  if (!planId) return null;
  const org = ctx.role === "vendor_admin" ? `&org=${enc(ctx.org)}` : "";
  return el("a", { href: `#/usage?plan=${enc(planId)}${org}` }, planId);
}

function insightCard(ctx, item) {
  const severity = SEVERITY[item.severity] || { label: item.severity, mark: "?" };
  const titleId = `insight-${item.id}`;
  const card = el(
    "article",
    { class: `panel insight ${item.severity}`, "data-insight-id": item.id, "data-kind": item.kind, "aria-labelledby": titleId },
    el(
      "div",
      { class: "insight-head" },
      el("span", { class: `severity ${item.severity}` }, el("span", { "aria-hidden": "true", class: "mark" }, severity.mark), ` ${severity.label}`),
      el("span", { class: "kind" }, KINDS[item.kind] || item.kind),
      item.plan_id ? el("span", { class: "plan" }, "Plan ", planLink(ctx, item.plan_id)) : null,
    ),
    el("h2", { id: titleId }, item.title),
    el("p", { class: "detail" }, item.detail),
  );
  const evidence = evidenceTable(item);
  if (evidence) card.append(el("details", { class: "evidence-box", open: true }, el("summary", {}, "Evidence"), el("div", { class: "table-wrap" }, evidence)));
  const action = actionOf(ctx, item, card);
  if (action) card.append(action);
  return card;
}

export async function insightsView(ctx) {
  const answer = await api(`/v1/orgs/${enc(ctx.org)}/insights`);
  const counts = ["critical", "warning", "info"]
    .map((s) => [s, answer.items.filter((i) => i.severity === s).length])
    .filter(([, n]) => n)
    .map(([s, n]) => `${fmt.n(n)} ${SEVERITY[s].label.toLowerCase()}`);
  return [
    el("h1", {}, "Insights"),
    el(
      "div",
      { class: "bar" },
      freshnessBadge(answer.freshness, answer.data_as_of),
      answer.items.length ? el("span", { class: "msg" }, `${fmt.n(answer.items.length)} recommendations: ${counts.join(", ")}`) : null,
    ),
    answer.items.length
      ? el("div", { class: "insights", id: "insights" }, answer.items.map((item) => insightCard(ctx, item)))
      : stateBox("No insights right now: nothing in the latest figures calls for action."),
  ];
}

// ---------------------------------------------------------------- the vendor's opportunities

// A ranked table whose rows can grow (paging by "More"); ranks continue across pages. On a phone
// each row stacks as label: value lines (app.css); the explicit roles keep it a table to a screen
// reader whatever its display.
function rankedTable(id, caption, columns) {
  const body = el("tbody", { role: "rowgroup" });
  const all = [{ label: "#", num: true, value: () => "" }, ...columns];
  let rank = 0;
  const node = el(
    "div",
    { class: "table-wrap" },
    el(
      "table",
      { id, class: "ranked", role: "table" },
      el("caption", { class: "sr-only" }, caption),
      el("thead", { role: "rowgroup" }, el("tr", { role: "row" }, all.map((c) => el("th", { scope: "col", role: "columnheader", class: c.num ? "num" : "" }, c.label)))),
      body,
    ),
  );
  const cell = (c, text, extra = "") => el("td", { role: "cell", "data-label": c.label, class: `${c.num ? "num" : c.wrap ? "wrap" : ""} ${extra}`.trim() }, text);
  const add = (rows) => {
    for (const row of rows) {
      rank += 1;
      body.append(el("tr", { role: "row" }, cell(all[0], String(rank), "rank"), columns.map((c) => cell(c, c.value(row)))));
    }
  };
  return { node, add };
}

function pagedSection(ctx, { id, title, category, limit, first, columns, empty }) {
  const section = el("section", { class: "panel", id: `${id}-panel` }, el("h2", {}, title));
  if (!first.items.length) {
    section.append(stateBox(empty));
    return section;
  }
  const ranked = rankedTable(id, title, columns);
  ranked.add(first.items);
  const status = el("span", { class: "msg", role: "status" });
  let cursor = first.next_cursor;
  const more = el("button", { type: "button", class: "secondary", hidden: !cursor }, "More");
  more.addEventListener("click", async () => {
    more.disabled = true;
    status.className = "msg";
    status.textContent = "Loading more…";
    try {
      const query = new URLSearchParams({ category, limit: String(limit), cursor });
      const page = await api(`/v1/insights?${query}`);
      ranked.add(page.items);
      cursor = page.next_cursor;
      more.hidden = !cursor;
      status.textContent = cursor ? "" : "That is all of them.";
    } catch (error) {
      status.className = "msg err";
      status.textContent = `Could not load more: ${why(error)}`;
    } finally {
      more.disabled = false;
    }
  });
  section.append(ranked.node, el("div", { class: "bar" }, more, status));
  return section;
}

function orgLink(org, view = "insights") {
  return el("a", { href: `#/${view}?org=${enc(org)}` }, org);
}

function opportunityChart(items) {
  const top = items.slice(0, 10);
  const priced = top.filter((o) => o.money);
  const currency = priced.length ? priced[0].money.currency : null;
  const rows = currency ? priced.filter((o) => o.money.currency === currency) : top;
  if (!rows.length) return null;
  const value = (o) => (currency ? Number(o.money.amount) : o.units);
  const name = (o) => `${o.org_id} · ${KINDS[o.kind] || o.kind}`;
  const title = currency ? `Top opportunities by value (${currency})` : "Top opportunities by units";
  return chartPanel(
    title,
    {
      tooltip: { trigger: "axis" },
      legend: { show: false },
      grid: { left: 16, right: 48, top: 16, bottom: 24, containLabel: true },
      xAxis: { type: "value", name: currency || "units" },
      yAxis: { type: "category", inverse: true, data: rows.map(name), axisLabel: { width: window.innerWidth < 600 ? 100 : 200, overflow: "truncate" } },
      series: [{ name: currency || "units", type: "bar", data: rows.map(value), label: { show: true, position: "right" } }],
    },
    {
      columns: [
        { label: "Organization", value: (o) => o.org_id },
        { label: "Kind", value: (o) => o.kind },
        { label: "Units", value: (o) => fmt.n(o.units), num: true },
        { label: "Value", value: (o) => money(o.money), num: true },
      ],
      rows,
    },
  );
}

export async function opportunitiesView(ctx) {
  const limit = Math.min(1000, Math.max(1, Number(ctx.params.limit) || 25));
  const [opportunities, renewals] = await Promise.all([
    api(`/v1/insights?${new URLSearchParams({ category: "opportunity", limit: String(limit) })}`),
    api(`/v1/insights?${new URLSearchParams({ category: "renewal_at_risk", limit: String(limit) })}`),
  ]);
  return [
    el("h1", {}, "Opportunities"),
    el("div", { class: "bar" }, freshnessBadge(opportunities.freshness, opportunities.data_as_of)),
    opportunityChart(opportunities.items),
    pagedSection(ctx, {
      id: "opportunities",
      title: "Expansion opportunities, ranked by money or units",
      category: "opportunity",
      limit,
      first: opportunities,
      empty: "No expansion opportunity right now: no plan is in overdraft, running out of credits or over its allowance.",
      columns: [
        { label: "Organization", value: (o) => orgLink(o.org_id) },
        { label: "Plan", value: (o) => el("a", { href: `#/usage?org=${enc(o.org_id)}&plan=${enc(o.plan_id)}` }, o.plan_id), wrap: true },
        { label: "Kind", value: (o) => KINDS[o.kind] || o.kind },
        { label: "Units", value: (o) => `${fmt.n(o.units)}${UNITS[o.kind] ? ` (${UNITS[o.kind]})` : ""}`, num: true },
        { label: "Value", value: (o) => money(o.money), num: true },
      ],
    }),
    pagedSection(ctx, {
      id: "renewals",
      title: "Renewals at risk (under 40 % used, ending within 90 days)",
      category: "renewal_at_risk",
      limit,
      first: renewals,
      empty: "No renewal at risk: every plan ending within 90 days is used 40 % or more.",
      columns: [
        { label: "Organization", value: (r) => orgLink(r.org_id) },
        { label: "Plan", value: (r) => el("span", {}, `${r.product} · ${r.plan_type} `, el("a", { href: `#/usage?org=${enc(r.org_id)}&plan=${enc(r.plan_id)}` }, r.plan_id)), wrap: true },
        { label: "Ends", value: (r) => fmt.day(r.ends_at) },
        { label: "Days left", value: (r) => fmt.n(r.days_left), num: true },
        { label: "Consumed of amount", value: (r) => `${fmt.n(r.consumed)} of ${fmt.n(r.amount)}`, num: true },
        { label: "Utilization", value: (r) => `${r.utilization_pct} %`, num: true },
        { label: "Value", value: (r) => money(r.value), num: true },
      ],
    }),
  ];
}
