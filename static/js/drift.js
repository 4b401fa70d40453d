// The banner that appears when a reconciliation finds drift over its threshold.
export function showDriftBanner(frame, walletId = null) {
  const banner = document.getElementById("drift-banner");
  const text = document.getElementById("drift-banner-text");
  if (!banner) return;
  const breaches = frame.breaches.filter((b) => walletId === null || b.wallet === walletId);
  if (!breaches.length) {
    if (walletId === null && !frame.run.wallets_failed) banner.hidden = true;
    return;
  }
  text.textContent = `in reconciliation #${frame.run.id}: ${breaches
    .map((b) => `${b.wallet_name} ${b.currency} drift ${b.drift} (ledger ${b.ledger_balance}, exchange ${b.exchange_balance})`)
    .join("; ")}.`;
  banner.hidden = false;
}
