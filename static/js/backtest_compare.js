// Several completed runs' equity curves on one chart, from /api/v1/backtests/compare.
import { COLORS, timeChart } from "./charts.js";
import { pageConfig } from "./live.js";

const config = pageConfig();

async function draw() {
  const response = await fetch(`/api/v1/backtests/compare?ids=${encodeURIComponent(config.ids)}`, { headers: { Accept: "application/json" } });
  if (!response.ok) return;
  const data = await response.json();
  const view = timeChart(document.getElementById("compare-chart"));
  const { chart } = view;
  const series = data.runs.map((run, i) => {
    const line = view.line({ color: COLORS[i % COLORS.length], title: run.name, pointMarkersVisible: false });
    line.setData(run.equity.t.map((t, k) => ({ time: t, value: Number(run.equity.equity[k]) })));
    return line;
  });
  chart.timeScale().fitContent();
  document.getElementById("compare-legend").textContent = data.runs.map((r, i) => `${r.name}: line ${i + 1}`).join(" · ");
  window.tradingopsChart = { chart, series };
}

draw();
