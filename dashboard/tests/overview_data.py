"""A book with history for the Overview's tests: a closed SOL trade (out on its stop), an open one
marked every minute, and two blocks whose shadows closed (one saved money, one forwent it)."""

from datetime import datetime, timedelta

from django.utils import timezone

from events.services import emit


def _fill(n: int, side: str, qty: str, price: str, fee: str, at: datetime, **extra):
    payload = {"fill_id": f"ov{n}", "order_id": f"ov{n}", "symbol": "SOL-USDT", "side": side, "qty": qty,
               "price": price, "fee": fee, **extra}  # fmt: skip
    return emit("fill", payload, source="agent:execution", run_id="live", ts=at)


def _blocked(reason: str, pnl: str, at: datetime):
    block = emit(
        "trade_blocked",
        {"symbol": "SOL-USDT", "side": "buy", "reason": reason, "reason_class": "risk_valid", "detail": {}},
        source="agent:execution",
        run_id="live",
        ts=at,
    )
    emit(
        "block_outcome",
        {
            "block_event_id": str(block.event_id),
            "symbol": "SOL-USDT",
            "reason": reason,
            "reason_class": "risk_valid",
            "position_side": "long",
            "exit_reason": "stop" if pnl.startswith("-") else "target",
            "qty": "10",
            "blocked_at": at.isoformat(),
            "entry_at": at.isoformat(),
            "exit_at": (at + timedelta(hours=1)).isoformat(),
            "entry_price": "140",
            "exit_price": "141",
            "fees": "0.5",
            "pnl": pnl,
            "pnl_pct": "0.01",
            "mae": "1",
            "mae_pct": "0.001",
            "holding_s": 3600,
        },  # fmt: skip
        source="agent:execution",
        run_id="live",
        causation_id=block.event_id,
        correlation_id=block.correlation_id,
        ts=at + timedelta(hours=1),
    )


def seed_book(*, minutes: int = 20) -> datetime:
    """The history, ending a minute ago; returns when it starts."""
    start = timezone.now().replace(second=0, microsecond=0) - timedelta(minutes=minutes + 1)
    _fill(1, "buy", "10", "140.125", "1.40125", start)
    _fill(2, "sell", "10", "132.4567", "1.324567", start + timedelta(hours=0, minutes=2, seconds=30),
          exit_reason="stop")  # fmt: skip
    _fill(3, "buy", "5.5", "131.5", "0.72325", start + timedelta(minutes=3))
    for m in range(4, minutes + 1):
        emit("marks_updated", {"prices": {"SOL-USDT": str(131 + m / 4)}}, source="agent:execution",
             ts=start + timedelta(minutes=m, seconds=10))  # fmt: skip
    _blocked("daily_trade_cap", "-12.3456", start - timedelta(hours=3))
    _blocked("daily_trade_cap", "30.5", start - timedelta(hours=2))
    _blocked("cooldown", "-4.25", start - timedelta(hours=2))
    return start
