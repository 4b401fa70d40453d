"""Timeframe arithmetic: bar lengths, alignment of open times, and the roll-up chain. Pure Python."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

# Fixed-length timeframes in the roll-up chain, finest first. "1M" (calendar month) is loaded from
# files only and never rolled up.
ROLLUP_CHAIN = ("1m", "5m", "15m", "1h", "4h", "1d")
SECONDS = {"1m": 60, "5m": 300, "15m": 900, "1h": 3600, "4h": 14400, "1d": 86400}
ALL = (*ROLLUP_CHAIN, "1M")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def validate(timeframe: str) -> str:
    if timeframe not in ALL:
        raise ValueError(f"unknown timeframe '{timeframe}': allowed are {', '.join(ALL)}")
    return timeframe


def floor(ts: datetime, timeframe: str) -> datetime:
    """The open time of the bar containing ``ts`` (bars are aligned to the Unix epoch, UTC)."""
    if timeframe == "1M":
        return ts.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    step = SECONDS[timeframe]
    seconds = int((ts - EPOCH).total_seconds() // step) * step
    return EPOCH + timedelta(seconds=seconds)


def floor_epoch(epoch_seconds: float, timeframe: str) -> int:
    step = SECONDS[timeframe]
    return int(epoch_seconds // step) * step


def bar_end(open_time: datetime, timeframe: str) -> datetime:
    if timeframe == "1M":
        year, month = (open_time.year + 1, 1) if open_time.month == 12 else (open_time.year, open_time.month + 1)
        return open_time.replace(year=year, month=month)
    return open_time + timedelta(seconds=SECONDS[timeframe])


def duration(timeframe: str) -> timedelta:
    """Nominal length (a month counts as 31 days: used only to size fetch windows)."""
    return timedelta(days=31) if timeframe == "1M" else timedelta(seconds=SECONDS[timeframe])


def higher_than(timeframe: str) -> tuple[str, ...]:
    """Timeframes a bar of ``timeframe`` rolls up into."""
    if timeframe not in ROLLUP_CHAIN:
        return ()
    return ROLLUP_CHAIN[ROLLUP_CHAIN.index(timeframe) + 1 :]
