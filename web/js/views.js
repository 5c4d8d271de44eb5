// The views of SPEC §10, each fed by the API's own figures.

import { chartPanel, limitLines } from "./charts.js";
import { ApiError, api, card, el, fmt, freshnessBadge, stateBox, table } from "./core.js";

const enc = encodeURIComponent;

// ---------------------------------------------------------------- shared pieces

async function plansOf(org) {
  return (await api(`/v1/orgs/${enc(org)}/plans`)).items;
}

function defaultPlan(plans, wanted, filter = () => true) {
  const usable = plans.filter(filter);
  return (
    usable.find((p) => p.plan_id === wanted) ||
    usable.find((p) => p.status === "current") ||
    usable.find((p) => p.status === "grace") ||
    usable[usable.length - 1]
  );
}

function planLabel(plan) {
  return `${plan.product} · ${plan.type} · ${fmt.day(plan.start)} to ${fmt.day(plan.end)} (${plan.status})`;
}

function planPicker(ctx, plans, chosen, view) {
  const select = el(
    "select",
    {
      id: "plan-select",
      onchange: (event) => ctx.go(view, { ...ctx.params, plan: event.target.value, cursor: null }),
    },
    plans.map((plan) => el("option", { value: plan.plan_id, selected: plan.plan_id === chosen.plan_id }, planLabel(plan))),
  );
  return el("label", {}, "Plan", select);
}

export function errorBox(error) {
  const message = error instanceof ApiError ? `${error.message} (HTTP ${error.status})` : `Something failed: ${error.message}`;
  return stateBox(message, "error");
}

// Start an export, wait until it is ready, then download it through its presigned link.
export function exportButton(ctx, label, body) {
  const status = el("span", { class: "msg", role: "status" });
  const button = el(
    "button",
    {
      type: "button",
      class: "secondary",
      onclick: async () => {
        button.disabled = true;
        status.className = "msg";
        status.textContent = "Preparing the file…";
        try {
          const started = await api(`/v1/orgs/${enc(ctx.org)}/exports`, { method: "POST", body });
          const began = Date.now();
          let answer = started;
          while (answer.status === "pending") {
            if (Date.now() - began > 120000) throw new Error("the export is taking longer than two minutes; see Exports");
            await new Promise((resolve) => setTimeout(resolve, 700));
            answer = await api(`/v1/orgs/${enc(ctx.org)}/exports/${enc(started.export_id)}`, { fresh: true });
            status.textContent = `Preparing the file… ${Math.round((Date.now() - began) / 1000)} s`;
          }
          if (answer.status === "failed") throw new Error(answer.error || "the export failed");
          status.className = "msg ok";
          status.textContent = `Ready: ${fmt.n(answer.row_count)} rows. Downloading ${answer.file_name}.`;
          const link = el("a", { href: answer.url, download: answer.file_name, hidden: true });
          document.body.append(link);
          link.click();
          link.remove();
        } catch (error) {
          status.className = "msg err";
          status.textContent = `Export failed: ${error.message}`;
        } finally {
          button.disabled = false;
        }
      },
    },
    label,
  );
  return el("span", {}, button, " ", status);
}

function exportButtons(ctx, buttons) {
  if (!ctx.can("export")) return null;
  return el("div", { class: "bar" }, buttons.map(([label, body]) => exportButton(ctx, label, body)));
}

// ---------------------------------------------------------------- usage details

