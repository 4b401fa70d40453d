// Display helpers shared by the pages. summarize() mirrors dashboard/presentation.py
// event_summary(): a live row reads exactly like the server-rendered one.

const CHAIN_TYPES = new Set(["fill", "order_submitted", "trade_blocked"]);

// "2026-11-25T09:30:12.345678Z" -> "2026-11-25 09:30:12" (UTC; the header says so).
export function utc(ts) {
  const d = new Date(ts);
  if (Number.isNaN(d.getTime())) return "";
  return d.toISOString().slice(0, 19).replace("T", " ");
}

const sideQty = (p) => `${p.side ?? ""} ${p.qty ?? ""} ${p.symbol ?? ""}`.trim();
const orNone = (v) => (v === undefined || v === null ? "None" : v);

export function summarize(e) {
  const p = e.payload || {};
  switch (e.type) {
    case "fill": {
      const fee = p.fee !== undefined && p.fee !== null && p.fee !== "0"
        ? ` · fee ${p.fee} ${p.fee_currency || ""}`.trimEnd() : "";
      return `Filled ${sideQty(p)} @ ${orNone(p.price)}${fee}`;
    }
    case "order_submitted":
      return `Order ${orNone(p.order_id)}: ${p.order_type || "market"} ${sideQty(p)}${p.limit_price ? ` @ ${p.limit_price}` : ""}`;
    case "trade_blocked":
      return `Blocked ${orNone(p.side)} ${orNone(p.symbol)}: ${orNone(p.reason)} (${orNone(p.reason_class)})`;
    case "trigger_fired":
      return `Trigger ${orNone(p.side)} ${orNone(p.symbol)} @ ${orNone(p.price)}: ${orNone(p.rule)}`;
    case "plan_generated":
      return `Plan ${orNone(p.plan_id)} v${p.version ?? 1} ${orNone(p.strategy)} on ${(p.symbols || []).join(", ")}`;
    case "plan_judged":
      return `Plan ${orNone(p.plan_id)} scored ${orNone(p.overall_score)}`;
    case "intent": {
      let text = `Intent ${orNone(p.action)}`;
      if (p.symbol) text += ` ${p.symbol}`;
      if (p.note) text += `: ${p.note}`;
      return text;
    }
    case "position_update":
      return `Position ${orNone(p.symbol)} ${orNone(p.qty)} @ ${orNone(p.avg_entry_price)}`;
    case "llm_call":
      return `LLM ${orNone(p.model)} for ${orNone(p.agent)}: ${orNone(p.tokens_in)}→${orNone(p.tokens_out)} tokens, `
        + `${orNone(p.cost)} cost, ${orNone(p.latency_ms)} ms, ${p.outcome || "ok"}`;
    case "reconciliation_completed":
      return `Reconciliation #${orNone(p.run_id)} ${orNone(p.status)}: ${orNone(p.wallets_checked)} checked, `
        + `${orNone(p.wallets_failed)} failed, ${orNone(p.breaches)} breaches`;
    case "drift_detected":
      return `Drift ${orNone(p.wallet)} ${orNone(p.currency)}: ${orNone(p.drift)} `
        + `(ledger ${orNone(p.ledger_balance)}, exchange ${orNone(p.exchange_balance)})`;
    case "run_control":
      return `Run ${orNone(p.action)}${p.mode ? ` (${p.mode})` : ""}`;
    default: {
      const text = JSON.stringify(sortKeys(p));
      return text.length <= 160 ? text : `${text.slice(0, 159)}…`;
    }
  }
}

function sortKeys(value) {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.keys(value).sort().map((k) => [k, sortKeys(value[k])]));
  }
  return value;
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
