"""Every write of the backtests app: start, cancel, rerun, execute (the Celery task's body), reap, sweeps."""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from agents.engine import Bars, run_backtest
from agents.engine.fills import to_decimal
from events import realtime
from events.publisher import Publisher
from market import timeframes
from market.models import Candle
from tradingops.db import is_postgres, sql_param

from . import config as cfg
from . import metrics, portfolio
from .models import (
    CURVE_CHUNK,
    DEFAULT_POINTS,
    FINISHED,
    OVERVIEW_POINTS,
    BacktestBlock,
    BacktestRun,
    BacktestTrade,
    CurveChunk,
    CurveOverview,
    DailyReport,
    RunStatus,
    Sweep,
)

logger = logging.getLogger(__name__)

DAY = 86_400
LOAD_CHUNK = 100_000  # candles per query while loading (a cancel/heartbeat check between chunks)
# the engine calls back at most this often (in bars); then progress is written at most every interval
PROGRESS_EVERY_BARS = settings.BACKTESTS_PROGRESS_EVERY_BARS
PROGRESS_MIN_INTERVAL_S = settings.BACKTESTS_PROGRESS_INTERVAL_S  # written and pushed at most this often
PROGRESS_MESSAGE_TYPE = "backtest.progress"


class RunStateError(Exception):
    """An action the run's status does not allow (the API answers 409 naming the status)."""

    def __init__(self, run: BacktestRun, message: str):
        self.run = run
        super().__init__(message)


class IdempotencyConflict(Exception):
    """The Idempotency-Key was used for a different config."""


class RunFailed(Exception):
    """A reason a run cannot go on that the user can act on: its message is shown as it is."""


class Cancelled(Exception):
    pass


# --- realtime --------------------------------------------------------------------------------------
_publisher = Publisher(lambda frames: {"type": PROGRESS_MESSAGE_TYPE, "frames": frames})


def run_frame(run: BacktestRun) -> dict:
    return {
        "type": "progress",
        "id": str(run.pk),
        "status": run.status,
        "candles_total": run.candles_total,
        "candles_processed": run.candles_processed,
        "error": run.error,
        "heartbeat_at": run.heartbeat_at.isoformat() if run.heartbeat_at else None,
    }


def _publish(frame: dict) -> None:
    """Send a frame to the run's group (called outside transactions or on commit; failures are logged)."""
    from asgiref.sync import async_to_sync
    from channels.layers import InMemoryChannelLayer, get_channel_layer

    group = realtime.backtest_run_group(frame["id"])
    try:
        layer = get_channel_layer()
        if layer is None:
            return
        if isinstance(layer, InMemoryChannelLayer):
            async_to_sync(layer.group_send)(group, {"type": PROGRESS_MESSAGE_TYPE, "frames": [frame]})
        else:
            _publisher.submit(layer, {group: [frame]}, 1)
    except Exception:
        logger.exception("publishing progress of backtest %s failed; the API shows it", frame["id"])


def _publish_on_commit(run_id) -> None:
    def send():
        run = BacktestRun.objects.filter(pk=run_id).first()
        if run is not None:
            _publish(run_frame(run))

    transaction.on_commit(send)


# --- events -----------------------------------------------------------------------------------------------
def _emit_finished(run_id, status: str, *, error: str = "", processed: int = 0, results: dict | None = None) -> None:
    from events.services import emit

    results = results or {}
    emit(
        "backtest_finished",
        {
            "backtest_id": str(run_id),
            "status": str(status),
            "error": error[:5000],
            "candles_processed": processed,
            "trades": results.get("trades"),
            "blocks": results.get("blocks"),
            "total_return": results.get("total_return"),
            "final_equity": results.get("final_equity"),
        },
        source="backtests",
        run_id=str(run_id),
        dedupe_key=f"backtest:{run_id}:finished",
    )


# --- start / cancel / rerun -----------------------------------------------------------------------
def _enqueue(run_ids: list) -> None:
    from .tasks import backtest_run_task

    if len(run_ids) == 1:
        backtest_run_task.delay_on_commit(str(run_ids[0]))
        return
    from celery import group

    transaction.on_commit(lambda: group(backtest_run_task.s(str(rid)) for rid in run_ids).apply_async())


