// Display helpers shared by the pages. Event summaries and formatted numbers come from the server
// (events.types summaries, events.formatting); nothing here re-implements them.

const CHAIN_TYPES = new Set(["fill", "order_submitted", "trade_blocked"]);

// "2026-11-25T09:30:12.345678Z" -> "2026-11-25 09:30:12" (UTC; the header says so).
export function utc(ts) {
  const d = new Date(ts);
  if (Number.isNaN(d.getTime())) return "";
  return d.toISOString().slice(0, 19).replace("T", " ");
}

// The summary is registered with the event's type on the server and sent in every event's JSON.
export function summarize(e) {
  if (e.summary) return e.summary;
  const text = JSON.stringify(e.payload ?? {});
  return text.length <= 160 ? text : `${text.slice(0, 159)}…`;
}

function cell(text, className) {
  const td = document.createElement("td");
  if (className) td.className = className;
  td.textContent = text;
  return td;
}

// The same markup as dashboard/templates/dashboard/_event_row.html.
export function eventRow(e) {
  const tr = document.createElement("tr");
  tr.id = `ev-${e.id}`;
  tr.dataset.id = String(e.id);
  tr.dataset.type = e.type;
  tr.className = `ev ev-${e.type}${CHAIN_TYPES.has(e.type) ? " opens-chain" : ""} fresh`;
  const timeCell = cell("", "num");
  const time = document.createElement("time");
  time.dateTime = e.ts;
  time.textContent = utc(e.ts);
  timeCell.append(time);
  const typeCell = cell("");
  const badge = document.createElement("span");
  badge.className = `type type-${e.type}`;
  badge.textContent = e.type;
  typeCell.append(badge);
  const linkCell = cell("");
  const link = document.createElement("a");
  link.className = "chain-link";
  link.href = `/decisions/events/${e.event_id}/`;
  link.setAttribute("aria-label", `Open the decision chain of event ${e.id}`);
  link.textContent = "Chain\u00a0›";
  linkCell.append(link);
  tr.append(timeCell, typeCell, cell(e.payload?.symbol || "—"), cell(e.run_id || "—"), cell(summarize(e), "summary"), linkCell);
  return tr;
}
