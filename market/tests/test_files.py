"""The vectorised CSV reader (pyarrow) and the row-by-row reader agree: same rows, gaps and ranges."""

from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from market import files

DATA = Path(__file__).resolve().parents[1] / "data"


def slow(path, timeframe, **kw):
    return files.read_candles(path, timeframe, vectorised=False, **kw)


def as_list(parsed):
    return [(r.epoch, r.open, r.high, r.low, r.close, r.volume) for r in parsed.rows]


@pytest.mark.parametrize(
    "kw",
    [{}, {"start": datetime(2024, 10, 1, tzinfo=UTC), "end": datetime(2024, 10, 2, 6, tzinfo=UTC)}],
)
def test_fast_and_slow_readers_agree_on_the_shipped_file(kw):
    path = DATA / "SOLUSDT-1h.csv"
    fast, reference = files.read_candles(path, "1h", **kw), slow(path, "1h", **kw)
    assert isinstance(fast.rows, files.RowTable)  # the fast path is taken
    assert as_list(fast) == as_list(reference)
    assert fast.out_of_range == reference.out_of_range
    assert files.copy_text(fast.rows).decode() == files.copy_text(reference.rows)


def test_fast_reader_reports_the_same_gaps_and_handles_epoch_ms(tmp_path):
    path = tmp_path / "g.csv"
    times = [0, 1, 2, 5, 6, 9]
    path.write_text(
        "Volume,Open,High,Low,Close,open_time\n"
        + "".join(f" {t + 1} ,10.50,12,9, 11 ,{1704067200000 + t * 60000}\n" for t in times)
    )
    fast, reference = files.read_candles(path, "1m"), slow(path, "1m")
    assert isinstance(fast.rows, files.RowTable)
    assert as_list(fast) == as_list(reference)
    assert [(str(g), g.missing) for g in fast.gaps] == [(str(g), g.missing) for g in reference.gaps]
    assert [g.missing for g in fast.gaps] == [2, 2]
    assert fast.rows[0].open == "10.50"
    assert fast.rows[0].volume == "1"


@pytest.mark.parametrize(
    "row",
    [
        "2024-01-01 02:00:00,10,8,9,9,1",  # high < low
        "2024-01-01T02:00:00+02:00,10,12,9,11,1",  # an offset: only the slow path reads those
        "2024-01-01 02:30:00,10,12,9,11,1",  # off the grid
        "2024-01-01 01:00:00,10,12,9,11,1",  # out of order
    ],
)
def test_files_the_fast_reader_cannot_vouch_for_take_the_slow_path(tmp_path, row):
    path = tmp_path / "b.csv"
    path.write_text(
        "timestamp,open,high,low,close,volume\n2024-01-01 00:00:00,10,12,9,11,1\n2024-01-01 01:00:00,10,12,9,11,1\n"
        + row
        + "\n"
    )
    parsed = files.read_candles(path, "1h")
    assert not isinstance(parsed.rows, files.RowTable)
    assert as_list(parsed) == as_list(slow(path, "1h"))


def test_parquet_file_loads_the_same_rows_as_its_csv(tmp_path):

    reference = files.read_candles(DATA / "SOLUSDT-1h.csv", "1h")
    rows = list(reference.rows)
    table = pa.table(
        {
            "timestamp": pa.array([r.open_time for r in rows], pa.timestamp("s", tz="UTC")),
            **{name: pa.array([float(getattr(r, name)) for r in rows]) for name in files.VALUE_COLUMNS},
        }
    )
    path = tmp_path / "sol.parquet"
    pq.write_table(table, path)

    parsed = files.read_candles(path, "1h")

    assert parsed.bad == []
    assert as_list(parsed) == as_list(reference)