def backtest_run_create(
    *,
    data: dict,
    user=None,
    idempotency_key: str | None = None,
) -> tuple[BacktestRun, bool]:
    """Validate ``data`` (the POST body), store a queued run and enqueue it on commit.

    With ``idempotency_key``, the same key returns the run it created first (``created`` False);
    the same key with a different config raises :class:`IdempotencyConflict`.
    """
    if idempotency_key:
        existing = BacktestRun.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            return _same_request(existing, data), False
    serializer = cfg.BacktestConfigSerializer(data=data)
    serializer.is_valid(raise_exception=True)
    attrs = serializer.validated_data
    config = attrs["_config"]
    name = attrs.get("name") or _default_name(config)
    try:
        with transaction.atomic():
            run = BacktestRun.objects.create(
                name=name,
                config=config,
                candles_total=attrs["_resolved"].candles,
                idempotency_key=idempotency_key or None,
                created_by=user if getattr(user, "is_authenticated", False) else None,
            )
            _enqueue([run.pk])
    except IntegrityError:
        # a concurrent request with the same key won the race
        existing = BacktestRun.objects.filter(idempotency_key=idempotency_key).first()
        if existing is None:
            raise
        return _same_request(existing, data), False
    return run, True


def _same_request(existing: BacktestRun, data: dict) -> BacktestRun:
    serializer = cfg.BacktestConfigSerializer(data=data)
    if serializer.is_valid() and serializer.validated_data["_config"] == existing.config:
        return existing
    raise IdempotencyConflict(f"this Idempotency-Key already started run {existing.pk} with a different config")


def _default_name(config: dict) -> str:
    strategy = config["strategy"]
    label = strategy.get("preset") or (strategy.get("plan") or {}).get("name", "plan")
    params = ",".join(f"{k}={v}" for k, v in (strategy.get("params") or {}).items())
    return f"{label}({params}) {','.join(config['symbols'])} {config['timeframe']}"[:200]


def backtest_run_cancel(*, run_id) -> BacktestRun:
    """Queued: cancelled at once. Running: flagged; the worker stops within a second and marks it.

    A finished run cannot be cancelled: :class:`RunStateError` names its status.
    """
    with transaction.atomic():
        run = BacktestRun.objects.select_for_update().get(pk=run_id)
        if run.status in FINISHED:
            raise RunStateError(run, f"the run is {run.status}: only queued or running runs can be cancelled")
        if run.status == RunStatus.QUEUED:
            run.status = RunStatus.CANCELLED
            run.finished_at = timezone.now()
            run.error = "cancelled before it started"
        run.cancel_requested = True
        run.save(update_fields=["status", "finished_at", "error", "cancel_requested"])
        if run.status == RunStatus.CANCELLED:
            _emit_finished(run.pk, run.status, error=run.error)
        _publish_on_commit(run.pk)
    return run


def backtest_run_rerun(*, run_id, user=None) -> BacktestRun:
    """A new run of the same config (validated again: candles may have changed since)."""
    original = BacktestRun.objects.get(pk=run_id)
    run, _ = backtest_run_create(data={"name": original.name, **original.config}, user=user)
    BacktestRun.objects.filter(pk=run.pk).update(rerun_of=original)
    run.rerun_of = original
    return run


# --- sweeps ---------------------------------------------------------------------------------------------
def sweep_create(*, data: dict, grid, metric: str, name: str | None = None, user=None) -> Sweep:
    """One run per valid grid combination, enqueued as one Celery group on commit."""
    serializer = cfg.BacktestConfigSerializer(data=data)
    serializer.is_valid(raise_exception=True)
    attrs = serializer.validated_data
    config = attrs["_config"]
    valid, skipped = cfg.grid_combinations(config, grid)
    total = 1
    for values in grid.values():
        total *= len(values)
    candles = attrs["_resolved"].candles
    owner = user if getattr(user, "is_authenticated", False) else None
    with transaction.atomic():
        sweep = Sweep.objects.create(
            name=name or f"sweep {_default_name(config)}",
            base_config=config,
            grid=grid,
            metric=metric,
            combinations=total,
            skipped=skipped,
            created_by=owner,
        )
        runs = [
            BacktestRun(
                name=_default_name({**config, "strategy": {**config["strategy"], "params": params}}),
                config={**config, "strategy": {**config["strategy"], "params": params}},
                candles_total=candles,
                created_by=owner,
                sweep=sweep,
                params=params,
            )
            for params in valid
        ]
        BacktestRun.objects.bulk_create(runs, batch_size=1000)
        _enqueue([r.pk for r in runs])
    return sweep


