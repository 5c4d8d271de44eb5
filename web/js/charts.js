// Charts (Apache ECharts, no animation so that screenshots are stable), each with a text
// alternative: a table a screen reader can read, behind a "Show the figures" disclosure.

import { el, table } from "./core.js";

const live = new Set();

export function disposeCharts() {
  for (const chart of live) chart.dispose();
  live.clear();
}

window.addEventListener("resize", () => {
  for (const chart of live) chart.resize();
});

const PALETTE = ["#1f5fbf", "#e07b00", "#2e9b5a", "#8e44ad", "#c0392b", "#16a3b8", "#7f8c8d"];

export function chartPanel(title, option, alternative, { empty = null } = {}) {
  if (empty) return el("section", { class: "panel" }, el("h2", {}, title), el("p", { class: "state", role: "status" }, empty));
  const box = el("div", { class: "chart", role: "img", "aria-label": `${title} (chart; the figures are in the table below it)` });
  const panel = el(
    "section",
    { class: "panel" },
    el("h2", {}, title),
    box,
    el("details", { class: "alt" }, el("summary", {}, "Show the figures"), table(title, alternative.columns, alternative.rows)),
  );
  requestAnimationFrame(() => {
    if (!window.echarts) {
      box.replaceWith(el("p", { class: "state error" }, "The chart library did not load; the figures are below."));
      return;
    }
    const chart = window.echarts.init(box, null, { renderer: "svg" });
    chart.setOption({
      animation: false,
      color: PALETTE,
      textStyle: { fontFamily: "DejaVu Sans, sans-serif" },
      grid: { left: 48, right: 16, top: 72, bottom: 40, containLabel: true },
      tooltip: { trigger: "axis" },
      legend: { top: 8, type: "scroll" },
      ...option,
    });
    live.add(chart);
  });
  return panel;
}

// A horizontal limit line on a line or bar series.
export function limitLines(lines) {
  return {
    silent: true,
    symbol: "none",
    label: { formatter: "{b}: {c}", position: "insideEndTop" },
    lineStyle: { type: "dashed", width: 2 },
    data: lines.map(([name, value, color]) => ({ name, yAxis: value, lineStyle: { color } })),
  };
}
