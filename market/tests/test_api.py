"""The market API over real stored data: candles with indicators, paging, ticks, summary, bad input."""

import csv
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from django.core.management import call_command

from market import indicators
from market.models import Candle, Instrument, Tick
from market.presentation import dec

DATA = Path(__file__).resolve().parents[1] / "data"
URL = "/api/v1/market"
FIVE = "sma_20,rsi_14,macd_12_26_9,bb_20_2,atr_14"


@pytest.fixture
def viewer(client_for):
    return client_for("viewer")


@pytest.fixture
def sol(instruments):
    call_command("load_candles", "SOL-USDT", "--no-progress")
    with (DATA / "SOLUSDT-1h.csv").open() as fh:
        return list(csv.DictReader(fh))


def full_series(rows):
    cols = [np.array([float(r[k]) for r in rows]) for k in ("Open", "High", "Low", "Close")]
    out = {}
    for spec in indicators.parse_specs(FIVE):
        out.update(indicators.compute(spec, *cols))
    return out


def iso(text: str) -> str:
    return text.replace(" ", "T") + "Z"


def assert_column(results, name, expected):
    got = np.array([np.nan if r[name] is None else r[name] for r in results], dtype=float)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)
    assert np.array_equal(np.isnan(got), np.isnan(expected))


def test_latest_candles_match_the_file_with_indicators_from_full_history(viewer, sol):
    response = viewer.get(f"{URL}/candles", {"symbol": "SOL-USDT", "timeframe": "1h", "limit": 100, "indicators": FIVE})

    assert response.status_code == 200
    body = response.json()
    results = body["results"]
    assert len(results) == 100
    assert [r["open_time"] for r in results] == [iso(r["timestamp"]) for r in sol[-100:]]
    assert [r["close"] for r in results] == [dec(Decimal(r["Close"])) for r in sol[-100:]]
    assert results[0]["volume"] == dec(Decimal(sol[-100]["Volume"]))
    assert body["indicators"] == [
        "sma_20", "rsi_14", "macd_12_26_9", "macd_12_26_9_signal", "macd_12_26_9_hist",
        "bb_20_2_mid", "bb_20_2_upper", "bb_20_2_lower", "atr_14",
    ]  # fmt: skip
    reference = full_series(sol)
    for name in body["indicators"]:
        assert_column(results, name, reference[name][-100:])
    assert body["next"] is None
    assert body["previous"].endswith("end=" + results[0]["open_time"].replace(":", "%3A"))


def test_first_bar_after_start_has_its_full_history_indicator_values(viewer, sol):
    start = sol[600]["timestamp"]
    response = viewer.get(
        f"{URL}/candles",
        {"symbol": "SOL-USDT", "timeframe": "1h", "start": iso(start), "limit": 50, "indicators": FIVE},
    )

    results = response.json()["results"]
    assert results[0]["open_time"] == iso(start)
    reference = full_series(sol)
    for name in response.json()["indicators"]:
        assert_column(results, name, reference[name][600:650])


def test_indicator_warm_up_is_null_at_the_start_of_history(viewer, sol):
    response = viewer.get(
        f"{URL}/candles", {"symbol": "SOL-USDT", "start": iso(sol[0]["timestamp"]), "limit": 25, "indicators": "sma_20"}
    )
    values = [r["sma_20"] for r in response.json()["results"]]
    assert values[:19] == [None] * 19
    assert values[19] == pytest.approx(sum(float(r["Close"]) for r in sol[:20]) / 20, abs=1e-9)


def test_next_link_pages_through_a_range_without_overlap(viewer, sol):
    params = {
        "symbol": "SOL-USDT",
        "timeframe": "1h",
        "start": iso(sol[10]["timestamp"]),
        "end": iso(sol[35]["timestamp"]),
    }
    first = viewer.get(f"{URL}/candles", {**params, "limit": 20}).json()
    second = viewer.get(first["next"]).json()

    times = [r["open_time"] for r in first["results"] + second["results"]]
    assert times == [iso(r["timestamp"]) for r in sol[10:35]]
    assert second["next"] is None


