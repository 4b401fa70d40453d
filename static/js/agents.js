// Agents page: judgement scores over time (lightweight-charts), and new plans, judgements,
// intents and LLM calls added live from the event stream.
import { timeChart, toPoints } from "./charts.js";
import { utc } from "./format.js";
import { connectLive, pageConfig } from "./live.js";

const config = pageConfig();
const view = timeChart(document.getElementById("score-chart"), { decimals: 1 });
const { chart } = view;
const scores = view.line({ color: "#1f6feb", title: "score", priceLineVisible: false });
const judged = JSON.parse(document.getElementById("score-data").textContent); // [{ts, score}], oldest first

function drawScores() {
  // No judgement yet: say so instead of empty axes; the first one shows the chart.
  document.getElementById("score-chart").hidden = judged.length === 0;
  document.getElementById("score-empty").hidden = judged.length > 0;
  scores.setData(toPoints(judged, { value: (s) => s.score }));
  view.fit();
}

function addScore(ts, score) {
  judged.push({ ts, score });
}

drawScores();

function prepend(tableId, cells) {
  const tbody = document.querySelector(`#${tableId} tbody`);
  const row = tbody.insertRow(0);
  row.className = "fresh";
  cells.forEach((text, i) => {
    const td = row.insertCell(-1);
    td.textContent = text;
    if (i === 0) td.className = "num";
  });
  while (tbody.rows.length > 20) tbody.deleteRow(-1);
  const empty = tbody.closest("section").querySelector(".empty");
  if (empty) empty.hidden = true;
}

function show(events) {
  for (const e of events) {
    const p = e.payload;
    const time = utc(e.ts);
    if (e.type === "plan_judged") {
      const components = Object.entries(p.component_scores || {}).map(([k, v]) => `${k} ${v}`).join(", ");
      prepend("judgements", [time, p.plan_id, p.overall_score, components, (p.recommendations || []).join("; ")]);
      addScore(e.ts, p.overall_score);
      drawScores();
    } else if (e.type === "plan_generated") {
      prepend("plans", [time, `${p.plan_id} v${p.version ?? 1}`, p.strategy, (p.symbols || []).join(", "), p.origin || "template",
        JSON.stringify(p.rules || {})]);
    } else if (e.type === "intent") {
      prepend("intents", [time, e.source, `${p.action}${p.symbol ? ` ${p.symbol}` : ""}${p.note ? `: ${p.note}` : ""}`]);
    } else if (e.type === "llm_call") {
      prepend("llm-calls", [time, p.model, p.agent, `${p.tokens_in}→${p.tokens_out}`, p.cost, String(p.latency_ms), p.outcome || "ok"]);
    }
  }
  document.dispatchEvent(new CustomEvent("tradingops:rendered", { detail: { ids: events.map((e) => e.id), at: Date.now() } }));
}

connectLive({
  path: config.wsPath,
  params: { types: config.wsTypes },
  restParams: { type: config.wsTypes },
  lastId: config.lastId,
  onEvents: show,
});
window.tradingopsChart = { chart, scores };