# --- execution -----------------------------------------------------------------------------------------
class _Progress:
    """Throttled progress writes + pushes, heartbeat, and the cancel check (one UPDATE ... RETURNING)."""

    def __init__(self, run_id):
        self.run_id = run_id
        self.last = 0.0
        self.total = 0
        self.offset = 0  # warm-up bars before the range

    def engine(self, bars_done: int) -> None:
        """The engine's callback: bars handled, warm-up included."""
        self(min(max(bars_done - self.offset, 0), self.total))

    def __call__(self, done: int, *, force: bool = False) -> None:
        # Throttle on the stamp that is stored, so stored heartbeats are never closer than the interval.
        beat = timezone.now()
        if not force and beat.timestamp() - self.last < PROGRESS_MIN_INTERVAL_S:
            return
        self.last = beat.timestamp()
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE backtests_backtestrun SET candles_processed = %s, heartbeat_at = %s WHERE id = %s "
                "RETURNING cancel_requested",
                [done, beat, sql_param(self.run_id)],
            )
            row = cursor.fetchone()
        _publish(
            {
                "type": "progress",
                "id": str(self.run_id),
                "status": RunStatus.RUNNING,
                "candles_total": self.total,
                "candles_processed": done,
                "error": "",
                "heartbeat_at": beat.isoformat(),
            }
        )
        if row is None or row[0]:
            raise Cancelled


def _rows_to_arrays(rows) -> tuple[np.ndarray, np.ndarray]:
    ts = np.fromiter((int(r[0].timestamp()) for r in rows), dtype=np.int64, count=len(rows))
    return ts, np.array([r[1:] for r in rows], dtype=np.float64).reshape(len(rows), 5)


# One row of six arrays in binary: the server casts to float8, psycopg's C loader builds the lists,
# numpy takes them (no per-row round trip; ``date_part`` is float8, ``extract`` would be numeric).
_ARRAYS_SQL = """
SELECT array_agg(date_part('epoch', open_time)::int8), array_agg(open::float8), array_agg(high::float8),
       array_agg(low::float8), array_agg(close::float8), array_agg(volume::float8)
  FROM (SELECT open_time, open, high, low, close, volume FROM {table}
         WHERE instrument_id = %s AND timeframe = %s AND open_time {cmp} %s {end}
         ORDER BY open_time {direction} LIMIT %s) bars
"""


def _copy_chunk(instrument_id: int, timeframe: str, cmp: str, bound: datetime, end, direction: str, limit: int):
    import psycopg

    sql = _ARRAYS_SQL.format(
        table=Candle._meta.db_table, cmp=cmp, end="" if end is None else "AND open_time < %s", direction=direction
    )
    params = [instrument_id, timeframe, bound, *([] if end is None else [end]), limit]
    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:  # Django's cursors bind client-side: no binary results
        cursor.execute(sql, params, binary=True)
        row = cursor.fetchone()
    if row is None or row[0] is None:
        return np.empty(0, dtype=np.int64), np.empty((0, 5))
    ts = np.asarray(row[0], dtype=np.int64)
    values = np.column_stack([np.asarray(col, dtype=np.float64) for col in row[1:]])
    if len(ts) > 1 and not np.all(np.diff(ts) > 0):  # the aggregate keeps the scan's order; sort if it did not
        order = np.argsort(ts, kind="stable")
        ts, values = ts[order], values[order]
    return ts, values


def _load_bars(config: dict, instrument_id: int, warmup: int, progress: _Progress) -> tuple[Bars, int]:
    """Candles as float64 arrays, in chunks by open time with a heartbeat/cancel check between chunks; plus
    up to ``warmup`` bars before the range's start for the indicators. Returns the bars and how many of them
    are warm-up. PostgreSQL: arrays in binary (see ``_ARRAYS_SQL``); elsewhere values_list (no model instances).
    """
    postgres = is_postgres()
    timeframe = config["timeframe"]
    start, end = cfg.parse_time(config["start"]), cfg.parse_time(config["end"])
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
            page = cfg.candle_range(config, instrument_id).filter(
                **{f"open_time__{'gte' if cmp == '>=' else 'gt'}": last}
            )
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


_FLOATS = ("open", "high", "low", "close", "volume")


