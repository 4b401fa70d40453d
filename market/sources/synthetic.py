"""Seeded geometric Brownian motion ticks: the same seed gives the same market, for load and tests."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from market.services import TickInput

SECONDS_PER_YEAR = 365 * 24 * 3600
# Start prices and annualised volatility in the range these pairs have shown.
DEFAULTS = {"BTC-USD": (60000.0, 0.6), "ETH-USD": (3000.0, 0.75), "SOL-USDT": (140.0, 0.9)}


class SyntheticSource:
    """``ticks_per_second`` ticks per symbol per market second, one market second per wall second
    (``speed=0``: as fast as possible, market time still advancing by the tick interval)."""

    name = "synthetic"

    def __init__(
        self,
        symbols: list[str],
        *,
        seed: int = 7,
        ticks_per_second: float = 2.0,
        speed: float = 1.0,
        start: datetime | None = None,
        volatility: float | None = None,
        drift: float = 0.0,
        limit: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if ticks_per_second <= 0:
            raise ValueError("ticks_per_second must be positive")
        self.symbols = list(symbols)
        self.rng = random.Random(seed)
        self.interval = 1.0 / ticks_per_second
        self.speed = speed
        self.now = (start or datetime.now(tz=UTC)).replace(microsecond=0)
        self.drift = drift
        self.limit = limit
        self.clock = clock
        self.sleep = sleep
        self.prices = {s: DEFAULTS.get(s, (100.0, 0.8))[0] for s in self.symbols}
        self.vols = {s: volatility or DEFAULTS.get(s, (100.0, 0.8))[1] for s in self.symbols}
        self._closed = False

    @staticmethod
    def _quantize(price: float) -> Decimal:
        places = 2 if price >= 100 else 4 if price >= 1 else 8
        return Decimal(f"{price:.{places}f}")

    def stream(self) -> Iterator[TickInput | None]:
        dt = self.interval / SECONDS_PER_YEAR
        step = timedelta(seconds=self.interval)
        emitted = 0
        started = self.clock()
        ticks = 0
        while not self._closed and (self.limit is None or emitted < self.limit):
            self.now += step
            ticks += 1
            if self.speed > 0:
                due = started + ticks * self.interval / self.speed
                if (wait := due - self.clock()) > 0:
                    self.sleep(wait)
            for symbol in self.symbols:
                sigma = self.vols[symbol]
                shock = self.rng.gauss(0.0, 1.0)
                self.prices[symbol] *= math.exp((self.drift - 0.5 * sigma * sigma) * dt + sigma * math.sqrt(dt) * shock)
                mid = self.prices[symbol]
                price = self._quantize(mid)
                size = Decimal(f"{self.rng.lognormvariate(-2.0, 1.0):.6f}")
                bid, ask = self._quantize(mid * 0.9999), self._quantize(mid * 1.0001)  # a 2 bp spread
                yield TickInput(symbol, self.now, price, size, bid, ask)
                emitted += 1
                if self.limit is not None and emitted >= self.limit:
                    return

    def close(self) -> None:
        self._closed = True
