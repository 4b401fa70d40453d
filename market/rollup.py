"""Roll bars up: ticks into base bars (1m), closed base bars into every higher timeframe. Pure Python.

A higher bar is the merge of the closed base bars inside it plus the base bar still forming, so
live updates of a 4h bar move with every tick and its final value equals aggregating its 1m bars
(open of the first, high max, low min, close of the last, volume summed).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from . import timeframes


@dataclass
class Bar:
    symbol: str
    timeframe: str
    open_time: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal

    @property
    def key(self) -> tuple[str, str, datetime]:
        return (self.symbol, self.timeframe, self.open_time)

    def merged(self, later: Bar, timeframe: str, open_time: datetime) -> Bar:
        return Bar(
            self.symbol,
            timeframe,
            open_time,
            self.open,
            max(self.high, later.high),
            min(self.low, later.low),
            later.close,
            self.volume + later.volume,
        )


@dataclass
class RollResult:
    closed: list[Bar]  # bars that will not change again, finest and oldest first
    updated: list[Bar]  # the bars still forming, after this input


class SymbolRoller:
    """Bars for one symbol, built from ticks (``base="1m"``) or from closed base bars of any chain timeframe."""

    def __init__(self, symbol: str, base: str = "1m"):
        if base not in timeframes.ROLLUP_CHAIN:
            raise ValueError(f"cannot roll up from {base}")
        self.symbol = symbol
        self.base = base
        self.higher = timeframes.higher_than(base)
        self.current: Bar | None = None  # the base bar being built from ticks
        self.parts: dict[str, Bar | None] = dict.fromkeys(self.higher)
        self.late_ticks = 0

    def add_tick(self, ts: datetime, price: Decimal, size: Decimal) -> RollResult:
        open_time = timeframes.floor(ts, self.base)
        closed: list[Bar] = []
        current = self.current
        if current is not None and open_time < current.open_time:
            self.late_ticks += 1  # its bar is closed and published: counted, not rewritten
            return RollResult([], [])
        if current is not None and open_time > current.open_time:
            closed = self._close_base(current)
            current = None
        if current is None:
            current = Bar(self.symbol, self.base, open_time, price, price, price, price, size)
        else:
            current.high = max(current.high, price)
            current.low = min(current.low, price)
            current.close = price
            current.volume += size
        self.current = current
        return RollResult(closed, [replace(current), *self._forming(current)])

    def add_closed(self, bar: Bar) -> RollResult:
        """A closed base bar from upstream (a replayed file, an exchange's 1m candles)."""
        if bar.timeframe != self.base:
            raise ValueError(f"{self.symbol}: expected a {self.base} bar, got {bar.timeframe}")
        closed = self._close_base(bar)
        return RollResult(closed, [replace(b) for b in self.parts.values() if b is not None])

    def advance(self, now: datetime) -> list[Bar]:
        """Close what has ended by ``now`` (wall clock for live sources with quiet spells)."""
        closed: list[Bar] = []
        if self.current is not None and timeframes.bar_end(self.current.open_time, self.base) <= now:
            closed.extend(self._close_base(self.current))
            self.current = None
        for tf, part in self.parts.items():
            if part is not None and timeframes.bar_end(part.open_time, tf) <= now:
                closed.append(part)
                self.parts[tf] = None
        return closed

    def _close_base(self, bar: Bar) -> list[Bar]:
        closed = [replace(bar)]
        base_end = timeframes.bar_end(bar.open_time, self.base)
        for tf in self.higher:
            open_time = timeframes.floor(bar.open_time, tf)
            part = self.parts[tf]
            if part is not None and part.open_time != open_time:
                closed.append(part)  # its last base bars never came (a gap): it ends here
                part = None
            if part is None:
                part = replace(bar, timeframe=tf, open_time=open_time)
            else:
                part = part.merged(bar, tf, open_time)
            if base_end >= timeframes.bar_end(open_time, tf):
                closed.append(part)
                part = None
            self.parts[tf] = part
        if self.current is bar:
            self.current = None
        return closed

    def _forming(self, current: Bar) -> list[Bar]:
        out = []
        for tf in self.higher:
            part = self.parts[tf]
            open_time = timeframes.floor(current.open_time, tf)
            if part is not None and part.open_time == open_time:
                out.append(part.merged(current, tf, open_time))
            else:
                out.append(replace(current, timeframe=tf, open_time=open_time))
        return out
