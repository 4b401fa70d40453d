"""Candles as columns of floats, fast: an instrument/timeframe's candles over a time range as one int64
array of open times and five float64 arrays, read from the columnar cache (``CandleBlock``) on
PostgreSQL and from the candle rows elsewhere.

The cache is derived, never a record: the Decimals stay the truth and ``Candle.*_f`` their float
copies, which is what a block holds. A block is built from the candle rows on its first read and
stored for the next; a change to any candle in it (whoever writes it: COPY upserts, the feed, the
admin, raw SQL) makes it stale in the writer's transaction, by the triggers of migration 0004. A
block built from a snapshot older than a concurrent write is not stored: the build stores it only
over the generation it read, in one statement with the read (see ``_BUILD_SQL``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime

import numpy as np
import psycopg
from django.db import connection

from tradingops.db import is_postgres

from .models import Candle, CandleBlock

FLOAT_COLUMNS = ("open_f", "high_f", "low_f", "close_f", "volume_f")  # the database's float copies
PG_EPOCH_S = 946_684_800  # 2000-01-01 in Unix seconds: PostgreSQL sends a timestamptz as microseconds since
FETCH_BLOCKS = 32  # cached blocks per query (~25 MB for 1m candles), the progress callback between queries
ORM_CHUNK = 100_000  # candles per query on the row path


class Columns:
    """Open times (epoch seconds, int64, ascending) and the five float64 columns, same length."""

    __slots__ = ("ts", "open", "high", "low", "close", "volume")

    def __init__(self, ts: np.ndarray, values: list[np.ndarray]):
        self.ts = ts
        self.open, self.high, self.low, self.close, self.volume = values

    def __len__(self) -> int:
        return len(self.ts)

    def values(self) -> list[np.ndarray]:
        return [self.open, self.high, self.low, self.close, self.volume]

    def slice(self, lo: int, hi: int) -> Columns:
        return Columns(self.ts[lo:hi], [v[lo:hi] for v in self.values()])


def _empty() -> Columns:
    return Columns(np.empty(0, dtype=np.int64), [np.empty(0) for _ in FLOAT_COLUMNS])


def _join(parts: list[Columns]) -> Columns:
    if not parts:
        return _empty()
    if len(parts) == 1:
        return parts[0]
    return Columns(
        np.concatenate([p.ts for p in parts]),
        [np.concatenate([p.values()[k] for p in parts]) for k in range(len(FLOAT_COLUMNS))],
    )


def candle_columns(
    *,
    instrument_id: int,
    timeframe: str,
    start: datetime | None,
    end: datetime | None,
    before: int = 0,
    progress: Callable[[], None] | None = None,
    cached: bool | None = None,
) -> tuple[Columns, int]:
    """The candles with ``start <= open_time < end`` (either bound may be None), preceded by up to
    ``before`` candles before ``start`` (indicator warm-up); returns them and how many of them are
    from before ``start``. ``progress()`` is called between queries (a heartbeat/cancel check may
    raise there). ``cached`` (default: on PostgreSQL) reads through the columnar cache; off, the
    candle rows (the same values, bit for bit)."""
    progress = progress or (lambda: None)
    if cached is None:
        cached = is_postgres()
    if cached:
        return _CachedReader(instrument_id, timeframe, progress).read(start, end, before)
    return _rows(instrument_id, timeframe, start, end, before, progress)


def cache_build(*, instrument_id: int, timeframe: str) -> None:
    """Build every stale block of the instrument/timeframe now: after a bulk load, so that the first
    backtest over the candles reads the cache instead of building it (~1 s per million 1m candles).
    PostgreSQL only (elsewhere there is no cache)."""
    if is_postgres():
        _CachedReader(instrument_id, timeframe, lambda: None).read(None, None, 0)


# --- the row path (SQLite, and the reference for the cache's tests) ---------------------------------------
def _from_rows(rows) -> Columns:
    ts = np.fromiter((int(r[0].timestamp()) for r in rows), dtype=np.int64, count=len(rows))
    values = np.array([r[1:] for r in rows], dtype=np.float64).reshape(len(rows), len(FLOAT_COLUMNS))
    return Columns(ts, [np.ascontiguousarray(values[:, k]) for k in range(len(FLOAT_COLUMNS))])


def _rows(instrument_id, timeframe, start, end, before, progress) -> tuple[Columns, int]:
    candles = Candle.objects.filter(instrument_id=instrument_id, timeframe=timeframe)
    parts = []
    if before and start is not None:
        rows = candles.filter(open_time__lt=start).order_by("-open_time").values_list("open_time", *FLOAT_COLUMNS)
        parts.append(_from_rows(list(rows[:before])[::-1]))
    warm = len(parts[0]) if parts else 0
    if end is not None:
        candles = candles.filter(open_time__lt=end)
    lookup, bound = "gte", start or datetime(1970, 1, 1, tzinfo=UTC)
    while True:
        page = candles.filter(**{f"open_time__{lookup}": bound}).order_by("open_time")
        part = _from_rows(list(page.values_list("open_time", *FLOAT_COLUMNS)[:ORM_CHUNK]))
        if len(part):
            parts.append(part)
            lookup, bound = "gt", datetime.fromtimestamp(int(part.ts[-1]), tz=UTC)
        progress()
        if len(part) < ORM_CHUNK:
            break
    return _join(parts), warm


# --- the cached path (PostgreSQL) -------------------------------------------------------------------------
_BLOCK_TABLE = CandleBlock._meta.db_table
_CANDLE_TABLE = Candle._meta.db_table

# The range's block keys from its first and last candle (index probes), the first candle's, the start's.
_BOUNDS_SQL = f"""
SELECT market_candle_block(%(tf)s, (SELECT open_time FROM {_CANDLE_TABLE}
         WHERE instrument_id = %(i)s AND timeframe = %(tf)s AND open_time >= %(start)s AND open_time < %(end)s
         ORDER BY open_time LIMIT 1)),
       market_candle_block(%(tf)s, (SELECT open_time FROM {_CANDLE_TABLE}
         WHERE instrument_id = %(i)s AND timeframe = %(tf)s AND open_time >= %(start)s AND open_time < %(end)s
         ORDER BY open_time DESC LIMIT 1)),
       market_candle_block(%(tf)s, (SELECT open_time FROM {_CANDLE_TABLE}
         WHERE instrument_id = %(i)s AND timeframe = %(tf)s ORDER BY open_time LIMIT 1)),
       market_candle_block(%(tf)s, %(start)s)
