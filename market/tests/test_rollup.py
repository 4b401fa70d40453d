"""Roll-up: ticks into 1m, 1m into every higher timeframe, equal to computing each bar directly."""

import csv
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from market import timeframes
from market.rollup import Bar, SymbolRoller
from market.sources.synthetic import SyntheticSource

DATA = Path(__file__).resolve().parents[1] / "data"
START = datetime(2024, 3, 1, 22, 37, tzinfo=UTC)


def direct(bars: list[Bar], timeframe: str) -> list[tuple]:
    """Each higher bar computed straight from the finer bars inside it (the textbook definition)."""
    groups = defaultdict(list)
    for bar in bars:
        groups[timeframes.floor(bar.open_time, timeframe)].append(bar)
    return [
        (
            open_time,
            group[0].open,
            max(b.high for b in group),
            min(b.low for b in group),
            group[-1].close,
            sum((b.volume for b in group), Decimal(0)),
        )
        for open_time, group in sorted(groups.items())
    ]


def as_tuples(bars: list[Bar]) -> list[tuple]:
    return [(b.open_time, b.open, b.high, b.low, b.close, b.volume) for b in bars]


def roll_ticks(ticks) -> dict[str, list[Bar]]:
    roller = SymbolRoller("BTC-USD", "1m")
    closed = []
    for tick in ticks:
        closed.extend(roller.add_tick(tick.ts, tick.price, tick.size).closed)
    closed.extend(roller.advance(datetime.max.replace(tzinfo=UTC)))
    by_tf = defaultdict(list)
    for bar in closed:
        by_tf[bar.timeframe].append(bar)
    return by_tf


def test_ticks_roll_into_1m_bars_equal_to_direct_computation():
    # 2 ticks a second for 5 hours, starting mid-minute and mid-hour
    ticks = list(SyntheticSource(["BTC-USD"], seed=11, ticks_per_second=2, speed=0, start=START, limit=36_000).stream())
    by_tf = roll_ticks(ticks)

    expected = defaultdict(list)
    for t in ticks:
        expected[timeframes.floor(t.ts, "1m")].append(t)
    assert as_tuples(by_tf["1m"]) == [
        (ot, g[0].price, max(t.price for t in g), min(t.price for t in g), g[-1].price, sum(t.size for t in g))
        for ot, g in sorted(expected.items())
    ]
    assert len(by_tf["1m"]) == 301  # 22:37:00.5 .. 03:37:00 spans 301 minutes


def test_1m_bars_roll_into_1h_4h_1d_equal_to_direct_computation():
    ticks = list(
        SyntheticSource(["BTC-USD"], seed=3, ticks_per_second=0.2, speed=0, start=START, limit=40_000).stream()
    )
    by_tf = roll_ticks(ticks)
    minutes = by_tf["1m"]
    assert len(minutes) > 2 * 24 * 60  # more than two days: several 1d and 4h bars

    for tf in ("5m", "15m", "1h", "4h", "1d"):
        assert as_tuples(by_tf[tf]) == direct(minutes, tf), tf


def test_replayed_hourly_bars_roll_into_4h_and_1d_equal_to_direct_computation():
    with (DATA / "SOLUSDT-1h.csv").open() as fh:
        hours = [
            Bar(
                "SOL-USDT",
                "1h",
                datetime.fromisoformat(r["timestamp"]).replace(tzinfo=UTC),
                *(Decimal(r[k]) for k in ("Open", "High", "Low", "Close", "Volume")),
            )
            for r in csv.DictReader(fh)
        ]
    roller = SymbolRoller("SOL-USDT", "1h")
    closed = []
    for bar in hours:
        closed.extend(roller.add_closed(bar).closed)
    closed.extend(roller.advance(hours[-1].open_time + timedelta(days=2)))

    assert as_tuples([b for b in closed if b.timeframe == "1h"]) == as_tuples(hours)
    assert as_tuples([b for b in closed if b.timeframe == "4h"]) == direct(hours, "4h")
    assert as_tuples([b for b in closed if b.timeframe == "1d"]) == direct(hours, "1d")
    # 2024-09-20 is the first full day in the file: spot-check it by hand
    day = next(b for b in closed if b.timeframe == "1d" and b.open_time == datetime(2024, 9, 20, tzinfo=UTC))
    first, last = hours[1], hours[24]
    assert (day.open, day.close) == (first.open, last.close)


def test_forming_higher_bar_includes_the_forming_minute():
    roller = SymbolRoller("X", "1m")
    t0 = datetime(2024, 1, 1, 10, 0, 5, tzinfo=UTC)
    roller.add_tick(t0, Decimal("10"), Decimal("1"))
    result = roller.add_tick(t0 + timedelta(minutes=1), Decimal("12"), Decimal("2"))
    assert [b.timeframe for b in result.closed] == ["1m"]
    hour = next(b for b in result.updated if b.timeframe == "1h")
    assert (hour.open, hour.high, hour.low, hour.close, hour.volume) == (
        Decimal("10"),
        Decimal("12"),
        Decimal("10"),
        Decimal("12"),
        Decimal("3"),
    )


def test_late_tick_for_a_closed_minute_is_counted_not_applied():
    roller = SymbolRoller("X", "1m")
    t0 = datetime(2024, 1, 1, 10, 1, tzinfo=UTC)
    roller.add_tick(t0, Decimal("10"), Decimal("1"))
    result = roller.add_tick(t0 - timedelta(seconds=1), Decimal("99"), Decimal("1"))
    assert result.closed == []
    assert result.updated == []
    assert roller.late_ticks == 1
    assert roller.current.high == Decimal("10")
