"""Every write to market data: candle upserts (bulk and live), ticks, and the loads behind load_candles.

Bulk loads on PostgreSQL stream rows with COPY into a temporary table and upsert them with one
``INSERT ... ON CONFLICT DO UPDATE`` per chunk; other databases (the embedded SQLite) use
``bulk_create(update_conflicts=True)``. Rows already stored with the same values are not rewritten.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.db import IntegrityError, connection, transaction

from events.formatting import forget_instrument_precision
from tradingops.db import copy_rows, is_postgres
from tradingops.errors import Conflict, Invalid

from . import columnar, files
from .models import Candle, Instrument, Tick
from .rollup import Bar

logger = logging.getLogger(__name__)

LOAD_CHUNK = 100_000
_STAGE_TABLE = "market_candle_stage"


@dataclass(frozen=True)
class TickInput:
    symbol: str
    ts: datetime
    price: Decimal
    size: Decimal = Decimal(0)
    bid: Decimal | None = None
    ask: Decimal | None = None


class CandleLoadError(Invalid, ValueError):
    """A load refused before writing anything (bad rows without --skip-bad, unreadable file): a 400
    naming ``file`` wherever it reaches a person."""

    default_field = "file"


@dataclass
class LoadReport:
    rows_in_file: int = 0
    loaded: int = 0  # rows sent to the upsert
    already_loaded: int = 0  # skipped because a previous run stored them (resume)
    skipped_bad: list[files.BadRow] = field(default_factory=list)
    gaps: list[files.Gap] = field(default_factory=list)
    out_of_range: int = 0


# --- bulk candle upsert -----------------------------------------------------------------------------
def _upsert_rows_postgres(instrument_id: int, timeframe: str, rows: Sequence[files.Row]) -> None:
    with connection.cursor() as cursor:
        # A bulk load is idempotent and resumable: a crash losing its last commit costs a rerun, so
        # its commits need not wait for the WAL flush (the rest of the system keeps the default).
        cursor.execute("SET LOCAL synchronous_commit TO OFF")
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {_STAGE_TABLE} "
            "(t bigint, o numeric, h numeric, l numeric, c numeric, v numeric) ON COMMIT DELETE ROWS"
        )
        # Also emptied here: inside an outer transaction (a test, a caller's atomic) nothing commits between chunks.
        cursor.execute(f"TRUNCATE {_STAGE_TABLE}")
        data = files.copy_text(rows)
        with cursor.cursor.copy(f"COPY {_STAGE_TABLE} (t, o, h, l, c, v) FROM STDIN") as copy:
            copy.write(data)
        table = Candle._meta.db_table
        cursor.execute(
            f"""
            INSERT INTO {table} AS c (instrument_id, timeframe, open_time, open, high, low, close, volume)
            SELECT %s, %s, to_timestamp(t), o, h, l, c, v FROM {_STAGE_TABLE}
            ON CONFLICT (instrument_id, timeframe, open_time) DO UPDATE
               SET open = EXCLUDED.open, high = EXCLUDED.high, low = EXCLUDED.low,
                   close = EXCLUDED.close, volume = EXCLUDED.volume
             WHERE (c.open, c.high, c.low, c.close, c.volume)
                   IS DISTINCT FROM (EXCLUDED.open, EXCLUDED.high, EXCLUDED.low, EXCLUDED.close, EXCLUDED.volume)
            """,  # noqa: S608 - table names are ours, values are parameters
            [instrument_id, timeframe],
        )


def _bars_to_candles(instrument_ids: dict[str, int], bars: Iterable[Bar]) -> list[Candle]:
    return [
        Candle(
            instrument_id=instrument_ids[b.symbol],
            timeframe=b.timeframe,
            open_time=b.open_time,
            open=b.open,
            high=b.high,
            low=b.low,
            close=b.close,
            volume=b.volume,
        )
        for b in bars
    ]


def _upsert_candles(candles: list[Candle]) -> None:
    if candles:
        Candle.objects.bulk_create(
            candles,
            batch_size=2000,
            update_conflicts=True,
            unique_fields=["instrument", "timeframe", "open_time"],
            update_fields=["open", "high", "low", "close", "volume"],
        )


def candle_rows_upsert(*, instrument_id: int, timeframe: str, rows: Sequence[files.Row]) -> int:
    """Upsert checked file rows for one instrument and timeframe in one transaction."""
    if not rows:
        return 0
    with transaction.atomic():
        if is_postgres():
            _upsert_rows_postgres(instrument_id, timeframe, rows)
        else:
            _upsert_candles(
                [
                    Candle(
                        instrument_id=instrument_id,
                        timeframe=timeframe,
                        open_time=r.open_time,
                        open=Decimal(r.open),
                        high=Decimal(r.high),
                        low=Decimal(r.low),
                        close=Decimal(r.close),
                        volume=Decimal(r.volume),
                    )
                    for r in rows
                ]
            )
    return len(rows)


def _already_loaded(instrument_id: int, timeframe: str, rows: Sequence[files.Row]) -> int:
    """How many leading rows a previous run stored: the longest prefix whose bar count matches.

    Binary search over the file's open times with an index-only count per probe, so resuming a
    1M-row file costs about 20 small queries.
    """
    if not rows:
        return 0
    base = Candle.objects.filter(instrument_id=instrument_id, timeframe=timeframe)
    first = rows[0].open_time

    def stored_through(index: int) -> bool:
        return base.filter(open_time__gte=first, open_time__lte=rows[index].open_time).count() == index + 1

    lo, hi = 0, len(rows)  # invariant: rows[:lo] all stored; rows[:hi+1] not fully stored (or hi == len)
    if not stored_through(0):
        return 0
    lo = 1
    while lo < hi:
        mid = (lo + hi) // 2
        if stored_through(mid):
            lo = mid + 1
        else:
            hi = mid
    # Re-upsert the last stored bar: an interrupted run may have stored it while it was still forming.
    return max(lo - 1, 0)


def candles_load_file(
    *,
    instrument: Instrument,
    timeframe: str,
    path: Path | str,
    start: datetime | None = None,
    end: datetime | None = None,
    skip_bad: bool = False,
    resume: bool = True,
    progress: Callable[[int], None] | None = None,
    on_total: Callable[[int], None] | None = None,
) -> LoadReport:
    """Check the whole file first (nothing is written if a row is bad and ``skip_bad`` is off), then
    upsert it in chunks, each its own transaction; a rerun skips the prefix already stored."""
    try:
        parsed = files.read_candles(path, timeframe, start=start, end=end)
    except files.CandleFileError as exc:
        raise CandleLoadError(str(exc)) from exc
    if parsed.bad and not skip_bad:
        first = parsed.bad[0]
        more = f" ({len(parsed.bad) - 1} more bad row(s); --skip-bad loads the rest)" if len(parsed.bad) > 1 else ""
        raise CandleLoadError(f"{Path(path).name} {first}{more}. Nothing was loaded.")
    report = LoadReport(
        rows_in_file=len(parsed.rows) + len(parsed.bad) + parsed.out_of_range,
        skipped_bad=parsed.bad,
        gaps=parsed.gaps,
        out_of_range=parsed.out_of_range,
    )
    rows = parsed.rows
    if on_total:
        on_total(len(rows))
    if resume:
        report.already_loaded = _already_loaded(instrument.pk, timeframe, rows)
        if progress and report.already_loaded:
            progress(report.already_loaded)
        rows = rows[report.already_loaded :]
    for offset in range(0, len(rows), LOAD_CHUNK):
        chunk = rows[offset : offset + LOAD_CHUNK]
        report.loaded += candle_rows_upsert(instrument_id=instrument.pk, timeframe=timeframe, rows=chunk)
        if progress:
            progress(len(chunk))
    columnar.cache_build(instrument_id=instrument.pk, timeframe=timeframe)
    return report


# --- live writes from the feed -----------------------------------------------------------------------
def _copy_ticks_postgres(instrument_ids: dict[str, int], ticks: Sequence[TickInput]) -> None:
    copy_rows(
        Tick._meta.db_table,
        ["instrument_id", "ts", "price", "size", "bid", "ask"],
        ((instrument_ids[t.symbol], t.ts, t.price, t.size, t.bid, t.ask) for t in ticks),
    )


def feed_batch_store(*, instrument_ids: dict[str, int], ticks: Sequence[TickInput], bars: Iterable[Bar]) -> None:
    """Store one feed batch: its ticks (appended) and the bars they touched (upserted), atomically."""
    latest: dict[tuple, Bar] = {}
    for bar in bars:
        latest[bar.key] = bar  # the last state of each bar in the batch wins
    with transaction.atomic():
        if ticks:
            if is_postgres():
                _copy_ticks_postgres(instrument_ids, ticks)
            else:
                Tick.objects.bulk_create(
                    [
                        Tick(
                            instrument_id=instrument_ids[t.symbol],
                            ts=t.ts,
                            price=t.price,
                            size=t.size,
                            bid=t.bid,
                            ask=t.ask,
                        )
                        for t in ticks
                    ],
                    batch_size=2000,
                )
        _upsert_candles(_bars_to_candles(instrument_ids, latest.values()))


def candles_store(*, instrument_ids: dict[str, int], bars: Iterable[Bar]) -> None:
    """Upsert bars (e.g. a page of exchange candles) in one transaction."""
    with transaction.atomic():
        _upsert_candles(_bars_to_candles(instrument_ids, bars))


def as_utc(ts: datetime) -> datetime:
    """``ts`` as an aware UTC datetime; a naive one is taken to be UTC already (not local time). Not the
    dashboard's ``utc`` template filter, which formats a time for display."""
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