def test_previous_link_goes_back_from_the_latest_bars(viewer, sol):
    latest = viewer.get(f"{URL}/candles", {"symbol": "SOL-USDT", "limit": 10}).json()
    older = viewer.get(latest["previous"]).json()
    assert [r["open_time"] for r in older["results"]] == [iso(r["timestamp"]) for r in sol[-20:-10]]


@pytest.mark.parametrize(
    ("params", "status", "body"),
    [
        ({"symbol": "DOGE-USD"}, 404, {"detail": "Unknown symbol 'DOGE-USD'."}),
        (
            {"symbol": "SOL-USDT", "timeframe": "2h"},
            400,
            {"timeframe": ['"2h" is not a timeframe: allowed are 1m, 5m, 15m, 1h, 4h, 1d, 1M.']},
        ),
        (
            {"symbol": "SOL-USDT", "start": "2024-10-02T00:00:00Z", "end": "2024-10-01T00:00:00Z"},
            400,
            {"start": ["start must not be after end."]},
        ),
        ({"symbol": "SOL-USDT", "limit": "5001"}, 400, {"limit": ["Ensure this value is less than or equal to 5000."]}),
        ({"symbol": "SOL-USDT", "limit": "0"}, 400, {"limit": ["Ensure this value is greater than or equal to 1."]}),
        (
            {"symbol": "SOL-USDT", "indicators": "sma_20,vwap_5"},
            400,
            {"indicators": ["unknown indicator 'vwap' in 'vwap_5': known are atr, bb, ema, high, low, macd, rsi, sma"]},
        ),
        (
            {"symbol": "SOL-USDT", "indicators": "sma_0"},
            400,
            {"indicators": ["'sma_0': period must be between 1 and 1000, got 0"]},
        ),
        ({"symbol": "SOL-USDT", "start": "yesterday"}, 400, None),
        ({}, 400, {"symbol": ["This field is required."]}),
    ],
)
def test_bad_candle_queries_name_the_field(viewer, sol, params, status, body):
    response = viewer.get(f"{URL}/candles", params)
    assert response.status_code == status
    if body is not None:
        assert response.json() == body
    else:
        assert list(response.json()) == ["start"]


def test_candles_need_a_user(client_for, sol):
    assert client_for(None).get(f"{URL}/candles", {"symbol": "SOL-USDT"}).status_code == 401
    assert client_for("nobody").get(f"{URL}/candles", {"symbol": "SOL-USDT"}).status_code == 403


def test_candle_query_count_does_not_grow_with_bars(viewer, sol, django_assert_num_queries):
    # role check, instrument, warm-up + bars in one statement
    with django_assert_num_queries(3):
        viewer.get(
            f"{URL}/candles",
            {"symbol": "SOL-USDT", "start": iso(sol[500]["timestamp"]), "limit": 1, "indicators": FIVE},
        )
    with django_assert_num_queries(3):
        viewer.get(
            f"{URL}/candles",
            {"symbol": "SOL-USDT", "start": iso(sol[500]["timestamp"]), "limit": 400, "indicators": FIVE},
        )


def test_symbols_lists_instruments_with_plain_decimals(viewer, instruments):
    response = viewer.get(f"{URL}/symbols", {"active": "true"})
    assert response.status_code == 200
    assert [s["symbol"] for s in response.json()["results"]] == ["BTC-USD", "ETH-USD", "SOL-USDT"]
    sol = response.json()["results"][2]
    assert sol == {
        "symbol": "SOL-USDT",
        "base": "SOL",
        "quote": "USDT",
        "exchange": "binance",
        "exchange_symbol": "SOL/USDT",
        "price_tick": "0.01",
        "lot_size": "0.001",
        "min_notional": "5",
        "active": True,
    }


def test_symbols_query_count_does_not_grow(viewer, instruments, django_assert_num_queries):
    with django_assert_num_queries(2):
        viewer.get(f"{URL}/symbols", {"limit": 1})
    with django_assert_num_queries(2):
        viewer.get(f"{URL}/symbols", {"limit": 3})