def backtest_execute(*, run_id, worker: str = "") -> str:
    """Run one queued backtest to the end (the task's body); returns the final status.

    Only a queued run is claimed (a redelivered message of a run already taken is a no-op). Failures
    are recorded with their error; a cancel request stops it at the next progress check.
    """
    now = timezone.now()
    claimed = BacktestRun.objects.filter(pk=run_id, status=RunStatus.QUEUED).update(
        status=RunStatus.RUNNING, started_at=now, heartbeat_at=now, worker=worker[:200]
    )
    if not claimed:
        return BacktestRun.objects.filter(pk=run_id).values_list("status", flat=True).first() or "missing"
    run = BacktestRun.objects.get(pk=run_id)
    from events.services import emit

    emit(
        "backtest_started",
        {"backtest_id": str(run.pk), "name": run.name, "symbols": run.config["symbols"],
         "timeframe": run.config["timeframe"], "candles": run.candles_total, "worker": run.worker},
        source="backtests",
        run_id=str(run.pk),
        dedupe_key=f"backtest:{run.pk}:started",
    )  # fmt: skip
    _publish(run_frame(run))
    progress = _Progress(run.pk)
    progress.total = run.candles_total
    try:
        config = run.config
        rows = cfg.instrument_rows(config["symbols"])
        missing = [sym for sym in config["symbols"] if sym not in rows]
        if missing:
            raise ValueError(f"instrument {', '.join(missing)} no longer exists")
        plan, limits, instruments = cfg.engine_parts(config, rows)
        bars: dict[str, Bars] = {}
        warm: dict[str, int] = {}
        for sp in plan.symbols:
            bars[sp.symbol], warm[sp.symbol] = _load_bars(config, rows[sp.symbol]["id"], plan.warmup_bars, progress)
            if len(bars[sp.symbol]) <= warm[sp.symbol]:
                raise RunFailed(f"no candles of {sp.symbol} in the run's range any more")
        total = sum(len(b) for b in bars.values()) - sum(warm.values())
        progress.total = total
        progress.offset = sum(warm.values())
        BacktestRun.objects.filter(pk=run.pk).update(candles_total=total)
        result = run_backtest(
            plan,
            bars,
            limits,
            initial_cash=float(config["initial_cash"]),
            instruments=instruments,
            trade_from=warm,
            progress=progress.engine,
            progress_every=PROGRESS_EVERY_BARS,
        )
        progress(total, force=True)  # last cancel check before writing
        with transaction.atomic():
            results = write_results(run, result, bars, warm, check=lambda: progress(total))
            results["candles"] = total
            BacktestRun.objects.filter(pk=run.pk).update(
                status=RunStatus.COMPLETED,
                candles_processed=total,
                finished_at=timezone.now(),
                heartbeat_at=timezone.now(),
                results=results,
            )
            _emit_finished(run.pk, RunStatus.COMPLETED, processed=total, results=results)
            _publish_on_commit(run.pk)
        return RunStatus.COMPLETED
    except Cancelled:
        return _finish(run.pk, RunStatus.CANCELLED, "cancelled by an operator")
    except RunFailed as failure:
        logger.info("backtest %s failed: %s", run.pk, failure)
        return _finish(run.pk, RunStatus.FAILED, str(failure))
    except Exception:
        # The user gets a sentence; the exception and its traceback go to the log, under the run's id.
        logger.exception("backtest %s failed", run.pk)
        return _finish(
            run.pk,
            RunStatus.FAILED,
            f"This backtest stopped on an internal error, so it has no results. The details are in the "
            f"server log under backtest {run.pk}; please report it to the operators.",
        )


def _finish(run_id, status: str, error: str) -> str:
    with transaction.atomic():
        BacktestRun.objects.filter(pk=run_id).update(status=status, finished_at=timezone.now(), error=error)
        processed = BacktestRun.objects.filter(pk=run_id).values_list("candles_processed", flat=True).get()
        _emit_finished(run_id, status, error=error, processed=processed)
        _publish_on_commit(run_id)
    return status


# --- results ----------------------------------------------------------------------------------------------
def _d(value: float | None) -> Decimal | None:
    return None if value is None else to_decimal(value)


def _s(value: float | None) -> str | None:
    return None if value is None else str(to_decimal(value))


def _aware(epoch: int) -> datetime:
    return datetime.fromtimestamp(int(epoch), tz=UTC)


MONEY_METRICS = ("initial_cash", "final_equity", "gross_profit", "gross_loss", "expectancy", "avg_trade",
                 "best_trade", "worst_trade", "fees")  # fmt: skip


