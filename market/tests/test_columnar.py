"""The columnar cache of candles: a backtest reads the same floats through it as from the rows, bit for
bit, and every kind of candle write makes the blocks it touches stale before the next read."""

from __future__ import annotations

import dataclasses
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import psycopg
import pytest
from django.db import connection

from market import services
from market.columnar import candle_columns
from market.files import Row
from market.models import Candle, CandleBlock, Instrument
from market.rollup import Bar

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="the cache is PostgreSQL's")

BASE = datetime(2024, 3, 1, tzinfo=UTC)
# 1m candles 7,919 minutes apart: about two per block (16,384 minutes), with empty blocks between some
SPACING = timedelta(minutes=7919)


def _price(j: int) -> str:
    # values whose float8 is not their decimal (0.1-like digits), so a wrong conversion would show
    return f"{100 + j * 0.37 + (j % 7) * 1e-9:.12f}"


@pytest.fixture
def instrument(db):
    return Instrument.objects.create(
        symbol="COL-USD", base="COL", quote="USD", price_tick=Decimal("1e-12"), lot_size=Decimal("1e-8"),
        min_notional=Decimal(0),
    )  # fmt: skip


@pytest.fixture
def candles(instrument):
    rows = [
        Row(j, int((BASE + j * SPACING).timestamp()), _price(j), _price(j + 2), _price(j - 2), _price(j + 1), f"{j}.1")
        for j in range(60)
    ]
    services.candle_rows_upsert(instrument_id=instrument.pk, timeframe="1m", rows=rows)
    return rows


def _read(instrument, *, cached: bool, start=None, end=None, before=0):
    return candle_columns(
        instrument_id=instrument.pk, timeframe="1m", start=start, end=end, before=before, cached=cached
    )


def _same(a, b) -> bool:
    pairs = zip([a.ts, *a.values()], [b.ts, *b.values()], strict=True)
    return all(x.dtype == y.dtype and np.array_equal(x, y) for x, y in pairs)


def _built_blocks(instrument) -> int:
    return CandleBlock.objects.filter(instrument=instrument, data__isnull=False).count()


def test_cached_read_equals_the_rows_bit_for_bit(instrument, candles):
    ranges = [
        (None, None, 0),
        (BASE + 10 * SPACING + timedelta(minutes=1), BASE + 41 * SPACING, 7),  # warm-up spans earlier blocks
        (BASE + 3 * SPACING, BASE + 4 * SPACING, 30),  # fewer candles before the start than asked for
        (BASE + 20 * SPACING, None, 1),
        (None, BASE + 5 * SPACING, 5),  # no start: nothing is warm-up
        (BASE + 100 * SPACING, None, 3),  # no candle in the range
    ]
    for start, end, before in ranges:
        rows, rows_warm = _read(instrument, cached=False, start=start, end=end, before=before)
        for _ in range(2):  # built, then read from the stored blocks
            cached, warm = _read(instrument, cached=True, start=start, end=end, before=before)
            assert warm == rows_warm
            assert len(cached) == len(rows)
            assert _same(cached, rows)
    everything, _ = _read(instrument, cached=False)
    assert len(everything) == 60
    assert everything.open[5] == float(Decimal(_price(5)))
    assert _built_blocks(instrument) >= 25  # 60 candles over about 30 blocks, empty ones included


def _candle_time(j: int) -> datetime:
    return BASE + j * SPACING


def _close_at(instrument, when: datetime) -> float | None:
    columns, _ = _read(instrument, cached=True)
    hit = np.flatnonzero(columns.ts == int(when.timestamp()))
    return float(columns.close[hit[0]]) if hit.size else None