export async function usageView(ctx) {
  const plans = await plansOf(ctx.org);
  if (!plans.length) return [el("h1", {}, "Usage"), stateBox("This organization has no plans yet.")];
  const plan = defaultPlan(plans, ctx.params.plan);
  const usage = await api(`/v1/orgs/${enc(ctx.org)}/plans/${enc(plan.plan_id)}/usage`);
  const unit = { seats: "seats", mau: "monthly active users", mauc: "credits" }[usage.type];
  const cards = [
    card("Amount", `${fmt.n(usage.amount)} ${unit}`),
    card(usage.type === "mau" ? "Active this month" : "Consumed", fmt.n(usage.consumed)),
    card("Available", fmt.n(usage.available)),
    card("Utilization", fmt.pct(usage.utilization_pct), usage.utilization_pct > 100),
    card("Overage", fmt.n(usage.overage), usage.overage > 0),
  ];
  if (usage.type !== "mau") cards.push(card("Forecast: runs out", usage.forecast_exhausted_on ? fmt.day(usage.forecast_exhausted_on) : "not before the end"));
  if (usage.type === "seats") {
    cards.push(card("Hard limit (amount + overdraft)", fmt.n(usage.hard_limit)));
    cards.push(card("Inactive assignments (30 days)", fmt.n(usage.inactive_assignments)));
    if (usage.active_pct !== null && usage.active_pct !== undefined) cards.push(card("Active assigned", fmt.pct(usage.active_pct)));
  }
  return [
    el("h1", {}, "Usage details"),
    el("div", { class: "bar" }, planPicker(ctx, plans, plan, "usage"), freshnessBadge(usage.freshness, usage.data_as_of)),
    el("div", { class: "cards", id: "usage-cards" }, cards),
    monthlyChart(usage),
    exportButtons(ctx, [
      ["Export consumption (CSV)", { report: "consumption", plan_id: plan.plan_id }],
      ["Export consumption (XLSX)", { report: "consumption", plan_id: plan.plan_id, format: "xlsx" }],
      ["Export users (CSV)", { report: "users", plan_id: plan.plan_id }],
    ]),
  ];
}

function monthlyChart(usage) {
  const months = usage.months.map((m) => m.month);
  if (usage.type === "mauc") {
    return chartPanel(
      "Credits per month, cumulative use and remaining",
      {
        xAxis: { type: "category", data: months },
        yAxis: { type: "value", name: "credits" },
        series: [
          { name: "Credits used", type: "bar", data: usage.months.map((m) => m.credits_used) },
          { name: "Cumulative used", type: "line", data: usage.months.map((m) => m.cumulative_used), markLine: limitLines([["Amount", usage.amount, "#b3261e"]]) },
          { name: "Remaining", type: "line", data: usage.months.map((m) => m.credits_remaining) },
        ],
      },
      {
        columns: [
          { label: "Month", value: (m) => m.month },
          { label: "Credits used", value: (m) => fmt.n(m.credits_used), num: true },
          { label: "Cumulative", value: (m) => fmt.n(m.cumulative_used), num: true },
          { label: "Remaining", value: (m) => fmt.n(m.credits_remaining), num: true },
          { label: "Overage", value: (m) => fmt.n(m.overage), num: true },
        ],
        rows: usage.months,
      },
    );
  }
  if (usage.type === "mau") {
    return chartPanel(
      "Monthly active users against the allowance",
      {
        xAxis: { type: "category", data: months },
        yAxis: { type: "value", name: "users" },
        series: [
          { name: "Active users", type: "bar", data: usage.months.map((m) => m.active_users), markLine: limitLines([["Allowance", usage.amount, "#b3261e"]]) },
          { name: "Overage", type: "bar", data: usage.months.map((m) => m.overage) },
        ],
      },
      {
        columns: [
          { label: "Month", value: (m) => m.month },
          { label: "Active users", value: (m) => fmt.n(m.active_users), num: true },
          { label: "Allowance", value: (m) => fmt.n(m.allowance), num: true },
          { label: "Overage", value: (m) => fmt.n(m.overage), num: true },
        ],
        rows: usage.months,
      },
    );
  }
  return chartPanel(
    "Seats in use per month against the limits",
    {
      xAxis: { type: "category", data: months },
      yAxis: { type: "value", name: "seats" },
      series: [
        {
          name: "Peak seats in use",
          type: "bar",
          data: usage.months.map((m) => m.peak_seats_in_use),
          markLine: limitLines([
            ["Seat limit", usage.amount, "#e07b00"],
            ["Hard limit", usage.hard_limit, "#b3261e"],
          ]),
        },
        { name: "Seats in use at month end", type: "line", data: usage.months.map((m) => m.seats_in_use_end) },
      ],
    },
    {
      columns: [
        { label: "Month", value: (m) => m.month },
        { label: "Taken", value: (m) => fmt.n(m.seats_taken), num: true },
        { label: "Released", value: (m) => fmt.n(m.seats_released), num: true },
        { label: "In use at end", value: (m) => fmt.n(m.seats_in_use_end), num: true },
        { label: "Peak", value: (m) => fmt.n(m.peak_seats_in_use), num: true },
        { label: "Overage", value: (m) => fmt.n(m.overage), num: true },
      ],
      rows: usage.months,
    },
  );
}

// ---------------------------------------------------------------- seat history

