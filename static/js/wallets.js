// Wallets page: reconciliation runs and the drift banner, live from /ws/wallets/.
import { utc } from "./format.js";
import { connectLive } from "./live.js";
import { showDriftBanner } from "./drift.js";

const runs = document.querySelector("#runs tbody");

function runRow(run) {
  const tr = document.createElement("tr");
  tr.id = `run-${run.id}`;
  tr.dataset.id = String(run.id);
  const cells = [
    `#${run.id}`,
    `${run.trigger}${run.started_by ? ` by ${run.started_by}` : ""}`,
    run.status,
    utc(run.started_at),
    String(run.wallets_checked),
    String(run.wallets_failed),
    `${run.breaches ? "⚠ " : ""}${run.breaches}`,
  ];
  cells.forEach((text, i) => {
    const td = tr.insertCell(-1);
    td.textContent = text;
    if (i >= 3) td.className = `num${i === 6 && run.breaches ? " breach" : ""}`;
  });
  return tr;
}

function upsertRun(run) {
  const row = runRow(run);
  const existing = document.getElementById(row.id);
  if (existing) existing.replaceWith(row);
  else {
    const newer = [...runs.rows].find((r) => Number(r.dataset.id) < run.id);
    runs.insertBefore(row, newer || null);
  }
  runs.closest("section").querySelector(".empty").hidden = true;
}

async function catchUp() {
  const response = await fetch("/api/v1/wallets/reconcile/history?limit=10", { headers: { Accept: "application/json" } });
  if (!response.ok) return;
  const page = await response.json();
  for (const run of page.results.reverse()) upsertRun(run);
}

connectLive({
  path: "/ws/wallets/",
  handlers: {
    subscribed() {
      catchUp();
    },
    reconciliation_completed(frame) {
      upsertRun(frame.run);
      showDriftBanner(frame);
      document.dispatchEvent(new CustomEvent("tradingops:rendered", { detail: { run: frame.run.id, at: Date.now() } }));
    },
  },
});
