"""One line per event for the Decisions table and the chain timeline.

static/js/format.js ``summarize`` builds the same text for rows that arrive live; the browser test
checks a live row against the server-rendered one after a reload.
"""

import json
from typing import Any

# Types whose row opens the decision chain (the others link to it too, less prominently).
CHAIN_TYPES = frozenset({"fill", "order_submitted", "trade_blocked"})


def _side_qty(p: dict[str, Any]) -> str:
    return f"{p.get('side', '')} {p.get('qty', '')} {p.get('symbol', '')}".strip()


def event_summary(event: dict[str, Any]) -> str:
    p = event.get("payload") or {}
    kind = event.get("type")
    if kind == "fill":
        fee = f" · fee {p['fee']} {p.get('fee_currency') or ''}".rstrip() if p.get("fee") not in (None, "0") else ""
        return f"Filled {_side_qty(p)} @ {p.get('price')}{fee}"
    if kind == "order_submitted":
        price = f" @ {p['limit_price']}" if p.get("limit_price") else ""
        return f"Order {p.get('order_id')}: {p.get('order_type', 'market')} {_side_qty(p)}{price}"
    if kind == "trade_blocked":
        return f"Blocked {p.get('side')} {p.get('symbol')}: {p.get('reason')} ({p.get('reason_class')})"
    if kind == "trigger_fired":
        return f"Trigger {p.get('side')} {p.get('symbol')} @ {p.get('price')}: {p.get('rule')}"
    if kind == "plan_generated":
        return (
            f"Plan {p.get('plan_id')} v{p.get('version', 1)} {p.get('strategy')} on {', '.join(p.get('symbols', []))}"
        )
    if kind == "plan_judged":
        return f"Plan {p.get('plan_id')} scored {p.get('overall_score')}"
    if kind == "intent":
        text = f"Intent {p.get('action')}"
        if p.get("symbol"):
            text += f" {p['symbol']}"
        if p.get("note"):
            text += f": {p['note']}"
        return text
    if kind == "position_update":
        return f"Position {p.get('symbol')} {p.get('qty')} @ {p.get('avg_entry_price')}"
    if kind == "llm_call":
        return (
            f"LLM {p.get('model')} for {p.get('agent')}: {p.get('tokens_in')}→{p.get('tokens_out')} tokens, "
            f"{p.get('cost')} cost, {p.get('latency_ms')} ms, {p.get('outcome', 'ok')}"
        )
    if kind == "reconciliation_completed":
        return (
            f"Reconciliation #{p.get('run_id')} {p.get('status')}: {p.get('wallets_checked')} checked, "
            f"{p.get('wallets_failed')} failed, {p.get('breaches')} breaches"
        )
    if kind == "drift_detected":
        return (
            f"Drift {p.get('wallet')} {p.get('currency')}: {p.get('drift')} "
            f"(ledger {p.get('ledger_balance')}, exchange {p.get('exchange_balance')})"
        )
    if kind == "run_control":
        return f"Run {p.get('action')}" + (f" ({p['mode']})" if p.get("mode") else "")
    text = json.dumps(p, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return text if len(text) <= 160 else text[:159] + "…"


def event_symbol(event: dict[str, Any]) -> str:
    return (event.get("payload") or {}).get("symbol") or ""


def event_row(event: dict[str, Any]) -> dict[str, Any]:
    """The event dict plus what the row shows."""
    return {
        **event,
        "summary": event_summary(event),
        "symbol": event_symbol(event),
        "opens_chain": event.get("type") in CHAIN_TYPES,
    }


def payload_items(payload: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Flatten a payload into (label, value) rows, nested keys joined with '.'."""
    if not isinstance(payload, dict):
        return [(prefix or "value", payload)]
    rows: list[tuple[str, Any]] = []
    for key, value in payload.items():
        label = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and value:
            rows.extend(payload_items(value, label))
        elif isinstance(value, list):
            rows.append((label, ", ".join(str(v) for v in value)))
        else:
            rows.append((label, value))
    return rows
