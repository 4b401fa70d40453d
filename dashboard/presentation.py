"""One line per event for the Decisions table and the chain timeline.

The line is the event's ``summary`` (registered with its type, in the REST and WebSocket JSON):
rows drawn live by static/js/format.js read exactly like the server-rendered ones.
"""

from typing import Any

from events import formatting, types

# Types whose row opens the decision chain (the others link to it too, less prominently).
CHAIN_TYPES = frozenset({"fill", "order_submitted", "trade_blocked"})


def event_summary(event: dict[str, Any]) -> str:
    """The summary registered with the event's type (events.types), sent in its JSON."""
    return event.get("summary") or types.summarize(event.get("type", ""), event.get("payload") or {})


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


PRICE_KEYS = frozenset({"price", "limit_price", "avg_entry_price", "mark_price", "entry_price", "exit_price", "close"})
QTY_KEYS = frozenset({"qty", "quantity", "filled_qty"})
MONEY_KEYS = frozenset({
    "fee", "amount", "budget", "notional", "requested_notional", "budget_left", "cash", "equity", "cost",
    "requested", "left", "available", "needed", "min_notional", "risk", "realized_pnl", "unrealized_pnl",
    "fees", "pnl", "mae",
})  # fmt: skip
PERCENT_KEYS = frozenset({"pnl_pct", "mae_pct"})  # already in percent (a shadow outcome's)
PRICE_KEYS = PRICE_KEYS | {"stop", "target"}


def display_items(payload: Any) -> list[tuple[str, Any]]:
    """``payload_items`` with numbers by the one rule (events.formatting): prices to the tick,
    quantities to the lot, money to the quote's precision. The raw value stays in the API."""
    symbol = payload.get("symbol", "") if isinstance(payload, dict) else ""
    quote = formatting.symbol_quote(symbol) if symbol else "USDT"
    rows = []
    for label, value in payload_items(payload):
        key = label.rsplit(".", 1)[-1]
        if key == "realized_pnl":
            rows.append((label, value))  # the template draws it with its sign and arrow
        elif key in PRICE_KEYS:
            rows.append((label, formatting.price(value, symbol)))
        elif key in QTY_KEYS:
            rows.append((label, formatting.qty(value, symbol)))
        elif key in MONEY_KEYS:
            rows.append((label, formatting.money(value, quote)))
        elif key in PERCENT_KEYS:
            rows.append((label, formatting.pct(value, fraction=False)))
        elif key == "holding_s":
            rows.append((label, formatting.duration(value)))
        else:
            rows.append((label, value))
    return rows


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
