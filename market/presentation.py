"""JSON shapes shared by the REST API and the WebSocket frames: decimals as strings, times ISO UTC."""

from __future__ import annotations

from decimal import Decimal

from .rollup import Bar
from .services import TickInput


def dec(value: Decimal | None) -> str | None:
    """Decimal as a plain string without trailing zeros (``142.430000`` -> ``142.43``)."""
    if value is None:
        return None
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def iso(ts) -> str:
    return ts.isoformat().replace("+00:00", "Z")


def tick_frame(tick: TickInput) -> dict:
    return {
        "symbol": tick.symbol,
        "ts": iso(tick.ts),
        "price": dec(tick.price),
        "size": dec(tick.size),
        "bid": dec(tick.bid),
        "ask": dec(tick.ask),
    }


def bar_frame(bar: Bar, *, closed: bool) -> dict:
    return {
        "symbol": bar.symbol,
        "timeframe": bar.timeframe,
        "open_time": iso(bar.open_time),
        "open": dec(bar.open),
        "high": dec(bar.high),
        "low": dec(bar.low),
        "close": dec(bar.close),
        "volume": dec(bar.volume),
        "closed": closed,
    }
