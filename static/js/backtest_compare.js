// Several completed runs' equity curves on one chart, from /api/v1/backtests/compare.
import { utc } from "./format.js";
import { pageConfig } from "./live.js";

const COLORS = ["#1f6feb", "#cf222e", "#1a7f37", "#bf8700", "#8250df"];
const config = pageConfig();
const LC = window.LightweightCharts;

async function draw() {
  const response = await fetch(`/api/v1/backtests/compare?ids=${encodeURIComponent(config.ids)}`, { headers: { Accept: "application/json" } });
  if (!response.ok) return;
  const data = await response.json();
  const chart = LC.createChart(document.getElementById("compare-chart"), {
    autoSize: true,
    layout: { attributionLogo: false },
    timeScale: { timeVisible: true },
    localization: { timeFormatter: (t) => utc(t * 1000).slice(0, 16) },
  });
  const series = data.runs.map((run, i) => {
    const line = chart.addSeries(LC.LineSeries, { color: COLORS[i % COLORS.length], lineWidth: 2, title: run.name });
    line.setData(run.equity.t.map((t, k) => ({ time: t, value: Number(run.equity.equity[k]) })));
    return line;
  });
  chart.timeScale().fitContent();
  document.getElementById("compare-legend").textContent = data.runs.map((r, i) => `${r.name}: line ${i + 1}`).join(" · ");
  window.tradingopsChart = { chart, series };
}

draw();
