"""Every read of market data: instruments, candle arrays for the API and engines, ticks, summaries."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import numpy as np
from django.db import connection
from django.db.models import OuterRef, Q, QuerySet, Subquery

from tradingops.db import is_postgres

from . import timeframes
from .models import Candle, Instrument, Tick
from .presentation import dec


def instrument_list(*, active: bool | None = None) -> QuerySet[Instrument]:
    qs = Instrument.objects.all()
    if active is not None:
        qs = qs.filter(active=active)
    return qs


def instrument_symbols() -> list[str]:
    """Every known instrument's symbol (inactive ones too: old events name them), A to Z."""
    return list(Instrument.objects.order_by("symbol").values_list("symbol", flat=True))


def instrument_get(*, symbol: str) -> Instrument | None:
    return Instrument.objects.filter(symbol=symbol).first()


def instrument_ids(*, symbols: list[str] | None = None, active_only: bool = False) -> dict[str, int]:
    qs = Instrument.objects.all() if symbols is None else Instrument.objects.filter(symbol__in=symbols)
    if active_only:
        qs = qs.filter(active=True)
    return dict(qs.values_list("symbol", "id"))


def instruments_for_symbols(symbols: list[str]):
    """Exchange references for the feed; unknown symbols or ones without an exchange are an error."""
    from .sources.exchange import InstrumentRef

    rows = {
        s: (e, es)
        for s, e, es in Instrument.objects.filter(symbol__in=symbols).values_list(
            "symbol", "exchange", "exchange_symbol"
        )
    }
    missing = [s for s in symbols if s not in rows or not all(rows[s])]
    if missing:
        raise ValueError(f"no exchange configured for {', '.join(missing)} (set exchange and exchange_symbol)")
    return [InstrumentRef(s, *rows[s]) for s in symbols]


# --- candles --------------------------------------------------------------------------------------
class FloatColumns(Mapping):
    """Float64 arrays parsed from the decimal text on first use: most indicators need only close."""

    def __init__(self, text: dict[str, list[str]], cache: dict[str, np.ndarray] | None = None):
        self._text = text
        self._cache = cache or {}

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self._cache:
            column = self._text[name]
            self._cache[name] = np.fromiter(map(float, column), dtype=np.float64, count=len(column))
        return self._cache[name]

    def __iter__(self):
        return iter(self._text)

    def __len__(self) -> int:
        return len(self._text)

    def sliced(self, start: int) -> FloatColumns:
        return FloatColumns(
            {k: v[start:] for k, v in self._text.items()}, {k: v[start:] for k, v in self._cache.items()}
        )


@dataclass
class CandleArrays:
    """Bars oldest first. ``times``/``text`` are for output, the float arrays for indicators."""

    epochs: np.ndarray  # int64 Unix seconds
    times: list[str]
    text: dict[str, list[str]]  # open/high/low/close/volume as exact decimal strings
    values: Mapping[str, np.ndarray]  # the same as float64 (parsed when first read)

    def __len__(self) -> int:
        return len(self.times)

    def tail(self, n: int) -> CandleArrays:
        start = max(len(self) - n, 0)
        values = (
            self.values.sliced(start)
            if isinstance(self.values, FloatColumns)
            else {k: v[start:] for k, v in self.values.items()}
        )
        return CandleArrays(
            self.epochs[start:], self.times[start:], {k: v[start:] for k, v in self.text.items()}, values
        )


COLUMNS = ("open", "high", "low", "close", "volume")

_PG_COLUMNS = """extract(epoch FROM open_time)::bigint AS t, trim_scale(open)::text, trim_scale(high)::text,
       trim_scale(low)::text, trim_scale(close)::text, trim_scale(volume)::text
  FROM market_candle WHERE instrument_id = %s AND timeframe = %s"""
# The warm-up bars before ``start`` and the bars from it, in one statement (two index range scans).
# Decimals leave as text (exact, trailing zeros trimmed); floats are parsed here, because casting
# numeric to float8 in the server costs more than the whole rest of the query.
_PG_FROM_START = f"""
SELECT * FROM (
    (SELECT 0 AS part, {_PG_COLUMNS} AND open_time < %s ORDER BY open_time DESC LIMIT %s)
    UNION ALL
    (SELECT 1 AS part, {_PG_COLUMNS} AND open_time >= %s AND open_time < %s ORDER BY open_time LIMIT %s)
) bars ORDER BY t
"""  # noqa: S608 - composed from constants; every value is a parameter
_PG_BEFORE_END = f"""
SELECT * FROM (SELECT 1 AS part, {_PG_COLUMNS} AND open_time < %s ORDER BY open_time DESC LIMIT %s) bars ORDER BY t
"""  # noqa: S608 - composed from constants; every value is a parameter
FAR_FUTURE = datetime(9999, 1, 1, tzinfo=timeframes.EPOCH.tzinfo)


