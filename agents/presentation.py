"""What a block's decision path adds: "had this trade gone through", from its shadow outcome.

Registered with ``events.selectors.register_path_section`` as ``shadow``, so the API's
``events/<id>/chain`` and the dashboard's chain page carry the same section: exact decimals for
programs, and ``display`` with the numbers formatted by the one rule (events.formatting).
"""

from uuid import UUID

from events import formatting
from events.models import Event
from events.selectors import DecisionPath

from . import selectors


def _block_of(path: DecisionPath) -> Event | None:
    """The block a path is about: the event itself, or the block a ``block_outcome`` answers."""
    if path.event.type == "trade_blocked":
        return path.event
    if path.event.type == "block_outcome":
        block_id = str(path.event.payload.get("block_event_id", ""))
        return next((step for step in path.steps if str(step.event_id) == block_id), None)
    return None


def _text(value) -> str | None:
    if value is None:
        return None
    return value.isoformat().replace("+00:00", "Z") if hasattr(value, "isoformat") else str(value)


def shadow_section(path: DecisionPath) -> dict | None:
    block = _block_of(path)
    if block is None:
        return None
    shadow = selectors.block_shadow(block_event_id=UUID(str(block.event_id)))
    if shadow is None:
        return None
    symbol = shadow.get("symbol") or block.payload.get("symbol", "")
    quote = formatting.symbol_quote(symbol)
    is_open = shadow["status"] == "open"
    unfilled = shadow["exit_reason"] == "unfilled"
    display = {
        "side": shadow.get("position_side", ""),
        "entry": "not filled yet" if unfilled else formatting.price(shadow.get("entry_price"), symbol),
        "exit": formatting.price(shadow.get("exit_price"), symbol),
        "exit_reason": "still open" if is_open else shadow["exit_reason"],
        "pnl": f"{formatting.money(shadow.get('pnl'), quote, sign=True)} {quote}",
        "pnl_pct": formatting.pct(shadow.get("pnl_pct"), fraction=False, sign=True),
        "fees": f"{formatting.money(shadow.get('fees'), quote)} {quote}",
        "holding": formatting.duration(shadow.get("holding_s")),
        "mae": f"{formatting.money(shadow.get('mae'), quote)} {quote} "
        f"({formatting.pct(shadow.get('mae_pct'), fraction=False)})",
        "qty": formatting.qty(shadow.get("qty"), symbol),
        "marked_at": formatting.utc_time(shadow.get("exit_at")) if is_open else None,
    }
    if is_open:
        line = (
            f"still open, marked at {display['exit']} ({display['marked_at']}): {display['pnl']} ({display['pnl_pct']})"
            if not unfilled
            else f"still open, not filled yet (marked {display['marked_at']})"
        )
    else:
        line = (
            f"{display['side']} {display['qty']} {symbol} from {display['entry']} to {display['exit']} "
            f"({display['exit_reason']}): {display['pnl']} ({display['pnl_pct']}) after {display['fees']} fees, "
            f"held {display['holding']}, worst {display['mae']} against"
        )
    return {
        "status": shadow["status"],
        "block_event_id": str(block.event_id),
        "outcome_event_id": _text(shadow.get("outcome_event_id")),
        "symbol": symbol,
        "position_side": shadow.get("position_side", ""),
        "exit_reason": shadow["exit_reason"],
        **{name: _text(shadow.get(name)) for name in selectors.SHADOW_NUMBERS},
        "entry_at": _text(shadow.get("entry_at")),
        "exit_at": _text(shadow.get("exit_at")),
        "holding_s": shadow.get("holding_s"),
        "display": display,
        "line": line,
        "summary": f"Had this trade gone through: {line}",
    }
