// Overview: latest fills and the last hour's block reasons, live.
// HOOK(agents): when /ws/live/ exists, point data-ws-path at it and add `handlers` for its frames
// (e.g. positions, equity, runtime) next to onEvents; event frames keep working as they are.
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

// Portfolio, positions and risk budget are read models: refetch them (at most every 0.5 s) when an
// event that moves them arrives, rather than recomputing in the browser.
const SUMMARY_TYPES = new Set(["fill", "marks_updated", "risk_claimed", "risk_released"]);
let refreshTimer = null;

function refreshSummaries() {
  if (refreshTimer) return;
  refreshTimer = setTimeout(async () => {
    refreshTimer = null;
    const page = await fetch(window.location.pathname, { headers: { Accept: "text/html" } });
    if (!page.ok) return;
    const fresh = new DOMParser().parseFromString(await page.text(), "text/html");
    for (const id of ["equity", "positions", "risk", "agents"]) {
      const now = document.getElementById(id);
      const next = fresh.getElementById(id);
      if (now && next) now.replaceWith(next);
    }
  }, 500);
}

function show(events) {
  if (events.some((e) => SUMMARY_TYPES.has(e.type) || e.type === "agent_run")) refreshSummaries();
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
