// Decisions page: new events matching the page's filters appear at the top of the table, live.
import { eventRow } from "./format.js";
import { connectLive, pageConfig } from "./live.js";

const MAX_ROWS = 500;
const config = pageConfig();
const tbody = document.querySelector("#events tbody");
const empty = document.getElementById("events-empty");

const hidden = new Set((config.hiddenTypes || "").split(",").filter(Boolean)); // heartbeats, marks

// The socket filters by type and run; the other filters of the page are applied here.
function matches(e) {
  if (hidden.has(e.type)) return false;
  if (config.filterSymbol && (e.payload?.symbol || "").toUpperCase() !== config.filterSymbol.toUpperCase()) return false;
  if (config.filterSource && e.source !== config.filterSource) return false;
  if (config.filterCorrelationId && e.correlation_id !== config.filterCorrelationId) return false;
  if (config.filterSince && new Date(e.ts) < new Date(config.filterSince)) return false;
  return true;
}

function show(events) {
  const added = [];
  for (const e of events) {
    if (!matches(e) || document.getElementById(`ev-${e.id}`)) continue;
    tbody.prepend(eventRow(e));
    added.push(e.id);
  }
  while (tbody.rows.length > MAX_ROWS) tbody.deleteRow(-1);
  if (added.length) {
    empty.hidden = true;
    document.dispatchEvent(new CustomEvent("tradingops:rendered", { detail: { ids: added, at: Date.now() } }));
  }
}

if (config.wsPath) {
  connectLive({
    path: config.wsPath,
    params: { types: config.wsTypes, run_id: config.wsRunId },
    restParams: { type: config.wsTypes, run_id: config.wsRunId },
    lastId: config.lastId,
    onEvents: show,
  });
}
