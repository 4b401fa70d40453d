"""Market data sources behind one small interface, chosen by ``settings.MARKET_SOURCE``.

A source is an iterator of updates: :class:`market.services.TickInput` (a trade/price print),
:class:`market.rollup.Bar` (a *closed* candle from upstream) or ``None`` (nothing new yet: lets
the feed flush on time while the source waits). Sources never touch the database.

- ``replay``    candles from CSV/Parquet files, paced at ``speed`` market seconds per wall second
- ``synthetic`` seeded geometric Brownian motion ticks, for load and tests
- ``exchange``  any ccxt exchange: REST polling of public trades (no keys), errors survived
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from django.conf import settings

from market.rollup import Bar
from market.services import TickInput

from .exchange import ExchangeSource
from .replay import ReplaySource, datasets_for
from .synthetic import SyntheticSource

Update = TickInput | Bar | None


class Source(Protocol):
    name: str

    def stream(self) -> Iterator[Update]: ...

    def close(self) -> None: ...


def feed_label() -> str:
    """What the configured feed (MARKET_SOURCE) is, for the header on every page: a demo replaying
    the shipped candles is not live market data, and a replay that does not loop stops."""
    if settings.MARKET_SOURCE == "replay":
        return "Replay (looping)" if settings.MARKET_REPLAY_LOOP else "Replay (stops at the end of its data)"
    if settings.MARKET_SOURCE == "synthetic":
        return "Synthetic prices"
    return "Exchange"


def build_source(name: str, *, symbols: list[str] | None = None) -> Source:
    """The source ``name`` configured from settings (``MARKET_*``), limited to ``symbols`` if given."""
    if name == "replay":
        from market.selectors import latest_candle_open_time  # noqa: PLC0415 - market.selectors imports .exchange

        datasets = datasets_for(symbols or settings.MARKET_SYMBOLS)
        return ReplaySource(
            datasets,
            speed=settings.MARKET_REPLAY_SPEED,
            loop=settings.MARKET_REPLAY_LOOP,
            resume_after=latest_candle_open_time([(d.symbol, d.timeframe) for d in datasets])
            if settings.MARKET_REPLAY_LOOP
            else None,
        )
    if name == "synthetic":
        return SyntheticSource(
            symbols or settings.MARKET_SYMBOLS,
            seed=settings.MARKET_SYNTHETIC_SEED,
            ticks_per_second=settings.MARKET_SYNTHETIC_TICKS_PER_SECOND,
        )
    if name == "exchange":
        from market.selectors import instruments_for_symbols  # noqa: PLC0415 - market.selectors imports .exchange

        return ExchangeSource(
            instruments_for_symbols(symbols or settings.MARKET_SYMBOLS),
            poll_seconds=settings.MARKET_EXCHANGE_POLL_SECONDS,
            timeout_ms=settings.MARKET_EXCHANGE_TIMEOUT_MS,
        )
    raise ValueError(f"unknown market source '{name}': use replay, synthetic or exchange")
