"""load_candles from files: exact values, idempotent and resumable, bad rows refused by line, gaps reported."""

import csv
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from market import services
from market.models import Candle, Instrument

DATA = Path(__file__).resolve().parents[1] / "data"


def load(*args):
    call_command("load_candles", *args, "--no-progress")


def stored(symbol: str, timeframe: str):
    return list(
        Candle.objects.filter(instrument__symbol=symbol, timeframe=timeframe)
        .order_by("open_time")
        .values_list("open_time", "open", "high", "low", "close", "volume")
    )


def write_csv(path: Path, rows: list[str]) -> Path:
    path.write_text("timestamp,open,high,low,close,volume\n" + "\n".join(rows) + "\n")
    return path


def test_shipped_sol_file_loads_every_row_exactly(instruments, capsys):
    load("SOL-USDT")

    with (DATA / "SOLUSDT-1h.csv").open() as fh:
        expected = [
            (
                datetime.fromisoformat(r["timestamp"]).replace(tzinfo=UTC),
                *(Decimal(r[k]) for k in ("Open", "High", "Low", "Close", "Volume")),
            )
            for r in csv.DictReader(fh)
        ]
    assert stored("SOL-USDT", "1h") == expected
    assert len(expected) == 1000
    assert "1000 row(s) upserted, 0 already stored (resumed), 0 bad row(s) skipped" in capsys.readouterr().out


def test_monthly_btc_file_is_stored_at_each_months_open(instruments):
    load("BTC-USD")

    bars = stored("BTC-USD", "1M")
    assert len(bars) == 156
    # the file labels January 2012 as 2012-01-31; the bar opens on the 1st
    assert bars[0] == (
        datetime(2012, 1, 1, tzinfo=UTC),
        Decimal("4.58"),
        Decimal("7.38"),
        Decimal("3.8"),
        Decimal("5.55"),
        Decimal("2012.25343589"),
    )
    assert bars[-1][0] == datetime(2024, 12, 1, tzinfo=UTC)


def test_rerun_is_idempotent_and_resumes_after_the_stored_prefix(instruments, tmp_path, capsys):
    path = write_csv(tmp_path / "a.csv", [f"2024-01-01 0{h}:00:00,10,12,9,11,{h + 1}" for h in range(6)])
    load("SOL-USDT", "--file", str(path), "--timeframe", "1h")
    first = stored("SOL-USDT", "1h")
    capsys.readouterr()

    load("SOL-USDT", "--file", str(path), "--timeframe", "1h")

    assert stored("SOL-USDT", "1h") == first
    # the last stored bar is re-upserted in case the previous run stored it while it was forming
    assert "1 row(s) upserted, 5 already stored (resumed)" in capsys.readouterr().out


def test_interrupted_load_resumes_where_it_stopped(instruments, tmp_path, monkeypatch):
    path = write_csv(tmp_path / "a.csv", [f"2024-01-01 {h:02d}:00:00,10,12,9,11,1" for h in range(10)])
    monkeypatch.setattr(services, "LOAD_CHUNK", 4)
    calls = []
    real = services.candle_rows_upsert

    def dies_on_second_chunk(**kwargs):
        calls.append(len(kwargs["rows"]))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(**kwargs)

    monkeypatch.setattr(services, "candle_rows_upsert", dies_on_second_chunk)
    with pytest.raises(KeyboardInterrupt):
        load("SOL-USDT", "--file", str(path), "--timeframe", "1h")
    assert len(stored("SOL-USDT", "1h")) == 4  # the first chunk committed, the second did not

    monkeypatch.setattr(services, "candle_rows_upsert", real)
    report = services.candles_load_file(instrument=Instrument.objects.get(symbol="SOL-USDT"), timeframe="1h", path=path)

    assert report.already_loaded == 3
    assert report.loaded == 7
    assert [b[0].hour for b in stored("SOL-USDT", "1h")] == list(range(10))


