"""Candles as the engine sees them: parallel float64 arrays, timestamps as epoch seconds (bar open time)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import numpy as np

__all__ = ["Bars", "Candle", "epoch_seconds"]


def epoch_seconds(value) -> int:
    """An aware datetime, or epoch seconds, as int epoch seconds (naive datetimes are refused)."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware (UTC)")
        return int(value.timestamp())
    return int(value)


@dataclass(frozen=True, slots=True)
class Candle:
    """One closed candle; ``ts`` is its open time."""

    ts: int
    open: float
    high: float
    low: float
    close: float
    volume: float = 0.0

    @classmethod
    def of(cls, ts, open, high, low, close, volume=0) -> Candle:  # noqa: A002 - the candle's own field names
        return cls(epoch_seconds(ts), float(open), float(high), float(low), float(close), float(volume))


@dataclass(frozen=True)
class Bars:
    ts: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    timeframe_s: int

    def __post_init__(self):
        n = len(self.ts)
        for name in ("open", "high", "low", "close", "volume"):
            arr = np.ascontiguousarray(getattr(self, name), dtype=np.float64)
            if len(arr) != n:
                raise ValueError(f"{name} has {len(arr)} values, ts has {n}")
            object.__setattr__(self, name, arr)
        ts = np.ascontiguousarray(self.ts, dtype=np.int64)
        if n > 1 and not np.all(np.diff(ts) > 0):
            raise ValueError("timestamps must be strictly increasing")
        object.__setattr__(self, "ts", ts)
        if self.timeframe_s <= 0:
            raise ValueError("timeframe_s must be positive")

    def __len__(self) -> int:
        return len(self.ts)

    def candle(self, i: int) -> Candle:
        return Candle(
            int(self.ts[i]),
            float(self.open[i]),
            float(self.high[i]),
            float(self.low[i]),
            float(self.close[i]),
            float(self.volume[i]),
        )

    def slice(self, start: int, stop: int) -> Bars:
        return Bars(
            self.ts[start:stop],
            self.open[start:stop],
            self.high[start:stop],
            self.low[start:stop],
            self.close[start:stop],
            self.volume[start:stop],
            self.timeframe_s,
        )

    @classmethod
    def from_rows(cls, rows, timeframe_s: int | None = None) -> Bars:
        """Rows of ``(ts, open, high, low, close, volume)``: aware datetimes or epoch seconds, Decimals or floats."""
        rows = list(rows)
        ts = np.array([epoch_seconds(r[0]) for r in rows], dtype=np.int64)
        cols = np.array([[float(v) for v in r[1:6]] for r in rows], dtype=np.float64).reshape(len(rows), 5)
        if timeframe_s is None:
            if len(ts) < 2:
                raise ValueError("timeframe_s is needed with fewer than two rows")
            timeframe_s = int(np.min(np.diff(ts)))
        return cls(ts, cols[:, 0], cols[:, 1], cols[:, 2], cols[:, 3], cols[:, 4], timeframe_s)

    @classmethod
    def from_csv(cls, path: str | Path, timeframe_s: int | None = None) -> Bars:
        """A ``timestamp,Open,High,Low,Close,Volume`` file, timestamps as UTC ``YYYY-MM-DD HH:MM:SS``."""
        with open(path, newline="") as fh:
            reader = csv.reader(fh)
            next(reader)
            rows = [
                (datetime.fromisoformat(r[0]).replace(tzinfo=UTC), *(Decimal(v) for v in r[1:6])) for r in reader if r
            ]
        return cls.from_rows(rows, timeframe_s)