export async function seatsView(ctx) {
  const plans = (await plansOf(ctx.org)).filter((p) => p.type === "seats");
  if (!plans.length) return [el("h1", {}, "Seat history"), stateBox("This organization has no seats plan.")];
  const plan = defaultPlan(plans, ctx.params.plan);
  const days = Math.min(90, Math.max(1, Number(ctx.params.days) || 30));
  const [history, usage] = await Promise.all([
    api(`/v1/orgs/${enc(ctx.org)}/plans/${enc(plan.plan_id)}/seat-history?days=${days}`),
    api(`/v1/orgs/${enc(ctx.org)}/plans/${enc(plan.plan_id)}/usage`),
  ]);
  const rows = history.items;
  const daysSelect = el(
    "select",
    { id: "days-select", onchange: (event) => ctx.go("seats", { ...ctx.params, days: event.target.value }) },
    [7, 30, 60, 90].map((n) => el("option", { value: n, selected: n === days }, `last ${n} days`)),
  );
  const content = [
    el("h1", {}, "Seat history"),
    el("div", { class: "bar" }, planPicker(ctx, plans, plan, "seats"), el("label", {}, "Period", daysSelect), freshnessBadge(usage.freshness, usage.data_as_of)),
  ];
  if (!rows.length) return [...content, stateBox("No day of this plan falls in the period.")];
  const limit = rows[0].seat_limit;
  const hard = rows[0].hard_limit;
  content.push(
    chartPanel(
      `Seats in use per day (lowest to highest), last ${days} days`,
      {
        tooltip: { trigger: "axis" },
        xAxis: { type: "category", data: rows.map((r) => r.date) },
        yAxis: { type: "value", name: "seats", max: (v) => Math.max(v.max, hard) + 1 },
        series: [
          { name: "Lowest", type: "line", stack: "band", data: rows.map((r) => r.min), lineStyle: { width: 1 }, symbol: "none" },
          {
            name: "Range (lowest to highest)",
            type: "line",
            stack: "band",
            data: rows.map((r) => r.max - r.min),
            areaStyle: { opacity: 0.35 },
            lineStyle: { width: 0 },
            symbol: "none",
            markLine: limitLines([
              ["Seat limit", limit, "#e07b00"],
              ["Hard (overdraft) limit", hard, "#b3261e"],
            ]),
          },
          { name: "Highest", type: "line", data: rows.map((r) => r.max), symbol: "none", lineStyle: { width: 2 } },
        ],
      },
      {
        columns: [
          { label: "Date", value: (r) => r.date },
          { label: "Lowest", value: (r) => fmt.n(r.min), num: true },
          { label: "Highest", value: (r) => fmt.n(r.max), num: true },
          { label: "Seat limit", value: (r) => fmt.n(r.seat_limit), num: true },
          { label: "Hard limit", value: (r) => fmt.n(r.hard_limit), num: true },
        ],
        rows,
      },
    ),
  );
  return content;
}

// ---------------------------------------------------------------- License & AI Usage report

const TIMEFRAMES = ["this_month", "last_month", "this_quarter", "last_quarter", "this_year", "last_year", "last_30_days", "custom"];

