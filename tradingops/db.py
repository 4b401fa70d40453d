"""The database seam: every place where the code depends on which database it runs on.

TradingOps runs on PostgreSQL (the system of record) and on SQLite (the embedded default that
``bin/run`` starts). What differs between them lives here and nowhere else, so that both sides of
each difference can be read (and tested) together:

- vendor checks (``is_postgres``);
- parameters for raw SQL (``sql_param``: UUIDs as the column stores them);
- upserts (``upsert_increment``, valid on both);
- advisory locks, with every key in one registry (``LockKey``);
- binary COPY (``copy_rows``) and the server-binding cursor (``server_binding_cursor``), both
  PostgreSQL only.

A lower app may import this module: it imports nothing from the apps.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from django.db import connection, models

POSTGRESQL = "postgresql"


# REAL keeps 15-16 significant digits; sums of many such values lose a few more.
SQLITE_DECIMAL_RELATIVE = Decimal("1e-12")
SQLITE_DECIMAL_ABSOLUTE = Decimal("1e-12")


def is_postgres(conn=connection) -> bool:
    """True on PostgreSQL; False on the embedded SQLite (and anything else Django supports)."""
    return conn.vendor == POSTGRESQL


def decimal_slack(*values: Decimal, conn=connection) -> Decimal:
    """How far two stored decimals may differ and still be the same amount. Postgres keeps a
    DecimalField exactly (0); SQLite stores it as a REAL, so only ~15 significant digits survive."""
    if is_postgres(conn):
        return Decimal(0)
    return max((abs(v) for v in values), default=Decimal(0)) * SQLITE_DECIMAL_RELATIVE + SQLITE_DECIMAL_ABSOLUTE


def vendor(conn=connection) -> str:
    return conn.vendor


# --- parameters for raw SQL -----------------------------------------------------------------------
_UUID_FIELD = models.UUIDField()


def sql_param(value: Any, conn=connection) -> Any:
    """A value as the database stores it, for raw SQL. Django's UUIDField stores UUIDs natively
    on PostgreSQL and as 32 hex characters elsewhere; sqlite3 cannot bind a ``uuid.UUID`` at all
    (``Error binding parameter: type 'UUID' is not supported``). Datetimes go as the ORM writes
    them, so that a raw upsert's key matches the rows the ORM wrote and reads."""
    import datetime
    import uuid

    if isinstance(value, uuid.UUID):
        return _UUID_FIELD.get_db_prep_value(value, conn)
    if isinstance(value, datetime.datetime):
        return conn.ops.adapt_datetimefield_value(value)  # SQLite: naive UTC text, as the ORM writes it
    return value


# --- advisory locks ---------------------------------------------------------------------------------
@enum.unique
class LockKey(enum.IntEnum):
    """Every PostgreSQL advisory lock key of the project, in one place, so that no two users of a
    lock pick the same number by accident (``enum.unique`` refuses a repeated value). Values are
    stable: running processes of an older release must agree on them during a deploy."""

    EXECUTION = 7_201_001  # one live execution decision at a time (agents.execution)
    RECONCILE = 0x77616C6C_7265636F  # "wallreco": one reconciliation run at a time (wallets.services)


def advisory_xact_lock(key: LockKey) -> None:
    """Wait for the transaction-scoped advisory lock ``key`` (released at commit or rollback).

    On SQLite there is nothing to take: the embedded default opens its transactions IMMEDIATE
    (settings), so writers are already serialised by the database file's write lock."""
    if is_postgres():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [int(key)])


def try_advisory_xact_lock(key: LockKey) -> bool:
    """Take the transaction-scoped advisory lock ``key`` if it is free; False when another
    transaction holds it. Always True on SQLite (writers are serialised there; see above)."""
    if not is_postgres():
        return True
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [int(key)])
        return bool(cursor.fetchone()[0])


# --- upserts --------------------------------------------------------------------------------------
def upsert_increment(
    table: str,
    *,
    keys: Sequence[str],
    add: Sequence[str],
    replace: Sequence[str] = (),
    rows: Iterable[Sequence[Any]],
) -> None:
    """``INSERT ... ON CONFLICT (keys) DO UPDATE SET a = table.a + excluded.a, r = excluded.r`` in
    one statement, on PostgreSQL and SQLite alike (both speak this dialect).

    ``rows`` hold values for ``keys``, then ``add``, then ``replace``. Sort them by key before
    calling, so that concurrent batches lock rows in the same order; ON CONFLICT DO UPDATE re-reads
    the committed row, so concurrent increments add up and none is lost.
    """
    rows = [[sql_param(value) for value in row] for row in rows]
    if not rows:
        return
    columns = [*keys, *add, *replace]
    row = "(" + ", ".join(["%s"] * len(columns)) + ")"
    updates = [f"{c} = {table}.{c} + excluded.{c}" for c in add] + [f"{c} = excluded.{c}" for c in replace]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES {', '.join([row] * len(rows))} "  # noqa: S608
            f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {', '.join(updates)}",
            [value for r in rows for value in r],
        )


# --- PostgreSQL only: binary COPY, server-side binding -----------------------------------------------
def server_binding_cursor():
    """A Django cursor (counted and logged like any other) whose parameters are bound by the
    server: lists go over as arrays without being quoted into the SQL text. PostgreSQL only."""
    import psycopg

    connection.ensure_connection()
    return connection._prepare_cursor(psycopg.Cursor(connection.connection))


def copy_rows(table: str, columns: Sequence[str] | Sequence[tuple[str, str]], rows: Iterable[Sequence[Any]]) -> None:
    """``COPY table (columns) FROM STDIN``, one round trip for any number of rows. PostgreSQL
    only: callers fall back to ``bulk_create`` elsewhere.

    ``columns`` as names: text format, psycopg adapts each value. As (name, PostgreSQL type)
    pairs: binary format, values sent as they are (Decimals, times, blobs), no text round trip;
    ``jsonb`` values are wrapped for psycopg here."""
    from psycopg.types.json import Jsonb

    typed = bool(columns) and not isinstance(columns[0], str)
    names = [c[0] for c in columns] if typed else list(columns)
    json_at = [i for i, (_, kind) in enumerate(columns) if kind == "jsonb"] if typed else []
    sql = f"COPY {table} ({', '.join(names)}) FROM STDIN" + (" (FORMAT BINARY)" if typed else "")
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        if typed:
            copy.set_types([kind for _, kind in columns])
        for row in rows:
            if json_at:
                row = list(row)
                for i in json_at:
                    row[i] = Jsonb(row[i])
            copy.write_row(row)
