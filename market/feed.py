"""The market feed: source updates in, stored + rolled up + published out, closed candles signalled.

Updates are batched: every ``flush_seconds`` (or ``max_batch`` ticks) the batch's ticks are COPYed,
the bars they touched are upserted in the same transaction, then one frame per instrument goes to
its Channels group and ``market.hooks.candle_closed`` runs for each bar that closed, in order.
Publishing after the commit means a client never sees a bar that is not stored.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import InterfaceError, OperationalError, connection

from events import formatting, realtime

from . import hooks, timeframes
from .presentation import bar_frame, tick_frame
from .rollup import Bar, SymbolRoller
from .services import TickInput, feed_batch_store

logger = logging.getLogger(__name__)

MAX_ITEMS_PER_MESSAGE = 500
MAX_STORE_RETRY_DELAY_S = 10.0


@dataclass
class FeedStats:
    ticks: int = 0
    bars_in: int = 0
    closed: int = 0
    rejected: int = 0
    flushes: int = 0
    published: int = 0
    unknown_symbols: set[str] = field(default_factory=set)


def bar_problem(bar: Bar) -> str | None:
    if bar.high < bar.low:
        return f"high {bar.high} < low {bar.low}"
    if not (bar.low <= bar.open <= bar.high and bar.low <= bar.close <= bar.high):
        return "open/close outside low..high"
    if bar.volume < 0 or bar.low < 0:
        return "negative price or volume"
    return None


class MarketFeed:
    def __init__(
        self,
        source,
        *,
        instrument_ids: dict[str, int],
        flush_seconds: float = 0.2,
        max_batch: int = 5000,
        publish: bool = True,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.source = source
        self.instrument_ids = instrument_ids
        self.flush_seconds = flush_seconds
        self.max_batch = max_batch
        self.publish_enabled = publish
        self.clock = clock
        self.sleep = sleep
        self.stats = FeedStats()
        self.rollers: dict[str, SymbolRoller] = {}
        self._ticks: list[TickInput] = []
        self._bars: list[Bar] = []
        self._closed: list[Bar] = []
        self._last_flush = clock()

    # --- input ------------------------------------------------------------------------------------
    def handle(self, update: TickInput | Bar | None) -> None:
        if isinstance(update, TickInput):
            self._handle_tick(update)
        elif isinstance(update, Bar):
            self._handle_bar(update)
        if len(self._ticks) >= self.max_batch or self.clock() - self._last_flush >= self.flush_seconds:
            self.flush()

    def _known(self, symbol: str) -> bool:
        if symbol in self.instrument_ids:
            return True
        if symbol not in self.stats.unknown_symbols:
            logger.warning("feed: no instrument %s, its updates are dropped", symbol)
            self.stats.unknown_symbols.add(symbol)
        return False

    def _roller(self, symbol: str, base: str) -> SymbolRoller:
        roller = self.rollers.get(symbol)
        if roller is None or roller.base != base:
            roller = self.rollers[symbol] = SymbolRoller(symbol, base)
        return roller

    def _handle_tick(self, tick: TickInput) -> None:
        if not self._known(tick.symbol):
            return
        if tick.price <= 0 or tick.size < 0:
            self.stats.rejected += 1
            logger.warning(
                "feed: rejected tick %s at %s: price %s size %s", tick.symbol, tick.ts, tick.price, tick.size
            )
            return
        result = self._roller(tick.symbol, "1m").add_tick(tick.ts, tick.price, tick.size)
        self._ticks.append(tick)
        self.stats.ticks += 1
        self._bars.extend(result.closed)
        self._bars.extend(result.updated)
        self._closed.extend(result.closed)

    def _handle_bar(self, bar: Bar) -> None:
        if not self._known(bar.symbol):
            return
        if problem := bar_problem(bar):
            self.stats.rejected += 1
            logger.warning("feed: rejected %s %s bar at %s: %s", bar.symbol, bar.timeframe, bar.open_time, problem)
            return
        self.stats.bars_in += 1
        if bar.timeframe in timeframes.ROLLUP_CHAIN:
            result = self._roller(bar.symbol, bar.timeframe).add_closed(bar)
            closed, updated = result.closed, result.updated
        else:
            closed, updated = [bar], []
        self._bars.extend(closed)
        self._bars.extend(updated)
        self._closed.extend(closed)

    # --- output -----------------------------------------------------------------------------------
    def flush(self) -> None:
        self._last_flush = self.clock()
        if not self._ticks and not self._bars:
            return
        ticks, bars, closed = self._ticks, self._bars, self._closed
        self._ticks, self._bars, self._closed = [], [], []
        self._store(ticks, bars)
        self.stats.flushes += 1
        if self.publish_enabled:
            self._publish(ticks, bars, closed)
        for bar in closed:
            self.stats.closed += 1
            hooks.candle_closed(
                hooks.ClosedCandle(
                    bar.symbol, bar.timeframe, bar.open_time, bar.open, bar.high, bar.low, bar.close, bar.volume
                )
            )

    def _store(self, ticks: list[TickInput], bars: list[Bar]) -> None:
        """Store the batch, waiting out a database outage (a restart, a failover) with the batch in
        hand: the candles that close meanwhile are stored and signalled once it is back."""
        delay = 0.5
        while True:
            try:
                feed_batch_store(instrument_ids=self.instrument_ids, ticks=ticks, bars=bars)
                return
            except (OperationalError, InterfaceError) as exc:
                logger.warning("feed: the database is unavailable (%s); retrying in %.1f s", exc, delay)
                connection.close()  # a broken connection is not reused
                self.sleep(delay)
                delay = min(2 * delay, MAX_STORE_RETRY_DELAY_S)

    def _publish(self, ticks: list[TickInput], bars: list[Bar], closed: list[Bar]) -> None:
        closed_keys = {b.key for b in closed}
        latest: dict[tuple, Bar] = {}
        for bar in bars:
            latest[bar.key] = bar
        frames: dict[str, dict] = defaultdict(lambda: {"ticks": [], "candles": []})
        # Each price also as a person reads it (to the instrument's tick, events.formatting): the
        # page's "last price" shows it as sent. Per item, not per frame, so frames still merge.
        for tick in ticks:
            shown = formatting.price(tick.price, tick.symbol)
            frames[tick.symbol]["ticks"].append({**tick_frame(tick), "price_display": shown})
        for key, bar in latest.items():
            frames[bar.symbol]["candles"].append(
                {**bar_frame(bar, closed=key in closed_keys), "close_display": formatting.price(bar.close, bar.symbol)}
            )
        try:
            self._send(frames)
            self.stats.published += len(frames)
        except Exception:
            logger.exception("feed: publishing %d frame(s) failed; the data is stored", len(frames))

    def _send(self, frames: dict[str, dict]) -> None:
        for symbol, frame in frames.items():
            ticks, candles = frame["ticks"], frame["candles"]
            # Bounded messages: a replay running flat out can close thousands of bars in one batch.
            for i in range(0, max(len(ticks), len(candles), 1), MAX_ITEMS_PER_MESSAGE):
                realtime.group_send(
                    realtime.market_symbol_group(symbol),
                    {
                        "type": realtime.MARKET_MESSAGE_TYPE,
                        "symbol": symbol,
                        "ticks": ticks[i : i + MAX_ITEMS_PER_MESSAGE],
                        "candles": candles[i : i + MAX_ITEMS_PER_MESSAGE],
                    },
                )

    # --- loop -------------------------------------------------------------------------------------
    def run(self, *, max_updates: int | None = None, on_progress: Callable[[int], None] | None = None) -> FeedStats:
        """Consume the source until it ends (or ``max_updates``), then flush what is left."""
        count = 0
        try:
            for update in self.source.stream():
                self.handle(update)
                if update is not None:
                    count += 1
                    if on_progress:
                        on_progress(1)
                    if max_updates is not None and count >= max_updates:
                        break
        finally:
            self.flush()
        return self.stats
