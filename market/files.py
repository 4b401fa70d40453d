"""Read candle files (CSV, Parquet) into validated rows, reporting bad rows by line and gaps in time.

Pure Python (no Django): ``load_candles`` and the replay source both read through here, so a file
that loads is a file that replays. Accepted layout: a header row, a time column (``timestamp``,
``time``, ``open_time``, ``date``, ``datetime`` or an unnamed first column) and ``open high low close
volume`` (any case). Times are ISO 8601 (naive means UTC), dates, or Unix epoch seconds/milliseconds.
Open times must sit on the timeframe's grid; for ``1M`` any date in a month stands for that month
(files often label a month by its last day). Prices stay the strings in the file: exact decimals.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from . import timeframes

TIME_COLUMNS = ("timestamp", "time", "open_time", "date", "datetime", "")
VALUE_COLUMNS = ("open", "high", "low", "close", "volume")
MAX_REPORTED = 20
MAX_VALUE = 1e18  # numeric(36, 18) holds 18 digits before the point


class CandleFileError(ValueError):
    """The file cannot be read at all (missing columns, unknown format)."""


@dataclass
class Row:
    line: int
    epoch: int  # open time, Unix seconds
    open: str
    high: str
    low: str
    close: str
    volume: str

    @property
    def open_time(self) -> datetime:
        return datetime.fromtimestamp(self.epoch, tz=UTC)


@dataclass
class BadRow:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass
class Gap:
    after: datetime
    before: datetime
    missing: int  # bars missing between them

    def __str__(self) -> str:
        return f"{self.missing} bar(s) missing between {self.after:%Y-%m-%d %H:%M} and {self.before:%Y-%m-%d %H:%M}"


@dataclass
class ParsedFile:
    rows: Sequence[Row] = field(default_factory=list)
    bad: list[BadRow] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)
    out_of_range: int = 0


def _parse_time(text: str) -> float:
    text = text.strip()
    if text.isdigit():
        value = int(text)
        if value > 10**14:
            return value / 1_000_000
        if value > 10**11:
            return value / 1000
        return float(value)
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    ts = datetime.fromisoformat(text)
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return ts.timestamp()


def _month_start(epoch: float) -> int:
    ts = datetime.fromtimestamp(epoch, tz=UTC)
    return int(timeframes.floor(ts, "1M").timestamp())


def _check_values(values: list[str]) -> tuple[list[str], str | None]:
    nums = []
    cleaned = []
    for name, text in zip(VALUE_COLUMNS, values, strict=True):
        text = text.strip()
        try:
            number = float(text)
        except ValueError:
            return cleaned, f"{name} '{text}' is not a number"
        if not math.isfinite(number) or number < 0 or number >= MAX_VALUE:
            return cleaned, f"{name} {text} must be a number from 0 to 1e18"
        nums.append(number)
        cleaned.append(text)
    o, h, lo, c, _ = nums
    if h < lo:
        return cleaned, f"high {values[1].strip()} < low {values[2].strip()}"
    if not (lo <= o <= h and lo <= c <= h):
        return cleaned, "open and close must lie between low and high"
    return cleaned, None


def _rows_from_records(records: Iterator[tuple[int, list[str]]], timeframe: str) -> Iterator[Row | BadRow]:
    step = timeframes.SECONDS.get(timeframe)
    for line, record in records:
        if len(record) != 6:
            yield BadRow(line, f"expected 6 fields, found {len(record)}")
            continue
        try:
            epoch = _parse_time(record[0])
        except (ValueError, OverflowError):
            yield BadRow(line, f"time '{record[0].strip()}' is not a date, ISO time or epoch")
            continue
        if step is None:
            epoch = _month_start(epoch)
        elif epoch % step:
            yield BadRow(line, f"time {record[0].strip()} is not on the {timeframe} grid")
            continue
        values, error = _check_values(record[1:])
        if error:
            yield BadRow(line, error)
            continue
        yield Row(line, int(epoch), *values)


def _csv_records(path: Path) -> Iterator[tuple[int, list[str]]]:
    with path.open(newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None:
            raise CandleFileError(f"{path.name} is empty")
        order = _column_order([h.strip().lower() for h in header], path.name)
        for record in reader:
            if not record:
                continue
            if len(record) != len(header):
                yield reader.line_num, record
                continue
            yield reader.line_num, [record[i] for i in order]


def _column_order(header: list[str], name: str) -> list[int]:
    try:
        time_index = next(i for i, h in enumerate(header) if h in TIME_COLUMNS)
    except StopIteration:
        raise CandleFileError(f"{name}: no time column (one of {', '.join(c for c in TIME_COLUMNS if c)})") from None
    missing = [c for c in VALUE_COLUMNS if c not in header]
    if missing:
        raise CandleFileError(f"{name}: missing column(s) {', '.join(missing)}")
    return [time_index, *(header.index(c) for c in VALUE_COLUMNS)]


def _parquet_records(path: Path) -> Iterator[tuple[int, list[str]]]:
    try:
        import pyarrow.parquet as pq  # noqa: PLC0415 - optional: pyarrow reads Parquet and speeds up CSV
    except ImportError:  # pragma: no cover - depends on the install
        raise CandleFileError("reading Parquet needs pyarrow (pip install pyarrow)") from None
    table = pq.read_table(path)
    header = [name.strip().lower() for name in table.column_names]
    order = _column_order(header, path.name)
    columns = [table.column(i).to_pylist() for i in order]
    for index, values in enumerate(zip(*columns, strict=True)):
        ts = values[0]
        if isinstance(ts, datetime):
            ts = (ts if ts.tzinfo else ts.replace(tzinfo=UTC)).isoformat()
        # Row numbers count from 1 for the first data row (line 1 is the header in CSV terms).
        yield index + 2, [str(ts), *(repr(v) if isinstance(v, float) else str(v) for v in values[1:])]


def records(path: Path) -> Iterator[tuple[int, list[str]]]:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _csv_records(path)
    if suffix in (".parquet", ".pq"):
        return _parquet_records(path)
    raise CandleFileError(f"{path.name}: unknown format (use .csv or .parquet)")


class RowTable(Sequence):
    """Checked rows held as Arrow columns (what the vectorised reader returns); indexing gives :class:`Row`.

    ``values`` are the five price/volume columns as Arrow string arrays: slicing is zero-copy and the
    COPY text is written by Arrow's CSV writer, so a million rows never become Python strings.
    """

    def __init__(self, epochs: np.ndarray, values: list, lines: np.ndarray):
        self.epochs, self.values, self.lines = epochs, values, lines

    def __len__(self) -> int:
        return len(self.epochs)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return RowTable(self.epochs[index], [v[index] for v in self.values], self.lines[index])
        if index < 0:
            index += len(self)
        return Row(int(self.lines[index]), int(self.epochs[index]), *(v[index].as_py() for v in self.values))

    def copy_text(self) -> bytes:
        import pyarrow as pa  # noqa: PLC0415 - only pyarrow's reader makes a RowTable (see _fast_csv)
        import pyarrow.csv as pacsv  # noqa: PLC0415

        table = pa.table([pa.array(self.epochs), *self.values], names=["t", *VALUE_COLUMNS])
        sink = pa.BufferOutputStream()
        options = pacsv.WriteOptions(include_header=False, delimiter="\t", quoting_style="none")
        pacsv.write_csv(table, sink, options)
        return sink.getvalue().to_pybytes()


def copy_text(rows: Sequence[Row]) -> str | bytes:
    """Tab-separated ``epoch open high low close volume`` lines for PostgreSQL COPY."""
    if isinstance(rows, RowTable):
        return rows.copy_text()
    return "".join(f"{r.epoch}\t{r.open}\t{r.high}\t{r.low}\t{r.close}\t{r.volume}\n" for r in rows)


_SIMPLE_TIME = r"^(\d+|\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2})?)?)$"


def _fast_csv(path: Path, timeframe: str, start_epoch: float, end_epoch: float) -> ParsedFile | None:
    """Vectorised read with pyarrow for clean files; ``None`` sends the file down the row-by-row
    path, which is the definition (and the only place that words errors). Taken only when every
    row passes every check the slow path makes, so both give the same rows and gaps."""
    try:
        import pyarrow as pa  # noqa: PLC0415 - optional, as above: without it the row-by-row reader serves
        import pyarrow.compute as pc  # noqa: PLC0415
        import pyarrow.csv as pacsv  # noqa: PLC0415
    except ImportError:  # pragma: no cover - depends on the install
        return None
    step = timeframes.SECONDS.get(timeframe)
    if step is None:
        return None
    with path.open(newline="") as fh:
        header = next(csv.reader(fh), None)
    if not header:
        return None
    names = [h.strip().lower() for h in header]
    try:
        order = _column_order(names, path.name)
    except CandleFileError:
        return None
    generic = [f"c{i}" for i in range(len(names))]
    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(column_names=generic, skip_rows=1),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(generic, pa.string()), include_columns=[generic[i] for i in order]
            ),
        )
        cols = [pc.utf8_trim_whitespace(table.column(generic[i])) for i in order]
        if any(col.null_count for col in cols) or not pc.all(pc.match_substring_regex(cols[0], _SIMPLE_TIME)).as_py():
            return None
        if pc.all(pc.match_substring_regex(cols[0], r"^\d+$")).as_py():
            raw = pc.cast(cols[0], pa.int64()).to_numpy()
            scale = np.where(raw > 10**14, 1_000_000, np.where(raw > 10**11, 1000, 1))
            if np.any(raw % scale):
                return None  # sub-second times: let the slow path judge them
            epochs = raw // scale
        else:
            epochs = pc.cast(cols[0], pa.timestamp("s")).cast(pa.int64()).to_numpy()
        floats = [pc.cast(col, pa.float64()).to_numpy(zero_copy_only=False) for col in cols[1:]]
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError):
        return None
    o, h, lo, c, v = floats
    block = np.vstack(floats)
    ok = (
        bool(np.all(np.isfinite(block)))
        and bool(np.all((block >= 0) & (block < MAX_VALUE)))
        and bool(np.all(h >= lo))
        and bool(np.all((lo <= o) & (o <= h) & (lo <= c) & (c <= h)))
        and not np.any(epochs % step)
        and bool(np.all(np.diff(epochs) > 0))
    )
    if not ok:
        return None
    lines = np.arange(2, len(epochs) + 2)
    mask = (epochs >= start_epoch) & (epochs < end_epoch)
    result = ParsedFile(out_of_range=int(len(epochs) - mask.sum()))
    kept = np.flatnonzero(mask)
    values = [cols[i + 1].combine_chunks() if hasattr(cols[i + 1], "combine_chunks") else cols[i + 1] for i in range(5)]
    if len(kept) != len(epochs):
        values = [col.take(pa.array(kept)) for col in values]
    result.rows = RowTable(epochs[kept], values, lines[kept])
    in_range = epochs[kept]
    for i in np.flatnonzero(np.diff(in_range) != step).tolist():
        after, before = int(in_range[i]), int(in_range[i + 1])
        result.gaps.append(
            Gap(
                datetime.fromtimestamp(after, tz=UTC),
                datetime.fromtimestamp(before, tz=UTC),
                (before - after) // step - 1,
            )
        )
    return result


def read_candles(
    path: Path | str,
    timeframe: str,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    vectorised: bool = True,
) -> ParsedFile:
    """Read and check a whole file; rows must be in strictly increasing time order. A clean CSV is read
    vectorised (its rows a ``RowTable``); ``vectorised=False`` reads it row by row, the definition both
    must agree with."""
    timeframes.validate(timeframe)
    path = Path(path)
    start_epoch = start.timestamp() if start else -math.inf
    end_epoch = end.timestamp() if end else math.inf
    if (
        vectorised
        and path.suffix.lower() == ".csv"
        and (fast := _fast_csv(path, timeframe, start_epoch, end_epoch)) is not None
    ):
        return fast
    step = timeframes.SECONDS.get(timeframe)
    result = ParsedFile()
    previous: Row | None = None
    for item in _rows_from_records(records(path), timeframe):
        if isinstance(item, BadRow):
            result.bad.append(item)
            continue
        if previous is not None and item.epoch <= previous.epoch:
            result.bad.append(
                BadRow(item.line, f"time is not after line {previous.line} ({previous.open_time:%Y-%m-%d %H:%M})")
            )
            continue
        if not (start_epoch <= item.epoch < end_epoch):
            result.out_of_range += 1
            previous = item
            continue
        if previous is not None and previous.epoch >= start_epoch:
            if step is not None and item.epoch - previous.epoch != step:
                result.gaps.append(Gap(previous.open_time, item.open_time, (item.epoch - previous.epoch) // step - 1))
            elif step is None:
                expected = timeframes.bar_end(previous.open_time, "1M")
                if item.open_time != expected:
                    missing = (item.open_time.year - expected.year) * 12 + item.open_time.month - expected.month
                    result.gaps.append(Gap(previous.open_time, item.open_time, missing))
        result.rows.append(item)
        previous = item
    return result