def test_every_kind_of_candle_write_is_seen_by_the_next_cached_read(instrument, candles):
    assert _close_at(instrument, _candle_time(12)) == float(Decimal(_price(13)))
    built = _built_blocks(instrument)

    # a COPY upsert (load_candles, the dashboard's upload) changing a candle inside a cached block
    row = candles[12]
    services.candle_rows_upsert(
        instrument_id=instrument.pk, timeframe="1m", rows=[dataclasses.replace(row, close="123.456000000001")]
    )
    assert _built_blocks(instrument) == built - 1
    assert _close_at(instrument, _candle_time(12)) == 123.456000000001

    # an insert between two cached candles (the ORM, as the admin or a test would)
    between = _candle_time(20) + timedelta(minutes=3)
    prices = {"open": Decimal("1.5"), "high": Decimal("2.5"), "low": Decimal("1.25"), "close": Decimal("2.25")}
    Candle.objects.create(instrument=instrument, timeframe="1m", open_time=between, volume=Decimal(1), **prices)
    assert _close_at(instrument, between) == 2.25

    # the feed's upsert of closed bars
    services.candles_store(
        instrument_ids={"COL-USD": instrument.pk},
        bars=[Bar("COL-USD", "1m", _candle_time(30), Decimal(3), Decimal(4), Decimal(2), Decimal("3.75"), Decimal(9))],
    )
    assert _close_at(instrument, _candle_time(30)) == 3.75

    # an update and a delete
    Candle.objects.filter(instrument=instrument, open_time=_candle_time(40)).update(close=Decimal("77.125"))
    assert _close_at(instrument, _candle_time(40)) == 77.125
    Candle.objects.filter(instrument=instrument, open_time=_candle_time(41)).delete()
    assert _close_at(instrument, _candle_time(41)) is None

    # and after all of it, still the rows' values bit for bit
    assert _same(_read(instrument, cached=True)[0], _read(instrument, cached=False)[0])


def test_an_upsert_of_unchanged_values_keeps_the_blocks(instrument, candles):
    _read(instrument, cached=True)
    built = _built_blocks(instrument)
    services.candle_rows_upsert(instrument_id=instrument.pk, timeframe="1m", rows=candles[:10])
    assert _built_blocks(instrument) == built


@pytest.mark.django_db(transaction=True)
def test_a_block_built_from_a_snapshot_older_than_a_write_is_not_stored(instrument, candles):
    """A writer changes a candle and commits while a reader builds that candle's block from its older
    snapshot: the reader gets the old values (its snapshot), the block is not stored, the next read is new."""

    _read(instrument, cached=True)
    CandleBlock.objects.filter(instrument=instrument).update(data=None)  # every block to be built again
    settings = connection.settings_dict
    writer = psycopg.connect(
        dbname=settings["NAME"], user=settings["USER"], host=settings["HOST"], port=settings["PORT"] or 5432
    )
    try:
        writer.execute(
            "UPDATE market_candle SET close = 5 WHERE instrument_id = %s AND open_time = %s",
            [instrument.pk, _candle_time(12)],
        )  # uncommitted: its trigger holds the block's row until the commit below
        threading.Timer(0.5, writer.commit).start()
        assert _close_at(instrument, _candle_time(12)) == float(Decimal(_price(13)))  # waited, old snapshot
    finally:
        writer.close()
    block = CandleBlock.objects.get(instrument=instrument, block__in=_blocks_of(_candle_time(12)))
    assert block.data is None
    assert _close_at(instrument, _candle_time(12)) == 5.0
    assert CandleBlock.objects.get(pk=block.pk).data is not None


def _blocks_of(when: datetime) -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT market_candle_block('1m', %s)", [when])
        return [cursor.fetchone()[0]]


def test_a_file_load_leaves_the_cache_built(instrument, tmp_path):
    """The first backtest after a load reads blocks instead of building them (~1 s per million candles)."""
    lines = [f"{(BASE + j * SPACING):%Y-%m-%d %H:%M:%S},{_price(j)},{_price(j + 2)},{_price(j - 2)},{_price(j + 1)},1"
             for j in range(60)]  # fmt: skip
    path = tmp_path / "col.csv"
    path.write_text("timestamp,open,high,low,close,volume\n" + "\n".join(lines) + "\n")
    report = services.candles_load_file(instrument=instrument, timeframe="1m", path=path)
    assert report.loaded == 60
    blocks = CandleBlock.objects.filter(instrument=instrument, timeframe="1m")
    assert blocks.count() > 1
    assert _built_blocks(instrument) == blocks.count()
    assert _same(_read(instrument, cached=True)[0], _read(instrument, cached=False)[0])
