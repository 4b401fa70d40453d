"""Replay candle files at a chosen speed: the embedded default, moving prices with no network."""

from __future__ import annotations

import heapq
import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

from market import files, timeframes
from market.rollup import Bar

logger = logging.getLogger(__name__)

DATA_DIR = Path(__file__).resolve().parents[1] / "data"
# The datasets shipped in market/data (see market/data/README.md for where they come from).
DATASETS = {
    "SOL-USDT": (DATA_DIR / "SOLUSDT-1h.csv", "1h"),
    "BTC-USD": (DATA_DIR / "BTCUSD-1M.csv", "1M"),
}
MAX_IDLE_STEP = 0.2  # seconds: the longest the source waits before yielding control (None)


@dataclass(frozen=True)
class Dataset:
    symbol: str
    path: Path
    timeframe: str


def datasets_for(symbols: list[str]) -> list[Dataset]:
    unknown = [s for s in symbols if s not in DATASETS]
    if unknown:
        raise ValueError(f"no replay data for {', '.join(unknown)}: shipped are {', '.join(DATASETS)}")
    return [Dataset(s, *DATASETS[s]) for s in symbols]


class ReplaySource:
    """Yields each file's bars as closed candles, in time order across files, when they close.

    ``speed`` is market seconds per wall second (3600: an hour of market a second); 0 means as fast
    as possible. With ``loop`` the files restart, shifted forward by their span (in whole days), so
    time keeps moving: the live engine never gets a candle older than one it has traded on. A looping
    replay given ``resume_after`` (the newest candle already stored) carries on after it, in the
    pass that covers it, so a restart continues the timeline instead of replaying stored times.
    """

    name = "replay"

    def __init__(
        self,
        datasets: list[Dataset],
        *,
        speed: float = 3600.0,
        loop: bool = False,
        resume_after: datetime | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.datasets = datasets
        self.speed = speed
        self.loop = loop
        self.resume_after = resume_after if loop else None
        self.clock = clock
        self.sleep = sleep
        self._closed = False
        if loop and any(d.timeframe not in timeframes.ROLLUP_CHAIN for d in datasets):
            raise ValueError("looping replay needs fixed-length timeframes (not 1M)")
        self._bars: dict[str, list[Bar]] = {d.symbol: self._read(d) for d in datasets}

    @staticmethod
    def _read(dataset: Dataset) -> list[Bar]:
        parsed = files.read_candles(dataset.path, dataset.timeframe)
        for bad in parsed.bad:
            logger.warning("replay %s: skipping %s", dataset.path.name, bad)
        return [
            Bar(
                dataset.symbol,
                dataset.timeframe,
                row.open_time,
                Decimal(row.open),
                Decimal(row.high),
                Decimal(row.low),
                Decimal(row.close),
                Decimal(row.volume),
            )
            for row in parsed.rows
        ]

    def _timeline(self) -> Iterator[tuple[float, Bar]]:
        """(close time in market seconds, bar), merged across datasets; looping shifts each pass."""
        spans = []
        for bars in self._bars.values():
            if bars:
                spans.append(
                    timeframes.bar_end(bars[-1].open_time, bars[-1].timeframe).timestamp()
                    - bars[0].open_time.timestamp()
                )
        # Whole days, so shifted bars stay on every timeframe's grid.
        span = math.ceil(max(spans, default=0) / 86400) * 86400
        shift = 0.0
        after = self.resume_after.timestamp() if self.resume_after is not None else None
        firsts = [bars[0].open_time.timestamp() for bars in self._bars.values() if bars]
        if after is not None and span and firsts and after >= min(firsts):
            shift = math.floor((after - min(firsts)) / span) * span  # the pass that covers ``after``
        while True:
            streams = [
                ((timeframes.bar_end(b.open_time, b.timeframe).timestamp() + shift, i, b) for i, b in enumerate(bars))
                for bars in self._bars.values()
            ]
            for close_at, _, bar in heapq.merge(*streams, key=lambda item: (item[0], item[2].symbol)):
                if after is not None and bar.open_time.timestamp() + shift <= after:
                    continue  # stored already (before a restart)
                if shift:
                    bar = Bar(
                        bar.symbol,
                        bar.timeframe,
                        _shifted(bar.open_time, shift),
                        bar.open,
                        bar.high,
                        bar.low,
                        bar.close,
                        bar.volume,
                    )
                yield close_at, bar
            if not self.loop or not span:
                return
            shift += span

    def stream(self) -> Iterator[Bar | None]:
        started_wall = self.clock()
        started_market: float | None = None
        for close_at, bar in self._timeline():
            if self._closed:
                return
            if started_market is None:
                started_market = close_at
            if self.speed > 0:
                due = started_wall + (close_at - started_market) / self.speed
                while (wait := due - self.clock()) > 0:
                    self.sleep(min(wait, MAX_IDLE_STEP))
                    if wait > MAX_IDLE_STEP:
                        yield None
            yield bar

    def close(self) -> None:
        self._closed = True


def _shifted(ts: datetime, seconds: float) -> datetime:
    return ts + timedelta(seconds=seconds)