def _orm_rows(instrument_id: int, timeframe: str, part: int, flt: Q, order: str, limit: int) -> list[tuple]:
    """The same rows as the PostgreSQL statements, through the ORM (the embedded SQLite)."""
    if limit <= 0:
        return []
    qs = Candle.objects.filter(flt, instrument_id=instrument_id, timeframe=timeframe).order_by(order)[:limit]
    return [(part, int(r[0].timestamp()), *(dec(v) for v in r[1:])) for r in qs.values_list("open_time", *COLUMNS)]


def _fetch_from_start(instrument_id, timeframe, start, end, limit, warmup) -> list[tuple]:
    if is_postgres():
        params = [instrument_id, timeframe, start, warmup, instrument_id, timeframe, start, end, limit]
        with connection.cursor() as cursor:
            cursor.execute(_PG_FROM_START, params)
            return cursor.fetchall()
    before = _orm_rows(instrument_id, timeframe, 0, Q(open_time__lt=start), "-open_time", warmup)
    after = _orm_rows(instrument_id, timeframe, 1, Q(open_time__gte=start, open_time__lt=end), "open_time", limit)
    return sorted(before + after, key=lambda r: r[1])


def _fetch_before_end(instrument_id, timeframe, end, limit) -> list[tuple]:
    if is_postgres():
        with connection.cursor() as cursor:
            cursor.execute(_PG_BEFORE_END, [instrument_id, timeframe, end, limit])
            return cursor.fetchall()
    return sorted(_orm_rows(instrument_id, timeframe, 1, Q(open_time__lt=end), "-open_time", limit), key=lambda r: r[1])


def _arrays(rows: list[tuple]) -> CandleArrays:
    if not rows:
        text = {c: [] for c in COLUMNS}
        return CandleArrays(np.empty(0, dtype=np.int64), [], text, FloatColumns(text))
    cols = list(zip(*rows, strict=True))
    epochs = np.array(cols[1], dtype=np.int64)
    times = [t + "Z" for t in np.datetime_as_string(epochs.astype("datetime64[s]"), unit="s").tolist()]
    text = {name: list(cols[i + 2]) for i, name in enumerate(COLUMNS)}
    return CandleArrays(epochs, times, text, FloatColumns(text))


@dataclass
class CandleWindow:
    bars: CandleArrays  # warm-up bars first, then the ``count`` bars asked for
    count: int
    has_more_after: bool  # with ``start``: more bars after the last one, before ``end``
    has_more_before: bool  # more bars before the first one returned


def candle_window(
    *,
    instrument_id: int,
    timeframe: str,
    start: datetime | None,
    end: datetime | None,
    limit: int,
    warmup: int = 0,
) -> CandleWindow:
    """Bars in ``[start, end)``: the first ``limit`` from ``start``, or the last ``limit`` before ``end``
    when there is no ``start``; plus up to ``warmup`` bars before them for indicators. One statement
    of two indexed range scans at most, whatever the table size."""
    end = end or FAR_FUTURE
    if start is not None:
        rows = _fetch_from_start(instrument_id, timeframe, start, end, limit + 1, warmup)
        # warm-up rows (part 0) sort before the rest: the first part-1 row ends them
        main = len(rows) - next((i for i, r in enumerate(rows) if r[0] == 1), len(rows))
        has_after = main > limit
        if has_after:
            rows = rows[:-1]
        count = min(main, limit)
        if not count:
            rows = []
        return CandleWindow(_arrays(rows), count, has_after, False)
    rows = _fetch_before_end(instrument_id, timeframe, end, limit + warmup + 1)
    older_than_warmup = len(rows) > limit + warmup
    if older_than_warmup:
        rows = rows[1:]
    count = min(len(rows), limit)
    return CandleWindow(_arrays(rows), count, False, older_than_warmup or len(rows) > count)


def candle_last_open_time(*, instrument_id: int, timeframe: str, start: datetime, end: datetime) -> datetime | None:
    return (
        Candle.objects.filter(instrument_id=instrument_id, timeframe=timeframe, open_time__gte=start, open_time__lt=end)
        .order_by("-open_time")
        .values_list("open_time", flat=True)
        .first()
    )


# --- ticks ----------------------------------------------------------------------------------------
def latest_candle_open_time(series: list[tuple[str, str]]) -> datetime | None:
    """The newest stored candle's open time over (symbol, timeframe) pairs; None if none is stored.
    One indexed lookup per pair (the candle key leads with instrument and timeframe)."""
    latest = None
    for symbol, timeframe in series:
        found = (
            Candle.objects.filter(instrument__symbol=symbol, timeframe=timeframe)
            .order_by("-open_time")
            .values_list("open_time", flat=True)
            .first()
        )
        if found is not None and (latest is None or found > latest):
            latest = found
    return latest