# --- instruments -----------------------------------------------------------------------------------------
SYMBOL_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./")


def instrument_create(
    *,
    symbol: str,
    quote: str,
    price_tick,
    lot_size,
    min_notional=0,
    base: str | None = None,
    exchange: str = "",
    exchange_symbol: str = "",
) -> Instrument:
    """A new instrument, every number given (nothing guessed); :class:`tradingops.errors.Invalid` names the field.

    ``base`` defaults to the symbol without its quote (``PEPE-USDT`` with quote ``USDT`` is ``PEPE``);
    a symbol that does not end with its quote needs ``base`` given."""

    errors: dict[str, list[str]] = {}
    symbol = (symbol or "").strip().upper()
    quote = (quote or "").strip().upper()
    if not symbol or len(symbol) > 32 or not set(symbol) <= SYMBOL_CHARS:
        errors["symbol"] = ["must be 1-32 letters, digits or - _ . /, e.g. PEPE-USDT"]
    if not quote or len(quote) > 16 or not quote.isalnum():
        errors["quote"] = ["must be the quote currency, e.g. USDT"]
    if base is None and "symbol" not in errors and "quote" not in errors:
        stem = symbol[: -len(quote)].rstrip("-_./") if symbol.endswith(quote) else ""
        if not stem:
            errors["base"] = [f"{symbol} does not end with its quote {quote}: give the base currency"]
        base = stem
    base = (base or "").strip().upper()
    if "base" not in errors and (not base or len(base) > 16 or not base.isalnum()):
        errors["base"] = ["must be the base currency, e.g. PEPE"]
    numbers = {}
    for name, value, positive in (("price_tick", price_tick, True), ("lot_size", lot_size, True),
                                  ("min_notional", min_notional, False)):  # fmt: skip
        try:
            number = Decimal(str(value))
        except (InvalidOperation, ValueError):
            errors[name] = [f"must be a number, got {value!r}"]
            continue
        if not number.is_finite() or (number <= 0 if positive else number < 0) or number >= Decimal(10) ** 18:
            errors[name] = [f"must be {'greater than 0' if positive else 'at least 0'} and finite, got {value}"]
            continue
        exponent = number.as_tuple().exponent  # an int: NaN and infinities were refused above
        if isinstance(exponent, int) and exponent < -18:
            errors[name] = ["at most 18 decimal places"]
            continue
        numbers[name] = number
    if errors:
        raise Invalid(errors)
    if Instrument.objects.filter(symbol=symbol).exists():
        raise Conflict(f"{symbol} exists already", field="symbol")
    try:
        with transaction.atomic():
            instrument = Instrument.objects.create(
                symbol=symbol, base=base, quote=quote, exchange=exchange or "", exchange_symbol=exchange_symbol or "",
                **numbers,
            )  # fmt: skip
    except IntegrityError:  # a concurrent create won
        raise Conflict(f"{symbol} exists already", field="symbol") from None
    forget_instrument_precision()  # its events' summaries use its tick and lot at once, not in a minute
    return instrument
