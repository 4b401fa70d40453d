// Decisions page: new events matching the page's filters appear at the top of the table, live;
// "Load more" appends the next page (the server's rows, in the page's sort order) below.
import { eventRow } from "./format.js";
import { connectLive, pageConfig } from "./live.js";

// Past this many live rows the page stops adding them and says how many it held back: a page
// left open on a busy log must not grow without end, nor drop rows without saying so.
const MAX_LIVE_ROWS = 1000;
const config = pageConfig();
const tbody = document.querySelector("#events tbody");
const empty = document.getElementById("events-empty");
const overflow = document.getElementById("live-overflow");
const shownCount = document.getElementById("shown-count");
let liveRows = 0;
let heldBack = 0;

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

function countShown() {
  const n = tbody.rows.length;
  shownCount.textContent = `${n.toLocaleString("en-US")} event${n === 1 ? "" : "s"} shown`;
}

function rendered(ids) {
  document.dispatchEvent(new CustomEvent("tradingops:rendered", { detail: { ids, at: Date.now() } }));
}

function show(events) {
  const added = [];
  for (const e of events) {
    if (!matches(e) || document.getElementById(`ev-${e.id}`)) continue;
    if (liveRows >= MAX_LIVE_ROWS) {
      heldBack += 1;
      continue;
    }
    tbody.prepend(eventRow(e));
    liveRows += 1;
    added.push(e.id);
  }
  if (heldBack) {
    overflow.hidden = false;
    overflow.textContent = `${heldBack.toLocaleString("en-US")} newer event${heldBack === 1 ? "" : "s"} not shown (${MAX_LIVE_ROWS.toLocaleString("en-US")} arrived live): reload to see them.`;
  }
  if (added.length) {
    empty.hidden = true;
    countShown();
    rendered(added);
  }
}

// "Load more": fetch the next page as the server renders it and append its rows; the link then
// points at the page after, or gives way to "End of the list."
async function loadMore(link) {
  link.setAttribute("aria-busy", "true");
  try {
    const response = await fetch(link.href, { headers: { Accept: "text/html" }, credentials: "same-origin" });
    if (!response.ok) throw new Error(`${response.status}`);
    const doc = new DOMParser().parseFromString(await response.text(), "text/html");
    const added = [];
    for (const row of doc.querySelectorAll("#events tbody tr")) {
      if (document.getElementById(row.id)) continue; // already here (arrived live)
      tbody.append(document.importNode(row, true));
      added.push(Number(row.dataset.id));
    }
    const next = doc.getElementById("load-more");
    if (next) {
      link.href = next.getAttribute("href");
    } else {
      const end = document.createElement("span");
      end.className = "muted";
      end.id = "list-end";
      end.textContent = "End of the list.";
      link.replaceWith(end);
    }
    countShown();
    rendered(added);
  } catch (error) {
    link.textContent = `Load more (failed: ${error.message}; retry)`;
  } finally {
    link.removeAttribute("aria-busy");
  }
}

const more = document.getElementById("load-more");
if (more) {
  more.addEventListener("click", (event) => {
    if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return; // new tab: a plain page
    event.preventDefault();
    if (!more.hasAttribute("aria-busy")) loadMore(more);
  });
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
