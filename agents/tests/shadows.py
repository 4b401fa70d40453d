"""A blocked trade and its closed shadow, as the execution agent records them (for chain tests)."""

from datetime import UTC, datetime

from events.services import emit

BLOCKED_AT = datetime(2024, 9, 20, 12, 0, tzinfo=UTC)
BLOCK = {
    "symbol": "SOL-USDT",
    "side": "buy",
    "qty": "3.4567",
    "reason": "daily_trade_cap",
    "reason_class": "risk_valid",
}
OUTCOME = {
    "symbol": "SOL-USDT",
    "reason": "daily_trade_cap",
    "reason_class": "risk_valid",
    "rule": "sma_10 crosses_above sma_20",
    "position_side": "long",
    "exit_reason": "stop",
    "qty": "3.4567",
    "blocked_at": "2024-09-20T12:00:00Z",
    "entry_at": "2024-09-20T12:00:00Z",
    "entry_price": "143.08932467552788",
    "exit_at": "2024-09-20T15:00:00Z",
    "exit_price": "139.2047",
    "fees": "0.98133347",
    "pnl": "-14.40856124",
    "pnl_pct": "-2.913227",
    "mae": "13.6001",
    "mae_pct": "2.75",
    "holding_s": 10800,
}


def block_with_shadow(*, closed: bool = True):
    """A ``trade_blocked`` and (``closed``) the ``block_outcome`` it caused, same correlation."""
    block = emit("trade_blocked", BLOCK, source="agent:execution", ts=BLOCKED_AT)
    if not closed:
        return block, None
    outcome = emit(
        "block_outcome",
        {**OUTCOME, "block_event_id": str(block.event_id)},
        source="agent:execution",
        ts=datetime(2024, 9, 20, 15, 0, tzinfo=UTC),
        correlation_id=block.correlation_id,
        causation_id=block.event_id,
    )
    return block, outcome