"""  # noqa: S608 - table names are ours, values are parameters

_CACHED_SQL = f"""
SELECT block, count, data FROM {_BLOCK_TABLE}
 WHERE instrument_id = %s AND timeframe = %s AND block BETWEEN %s AND %s AND data IS NOT NULL
"""  # noqa: S608

# One statement, so one snapshot: the generation the block has (0 if it has no row) and its candles,
# aggregated into one byte string; then stored only over that same generation, still without data. A
# writer that committed after this snapshot has bumped the generation (its trigger), or holds the row
# until it commits: either way the stale build is not stored, and is still right for this reader.
_BUILD_SQL = f"""
WITH built AS (
  SELECT coalesce((SELECT generation FROM {_BLOCK_TABLE}
                    WHERE instrument_id = %(i)s AND timeframe = %(tf)s AND block = %(k)s), 0) AS generation,
         count(*)::int4 AS count,
         coalesce(string_agg(timestamptz_send(open_time), ''::bytea) || string_agg(float8send(open_f), ''::bytea)
                  || string_agg(float8send(high_f), ''::bytea) || string_agg(float8send(low_f), ''::bytea)
                  || string_agg(float8send(close_f), ''::bytea) || string_agg(float8send(volume_f), ''::bytea),
                  ''::bytea) AS data
    FROM (SELECT open_time, open_f, high_f, low_f, close_f, volume_f FROM {_CANDLE_TABLE}
           WHERE instrument_id = %(i)s AND timeframe = %(tf)s
             AND open_time >= to_timestamp(%(k)s * market_candle_block_span(%(tf)s))
             AND open_time < to_timestamp((%(k)s + 1) * market_candle_block_span(%(tf)s))
           ORDER BY open_time) candles
), stored AS (
  INSERT INTO {_BLOCK_TABLE} AS b (instrument_id, timeframe, block, generation, count, data)
  SELECT %(i)s, %(tf)s, %(k)s, generation, count, data FROM built
  ON CONFLICT (instrument_id, timeframe, block) DO UPDATE SET count = EXCLUDED.count, data = EXCLUDED.data
   WHERE b.generation = EXCLUDED.generation AND b.data IS NULL
)
SELECT count, data FROM built
"""  # noqa: S608


def _decode(count: int, data: bytes) -> Columns:
    if not count:
        return _empty()
    ts = (np.frombuffer(data, dtype=">i8", count=count) // 1_000_000 + PG_EPOCH_S).astype(np.int64)
    floats = np.frombuffer(data, dtype=">f8", offset=8 * count).reshape(len(FLOAT_COLUMNS), count)
    return Columns(ts, [floats[k].astype(np.float64) for k in range(len(FLOAT_COLUMNS))])


class _CachedReader:
    def __init__(self, instrument_id: int, timeframe: str, progress: Callable[[], None]):
        self.instrument_id = instrument_id
        self.timeframe = timeframe
        self.progress = progress

    def _cursor(self):

        connection.ensure_connection()
        return psycopg.Cursor(connection.connection)  # Django's cursors bind client-side: no binary results

    def blocks(self, first: int, last: int) -> list[Columns]:
        """Blocks ``first..last`` in order: the stored ones, and the others built (and stored)."""
        found: dict[int, Columns] = {}
        with self._cursor() as cursor:
            for lo in range(first, last + 1, FETCH_BLOCKS):
                hi = min(last, lo + FETCH_BLOCKS - 1)
                cursor.execute(_CACHED_SQL, [self.instrument_id, self.timeframe, lo, hi], binary=True)
                for block, count, data in cursor.fetchall():
                    found[block] = _decode(count, data)
                self.progress()
            for block in range(first, last + 1):
                if block not in found:
                    params = {"i": self.instrument_id, "tf": self.timeframe, "k": block}
                    cursor.execute(_BUILD_SQL, params, binary=True)
                    count, data = cursor.fetchone()
                    found[block] = _decode(count, data)
                    self.progress()
        return [found[block] for block in range(first, last + 1)]

    def read(self, start: datetime | None, end: datetime | None, before: int) -> tuple[Columns, int]:
        lo = start or datetime(1, 1, 1, tzinfo=UTC)
        hi = end or datetime(9999, 1, 1, tzinfo=UTC)
        with self._cursor() as cursor:
            cursor.execute(_BOUNDS_SQL, {"i": self.instrument_id, "tf": self.timeframe, "start": lo, "end": hi})
            first, last, earliest, start_block = cursor.fetchone()
        lo_s, hi_s = math.ceil(lo.timestamp()), math.ceil(hi.timestamp())  # open times are whole seconds
        if first is None:
            inside, a, b, block = _empty(), 0, 0, start_block
        else:
            inside = _join(self.blocks(first, last))
            a, b = (int(i) for i in np.searchsorted(inside.ts, [lo_s, hi_s], side="left"))
            block = first - 1
        if start is None or not before:
            return inside.slice(a, b), 0
        warm_parts = [inside.slice(0, a)]
        got = a
        while got < before and earliest is not None and block >= earliest:
            part = self.blocks(block, block)[0]
            part = part.slice(0, int(np.searchsorted(part.ts, lo_s, side="left")))
            warm_parts.insert(0, part)
            got += len(part)
            block -= 1
        warm_cols = _join(warm_parts)
        warm = min(before, got)
        return _join([warm_cols.slice(got - warm, got), inside.slice(a, b)]), warm
