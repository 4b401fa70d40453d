// Overview: the equity and P&L chart, latest fills and the last hour's block reasons, live.
// Trades, the block scorecard, portfolio, positions and risk are read models rendered (and
// formatted) by the server: they are refetched when an event that moves them arrives.
import { COLORS, timeChart, toPoints } from "./charts.js";
import { eventRow } from "./format.js";
import { connectLive, pageConfig } from "./live.js";

const FILLS_SHOWN = 10;
const HOUR_MS = 3600 * 1000;
const config = pageConfig();
const fills = document.querySelector("#fills tbody");
const blocks = document.querySelector("#blocks tbody");

function addFill(e) {
  if (document.getElementById(`ev-${e.id}`)) return;
  fills.prepend(eventRow(e));
  while (fills.rows.length > FILLS_SHOWN) fills.deleteRow(-1);
  fills.closest("section").querySelector(".empty").hidden = true;
}

function countBlock(e) {
  if (Date.now() - new Date(e.ts).getTime() > HOUR_MS) return;
  const key = `${e.payload.reason}|${e.payload.reason_class}`;
  let row = [...blocks.rows].find((r) => r.dataset.key === key);
  if (!row) {
    row = blocks.insertRow(-1);
    row.dataset.key = key;
    for (const text of [e.payload.reason, e.payload.reason_class, "0"]) row.insertCell(-1).textContent = text;
    row.cells[2].className = "num";
  }
  row.cells[2].textContent = String(Number(row.cells[2].textContent) + 1);
  blocks.closest("section").querySelector(".empty").hidden = true;
}

function reconciled(e) {
  const p = e.payload;
  const current = Number(document.getElementById("recon-id").textContent) || 0;
  if (p.run_id < current) return;
  document.getElementById("recon-id").textContent = String(p.run_id);
  document.getElementById("recon-state").textContent = p.status;
  document.getElementById("recon-counts").textContent = `${p.wallets_checked} checked, ${p.wallets_failed} failed`;
  const breaches = document.getElementById("recon-breaches");
  breaches.textContent = `${p.breaches ? "⚠ " : ""}${p.breaches} breach${p.breaches === 1 ? "" : "es"}`;
  breaches.className = p.breaches ? "breach" : "";
  document.getElementById("recon-status").hidden = false;
  document.querySelector("#reconciliation .empty").hidden = true;
}

// The equity curve: one point a minute from the projector-kept read model (agents.EquityPoint).
// Events that move equity fetch the points since the newest one drawn (it may still be moving).
const EQUITY_TYPES = new Set(["fill", "marks_updated", "position_update"]);
const curveEl = document.getElementById("equity-chart");
const equityPoints = JSON.parse(document.getElementById("equity-data").textContent); // oldest first
const curve = timeChart(curveEl, { decimals: Number(curveEl.closest("[data-places]")?.dataset.places ?? 2) });
const equityLine = curve.line({ color: COLORS[0], title: "equity", priceLineVisible: false });
const pnlLine = curve.line({ color: COLORS[2], title: "P&L", priceLineVisible: false }, 1);
let newestPoint = equityPoints.at(-1)?.ts ?? null;
let equityTimer = null;

function drawCurve() {
  curveEl.hidden = equityPoints.length === 0;
  document.getElementById("equity-empty").hidden = equityPoints.length > 0;
  equityLine.setData(toPoints(equityPoints, { value: (p) => p.equity }));
  pnlLine.setData(toPoints(equityPoints, { value: (p) => p.pnl }));
  curve.fit();
}

function refreshCurve() {
  if (equityTimer) return;
  equityTimer = setTimeout(async () => {
    equityTimer = null;
    const query = new URLSearchParams({ limit: "1000" });
    if (newestPoint) query.set("since", newestPoint);
    const response = await fetch(`/api/v1/live/equity?${query}`, { headers: { Accept: "application/json" } });
    if (!response.ok) return;
    const fresh = (await response.json()).results.reverse(); // newest first on the wire
    if (!fresh.length) return;
    const first = equityPoints.length === 0;
    for (const point of fresh) {
      if (equityPoints.length && equityPoints.at(-1).ts === point.ts) equityPoints[equityPoints.length - 1] = point;
      else equityPoints.push(point);
    }
    newestPoint = equityPoints.at(-1).ts;
    if (first) drawCurve();
    else {
      for (const [series, key] of [[equityLine, "equity"], [pnlLine, "pnl"]]) {
        for (const p of toPoints(fresh, { value: (row) => row[key] })) series.update(p);
      }
    }
    document.dispatchEvent(new CustomEvent("tradingops:curve", { detail: { points: equityPoints.length } }));
  }, 500);
}

drawCurve();
window.tradingopsChart = { chart: curve.chart, equity: equityLine, pnl: pnlLine };

// Portfolio, positions, trades, the block scorecard and the risk budget are read models: refetch
// them (at most every 0.5 s) when an event that moves them arrives, rather than recomputing in the
// browser.
const SUMMARY_TYPES = new Set(["fill", "marks_updated", "position_update", "risk_claimed", "risk_released",
  "trade_blocked", "block_outcome"]);
let refreshTimer = null;

function refreshSummaries() {
  if (refreshTimer) return;
  refreshTimer = setTimeout(async () => {
    refreshTimer = null;
    const page = await fetch(window.location.pathname, { headers: { Accept: "text/html" } });
    if (!page.ok) return;
    const fresh = new DOMParser().parseFromString(await page.text(), "text/html");
    for (const id of ["equity", "positions", "risk", "agents", "trades", "scorecard"]) {
      const now = document.getElementById(id);
      const next = fresh.getElementById(id);
      if (now && next) now.replaceWith(next);
    }
  }, 500);
}

function show(events) {
  if (events.some((e) => SUMMARY_TYPES.has(e.type) || e.type === "agent_run")) refreshSummaries();
  if (events.some((e) => EQUITY_TYPES.has(e.type))) refreshCurve();
  for (const e of events) {
    if (e.type === "fill") addFill(e);
    else if (e.type === "trade_blocked") countBlock(e);
    else if (e.type === "reconciliation_completed") reconciled(e);
  }
  document.dispatchEvent(new CustomEvent("tradingops:rendered", { detail: { ids: events.map((e) => e.id), at: Date.now() } }));
}

if (config.wsPath) {
  connectLive({
    path: config.wsPath,
    params: { types: config.wsTypes },
    restParams: { type: config.wsTypes },
    lastId: config.lastId,
    onEvents: show,
  });
}
