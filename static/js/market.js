// Market page: candlesticks + indicators (lightweight-charts), fills and blocks as markers,
// updated from /ws/market/. Order (the market API's advice): open the socket, then load history
// from /api/v1/market/candles, then apply live bars not older than the last loaded one.
import { COLORS, timeChart } from "./charts.js";
import { connectLive, pageConfig } from "./live.js";

const cfg = pageConfig();
const TF_SECONDS = { "1m": 60, "5m": 300, "15m": 900, "1h": 3600, "4h": 14400, "1d": 86400 };
const OVERLAYS = new Set(["sma", "ema", "bb", "high", "low"]);
const tick = Number(cfg.priceTick) || 0.01;
const decimals = Math.max(0, (cfg.priceTick.split(".")[1] || "").length);

const el = document.getElementById("chart");
const view = timeChart(el, { decimals, dateOnly: cfg.timeframe === "1d" || cfg.timeframe === "1M" });
const { chart } = view;
const candles = view.candles({ priceFormat: { type: "price", precision: decimals, minMove: tick } });
const markerLayer = view.markers(candles, []);
const lines = new Map();
const panes = new Map();
let lastTime = null;
let loaded = false;
let pending = [];
let refreshTimer = null;
let markerEvents = JSON.parse(document.getElementById("marker-data").textContent);

const toTime = (iso) => Math.floor(new Date(iso).getTime() / 1000);
const bar = (c) => ({ time: toTime(c.open_time), open: +c.open, high: +c.high, low: +c.low, close: +c.close });

function barTime(iso) {
  const t = toTime(iso);
  if (cfg.timeframe === "1M") {
    const d = new Date(iso);
    return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1) / 1000;
  }
  const step = TF_SECONDS[cfg.timeframe];
  return t - (t % step);
}

// sma_20 -> "sma_20"; macd_12_26_9_signal -> "macd_12_26_9"; bb_20_2_upper -> "bb_20_2"
const specOf = (column) => column.replace(/_(signal|hist|mid|upper|lower)$/, "");

function lineFor(column) {
  if (lines.has(column)) return lines.get(column);
  const spec = specOf(column);
  let pane = 0;
  if (!OVERLAYS.has(spec.split("_")[0])) {
    if (!panes.has(spec)) panes.set(spec, panes.size + 1);
    pane = panes.get(spec);
  }
  const histogram = column.endsWith("_hist");
  const options = {
    color: COLORS[lines.size % COLORS.length], title: column, priceLineVisible: false, lastValueVisible: false,
  };
  const series = histogram ? view.histogram(options, pane) : view.line({ ...options, lineWidth: 1, pointMarkersVisible: false }, pane);
  lines.set(column, series);
  return series;
}

function drawMarkers() {
  const first = candles.data()[0];
  const marks = markerEvents
    .map((m) => ({ ...m, time: barTime(m.ts) }))
    .filter((m) => first && m.time >= first.time)
    .sort((a, b) => a.time - b.time || a.id - b.id)
    .map((m) => m.type === "fill"
      ? { time: m.time, position: m.side === "buy" ? "belowBar" : "aboveBar", shape: m.side === "buy" ? "arrowUp" : "arrowDown",
          color: m.side === "buy" ? "#1a7f37" : "#cf222e", text: m.side === "buy" ? "B" : "S" }
      : { time: m.time, position: "aboveBar", shape: "circle", color: "#9a6700", text: "✕" });
  markerLayer.setMarkers(marks);
}

async function load() {
  const query = new URLSearchParams({ symbol: cfg.symbol, timeframe: cfg.timeframe, limit: "500" });
  if (cfg.indicators) query.set("indicators", cfg.indicators);
  const response = await fetch(`/api/v1/market/candles?${query}`, { headers: { Accept: "application/json" } });
  if (!response.ok) return;
  const page = await response.json();
  candles.setData(page.results.map(bar));
  for (const column of page.indicators) {
    lineFor(column).setData(page.results.map((r) => (r[column] === null ? { time: toTime(r.open_time) } : { time: toTime(r.open_time), value: r[column] })));
  }
  lastTime = page.results.length ? toTime(page.results.at(-1).open_time) : null;
  document.getElementById("chart-empty").hidden = page.results.length > 0;
  document.getElementById("chart-legend").textContent = page.indicators.length ? `Indicators: ${page.indicators.join(", ")}` : "";
  if (!loaded) chart.timeScale().fitContent();
  loaded = true;
  drawMarkers();
  const queued = pending;
  pending = [];
  for (const candle of queued) apply(candle);
}

async function refreshMarkers() {
  const first = candles.data()[0];
  if (!first) return;
  const query = new URLSearchParams({ type: "fill,trade_blocked", since: new Date(first.time * 1000).toISOString(), limit: "1000" });
  const response = await fetch(`/api/v1/events?${query}`, { headers: { Accept: "application/json" } });
  if (!response.ok) return;
  const page = await response.json();
  markerEvents = page.results.filter((e) => e.payload.symbol === cfg.symbol).map((e) => ({
    id: e.id, ts: e.payload.bar_open_time ?? e.ts, type: e.type, side: e.payload.side, correlation_id: e.correlation_id,
  }));
  drawMarkers();
}

function apply(candle) {
  if (!loaded) { pending.push(candle); return; }
  const b = bar(candle);
  if (lastTime !== null && b.time < lastTime) return;
  candles.update(b);
  lastTime = b.time;
  document.getElementById("chart-empty").hidden = true;
  if (candle.closed) {
    // Indicators and markers follow each closed bar (one request, at most every half second).
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(() => { load(); refreshMarkers(); }, 500);
  }
}

connectLive({
  path: cfg.wsPath,
  params: { symbols: cfg.symbol },
  handlers: {
    subscribed() { load(); },
    market(frame) {
      if (frame.symbol !== cfg.symbol) return;
      // The last print, or the newest bar's close when the feed sends bars only (replay), as the
      // server formatted it (to the instrument's tick, the rule of every other number on the page).
      const last = frame.ticks.at(-1) ?? frame.candles.at(-1);
      const shown = last?.price_display ?? last?.close_display;
      if (shown !== undefined) document.getElementById("last-price").textContent = shown;
      for (const candle of frame.candles) if (candle.timeframe === cfg.timeframe) apply(candle);
      document.dispatchEvent(new CustomEvent("tradingops:rendered", { detail: { symbol: frame.symbol, at: Date.now() } }));
    },
  },
});

window.tradingopsChart = { chart, candles, lines }; // for tests and the browser benchmark
