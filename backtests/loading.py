"""Candles out of the database as the engine's float arrays, in chunks with a heartbeat/cancel
check between them. Decimal stays the record of truth; the floats are made on the way out."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
from django.db import connection

from agents.engine import Bars
from market import timeframes
from market.models import Candle
from tradingops.db import is_postgres

from .config import candle_range, parse_time

DAY = 86_400
LOAD_CHUNK = 100_000  # candles per query while loading (a cancel/heartbeat check between chunks)


def _rows_to_arrays(rows) -> tuple[np.ndarray, np.ndarray]:
    ts = np.fromiter((int(r[0].timestamp()) for r in rows), dtype=np.int64, count=len(rows))
    return ts, np.array([r[1:] for r in rows], dtype=np.float64).reshape(len(rows), 5)


# One row of six bytea columns: each candle's open time (int8 microseconds since 2000-01-01) and the
# float8 copies the database keeps beside the Decimals (market.Candle.*_f, stored generated columns),
# in network byte order, concatenated server-side; numpy reads each with one frombuffer. No numeric to
# float conversion per read, no Python object per value (the Decimals stay the record of truth).
_BLOBS_SQL = """
SELECT string_agg(timestamptz_send(open_time), ''::bytea), string_agg(float8send(open_f), ''::bytea),
       string_agg(float8send(high_f), ''::bytea), string_agg(float8send(low_f), ''::bytea),
       string_agg(float8send(close_f), ''::bytea), string_agg(float8send(volume_f), ''::bytea)
  FROM (SELECT open_time, open_f, high_f, low_f, close_f, volume_f FROM {table}
         WHERE instrument_id = %s AND timeframe = %s AND open_time {cmp} %s {end}
         ORDER BY open_time {direction} LIMIT %s) bars
"""
PG_EPOCH_S = 946_684_800  # 2000-01-01 in Unix seconds


def _copy_chunk(instrument_id: int, timeframe: str, cmp: str, bound: datetime, end, direction: str, limit: int):
    import psycopg

    sql = _BLOBS_SQL.format(
        table=Candle._meta.db_table, cmp=cmp, end="" if end is None else "AND open_time < %s", direction=direction
    )
    params = [instrument_id, timeframe, bound, *([] if end is None else [end]), limit]
    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:  # Django's cursors bind client-side: no binary results
        cursor.execute(sql, params, binary=True)
        row = cursor.fetchone()
    if row is None or row[0] is None:
        return np.empty(0, dtype=np.int64), np.empty((0, 5))
    ts = (np.frombuffer(row[0], dtype=">i8") // 1_000_000 + PG_EPOCH_S).astype(np.int64)
    values = np.empty((len(ts), 5))
    for k, blob in enumerate(row[1:]):
        values[:, k] = np.frombuffer(blob, dtype=">f8")
    if len(ts) > 1 and not np.all(np.diff(ts) > 0):  # the aggregate keeps the scan's order; sort if it did not
        order = np.argsort(ts, kind="stable")
        ts, values = ts[order], values[order]
    return ts, values


def load_bars(config: dict, instrument_id: int, warmup: int, progress) -> tuple[Bars, int]:
    """Candles as float64 arrays, in chunks by open time with a heartbeat/cancel check between chunks; plus
    up to ``warmup`` bars before the range's start for the indicators. Returns the bars and how many of them
    are warm-up. PostgreSQL: byte strings (see ``_BLOBS_SQL``); elsewhere values_list of the float copies.
    """
    postgres = is_postgres()
    timeframe = config["timeframe"]
    start, end = parse_time(config["start"]), parse_time(config["end"])
    ts_parts: list[np.ndarray] = []
    parts: list[np.ndarray] = []
    warm = 0
    if warmup and start is not None:
        if postgres:
            ts, values = _copy_chunk(instrument_id, timeframe, "<", start, None, "DESC", warmup)
        else:
            before = Candle.objects.filter(instrument_id=instrument_id, timeframe=timeframe, open_time__lt=start)
            rows = list(before.order_by("-open_time").values_list("open_time", *_FLOATS)[:warmup])[::-1]
            ts, values = _rows_to_arrays(rows)
        ts_parts.append(ts)
        parts.append(values)
        warm = len(ts)
    last, cmp = start or datetime(1970, 1, 1, tzinfo=UTC), ">="
    while True:
        if postgres:
            ts, values = _copy_chunk(instrument_id, timeframe, cmp, last, end, "ASC", LOAD_CHUNK)
        else:
            page = candle_range(config, instrument_id).filter(**{f"open_time__{'gte' if cmp == '>=' else 'gt'}": last})
            ts, values = _rows_to_arrays(
                list(page.order_by("open_time").values_list("open_time", *_FLOATS)[:LOAD_CHUNK])
            )
        if not len(ts):
            break
        ts_parts.append(ts)
        parts.append(values)
        last, cmp = datetime.fromtimestamp(int(ts[-1]), tz=UTC), ">"
        progress(0)  # heartbeat + cancel check between chunks
        if len(ts) < LOAD_CHUNK:
            break
    ts = np.ascontiguousarray(np.concatenate(ts_parts)) if ts_parts else np.empty(0, dtype=np.int64)
    values = np.concatenate(parts) if parts else np.empty((0, 5))
    step = timeframes.SECONDS.get(timeframe, 31 * DAY)
    return Bars(ts, values[:, 0], values[:, 1], values[:, 2], values[:, 3], values[:, 4], step), warm


_FLOATS = ("open_f", "high_f", "low_f", "close_f", "volume_f")  # the database's float copies of the Decimals