def tick_list(*, instrument: Instrument, since: datetime | None = None) -> QuerySet[Tick]:
    qs = Tick.objects.filter(instrument=instrument)
    if since is not None:
        qs = qs.filter(ts__gte=since)
    return qs


# --- summary --------------------------------------------------------------------------------------
@dataclass
class Summary:
    symbol: str
    timeframe: str | None
    last_time: datetime | None
    last_price: Decimal | None
    open_24h: Decimal | None
    high_24h: Decimal | None
    low_24h: Decimal | None
    volume_24h: Decimal | None

    @property
    def change_24h(self) -> Decimal | None:
        if self.last_price is None or self.open_24h is None:
            return None
        return self.last_price - self.open_24h

    @property
    def change_pct_24h(self) -> Decimal | None:
        if self.change_24h is None or not self.open_24h:
            return None
        return (self.change_24h / self.open_24h * 100).quantize(Decimal("0.0001"))


def instruments_with_last_bars(qs: QuerySet[Instrument]) -> QuerySet[Instrument]:
    """Annotate each instrument with the open time of its newest bar per timeframe (one subquery each)."""
    annotations = {
        f"last_{tf}": Subquery(
            Candle.objects.filter(instrument=OuterRef("pk"), timeframe=tf)
            .order_by("-open_time")
            .values("open_time")[:1]
        )
        for tf in timeframes.ALL
    }
    return qs.annotate(**{_alias(k): v for k, v in annotations.items()})


def _alias(name: str) -> str:
    return name.replace("1M", "1mo")


def summaries(instruments: list[Instrument]) -> list[Summary]:
    """24h figures from each instrument's finest timeframe that has data: last price, change, high,
    low, volume over the bars opened in the 24 h up to its newest bar. One query for all of them
    (the instruments come annotated by :func:`instruments_with_last_bars`)."""
    picks: dict[int, tuple[str, datetime]] = {}
    for inst in instruments:
        for tf in timeframes.ALL:
            last = getattr(inst, _alias(f"last_{tf}"), None)
            if last is not None:
                picks[inst.pk] = (tf, last)
                break
    window = Q(pk__in=[])
    for inst_id, (tf, last) in picks.items():
        since = last - timedelta(hours=24)
        window |= Q(instrument_id=inst_id, timeframe=tf, open_time__gt=since, open_time__lte=last)
    rows: dict[int, list[tuple]] = {}
    if picks:
        for row in (
            Candle.objects.filter(window)
            .order_by("instrument_id", "open_time")
            .values_list("instrument_id", "open_time", "open", "high", "low", "close", "volume")
        ):
            rows.setdefault(row[0], []).append(row)
    out = []
    for inst in instruments:
        bars = rows.get(inst.pk)
        if not bars:
            out.append(Summary(inst.symbol, None, None, None, None, None, None, None))
            continue
        out.append(
            Summary(
                inst.symbol,
                picks[inst.pk][0],
                bars[-1][1],
                bars[-1][5],
                bars[0][2],
                max(b[3] for b in bars),
                min(b[4] for b in bars),
                sum((b[6] for b in bars), Decimal(0)),
            )
        )
    return out


def instrument_with_latest_data(*, timeframes: list[str]) -> tuple[str, str] | None:
    """The active instrument and timeframe whose newest bar is the most recent, trying the
    timeframes in order: the Market page opens on a chart with data, not on the first symbol
    alphabetically. One index-backed lookup per instrument and timeframe tried (instruments are few)."""
    instruments = list(Instrument.objects.filter(active=True).values_list("pk", "symbol"))
    for timeframe in timeframes:
        newest = None
        for pk, symbol in instruments:
            last = (
                Candle.objects.filter(instrument_id=pk, timeframe=timeframe)
                .order_by("-open_time")
                .values_list("open_time", flat=True)
                .first()
            )
            if last is not None and (newest is None or last > newest[0]):
                newest = (last, symbol)
        if newest is not None:
            return newest[1], timeframe
    return None


def last_price(*, instrument: Instrument, timeframe: str) -> Decimal | None:
    """The latest tick's price, else the latest bar's close (the Market page's "last price")."""
    tick = Tick.objects.filter(instrument=instrument).order_by("-ts", "-id").values_list("price", flat=True).first()
    if tick is not None:
        return tick
    return (
        Candle.objects.filter(instrument=instrument, timeframe=timeframe)
        .order_by("-open_time")
        .values_list("close", flat=True)
        .first()
    )
