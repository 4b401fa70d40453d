// One backtest: a progress bar that moves live (/ws/backtests/<id>/), then the equity and
// drawdown chart from /api/v1/backtests/<id>/equity once the run has completed, and the
// what-if table refreshed while its runs are queued.
import { timeChart } from "./charts.js";
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
  const view = timeChart(box);
  const { chart } = view;
  const equity = view.line({ color: "#1f6feb", title: "equity", pointMarkersVisible: false });
  const drawdown = view.area({
    lineColor: "#cf222e", topColor: "rgba(207,34,46,0.05)", bottomColor: "rgba(207,34,46,0.35)", title: "drawdown %",
    priceFormat: { type: "percent" },
  }, 1);
  equity.setData(curve.t.map((t, i) => ({ time: t, value: Number(curve.equity[i]) })));
  drawdown.setData(curve.t.map((t, i) => ({ time: t, value: 100 * curve.drawdown[i] })));
  view.fit();
  window.tradingopsChart = { chart, equity, drawdown };
  playback(curve.t);
}

// The slider walks the curve's bar times; each position shows the portfolio from /state?at=.
function playback(times) {
  const slider = document.getElementById("playback");
  if (!slider || !times.length) return;
  slider.max = String(times.length - 1);
  slider.value = slider.max;
  slider.disabled = false;
  let timer = null;
  let asked = 0;
  const show = async () => {
    const at = new Date(times[Number(slider.value)] * 1000).toISOString();
    document.getElementById("playback-at").textContent = utc(at);
    const ticket = ++asked;
    const response = await fetch(`/api/v1/backtests/${config.runId}/state?at=${encodeURIComponent(at)}`, { headers: { Accept: "application/json" } });
    if (!response.ok || ticket !== asked) return;
    const state = await response.json();
    const dl = document.getElementById("playback-state");
    dl.replaceChildren(...["equity", "cash", "realized_pnl", "fees_paid", "trades_closed"].map((key) => {
      const div = document.createElement("div");
      const dt = document.createElement("dt");
      const dd = document.createElement("dd");
      dt.textContent = key;
      dd.className = "num";
      dd.textContent = String(state[key]);
      div.append(dt, dd);
      return div;
    }));
    const tbody = document.querySelector("#playback-positions tbody");
    tbody.replaceChildren(...state.positions.map((p) => {
      const tr = document.createElement("tr");
      for (const text of [p.symbol, p.side, p.qty, p.entry_price, p.mark, p.unrealized_pnl]) tr.insertCell(-1).textContent = text;
      return tr;
    }));
    document.getElementById("playback-flat").hidden = state.positions.length > 0;
    slider.dataset.shown = at;
  };
  slider.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(show, 120);
  });
  show();
}

// A what-if's runs are queued on the backtests queue: until they have all finished, ask the API
// every two seconds and reload once they have (the server renders the table).
function watchWhatIfs() {
  const section = document.getElementById("what-if");
  if (!section || section.dataset.whatIfPending !== "true") return;
  const timer = setInterval(async () => {
    const response = await fetch(`/api/v1/backtests/${config.runId}/what-if`, { headers: { Accept: "application/json" } });
    if (!response.ok) return;
    const body = await response.json();
    if (body.results.every((t) => t.finished)) {
      clearInterval(timer);
      location.reload();
    }
  }, 2000);
}

const live = config.wsPath ? connectLive({ path: config.wsPath, handlers: { progress } }) : null;
drawEquity();
watchWhatIfs();
