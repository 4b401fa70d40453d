"""The one hook from market data to the agents: "a candle closed".

The agents app registers its handler at ``AppConfig.ready()``::

    from market import hooks
    hooks.register_candle_closed(on_candle_closed)   # fn(candle: hooks.ClosedCandle) -> None

The feed calls :func:`candle_closed` once per closed bar, after the bar is committed to the
database, in time order. A handler that raises is logged and does not stop the feed or the other
handlers; handlers should be quick (enqueue a Celery task with the ids/values they need).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClosedCandle:
    symbol: str
    timeframe: str
    open_time: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal


CandleClosedHandler = Callable[[ClosedCandle], None]
_handlers: list[CandleClosedHandler] = []


def register_candle_closed(fn: CandleClosedHandler) -> CandleClosedHandler:
    """Register ``fn``; registering the same function twice keeps one entry. Usable as a decorator."""
    if fn not in _handlers:
        _handlers.append(fn)
    return fn


def unregister_candle_closed(fn: CandleClosedHandler) -> None:
    if fn in _handlers:
        _handlers.remove(fn)


def candle_closed(candle: ClosedCandle) -> None:
    """Tell every registered handler that ``candle`` closed."""
    for fn in list(_handlers):
        try:
            fn(candle)
        except Exception:
            logger.exception("candle_closed handler %r failed for %s %s", fn, candle.symbol, candle.timeframe)
