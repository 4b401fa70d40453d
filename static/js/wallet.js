// One wallet: drift charts per currency (lightweight-charts), redrawn when a reconciliation ends.
import { timeChart } from "./charts.js";
import { connectLive, pageConfig } from "./live.js";
import { showDriftBanner } from "./drift.js";

const config = pageConfig();
const walletId = Number(config.walletId);
const charts = new Map();

function points(records) {
  // One point per second (the chart's time unit); the later record of a second wins.
  const bySecond = new Map();
  for (const r of records) bySecond.set(Math.floor(new Date(r.ts).getTime() / 1000), r);
  return [...bySecond.entries()].sort((a, b) => a[0] - b[0]);
}

function draw(series) {
  const container = document.getElementById("drift-charts");
  for (const [currency, records] of Object.entries(series)) {
    let entry = charts.get(currency);
    if (!entry) {
      let box = container.querySelector(`.chart[data-currency="${currency}"]`);
      if (!box) {
        const figure = document.createElement("figure");
        figure.className = "chart-box";
        figure.innerHTML = "<figcaption></figcaption><div class='chart' role='img'></div>";
        figure.querySelector("figcaption").textContent = currency;
        box = figure.querySelector(".chart");
        box.dataset.currency = currency;
        box.setAttribute("aria-label", `Drift of ${currency} over time`);
        container.append(figure);
      }
      const view = timeChart(box, { decimals: 8, seconds: true, height: 220 });
      const line = view.line();
      entry = { chart: view.chart, line, view };
      charts.set(currency, entry);
    }
    const data = points(records);
    entry.line.setData(data.map(([time, r]) => ({ time, value: Number(r.drift), color: r.breach ? "#b42318" : "#1f6feb" })));
    entry.view.markers(entry.line, data.filter(([, r]) => r.breach)
      .map(([time]) => ({ time, position: "aboveBar", shape: "circle", color: "#b42318", text: "breach" })));
    entry.chart.timeScale().fitContent();
  }
  container.parentElement.querySelector(".empty").hidden = Object.keys(series).length > 0;
}

async function refresh() {
  const response = await fetch(`/api/v1/wallets/${walletId}/drift?limit=1000`, { headers: { Accept: "application/json" } });
  if (!response.ok) return;
  const page = await response.json();
  const series = {};
  for (const r of page.results.reverse()) {
    (series[r.currency] ||= []).push({ ts: r.ts, drift: r.drift, breach: !r.within_threshold });
  }
  draw(series);
}

draw(JSON.parse(document.getElementById("drift-data").textContent));
connectLive({
  path: "/ws/wallets/",
  handlers: {
    reconciliation_completed(frame) {
      showDriftBanner(frame, walletId);
      refresh();
    },
  },
});