export async function reportView(ctx) {
  const timeframe = TIMEFRAMES.includes(ctx.params.timeframe) ? ctx.params.timeframe : "last_30_days";
  const from = ctx.params.from || "";
  const to = ctx.params.to || "";
  const query = new URLSearchParams({ timeframe, ...(timeframe === "custom" ? { from, to } : {}) });
  const picker = el(
    "form",
    {
      class: "inline",
      onsubmit: (event) => {
        event.preventDefault();
        const data = new FormData(event.target);
        ctx.go("report", { timeframe: data.get("timeframe"), from: data.get("from"), to: data.get("to") });
      },
    },
    el("label", {}, "Timeframe", el("select", { name: "timeframe", id: "timeframe-select" }, TIMEFRAMES.map((t) => el("option", { value: t, selected: t === timeframe }, t.replace(/_/g, " "))))),
    el("label", {}, "From (custom)", el("input", { type: "date", name: "from", value: from })),
    el("label", {}, "To (custom)", el("input", { type: "date", name: "to", value: to })),
    el("button", { type: "submit" }, "Show"),
  );
  const head = [el("h1", {}, "License & AI Usage report"), picker];
  if (timeframe === "custom" && !(from && to)) return [...head, stateBox("Choose the first and last day of the custom timeframe.")];
  const report = await api(`/v1/orgs/${enc(ctx.org)}/reports/license-ai-usage?${query}`);
  const ai = report.ai_actions;
  const weeks = ai.weekly.map((w) => w.week_start);
  const activity = report.user_activity;
  const roles = Object.entries(report.roles_distribution).sort((a, b) => b[1] - a[1]);
  return [
    ...head,
    el("div", { class: "bar" }, el("span", {}, `${report.timeframe.from} to ${report.timeframe.to} (UTC)`), freshnessBadge(report.freshness, report.data_as_of)),
    el(
      "div",
      { class: "cards" },
      card("Users added", fmt.n(activity.totals.added)),
      card("Invited", fmt.n(activity.totals.invited)),
      card("Deactivated", fmt.n(activity.totals.deactivated)),
      card("Active users", fmt.n(activity.totals.active_users)),
      card("Sessions", fmt.n(activity.totals.sessions)),
      card("AI actions", fmt.n(ai.total)),
    ),
    el("section", { class: "panel" }, el("h2", {}, "License usage"),
      table(
        "License usage per plan",
        [
          { label: "Plan", value: (p) => `${p.product} · ${p.type}` },
          { label: "Amount", value: (p) => fmt.n(p.amount), num: true },
          { label: "Consumed", value: (p) => fmt.n(p.consumed), num: true },
          { label: "Available", value: (p) => fmt.n(p.available), num: true },
          { label: "Utilization", value: (p) => fmt.pct(p.utilization_pct), num: true },
          { label: "Overage", value: (p) => fmt.n(p.overage), num: true },
          { label: "Peak", value: (p) => fmt.n(p.peak), num: true },
          { label: "Monthly average", value: (p) => fmt.d1(p.monthly_average), num: true },
        ],
        report.license_usage.plans,
        { empty: "No plan overlaps this timeframe." },
      ),
    ),
    el(
      "div",
      { class: "grid2" },
      chartPanel(
        "AI actions per week, by type",
        {
          xAxis: { type: "category", data: weeks },
          yAxis: { type: "value", name: "actions" },
          series: [
            { name: "Quality", type: "bar", stack: "ai", data: ai.weekly.map((w) => w.quality_check) },
            { name: "Alignment", type: "bar", stack: "ai", data: ai.weekly.map((w) => w.suggest_alignment) },
            { name: "Goals", type: "bar", stack: "ai", data: ai.weekly.map((w) => w.suggest_goal) },
          ],
        },
        {
          columns: [
            { label: "Week of", value: (w) => w.week_start },
            { label: "Quality checks", value: (w) => fmt.n(w.quality_check), num: true },
            { label: "Alignment", value: (w) => fmt.n(w.suggest_alignment), num: true },
            { label: "Goal suggestions", value: (w) => fmt.n(w.suggest_goal), num: true },
            { label: "Total", value: (w) => fmt.n(w.total), num: true },
          ],
          rows: ai.weekly,
        },
        { empty: ai.total ? null : "No AI actions in this timeframe." },
      ),
      chartPanel(
        "AI actions by type",
        {
          tooltip: { trigger: "item" },
          series: [
            {
              name: "AI actions",
              type: "pie",
              radius: ["40%", "68%"],
              label: { formatter: "{b}: {c}" },
              data: [
                { name: "Quality", value: ai.by_type.quality_check },
                { name: "Alignment", value: ai.by_type.suggest_alignment },
                { name: "Goals", value: ai.by_type.suggest_goal },
              ],
            },
          ],
        },
        {
          columns: [
            { label: "Type", value: (r) => r[0] },
            { label: "Actions", value: (r) => fmt.n(r[1]), num: true },
          ],
          rows: [
            ["Quality checks", ai.by_type.quality_check],
            ["Alignment suggestions", ai.by_type.suggest_alignment],
            ["Goal suggestions", ai.by_type.suggest_goal],
          ],
        },
        { empty: ai.total ? null : "No AI actions in this timeframe." },
      ),
      chartPanel(
        "User activity per week",
        {
          xAxis: { type: "category", data: activity.weekly.map((w) => w.week_start) },
          yAxis: { type: "value", name: "users" },
          series: ["added", "invited", "deactivated", "deleted"].map((k) => ({ name: k, type: "bar", data: activity.weekly.map((w) => w[k]) })),
        },
        {
          columns: [
            { label: "Week of", value: (w) => w.week_start },
            ...["added", "invited", "deactivated", "deleted", "active_users"].map((k) => ({ label: k.replace("_", " "), value: (w) => fmt.n(w[k]), num: true })),
          ],
          rows: activity.weekly,
        },
        { empty: activity.weekly.some((w) => w.added + w.invited + w.deactivated + w.deleted) ? null : "No user was added, invited, deactivated or deleted in this timeframe." },
      ),
      chartPanel(
        "Roles of active users at the end of the timeframe",
        {
          tooltip: { trigger: "axis" },
          xAxis: { type: "value", name: "users" },
          yAxis: { type: "category", data: roles.map((r) => r[0]) },
          series: [{ name: "Users", type: "bar", data: roles.map((r) => r[1]) }],
        },
        {
          columns: [
            { label: "Role", value: (r) => r[0] },
            { label: "Users", value: (r) => fmt.n(r[1]), num: true },
          ],
          rows: roles,
        },
        { empty: roles.length ? null : "No active user holds a role at the end of this timeframe." },
      ),
    ),
    el("section", { class: "panel" }, el("h2", {}, "Consumption by group"),
      table(
        "Consumption by group",
        [
          { label: "Group", value: (g) => g.group },
          { label: "Active users", value: (g) => fmt.n(g.active_users), num: true },
          { label: "AI actions", value: (g) => fmt.n(g.ai_actions), num: true },
        ],
        report.consumption_by_group,
        { empty: "No group was active in this timeframe." },
      ),
    ),
    exportButtons(ctx, [
      ["Export report (CSV)", { report: "license_ai_usage", timeframe, ...(timeframe === "custom" ? { from, to } : {}) }],
      ["Export report (XLSX)", { report: "license_ai_usage", timeframe, format: "xlsx", ...(timeframe === "custom" ? { from, to } : {}) }],
    ]),
  ];
}