TRADE_COLUMNS = (
    ("run_id", "uuid"), ("seq", "int4"), ("symbol", "text"), ("side", "text"), ("qty", "numeric"),
    ("entry_ts", "timestamptz"), ("exit_ts", "timestamptz"), ("entry_bar", "int4"), ("exit_bar", "int4"),
    ("entry_price", "numeric"), ("exit_price", "numeric"), ("entry_fee", "numeric"), ("exit_fee", "numeric"),
    ("pnl", "numeric"), ("exit_reason", "text"), ("chain", "int4"),
)  # fmt: skip
BLOCK_COLUMNS = (
    ("run_id", "uuid"), ("seq", "int4"), ("ts", "timestamptz"), ("bar", "int4"), ("symbol", "text"),
    ("reason", "text"), ("reason_class", "text"), ("message", "text"), ("detail", "jsonb"), ("chain", "int4"),
)  # fmt: skip
CHUNK_COLUMNS = (
    ("run_id", "uuid"), ("seq", "int4"), ("start_bar", "int4"), ("start_ts", "int8"), ("end_ts", "int8"),
    ("ts", "bytea"), ("equity", "bytea"), ("close", "bytea"), ("snapshot", "jsonb"),
)  # fmt: skip


def _insert(model, columns, rows) -> None:
    """Bulk insert tuples: binary COPY on PostgreSQL (Decimals, times and blobs sent as they are), bulk_create
    elsewhere. ``columns`` are (attname, PostgreSQL type) pairs."""
    names = [c for c, _ in columns]
    if not is_postgres():
        model.objects.bulk_create([model(**dict(zip(names, row, strict=True))) for row in rows], batch_size=2000)
        return
    from psycopg.types.json import Jsonb

    json_at = [i for i, (_, kind) in enumerate(columns) if kind == "jsonb"]
    sql = f"COPY {model._meta.db_table} ({', '.join(names)}) FROM STDIN (FORMAT BINARY)"
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        copy.set_types([kind for _, kind in columns])
        for row in rows:
            if json_at:
                row = list(row)
                for i in json_at:
                    row[i] = Jsonb(row[i])
            copy.write_row(row)