def make_ticks(symbol: str, n: int, start: datetime) -> None:
    instrument = Instrument.objects.get(symbol=symbol)
    Tick.objects.bulk_create(
        [
            Tick(instrument=instrument, ts=start + timedelta(seconds=i), price=Decimal(100 + i), size=Decimal("0.5"))
            for i in range(n)
        ]
    )


def test_ticks_from_since_oldest_first_with_cursor_pages(viewer, instruments):
    t0 = datetime(2024, 9, 20, 12, tzinfo=UTC)
    make_ticks("BTC-USD", 10, t0)
    make_ticks("ETH-USD", 3, t0)

    first = viewer.get(f"{URL}/ticks", {"symbol": "BTC-USD", "since": "2024-09-20T12:00:03Z", "limit": 4}).json()
    second = viewer.get(first["next"]).json()

    assert [t["price"] for t in first["results"]] == ["103", "104", "105", "106"]
    assert [t["price"] for t in second["results"]] == ["107", "108", "109"]
    assert first["results"][0] == {
        "id": first["results"][0]["id"],
        "symbol": "BTC-USD",
        "ts": "2024-09-20T12:00:03Z",
        "price": "103",
        "size": "0.5",
        "bid": None,
        "ask": None,
    }
    assert second["next"] is None


@pytest.mark.parametrize(
    ("params", "status", "field"),
    [
        ({"symbol": "NOPE"}, 404, "detail"),
        ({"symbol": "BTC-USD", "limit": "1001"}, 400, "limit"),
        ({"symbol": "BTC-USD", "since": "soon"}, 400, "since"),
        ({}, 400, "symbol"),
    ],
)
def test_bad_tick_queries_name_the_field(viewer, instruments, params, status, field):
    response = viewer.get(f"{URL}/ticks", params)
    assert response.status_code == status
    assert list(response.json()) == [field]


def test_tick_query_count_does_not_grow(viewer, instruments, django_assert_num_queries):
    make_ticks("BTC-USD", 50, datetime(2024, 9, 20, tzinfo=UTC))
    # role check, instrument, ticks (with their instrument joined)
    with django_assert_num_queries(3):
        viewer.get(f"{URL}/ticks", {"symbol": "BTC-USD", "limit": 1})
    with django_assert_num_queries(3):
        viewer.get(f"{URL}/ticks", {"symbol": "BTC-USD", "limit": 50})


def test_summary_gives_24h_figures_from_the_finest_timeframe(viewer, sol):
    call_command("load_candles", "BTC-USD", "--no-progress")
    response = viewer.get(f"{URL}/summary")

    assert response.status_code == 200
    by_symbol = {s["symbol"]: s for s in response.json()["results"]}
    last24 = sol[-24:]
    open_24h, last = Decimal(last24[0]["Open"]), Decimal(last24[-1]["Close"])
    assert by_symbol["SOL-USDT"] == {
        "symbol": "SOL-USDT",
        "timeframe": "1h",
        "last_time": "2024-10-31T14:00:00Z",
        "last_price": dec(last),
        "change_24h": dec(last - open_24h),
        "change_pct_24h": dec(((last - open_24h) / open_24h * 100).quantize(Decimal("0.0001"))),
        "high_24h": dec(max(Decimal(r["High"]) for r in last24)),
        "low_24h": dec(min(Decimal(r["Low"]) for r in last24)),
        "volume_24h": dec(sum(Decimal(r["Volume"]) for r in last24)),
    }
    assert by_symbol["BTC-USD"]["timeframe"] == "1M"
    assert by_symbol["BTC-USD"]["last_time"] == "2024-12-01T00:00:00Z"
    assert by_symbol["ETH-USD"]["last_price"] is None


def test_summary_query_count_does_not_grow(viewer, sol, django_assert_num_queries):
    call_command("load_candles", "BTC-USD", "--no-progress")
    with django_assert_num_queries(3):
        viewer.get(f"{URL}/summary", {"limit": 1})
    with django_assert_num_queries(3):
        viewer.get(f"{URL}/summary", {"limit": 3})
    assert Candle.objects.count() == 1156