// ---------------------------------------------------------------- activity log

const ACTIVITY_TYPES = ["user.login", "seat.claimed", "seat.released", "seat.denied", "user.deactivated", "license.refresh", "feature.used"];

function pager(ctx, view, nextCursor) {
  const stack = (ctx.params.back || "").split(",").filter(Boolean);
  const previous = stack.length ? stack[stack.length - 1] : null;
  return el(
    "div",
    { class: "bar" },
    el("button", { type: "button", class: "secondary", disabled: !ctx.params.cursor, onclick: () => ctx.go(view, { ...ctx.params, cursor: previous === "-" ? null : previous, back: stack.slice(0, -1).join(",") }) }, "Previous page"),
    el("button", { type: "button", class: "secondary", disabled: !nextCursor, onclick: () => ctx.go(view, { ...ctx.params, cursor: nextCursor, back: [...stack, ctx.params.cursor || "-"].join(",") }) }, "Next page"),
  );
}

export async function activityView(ctx) {
  const plans = await plansOf(ctx.org);
  if (!plans.length) return [el("h1", {}, "Activity log"), stateBox("This organization has no plans yet.")];
  const plan = defaultPlan(plans, ctx.params.plan);
  const query = new URLSearchParams({ limit: "50" });
  if (ctx.params.type) query.set("type", ctx.params.type);
  if (ctx.params.from) query.set("from", ctx.params.from);
  if (ctx.params.to) query.set("to", ctx.params.to);
  if (ctx.params.cursor) query.set("cursor", ctx.params.cursor);
  const page = await api(`/v1/orgs/${enc(ctx.org)}/plans/${enc(plan.plan_id)}/activity?${query}`);
  const filters = el(
    "form",
    {
      class: "inline",
      onsubmit: (event) => {
        event.preventDefault();
        const data = new FormData(event.target);
        ctx.go("activity", { plan: plan.plan_id, type: data.get("type"), from: data.get("from"), to: data.get("to") });
      },
    },
    el("label", {}, "Type", el("select", { name: "type", id: "type-select" }, el("option", { value: "" }, "every type"), ACTIVITY_TYPES.map((t) => el("option", { value: t, selected: t === ctx.params.type }, t)))),
    el("label", {}, "From", el("input", { type: "date", name: "from", value: ctx.params.from || "" })),
    el("label", {}, "To", el("input", { type: "date", name: "to", value: ctx.params.to || "" })),
    el("button", { type: "submit" }, "Filter"),
  );
  return [
    el("h1", {}, "Activity log"),
    el("div", { class: "bar" }, planPicker(ctx, plans, plan, "activity")),
    filters,
    table(
      "Entitlement activity, newest first",
      [
        { label: "Time (UTC)", value: (i) => fmt.instant(i.timestamp) },
        { label: "Type", value: (i) => i.type },
        { label: "User", value: (i) => i.user_id || "—", wrap: true },
        { label: "IP", value: (i) => i.ip || "—" },
        { label: "Instance", value: (i) => i.instance_id || "—", wrap: true },
        { label: "Details", value: (i) => Object.entries(i.details || {}).map(([k, v]) => `${k}: ${typeof v === "object" ? JSON.stringify(v) : v}`).join(", "), wrap: true },
      ],
      page.items,
      { empty: "No activity matches these filters." },
    ),
    pager(ctx, "activity", page.next_cursor),
    exportButtons(ctx, [["Export activity (CSV)", { report: "activity", plan_id: plan.plan_id }]]),
  ];
}