def write_results(run: BacktestRun, result, bars: dict[str, Bars], warm: dict[str, int], check=None) -> dict:
    """Trades, blocks, curve chunks with snapshots, the LTTB overview, daily reports; returns the results JSON.

    The curve runs over the union of the symbols' bar times (the engine's); the warm-up bars before
    the range are left out, and every stored bar index is an index into the stored curve. ``check()``
    is called between the writes (the caller's cancel check: raising there rolls the whole write back).
    """
    check = check or (lambda: None)
    symbols = list(bars)  # the plan's order: the equity adds positions in it
    ts_all = result.ts
    w = int(np.searchsorted(ts_all, min(int(b.ts[warm[sym]]) for sym, b in bars.items())))
    ts, equity = ts_all[w:], result.equity[w:]
    n = len(ts)
    # each symbol's last close at each curve time (NaN before its first bar), in plan order
    closes = np.empty((n, len(symbols)))
    for k, sym in enumerate(symbols):
        last = np.searchsorted(bars[sym].ts, ts, side="right") - 1
        closes[:, k] = np.where(last >= 0, bars[sym].close[np.maximum(last, 0)], np.nan)

    # a symbol's bar index -> its index in the stored curve (negative inside the warm-up)
    curve_index = {sym: (np.searchsorted(ts_all, b.ts) - w).tolist() for sym, b in bars.items()}

    def at(symbol: str, bar: int) -> int:
        return curve_index[symbol][bar]

    initial_cash = result.initial_cash
    entry_fee_by_chain: dict[int, float] = {}
    exit_fee_by_chain: dict[int, float] = {}
    fills: list[portfolio.Fill] = []
    blocks = []
    orders_risk: list[tuple[int, float]] = []
    for d in result.decisions:
        if d.kind == "fill":
            if d.intent == "entry":
                entry_fee_by_chain[d.chain] = d.fee
                side = "long" if d.side == "buy" else "short"
                fills.append(portfolio.Fill(at(d.symbol, d.bar), d.ts, d.symbol, "entry", side, d.qty, d.price, d.fee))
            else:
                side = "long" if d.side == "sell" else "short"
                fill = portfolio.Fill(at(d.symbol, d.bar), d.ts, d.symbol, "exit", side, d.qty, d.price, d.fee, d.pnl)
                fills.append(fill)
        elif d.kind == "block":
            blocks.append((at(d.symbol, d.bar), d))
        elif d.kind == "order" and d.intent == "entry":
            orders_risk.append((at(d.symbol, d.bar), d.risk or 0.0))
    # an exit fill's fee, by the trade it closes: the engine appends both when it closes a position
    exit_fills = [f for f in fills if f.intent == "exit"]
    for t, f in zip(result.trades, exit_fills, strict=True):
        exit_fee_by_chain[t.chain] = f.fee
    trades = result.trades
    trades = sorted(trades, key=lambda t: (t.entry_ts, symbols.index(t.symbol)))
    _insert(
        BacktestTrade,
        TRADE_COLUMNS,
        (
            (
                run.pk,
                i + 1,
                t.symbol,
                t.side,
                _d(t.qty),
                _aware(t.entry_ts),
                _aware(t.exit_ts),
                at(t.symbol, t.entry_bar),
                at(t.symbol, t.exit_bar),
                _d(t.entry_price),
                _d(t.exit_price),
                _d(entry_fee_by_chain[t.chain]),
                _d(exit_fee_by_chain[t.chain]),
                _d(t.pnl),
                t.exit_reason,
                t.chain,
            )  # fmt: skip
            for i, t in enumerate(trades)
        ),
    )
    check()
    _insert(
        BacktestBlock,
        BLOCK_COLUMNS,
        (
            (
                run.pk,
                i + 1,
                _aware(d.ts),
                bar,
                d.symbol,
                d.block.reason,
                d.block.reason_class,
                d.block.message,
                d.block.payload()["detail"],
                d.chain,
            )  # fmt: skip
            for i, (bar, d) in enumerate(blocks)
        ),
    )

    # curve chunks, each with the portfolio before its first bar
    state = portfolio.empty(initial_cash)
    chunks = []
    k = 0
    for seq, start in enumerate(range(0, n, CURVE_CHUNK)):
        while k < len(fills) and fills[k].bar < start:
            state = portfolio.apply_fill(state, fills[k])
            k += 1
        stop = min(n, start + CURVE_CHUNK)
        chunks.append(
            (
                run.pk,
                seq,
                start,
                int(ts[start]),
                int(ts[stop - 1]),
                np.ascontiguousarray(ts[start:stop], dtype="<i8").tobytes(),
                np.ascontiguousarray(equity[start:stop], dtype="<f8").tobytes(),
                np.ascontiguousarray(closes[start:stop], dtype="<f8").tobytes(),
                state,
            )
        )
    check()
    _insert(CurveChunk, CHUNK_COLUMNS, chunks)
    check()
    while k < len(fills):
        state = portfolio.apply_fill(state, fills[k])
        k += 1

    dd = metrics.drawdown(equity, initial_cash)
    picked = metrics.lttb(np.arange(n, dtype=np.float64), equity, OVERVIEW_POINTS)
    preview = metrics.lttb(ts[picked].astype(np.float64), equity[picked], DEFAULT_POINTS)
    CurveOverview.objects.create(
        preview=np.ascontiguousarray(preview, dtype="<i4").tobytes(),
        run=run,
        points=len(picked),
        bars=n,
        ts=np.ascontiguousarray(ts[picked], dtype="<i8").tobytes(),
        equity=np.ascontiguousarray(equity[picked], dtype="<f8").tobytes(),
        drawdown=np.ascontiguousarray(dd[picked], dtype="<f8").tobytes(),
    )

    check()
    block_bars = [(bar, d.block.reason) for bar, d in blocks]
    _write_daily_reports(run, ts, equity, initial_cash, fills, block_bars, orders_risk)

    # exposure: curve bars with at least one open position
    held = np.zeros(n + 1, dtype=np.int64)
    for t in trades:
        held[at(t.symbol, t.entry_bar)] += 1
        held[at(t.symbol, t.exit_bar)] -= 1
    for sym in state["positions"]:
        entry = next(f for f in reversed(fills) if f.intent == "entry" and f.symbol == sym)
        held[entry.bar] += 1
    out = metrics.compute(
        equity=equity,
        ts=ts,
        timeframe_s=next(iter(bars.values())).timeframe_s,
        initial_cash=initial_cash,
        pnls=[t.pnl for t in trades],
        entry_values=[t.entry_price * t.qty for t in trades],
        fees=result.state.fees_paid,
        bars_in_position=int(np.count_nonzero(np.cumsum(held[:n]))),
    )
    for key in MONEY_METRICS:
        out[key] = _s(out[key])
    out["symbols"] = symbols
    out["blocks"] = len(blocks)
    out["blocks_by_reason"] = dict(sorted(Counter(d.block.reason for _, d in blocks).items()))
    out["blocks_by_class"] = dict(sorted(Counter(d.block.reason_class for _, d in blocks).items()))
    out["final_cash"] = _s(result.state.cash)
    out["realized_pnl"] = _s(result.state.realized_pnl)
    out["open_positions"] = [
        {
            "symbol": sym,
            "side": pos["side"],
            "qty": _s(pos["qty"]),
            "entry_price": _s(pos["entry_price"]),
            "entry_fee": _s(pos["entry_fee"]),
            "entry_ts": _aware(pos["entry_ts"]).isoformat(),
        }
        for sym, pos in state["positions"].items()
    ]
    return out


