"""The feed: a replayed file comes out through the API unchanged; closed bars reach the hook once, in order."""

import csv
import logging
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from market import hooks
from market.feed import MarketFeed
from market.models import Candle, Tick
from market.presentation import dec
from market.rollup import Bar
from market.sources.replay import Dataset, ReplaySource, datasets_for
from market.sources.synthetic import SyntheticSource

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture
def ids(instruments):
    return {symbol: inst.pk for symbol, inst in instruments.items()}


@pytest.fixture
def recorded():
    calls: list[hooks.ClosedCandle] = []
    hooks.register_candle_closed(calls.append)
    yield calls
    hooks.unregister_candle_closed(calls.append)


def hourly_file(tmp_path, hours: int) -> Path:
    lines = ["timestamp,open,high,low,close,volume"]
    for h in range(hours):
        lines.append(f"{1727740800 + h * 3600},{100 + h},{101 + h},{99 + h},{100.5 + h},{h + 1}")  # 2024-10-01 00:00
    path = tmp_path / "h.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_replayed_file_comes_out_as_the_same_candles_through_the_api(ids, client_for):
    feed = MarketFeed(ReplaySource(datasets_for(["SOL-USDT"]), speed=0), instrument_ids=ids, publish=False)
    stats = feed.run()

    response = client_for("viewer").get(
        "/api/v1/market/candles", {"symbol": "SOL-USDT", "timeframe": "1h", "limit": 1000}
    )
    with (DATA / "SOLUSDT-1h.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert stats.bars_in == 1000
    assert [
        (r["open_time"], r["open"], r["high"], r["low"], r["close"], r["volume"]) for r in response.json()["results"]
    ] == [
        (
            r["timestamp"].replace(" ", "T") + "Z",
            *(dec(Decimal(r[k])) for k in ("Open", "High", "Low", "Close", "Volume")),
        )
        for r in rows
    ]
    # and the higher timeframes it rolled up are stored too: 2024-09-19 23:00 .. 2024-10-31 14:00
    assert Candle.objects.filter(timeframe="4h").count() == 251
    assert Candle.objects.filter(timeframe="1d").count() == 43


def test_each_closed_candle_reaches_the_hook_once_in_order(ids, tmp_path, recorded):
    source = ReplaySource([Dataset("SOL-USDT", hourly_file(tmp_path, 26), "1h")], speed=0)
    MarketFeed(source, instrument_ids=ids, publish=False).run()

    expected = []
    for h in range(26):
        expected.append(("1h", h))
        if h % 4 == 3:
            expected.append(("4h", h - 3))
        if h == 23:
            expected.append(("1d", 0))
    got = [(c.timeframe, int((c.open_time.timestamp() - 1727740800) // 3600)) for c in recorded]
    assert got == expected
    day = next(c for c in recorded if c.timeframe == "1d")
    assert (day.open, day.high, day.low, day.close, day.volume) == (
        Decimal(100),
        Decimal(124),
        Decimal(99),
        Decimal("123.5"),
        Decimal(300),
    )
    assert day.symbol == "SOL-USDT"
    # the hook ran after the bars were stored: the stored day equals what the hook saw
    stored = Candle.objects.get(timeframe="1d", open_time=datetime(2024, 10, 1, tzinfo=UTC))
    assert (stored.high, stored.close) == (day.high, day.close)


def test_a_failing_handler_does_not_stop_the_feed_or_other_handlers(ids, tmp_path, recorded, caplog):
    def broken(candle):
        raise RuntimeError("agents are down")

    hooks.register_candle_closed(broken)
    try:
        source = ReplaySource([Dataset("SOL-USDT", hourly_file(tmp_path, 4), "1h")], speed=0)
        with caplog.at_level(logging.ERROR, logger="market.hooks"):
            MarketFeed(source, instrument_ids=ids, publish=False).run()
    finally:
        hooks.unregister_candle_closed(broken)
    assert [c.timeframe for c in recorded] == ["1h", "1h", "1h", "1h", "4h"]
    assert caplog.text.count("candle_closed handler") == 5


def test_a_bar_with_high_below_low_is_reported_not_stored(ids, caplog):
    bad = Bar("SOL-USDT", "1h", datetime(2024, 10, 1, tzinfo=UTC), *map(Decimal, ("10", "9", "11", "10", "1")))
    feed = MarketFeed(iter([]), instrument_ids=ids, publish=False)
    with caplog.at_level(logging.WARNING, logger="market.feed"):
        feed.handle(bad)
        feed.flush()
    assert feed.stats.rejected == 1
    assert "rejected SOL-USDT 1h bar at 2024-10-01 00:00:00+00:00: high 9 < low 11" in caplog.text
    assert Candle.objects.count() == 0


def test_synthetic_ticks_are_stored_and_rolled_into_minutes(ids):
    start = datetime(2024, 10, 1, 12, 0, tzinfo=UTC)
    source = SyntheticSource(["BTC-USD", "ETH-USD"], seed=5, ticks_per_second=1, speed=0, start=start, limit=600)
    stats = MarketFeed(source, instrument_ids=ids, publish=False).run()

    assert stats.ticks == 600
    assert Tick.objects.filter(instrument_id=ids["BTC-USD"]).count() == 300
    ticks = list(Tick.objects.filter(instrument_id=ids["BTC-USD"]).order_by("ts").values_list("ts", "price", "size"))
    minutes = {}
    for ts, price, size in ticks:
        key = ts.replace(second=0, microsecond=0)
        o, h, lo, c, v = minutes.get(key, (price, price, price, price, Decimal(0)))
        minutes[key] = (o, max(h, price), min(lo, price), price, v + size)
    stored = Candle.objects.filter(instrument_id=ids["BTC-USD"], timeframe="1m").order_by("open_time")
    assert [(b.open_time, b.open, b.high, b.low, b.close, b.volume) for b in stored] == [
        (k, *v) for k, v in sorted(minutes.items())
    ]
    assert len(minutes) == 6  # 12:00:01 .. 12:05:00


def test_replay_paces_bars_at_the_chosen_speed(tmp_path):
    now = [0.0]
    sleeps = []

    def sleep(seconds):
        sleeps.append(seconds)
        now[0] += seconds

    source = ReplaySource(
        [Dataset("SOL-USDT", hourly_file(tmp_path, 4), "1h")], speed=1800, clock=lambda: now[0], sleep=sleep
    )
    out = list(source.stream())
    bars = [u for u in out if u is not None]
    assert len(bars) == 4
    # an hour of market every 2 s: the last bar closes 3 h after the first, i.e. 6 s later
    assert now[0] == pytest.approx(6.0)
    assert max(sleeps) <= 0.2 + 1e-9
    assert out.count(None) > 0  # the feed gets control while the source waits


def test_published_prices_carry_their_display_to_the_instruments_tick(ids, monkeypatch):
    sent: list[dict] = []
    monkeypatch.setattr(MarketFeed, "_send", lambda self, frames: sent.extend(frames.values()))
    start = datetime(2024, 10, 1, 12, 0, tzinfo=UTC)
    source = SyntheticSource(["BTC-USD"], seed=5, ticks_per_second=1, speed=0, start=start, limit=120)
    MarketFeed(source, instrument_ids=ids).run()

    ticks = [t for frame in sent for t in frame["ticks"]]
    candles = [c for frame in sent for c in frame["candles"]]
    assert len(ticks) == 120
    assert candles
    for tick in ticks:  # BTC-USD's tick is 0.1: one decimal, thousands grouped
        assert tick["price_display"] == f"{Decimal(tick['price']).quantize(Decimal('0.1')):,}"
    for candle in candles:
        assert candle["close_display"] == f"{Decimal(candle['close']).quantize(Decimal('0.1')):,}"