// ---------------------------------------------------------------- users

export async function usersView(ctx) {
  const plans = await plansOf(ctx.org);
  if (!plans.length) return [el("h1", {}, "Users"), stateBox("This organization has no plans yet.")];
  const plan = defaultPlan(plans, ctx.params.plan);
  const query = new URLSearchParams({ limit: "50", ...(ctx.params.cursor ? { cursor: ctx.params.cursor } : {}) });
  const page = await api(`/v1/orgs/${enc(ctx.org)}/plans/${enc(plan.plan_id)}/users?${query}`);
  const months = page.items.length ? Object.keys(page.items[0].months) : [];
  const thisMonth = new Date().toISOString().slice(0, 7);
  const canRelease = ctx.can("release") && plan.type === "seats" && plan.status === "current";
  const message = ctx.params.released
    ? el("p", { class: "msg ok", role: "status" }, `Released the seat of ${ctx.params.released}.`)
    : el("p", { class: "msg", role: "status" });
  const columns = [
    { label: "User", value: (u) => u.user_id, wrap: true },
    { label: "Status", value: (u) => u.status || "—" },
    { label: "Roles", value: (u) => u.roles.join(", ") || "—" },
    { label: "Group", value: (u) => u.group || "—" },
    { label: "First login", value: (u) => fmt.instant(u.first_login) },
    { label: "Last login", value: (u) => fmt.instant(u.last_login) },
    { label: "Months consumed", value: (u) => `${months.filter((m) => u.months[m]).length} of ${months.length}`, num: true },
    { label: plan.type === "seats" ? "Seat this month" : "Consumed this month", value: (u) => (u.months[thisMonth] ? "yes" : "no") },
  ];
  if (canRelease) {
    columns.push({
      label: "Seat",
      value: (u) =>
        u.seat_reason
          ? el(
              "button",
              {
                type: "button",
                class: "danger",
                "aria-label": `Release the seat of ${u.user_id}`,
                onclick: async (event) => {
                  if (!confirm(`Release the seat of ${u.user_id}?`)) return;
                  event.target.disabled = true;
                  try {
                    await api(`/v1/orgs/${enc(ctx.org)}/seats/${enc(u.user_id)}?product=${enc(plan.product)}`, { method: "DELETE" });
                    ctx.go("users", { ...ctx.params, released: u.user_id });
                  } catch (error) {
                    message.className = "msg err";
                    message.textContent = `Not released: ${error.message}`;
                    event.target.disabled = false;
                  }
                },
              },
              "Release",
            )
          : "—",
    });
  }
  return [
    el("h1", {}, "Users"),
    el("div", { class: "bar" }, planPicker(ctx, plans, plan, "users")),
    message,
    table("Per-user consumption", columns, page.items, { empty: "No user has consumed from this plan yet." }),
    pager(ctx, "users", page.next_cursor),
    exportButtons(ctx, [["Export users (CSV)", { report: "users", plan_id: plan.plan_id }]]),
  ];
}

// ---------------------------------------------------------------- notifications, audit, exports

export async function notificationsView(ctx) {
  const page = await api(`/v1/orgs/${enc(ctx.org)}/notifications?limit=100`);
  return [
    el("h1", {}, "Notifications"),
    page.items.length
      ? el(
          "div",
          {},
          page.items.map((n) =>
            el(
              "article",
              { class: "panel notice" },
              el("h3", {}, n.subject),
              el("div", { class: "msg" }, `${n.kind}${n.threshold !== null ? ` · ${n.threshold}` : ""} · ${fmt.instant(n.created_at)}`),
              el("pre", {}, n.message),
            ),
          ),
        )
      : stateBox("No notifications yet: they appear when a plan nears its end or usage crosses a line."),
  ];
}