def _write_daily_reports(run, ts, equity, initial_cash, fills, blocks, orders_risk_by_bar) -> None:
    n = len(ts)
    days = ts // DAY
    unique_days, first = np.unique(days, return_index=True)
    last = np.concatenate((first[1:], [n])) - 1
    end_eq = equity[last]
    start_eq = np.concatenate(([initial_cash], end_eq[:-1]))
    day_of = np.repeat(np.arange(len(first)), np.diff(np.append(first, n))).tolist().__getitem__  # bar -> day

    per = defaultdict(
        lambda: {"entries": 0, "exits": 0, "realized": 0.0, "fees": 0.0, "blocks": Counter(), "risk": 0.0}
    )
    for f in fills:
        row = per[day_of(f.bar)]
        row["fees"] += f.fee
        if f.intent == "entry":
            row["entries"] += 1
        else:
            row["exits"] += 1
            row["realized"] += f.pnl
    for bar, reason in blocks:
        per[day_of(bar)]["blocks"][reason] += 1
    for bar, risk in orders_risk_by_bar:
        per[day_of(bar)]["risk"] += risk
    reports = []
    for i, day in enumerate(unique_days.tolist()):
        row = per.get(i) or {"entries": 0, "exits": 0, "realized": 0.0, "fees": 0.0, "blocks": Counter(), "risk": 0.0}
        start, end = float(start_eq[i]), float(end_eq[i])
        reports.append(
            DailyReport(
                run=run,
                day=(datetime(1970, 1, 1, tzinfo=UTC) + timedelta(days=day)).date(),
                start_equity=_d(start),
                end_equity=_d(end),
                pnl=_d(end - start),
                return_pct=end / start - 1.0 if start else 0.0,
                entries=row["entries"],
                exits=row["exits"],
                realized_pnl=_d(row["realized"]),
                fees=_d(row["fees"]),
                blocks=sum(row["blocks"].values()),
                blocks_by_reason=dict(sorted(row["blocks"].items())),
                risk_claimed=_d(row["risk"]),
                risk_used=row["risk"] / start if start else 0.0,
            )
        )
    DailyReport.objects.bulk_create(reports, batch_size=2000)


# --- reaper ---------------------------------------------------------------------------------------------------
def backtest_runs_reap(*, stale_after_s: int | None = None) -> list:
    """Mark running runs whose heartbeat stopped as failed, with the reason; returns their ids."""
    stale_after_s = stale_after_s or settings.BACKTESTS_STALE_AFTER_S
    cutoff = timezone.now() - timedelta(seconds=stale_after_s)
    reaped = []
    with transaction.atomic():
        for run in BacktestRun.objects.select_for_update(skip_locked=True).filter(
            status=RunStatus.RUNNING, heartbeat_at__lt=cutoff
        ):
            run.status = RunStatus.FAILED
            run.finished_at = timezone.now()
            run.error = (
                f"worker {run.worker or '?'} stopped sending heartbeats: the last was at "
                f"{run.heartbeat_at:%Y-%m-%d %H:%M:%S} UTC, more than {stale_after_s} s ago; presumed dead"
            )
            run.save(update_fields=["status", "finished_at", "error"])
            _emit_finished(run.pk, run.status, error=run.error, processed=run.candles_processed)
            reaped.append(run.pk)
            _publish_on_commit(run.pk)
    return reaped