@pytest.mark.parametrize(
    ("bad_row", "message"),
    [
        ("2024-01-01 02:00:00,10,8,9,9,1", "line 4: high 8 < low 9"),
        ("2024-01-01 02:00:00,10,12,9,abc,1", "line 4: close 'abc' is not a number"),
        ("2024-01-01 02:30:00,10,12,9,11,1", "line 4: time 2024-01-01 02:30:00 is not on the 1h grid"),
        ("yesterday,10,12,9,11,1", "line 4: time 'yesterday' is not a date, ISO time or epoch"),
        ("2024-01-01 01:00:00,10,12,9,11,1", "line 4: time is not after line 3 (2024-01-01 01:00)"),
        ("2024-01-01 02:00:00,10,12,9,11", "line 4: expected 6 fields, found 5"),
        ("2024-01-01 02:00:00,10,12,9,nan,1", "line 4: close nan must be a number from 0 to 1e18"),
    ],
)
def test_bad_row_stops_the_load_naming_its_line_and_nothing_is_written(instruments, tmp_path, bad_row, message):
    rows = ["2024-01-01 00:00:00,10,12,9,11,1", "2024-01-01 01:00:00,10,12,9,11,1", bad_row]
    rows.append("2024-01-01 03:00:00,10,12,9,11,1")
    path = write_csv(tmp_path / "bad.csv", rows)

    with pytest.raises(CommandError) as excinfo:
        load("SOL-USDT", "--file", str(path), "--timeframe", "1h")

    assert str(excinfo.value) == f"bad.csv {message}. Nothing was loaded."
    assert Candle.objects.count() == 0


def test_skip_bad_loads_the_rest_and_says_how_many(instruments, tmp_path, capsys):
    rows = [
        "2024-01-01 00:00:00,10,12,9,11,1",
        "2024-01-01 01:00:00,10,8,9,9,1",
        "2024-01-01 02:00:00,10,12,9,11,1",
        "2024-01-01 03:00:00,x,12,9,11,1",
    ]
    path = write_csv(tmp_path / "bad.csv", rows)

    load("SOL-USDT", "--file", str(path), "--timeframe", "1h", "--skip-bad")

    out = capsys.readouterr()
    assert [b[0].hour for b in stored("SOL-USDT", "1h")] == [0, 2]
    assert "2 row(s) upserted, 0 already stored (resumed), 2 bad row(s) skipped" in out.out
    assert "skipped line 3: high 8 < low 9" in out.err
    assert "skipped line 5: open 'x' is not a number" in out.err


def test_gaps_in_time_are_reported(instruments, tmp_path, capsys):
    rows = ["2024-01-01 00:00:00,10,12,9,11,1", "2024-01-01 01:00:00,10,12,9,11,1", "2024-01-01 04:00:00,10,12,9,11,1"]
    path = write_csv(tmp_path / "gap.csv", rows)

    load("SOL-USDT", "--file", str(path), "--timeframe", "1h")

    out = capsys.readouterr()
    assert "1 gap(s)" in out.out
    assert "gap: 2 bar(s) missing between 2024-01-01 01:00 and 2024-01-01 04:00" in out.err
    assert len(stored("SOL-USDT", "1h")) == 3


def test_date_range_and_epoch_millisecond_times(instruments, tmp_path):
    rows = [f"{1704067200000 + h * 3600000},10,12,9,11,1" for h in range(5)]  # 2024-01-01 00:00 .. 04:00
    path = write_csv(tmp_path / "ms.csv", rows)

    load(
        "SOL-USDT",
        "--file",
        str(path),
        "--timeframe",
        "1h",
        "--start",
        "2024-01-01T01:00:00Z",
        "--end",
        "2024-01-01T03:00:00Z",
    )

    assert [b[0] for b in stored("SOL-USDT", "1h")] == [
        datetime(2024, 1, 1, 1, tzinfo=UTC),
        datetime(2024, 1, 1, 2, tzinfo=UTC),
    ]


def test_unknown_symbol_and_bad_timeframe_are_refused(instruments, tmp_path):
    with pytest.raises(CommandError, match="Unknown symbol 'DOGE-USD'"):
        load("DOGE-USD")
    with pytest.raises(CommandError, match="unknown timeframe '2h': allowed are 1m, 5m, 15m, 1h, 4h, 1d, 1M"):
        load("SOL-USDT", "--timeframe", "2h")
    path = tmp_path / "x.csv"
    path.write_text("when,open,high,low,close\n")
    with pytest.raises(CommandError, match="x.csv: no time column"):
        load("SOL-USDT", "--file", str(path), "--timeframe", "1h")
    assert Candle.objects.count() == 0