export async function auditView(ctx) {
  const query = new URLSearchParams({ limit: "50", ...(ctx.params.cursor ? { cursor: ctx.params.cursor } : {}) });
  const page = await api(`/v1/orgs/${enc(ctx.org)}/audit?${query}`);
  return [
    el("h1", {}, "Audit trail"),
    table(
      "Changes made through the API, newest first",
      [
        { label: "When (UTC)", value: (e) => fmt.instant(e.at) },
        { label: "Who", value: (e) => `${e.actor} (${e.actor_role})`, wrap: true },
        { label: "Action", value: (e) => e.action },
        { label: "Target", value: (e) => e.target, wrap: true },
        { label: "Change", value: (e) => `${e.before ? JSON.stringify(e.before) : "—"} → ${e.after ? JSON.stringify(e.after) : "—"}`, wrap: true },
      ],
      page.items,
      { empty: "Nothing was changed through the API yet." },
    ),
    pager(ctx, "audit", page.next_cursor),
    exportButtons(ctx, [["Export audit (CSV)", { report: "audit", timeframe: "this_year" }]]),
  ];
}

export async function exportsView(ctx) {
  const page = await api(`/v1/orgs/${enc(ctx.org)}/exports?limit=50`);
  const open = async (item, status) => {
    try {
      const fresh = await api(`/v1/orgs/${enc(ctx.org)}/exports/${enc(item.export_id)}`, { fresh: true });
      if (fresh.url) location.assign(fresh.url);
      else status.textContent = fresh.error || `It is ${fresh.status}.`;
    } catch (error) {
      status.textContent = error.message;
    }
  };
  return [
    el("h1", {}, "Exports"),
    table(
      "The organization's exports, newest first",
      [
        { label: "Started (UTC)", value: (x) => fmt.instant(x.created_at) },
        { label: "Report", value: (x) => `${x.report} (${x.format})` },
        { label: "Period", value: (x) => (x.plan_id ? x.plan_id : `${x.timeframe || ""} ${x.from || ""} ${x.to || ""}`.trim()) },
        { label: "Status", value: (x) => x.status },
        { label: "Rows", value: (x) => fmt.n(x.row_count), num: true },
        {
          label: "File",
          value: (x) => {
            if (x.status !== "ready") return x.error || "—";
            const status = el("span", { class: "msg" });
            return el("span", {}, el("button", { type: "button", class: "secondary", onclick: () => open(x, status) }, "Download"), status);
          },
        },
      ],
      page.items,
      { empty: "No exports yet: use an export button on the usage, users or report views." },
    ),
  ];
}

// ---------------------------------------------------------------- vendor

