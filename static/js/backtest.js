// One backtest: a progress bar that moves live (/ws/backtests/<id>/), then the equity and
// drawdown chart from /api/v1/backtests/<id>/equity once the run has completed.
import { utc } from "./format.js";
import { connectLive, pageConfig } from "./live.js";

const config = pageConfig();

function progress(frame) {
  const bar = document.getElementById("bt-progress");
  const total = frame.candles_total || 1;
  bar.max = total;
  bar.value = frame.candles_processed;
  document.getElementById("bt-percent").textContent = `${Math.floor((100 * frame.candles_processed) / total)}%`;
  document.getElementById("bt-count").textContent = `${frame.candles_processed} / ${frame.candles_total}`;
  document.getElementById("bt-status").textContent = frame.status;
  document.dispatchEvent(new CustomEvent("tradingops:rendered", { detail: { progress: frame.candles_processed, at: Date.now() } }));
  if (frame.status !== config.status && ["completed", "failed", "cancelled"].includes(frame.status)) {
    // Finished: the server renders the results (metrics, trades, blocks) with the chart.
    live.stop();
    location.reload();
  }
}

async function drawEquity() {
  const box = document.getElementById("equity-chart");
  if (!box) return;
  const response = await fetch(`/api/v1/backtests/${config.runId}/equity?max_points=1000`, { headers: { Accept: "application/json" } });
  if (!response.ok) return;
  const curve = await response.json();
  const LC = window.LightweightCharts;
  const chart = LC.createChart(box, {
    autoSize: true,
    layout: { attributionLogo: false },
    timeScale: { timeVisible: true },
    localization: { timeFormatter: (t) => utc(t * 1000).slice(0, 16) },
  });
  const equity = chart.addSeries(LC.LineSeries, { color: "#1f6feb", lineWidth: 2, title: "equity" });
  const drawdown = chart.addSeries(LC.AreaSeries, {
    lineColor: "#cf222e", topColor: "rgba(207,34,46,0.05)", bottomColor: "rgba(207,34,46,0.35)", title: "drawdown %",
    priceFormat: { type: "percent" },
  }, 1);
  equity.setData(curve.t.map((t, i) => ({ time: t, value: Number(curve.equity[i]) })));
  drawdown.setData(curve.t.map((t, i) => ({ time: t, value: 100 * curve.drawdown[i] })));
  chart.timeScale().fitContent();
  window.tradingopsChart = { chart, equity, drawdown };
}

const live = config.wsPath ? connectLive({ path: config.wsPath, handlers: { progress } }) : null;
drawEquity();
