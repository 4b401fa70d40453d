"""The ccxt exchange adapter against Binance's REST wire format, replayed at the HTTP level (no network)."""

import json
import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import requests
import responses
from django.core.management import CommandError, call_command

from market.feed import MarketFeed
from market.models import Candle, Instrument, Tick
from market.sources.exchange import ExchangeSource, InstrumentRef, make_client

FIXTURES = Path(__file__).parent / "fixtures" / "binance"
API = "https://api.binance.com/api/v3"
SOL = InstrumentRef("SOL-USDT", "binance", "SOL/USDT")


def fixture(name: str):
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture
def binance():
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        mock.get(f"{API}/exchangeInfo", json=fixture("exchangeInfo.json"))
        yield mock


@pytest.fixture
def sol_id(instruments):

    return Instrument.objects.get(symbol="SOL-USDT").pk


def test_poll_parses_agg_trades_into_ticks_and_skips_repeats(binance):
    binance.get(f"{API}/aggTrades", json=fixture("aggTrades_1.json"))
    binance.get(f"{API}/aggTrades", json=fixture("aggTrades_2.json"))
    source = ExchangeSource([SOL], clients={"binance": make_client("binance")})

    first = source.poll(SOL)
    second = source.poll(SOL)

    assert [(t.ts, t.price, t.size) for t in first] == [
        (datetime(2024, 9, 19, 23, 0, 0, 120000, tzinfo=UTC), Decimal("142.43"), Decimal("1.2")),
        (datetime(2024, 9, 19, 23, 0, 0, 480000, tzinfo=UTC), Decimal("142.45"), Decimal("0.35")),
        (datetime(2024, 9, 19, 23, 0, 1, 990000, tzinfo=UTC), Decimal("142.41"), Decimal("12.0")),
    ]
    assert [(t.ts, t.price, t.size) for t in second] == [
        (datetime(2024, 9, 19, 23, 1, 2, 500000, tzinfo=UTC), Decimal("142.47"), Decimal("3.5")),
        (datetime(2024, 9, 19, 23, 1, 3, tzinfo=UTC), Decimal("142.5"), Decimal("0.01")),
    ]
    # the second poll asked from the last trade seen (inclusive), as Binance's startTime works
    assert "startTime=1726786801990" in binance.calls[2].request.url
    assert "symbol=SOLUSDT" in binance.calls[2].request.url


def test_feed_survives_error_reply_and_timeout_and_carries_on(binance, sol_id, django_assert_max_num_queries):
    binance.get(f"{API}/aggTrades", json=fixture("aggTrades_1.json"))
    binance.get(f"{API}/aggTrades", status=400, json={"code": -1121, "msg": "Invalid symbol."})
    binance.get(f"{API}/aggTrades", body=requests.exceptions.ReadTimeout("read timed out"))
    binance.get(f"{API}/aggTrades", status=503, body="Service Unavailable")
    binance.get(f"{API}/aggTrades", json=fixture("aggTrades_2.json"))
    source = ExchangeSource([SOL], poll_seconds=0, clients={"binance": make_client("binance")})
    feed = MarketFeed(source, instrument_ids={"SOL-USDT": sol_id}, publish=False)

    stats = feed.run(max_updates=5)

    assert source.errors == 3
    assert source.last_error.startswith("ExchangeNotAvailable")
    assert stats.ticks == 5
    stored = list(Tick.objects.order_by("ts").values_list("price", "size"))
    assert stored == [
        (Decimal("142.43"), Decimal("1.2")),
        (Decimal("142.45"), Decimal("0.35")),
        (Decimal("142.41"), Decimal("12")),
        (Decimal("142.47"), Decimal("3.5")),
        (Decimal("142.5"), Decimal("0.01")),
    ]
    # the trades rolled into two 1m bars (23:00 and 23:01)
    bars = list(
        Candle.objects.filter(timeframe="1m")
        .order_by("open_time")
        .values_list("open", "high", "low", "close", "volume")
    )
    assert bars == [
        (Decimal("142.43"), Decimal("142.45"), Decimal("142.41"), Decimal("142.41"), Decimal("13.55")),
        (Decimal("142.47"), Decimal("142.5"), Decimal("142.47"), Decimal("142.5"), Decimal("3.51")),
    ]


def test_load_candles_from_exchange_stores_closed_klines_and_resumes(binance, sol_id, capsys):
    klines = fixture("klines_SOLUSDT_1h.json")
    binance.get(re.compile(rf"{API}/klines\?.*startTime=1726786800000.*"), json=klines)

    call_command(
        "load_candles", "SOL-USDT", "--exchange", "--timeframe", "1h",
        "--start", "2024-09-19T23:00:00Z", "--end", "2024-09-20T05:00:00Z", "--no-progress",
    )  # fmt: skip

    stored = list(
        Candle.objects.filter(instrument_id=sol_id, timeframe="1h")
        .order_by("open_time")
        .values_list("open_time", "open", "high", "low", "close", "volume")
    )
    assert len(stored) == 6
    assert stored[0] == (
        datetime(2024, 9, 19, 23, tzinfo=UTC),
        Decimal("142.43"),
        Decimal("142.93"),
        Decimal("142.13"),
        Decimal("142.89"),
        Decimal("93441.788"),
    )
    assert [float(row[4]) for row in stored] == [float(k[4]) for k in klines]
    assert "6 bar(s) upserted, 0 rejected, 0 gap(s)" in capsys.readouterr().out

    # A rerun resumes from the newest stored bar (04:00) instead of fetching the range again.
    binance.get(re.compile(rf"{API}/klines\?.*startTime=1726804800000.*"), json=klines[-1:])
    call_command(
        "load_candles", "SOL-USDT", "--exchange", "--timeframe", "1h",
        "--start", "2024-09-19T23:00:00Z", "--end", "2024-09-20T05:00:00Z", "--no-progress",
    )  # fmt: skip
    assert "1 bar(s) upserted" in capsys.readouterr().out
    assert Candle.objects.filter(instrument_id=sol_id, timeframe="1h").count() == 6


def test_load_candles_from_exchange_reports_an_error_reply_without_a_traceback(binance, sol_id):
    binance.get(f"{API}/klines", status=400, json={"code": -1121, "msg": "Invalid symbol."})

    with pytest.raises(CommandError, match=r"binance: BadSymbol: .*Invalid symbol.*0 bar\(s\) stored"):
        call_command(
            "load_candles", "SOL-USDT", "--exchange", "--timeframe", "1h",
            "--start", "2024-09-19T23:00:00Z", "--end", "2024-09-20T05:00:00Z", "--no-progress",
        )  # fmt: skip
    assert Candle.objects.count() == 0