export async function vendorView(ctx) {
  const [overdrafts, orgs] = await Promise.all([api("/v1/overdrafts?limit=1000"), api("/v1/orgs?limit=1000")]);
  const ranked = [...overdrafts.items].sort((a, b) => b.overage - a.overage);
  const message = el("p", { class: "msg", role: "status" });
  const today = new Date().toISOString().slice(0, 10);
  const form = el(
    "form",
    {
      class: "inline",
      id: "plan-form",
      onsubmit: async (event) => {
        event.preventDefault();
        const data = new FormData(event.target);
        const body = {
          type: data.get("type"),
          product: data.get("product"),
          amount: Number(data.get("amount")),
          start: `${data.get("start")}T00:00:00Z`,
          overdraft: Number(data.get("overdraft") || 0),
          enforcement: data.get("enforcement"),
        };
        try {
          const plan = await api(`/v1/orgs/${enc(data.get("org"))}/plans`, { method: "POST", body });
          message.className = "msg ok";
          message.textContent = `Created plan ${plan.plan_id} for ${plan.org_id}.`;
          ctx.refresh();
        } catch (error) {
          message.className = "msg err";
          message.textContent = `Not created: ${error.message}`;
        }
      },
    },
    el("label", {}, "Organization", el("input", { name: "org", required: true, pattern: "[A-Za-z0-9._-]{1,64}", value: ctx.org || "" })),
    el("label", {}, "Type", el("select", { name: "type" }, ["seats", "mau", "mauc"].map((t) => el("option", { value: t }, t)))),
    el("label", {}, "Product", el("input", { name: "product", required: true, value: "learn", pattern: "[A-Za-z0-9._-]{1,64}" })),
    el("label", {}, "Amount", el("input", { name: "amount", type: "number", min: 1, required: true, value: 100 })),
    el("label", {}, "Start", el("input", { name: "start", type: "date", required: true, value: today })),
    el("label", {}, "Overdraft", el("input", { name: "overdraft", type: "number", min: 0, value: 0 })),
    el("label", {}, "Enforcement", el("select", { name: "enforcement" }, ["soft", "hard"].map((t) => el("option", { value: t }, t)))),
    el("button", { type: "submit" }, "Create plan"),
  );
  const renew = async (org, plan) => {
    if (!confirm(`Renew ${org}'s ${plan.product} ${plan.type} plan from ${fmt.day(plan.end)}?`)) return;
    try {
      const next = await api(`/v1/orgs/${enc(org)}/plans/${enc(plan.plan_id)}/renewal`, { method: "POST", body: {} });
      message.className = "msg ok";
      message.textContent = `Renewed: plan ${next.plan_id} starts ${fmt.day(next.start)}.`;
      ctx.refresh();
    } catch (error) {
      message.className = "msg err";
      message.textContent = `Not renewed: ${error.message}`;
    }
  };
  return [
    el("h1", {}, "Vendor"),
    message,
    chartPanel(
      "Organizations in overdraft, ranked by overage",
      {
        tooltip: { trigger: "axis" },
        grid: { left: 16, right: 24, top: 40, bottom: 24, containLabel: true },
        xAxis: { type: "value", name: "overage" },
        yAxis: { type: "category", inverse: true, data: ranked.map((o) => `${o.org_id} · ${o.product} ${o.type}`) },
        series: [{ name: "Overage", type: "bar", data: ranked.map((o) => o.overage), label: { show: true, position: "right" } }],
      },
      {
        columns: [
          { label: "Organization", value: (o) => o.org_id },
          { label: "Plan", value: (o) => `${o.product} · ${o.type}` },
          { label: "Amount", value: (o) => fmt.n(o.amount), num: true },
          { label: "Consumed", value: (o) => fmt.n(o.consumed), num: true },
          { label: "Overage", value: (o) => fmt.n(o.overage), num: true },
          { label: "Utilization", value: (o) => fmt.pct(o.utilization_pct), num: true },
        ],
        rows: ranked,
      },
    ),
    el("section", { class: "panel" }, el("h2", {}, "Overdrafts"),
      table(
        "Every current plan using more than its amount",
        [
          { label: "Organization", value: (o) => o.org_id },
          { label: "Plan", value: (o) => `${o.product} · ${o.type}` },
          { label: "Amount", value: (o) => fmt.n(o.amount), num: true },
          { label: "Consumed", value: (o) => fmt.n(o.consumed), num: true },
          { label: "Overage", value: (o) => fmt.n(o.overage), num: true },
          { label: "Utilization", value: (o) => fmt.pct(o.utilization_pct), num: true },
        ],
        ranked,
        { empty: "No organization uses more than its plans allow." },
      ),
    ),
    el("section", { class: "panel" }, el("h2", {}, "Organizations"),
      table(
        "Organizations and their current plans",
        [
          { label: "Organization", value: (o) => el("a", { href: `#/usage?org=${enc(o.org_id)}` }, o.org_id) },
          { label: "Since", value: (o) => fmt.day(o.created_at) },
          { label: "Current plans", value: (o) => (o.current_plans.length ? o.current_plans.map((p) => `${p.product} ${p.type} (${fmt.n(p.amount)}, ends ${fmt.day(p.end)})`).join("; ") : "none"), wrap: true },
          {
            label: "Renew",
            value: (o) =>
              o.current_plans.length
                ? el("span", {}, o.current_plans.map((p) => el("button", { type: "button", class: "secondary", onclick: () => renew(o.org_id, p), "aria-label": `Renew ${o.org_id} ${p.product} ${p.type}` }, `Renew ${p.product} ${p.type}`)))
                : "—",
          },
        ],
        orgs.items,
        { empty: "No organizations yet." },
      ),
    ),
    el("section", { class: "panel" }, el("h2", {}, "Create a plan"), form),
  ];
}
