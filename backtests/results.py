"""A finished engine run stored: trades, blocks, curve chunks with snapshots, the overview, daily
reports, and the results JSON (metrics and summaries). Binary COPY on PostgreSQL, bulk_create elsewhere."""

from __future__ import annotations

import gc
import queue
import threading
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import repeat

import numpy as np
from django.db import connection
from psycopg.types.json import Jsonb

from agents.engine import Bars
from agents.engine.fills import to_decimal
from agents.engine.machine import Trade
from agents.scorecard import as_json, outcome_groups, rollup
from tradingops.db import is_postgres

from . import metrics, portfolio
from .models import (
    CURVE_CHUNK,
    DEFAULT_POINTS,
    OVERVIEW_POINTS,
    BacktestBlock,
    BacktestRun,
    BacktestTrade,
    CurveChunk,
    CurveOverview,
    DailyReport,
)

DAY = 86_400


def _decimal_or_none(value: float | None) -> Decimal | None:
    return None if value is None else to_decimal(value)


def _text_or_none(value: float | None) -> str | None:
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
OVERVIEW_COLUMNS = (
    ("run_id", "uuid"), ("points", "int4"), ("bars", "int4"), ("ts", "bytea"), ("equity", "bytea"),
    ("drawdown", "bytea"), ("preview", "bytea"),
)  # fmt: skip
CHUNK_COLUMNS = (
    ("run_id", "uuid"), ("seq", "int4"), ("start_bar", "int4"), ("start_ts", "int8"), ("end_ts", "int8"),
    ("ts", "bytea"), ("equity", "bytea"), ("close", "bytea"), ("snapshot", "jsonb"),
)  # fmt: skip


class _Copies:
    """The results' bulk inserts. PostgreSQL: COPYs run one after another on a thread, on this connection
    and so in this transaction, while the caller computes the next table's rows (PostgreSQL ingests a
    table while Python builds the next; the thread waits on the socket without the GIL). Until
    :meth:`wait` returns the caller must not use the connection: a COPY owns it from its first message
    to its last. Elsewhere (SQLite) each insert is a bulk_create, at once."""

    def __init__(self):
        self.threaded = is_postgres()
        self.error: BaseException | None = None
        if self.threaded:
            connection.ensure_connection()
            self.raw = connection.connection
            self.jobs: queue.SimpleQueue = queue.SimpleQueue()
            self.thread = threading.Thread(target=self._run, name="backtest-results-copy", daemon=True)
            self.thread.start()

    def _run(self) -> None:
        while (job := self.jobs.get()) is not None:
            if self.error is None:
                try:
                    with self.raw.cursor() as cursor:
                        job(cursor)
                except BaseException as exc:  # re-raised by wait(), in the caller's thread
                    self.error = exc

    def insert(self, model, columns, rows) -> None:
        """Tuples in ``columns``' order ((attname, PostgreSQL type) pairs): a binary COPY (Decimals, times
        and blobs sent as they are), or bulk_create."""
        names = [c for c, _ in columns]
        if not self.threaded:
            model.objects.bulk_create([model(**dict(zip(names, row, strict=True))) for row in rows], batch_size=2000)
            return
        rows = list(rows)
        self.jobs.put(lambda cursor: _copy_binary(cursor, model._meta.db_table, columns, rows))

    def copy_text(self, table: str, names, data: bytes) -> None:
        """PostgreSQL only: ``data`` in COPY's text format."""
        sql = f"COPY {table} ({', '.join(names)}) FROM STDIN"

        def job(cursor):
            with cursor.copy(sql) as copy:
                copy.write(data)

        self.jobs.put(job)

    def stop(self) -> None:
        """After a failure in the caller: the thread finished (its COPYs no longer matter: rolled back)."""
        if self.threaded and self.thread.is_alive():
            self.error = self.error or RuntimeError("stopped")
            self.jobs.put(None)
            self.thread.join()

    def wait(self) -> None:
        """Every COPY done (or the first one's error raised); the connection is the caller's again."""
        if self.threaded and self.thread.is_alive():
            self.jobs.put(None)
            self.thread.join()
        if self.error is not None:
            raise self.error


def _copy_binary(cursor, table: str, columns, rows) -> None:

    json_at = [i for i, (_, kind) in enumerate(columns) if kind == "jsonb"]
    sql = f"COPY {table} ({', '.join(c for c, _ in columns)}) FROM STDIN (FORMAT BINARY)"
    with cursor.copy(sql) as copy:
        copy.set_types([kind for _, kind in columns])
        for row in rows:
            if json_at:
                row = list(row)
                for i in json_at:
                    row[i] = Jsonb(row[i])
            copy.write_row(row)


def _copy_text(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _insert_trades(copies: _Copies, run_id, columns: dict[str, list]) -> None:
    """Trades given as columns (``TRADE_COLUMNS`` but ``run_id``; floats as the engine's, times as epoch
    seconds). PostgreSQL: a text COPY built column by column, each float as its shortest round-trip
    text (``repr``), which the numeric column parses to exactly the Decimal ``Decimal(repr(x))`` of
    the other path, with no Python object per value; elsewhere Decimals through bulk_create."""
    names = [c for c, _ in TRADE_COLUMNS]
    count = len(columns["seq"])
    if not copies.threaded:
        converted = []
        for name, kind in TRADE_COLUMNS[1:]:
            values = columns[name]
            if kind == "numeric":
                values = [_decimal_or_none(v) for v in values]
            elif kind == "timestamptz":
                values = [_aware(v) for v in values]
            converted.append(values)
        copies.insert(BacktestTrade, TRADE_COLUMNS, [(run_id, *row) for row in zip(*converted, strict=True)])
        return
    if not count:
        return
    texts: list = [repeat(str(run_id), count)]
    for name, kind in TRADE_COLUMNS[1:]:
        values = columns[name]
        if kind == "numeric":
            texts.append(map(repr, map(float, values)))
        elif kind == "timestamptz":
            stamps = np.datetime_as_string(np.asarray(values, dtype="datetime64[s]"), unit="s", timezone="UTC")
            texts.append(stamps.tolist())
        elif kind == "int4":
            texts.append(map(str, values))
        else:
            escaped = {v: _copy_text(str(v)) for v in set(values)}
            texts.append(map(escaped.__getitem__, values))
    data = "\n".join(map("\t".join, zip(*texts, strict=True))) + "\n"
    copies.copy_text(BacktestTrade._meta.db_table, names, data.encode())


def _trade_columns(trades, curve_at: dict[str, np.ndarray], entry_fees: dict, exit_fees: dict) -> dict[str, list]:
    """The trades' stored columns (``TRADE_COLUMNS`` but ``run_id``), bars as curve indices."""
    count = len(trades)
    fields = list(zip(*trades, strict=True)) if count else [() for _ in Trade._fields]
    get = dict(zip(Trade._fields, fields, strict=True))
    entry_bar = np.asarray(get["entry_bar"], dtype=np.int64)
    exit_bar = np.asarray(get["exit_bar"], dtype=np.int64)
    if len(curve_at) == 1:
        index = next(iter(curve_at.values()))
        entry_at, exit_at = index[entry_bar], index[exit_bar]
    else:
        entry_at, exit_at = np.empty(count, dtype=np.int64), np.empty(count, dtype=np.int64)
        symbol = np.asarray(get["symbol"], dtype=object)
        for sym, index in curve_at.items():
            mine = symbol == sym
            entry_at[mine], exit_at[mine] = index[entry_bar[mine]], index[exit_bar[mine]]
    chains = get["chain"]
    return {
        "seq": list(range(1, count + 1)),
        "symbol": get["symbol"],
        "side": get["side"],
        "qty": get["qty"],
        "entry_ts": get["entry_ts"],
        "exit_ts": get["exit_ts"],
        "entry_bar": entry_at.tolist(),
        "exit_bar": exit_at.tolist(),
        "entry_price": get["entry_price"],
        "exit_price": get["exit_price"],
        "entry_fee": [entry_fees[c] for c in chains],
        "exit_fee": [exit_fees[c] for c in chains],
        "pnl": get["pnl"],
        "exit_reason": get["exit_reason"],
        "chain": chains,
    }


def write_results(run: BacktestRun, result, bars: dict[str, Bars], warm: dict[str, int], check=None) -> dict:
    """Trades, blocks, curve chunks with snapshots, the LTTB overview, daily reports; returns the results JSON.

    The curve runs over the union of the symbols' bar times (the engine's); the warm-up bars before
    the range are left out, and every stored bar index is an index into the stored curve. ``check()``
    is called when the bulk writes are done (the caller's cancel check: raising there rolls the whole
    write back).
    """
    # ~100k small tuples and dicts and no reference cycles, next to a run's millions of live objects: the
    # cyclic GC would re-scan those on every few hundred allocations (as in agents.engine.runner).
    gc_was_enabled = gc.isenabled()
    gc.disable()
    copies = _Copies()
    try:
        out = _write_results(copies, run, result, bars, warm)
        copies.wait()
    except BaseException:
        copies.stop()  # the connection back before the caller rolls back
        raise
    finally:
        if gc_was_enabled:
            gc.enable()
    (check or (lambda: None))()
    return out


def _write_results(copies: _Copies, run: BacktestRun, result, bars: dict[str, Bars], warm: dict[str, int]) -> dict:
    symbols = list(bars)  # the plan's order: the equity adds positions in it
    ts_all = result.ts
    w = int(np.searchsorted(ts_all, min(int(b.ts[warm[sym]]) for sym, b in bars.items())))
    ts, equity = ts_all[w:], result.equity[w:]
    n = len(ts)
    # each symbol's last close at each curve time (NaN before its first bar), in plan order
    # (one symbol: its bar times are the curve's, so no search is needed, the same indices)
    alone = {sym: len(b.ts) == len(ts_all) and bool(np.array_equal(b.ts, ts_all)) for sym, b in bars.items()}
    closes = np.empty((n, len(symbols)))
    for k, sym in enumerate(symbols):
        if alone[sym]:
            closes[:, k] = bars[sym].close[w:]
            continue
        last = np.searchsorted(bars[sym].ts, ts, side="right") - 1
        closes[:, k] = np.where(last >= 0, bars[sym].close[np.maximum(last, 0)], np.nan)

    # a symbol's bar index -> its index in the stored curve (negative inside the warm-up)
    curve_at = {
        sym: np.arange(-w, len(b.ts) - w) if alone[sym] else np.searchsorted(ts_all, b.ts) - w
        for sym, b in bars.items()
    }
    curve_index = {sym: index.tolist() for sym, index in curve_at.items()}

    initial_cash = result.initial_cash
    entry_fee_by_chain: dict[int, float] = {}
    fills: list[portfolio.Fill] = []
    exit_fees: list[float] = []
    blocks = []
    orders_risk: list[tuple[int, float]] = []
    Fill = portfolio.Fill
    for d in result.decisions:
        kind = d.kind
        if kind == "fill":
            if d.intent == "entry":
                entry_fee_by_chain[d.chain] = d.fee
                side = "long" if d.side == "buy" else "short"
                fills.append(Fill(curve_index[d.symbol][d.bar], d.ts, d.symbol, "entry", side, d.qty, d.price, d.fee))
            else:
                side = "long" if d.side == "sell" else "short"
                exit_fees.append(d.fee)
                fills.append(
                    Fill(curve_index[d.symbol][d.bar], d.ts, d.symbol, "exit", side, d.qty, d.price, d.fee, d.pnl)
                )
        elif kind == "block":
            blocks.append((curve_index[d.symbol][d.bar], d))
        elif kind == "order" and d.intent == "entry":
            orders_risk.append((curve_index[d.symbol][d.bar], d.risk or 0.0))
    # an exit fill's fee, by the trade it closes: the engine appends both when it closes a position
    exit_fee_by_chain = {t.chain: fee for t, fee in zip(result.trades, exit_fees, strict=True)}
    # curve chunks, each with the portfolio before its first bar: the largest COPY, queued first so that
    # PostgreSQL ingests it while the trades are turned into rows
    starts = list(range(0, n, CURVE_CHUNK))
    snapshots, state = portfolio.states_before(initial_cash, fills, starts)
    ts_le = np.ascontiguousarray(ts, dtype="<i8")
    equity_le = np.ascontiguousarray(equity, dtype="<f8")
    closes_le = np.ascontiguousarray(closes, dtype="<f8")
    chunks = []
    for seq, start in enumerate(starts):
        stop = min(n, start + CURVE_CHUNK)
        chunks.append(
            (
                run.pk,
                seq,
                start,
                int(ts[start]),
                int(ts[stop - 1]),
                ts_le[start:stop].tobytes(),
                equity_le[start:stop].tobytes(),
                closes_le[start:stop].tobytes(),
                snapshots[seq],
            )
        )
    copies.insert(CurveChunk, CHUNK_COLUMNS, chunks)

    dd = metrics.drawdown(equity, initial_cash)
    picked = metrics.lttb(np.arange(n, dtype=np.float64), equity, OVERVIEW_POINTS)
    preview = metrics.lttb(ts[picked].astype(np.float64), equity[picked], DEFAULT_POINTS)
    copies.insert(
        CurveOverview,
        OVERVIEW_COLUMNS,
        [
            (
                run.pk,
                len(picked),
                n,
                np.ascontiguousarray(ts[picked], dtype="<i8").tobytes(),
                np.ascontiguousarray(equity[picked], dtype="<f8").tobytes(),
                np.ascontiguousarray(dd[picked], dtype="<f8").tobytes(),
                np.ascontiguousarray(preview, dtype="<i4").tobytes(),
            )
        ],
    )

    order = {sym: i for i, sym in enumerate(symbols)}
    trades = sorted(result.trades, key=lambda t: (t.entry_ts, order[t.symbol]))
    trade_columns = _trade_columns(trades, curve_at, entry_fee_by_chain, exit_fee_by_chain)
    _insert_trades(copies, run.pk, trade_columns)
    copies.insert(
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

    block_bars = [(bar, d.block.reason) for bar, d in blocks]
    _write_daily_reports(copies, run, ts, equity, initial_cash, fills, block_bars, orders_risk)

    # exposure: curve bars with at least one open position
    held = np.zeros(n + 1, dtype=np.int64)
    np.add.at(held, np.asarray(trade_columns["entry_bar"], dtype=np.int64), 1)
    np.add.at(held, np.asarray(trade_columns["exit_bar"], dtype=np.int64), -1)
    for sym in state["positions"]:
        entry = next(f for f in reversed(fills) if f.intent == "entry" and f.symbol == sym)
        held[entry.bar] += 1
    pnls = trade_columns["pnl"]
    out = metrics.compute(
        equity=equity,
        ts=ts,
        timeframe_s=next(iter(bars.values())).timeframe_s,
        initial_cash=initial_cash,
        pnls=pnls,
        entry_values=np.asarray(trade_columns["entry_price"]) * np.asarray(trade_columns["qty"]),
        fees=result.state.fees_paid,
        bars_in_position=int(np.count_nonzero(np.cumsum(held[:n]))),
    )
    for key in MONEY_METRICS:
        out[key] = _text_or_none(out[key])
    out["symbols"] = symbols
    out["summary"] = summarize(trades, [d for _, d in blocks], initial_cash)
    out["blocks"] = len(blocks)
    out["blocks_by_reason"] = dict(sorted(Counter(d.block.reason for _, d in blocks).items()))
    out["blocks_by_class"] = dict(sorted(Counter(d.block.reason_class for _, d in blocks).items()))
    outcomes = [
        {"symbol": d.symbol, "chain": d.chain, **d.outcome.payload()} for d in getattr(result, "block_outcomes", ())
    ]
    # what each block would have done (closed shadows, then the open ones marked at the last close)
    # and their scorecard; the results endpoint leaves the list out, /block-outcomes pages it
    out["block_outcomes"] = outcomes
    blocks_by = Counter((d.block.reason, d.block.reason_class, d.symbol) for _, d in blocks)
    out["block_scorecard"] = as_json(
        rollup(
            outcome_groups(outcomes),
            [{"reason": r, "reason_class": c, "symbol": sym, "blocks": n} for (r, c, sym), n in blocks_by.items()],
        )
    )
    out["final_cash"] = _text_or_none(result.state.cash)
    out["realized_pnl"] = _text_or_none(result.state.realized_pnl)
    out["open_positions"] = [
        {
            "symbol": sym,
            "side": pos["side"],
            "qty": _text_or_none(pos["qty"]),
            "entry_price": _text_or_none(pos["entry_price"]),
            "entry_fee": _text_or_none(pos["entry_fee"]),
            "entry_ts": _aware(pos["entry_ts"]).isoformat(),
        }
        for sym, pos in state["positions"].items()
    ]
    return out


def _group(columns: dict[str, np.ndarray], key: str, initial_cash: float) -> list[dict]:
    """One row per value of ``key``. The sums are Python's ``sum`` over the group's floats in trade order
    (numpy would add in another order and change the last bits); counts and selections are numpy's."""
    keys = columns[key]
    pnl, value, duration = columns["pnl"], columns["value"], columns["duration"]
    rows = []
    for name in dict.fromkeys(keys.tolist()):
        mine = np.flatnonzero(keys == name)
        group_pnl = pnl[mine]
        group_value = value[mine]
        positive = group_value > 0
        returns = (group_pnl[positive] / group_value[positive]).tolist()
        total = float(sum(group_pnl.tolist()))
        wins = int(np.count_nonzero(group_pnl > 0))
        rows.append(
            {
                "key": name,
                "trades": len(mine),
                "wins": wins,
                "losses": int(np.count_nonzero(group_pnl < 0)),
                "win_rate": wins / len(mine),
                "pnl": _text_or_none(total),
                "return": total / initial_cash,  # of the initial cash, as FreqUI's "Tot Profit %"
                "avg_trade_return": sum(returns) / len(returns) if returns else None,
                "avg_duration_s": sum(duration[mine].tolist()) / len(mine),
            }
        )
    return sorted(rows, key=lambda r: (-r["trades"], r["key"]))


def _trade(t, seq: int) -> dict:
    value = t.entry_price * t.qty
    return {
        "seq": seq,
        "symbol": t.symbol,
        "side": t.side,
        "pnl": _text_or_none(t.pnl),
        "return": t.pnl / value if value > 0 else None,
        "entry_ts": _aware(t.entry_ts).isoformat(),
        "exit_ts": _aware(t.exit_ts).isoformat(),
        "exit_reason": t.exit_reason,
    }


def summarize(trades, blocks, initial_cash: float) -> dict:
    """FreqUI's backtest summary: per pair, per exit reason, best and worst trade, average duration,
    win rate; and the blocks by reason with the numbers of the first and the last one."""
    fields = dict(zip(Trade._fields, zip(*trades, strict=True), strict=True)) if trades else {}
    columns = {
        "symbol": np.asarray(fields.get("symbol", ()), dtype=object),
        "exit_reason": np.asarray(fields.get("exit_reason", ()), dtype=object),
        "pnl": np.asarray(fields.get("pnl", ()), dtype=np.float64),
        "value": np.asarray(fields.get("entry_price", ()), dtype=np.float64)
        * np.asarray(fields.get("qty", ()), dtype=np.float64),
        "duration": np.asarray(fields.get("exit_ts", ()), dtype=np.int64)
        - np.asarray(fields.get("entry_ts", ()), dtype=np.int64),
    }
    out: dict = {
        "per_symbol": _group(columns, "symbol", initial_cash),
        "per_exit_reason": _group(columns, "exit_reason", initial_cash),
        "avg_duration_s": sum(columns["duration"].tolist()) / len(trades) if trades else None,
        "win_rate": int(np.count_nonzero(columns["pnl"] > 0)) / len(trades) if trades else None,
        "best_trade": None,
        "worst_trade": None,
    }
    if trades:
        # the first of equal ones, as max()/min() over the trades give
        best, worst = int(np.argmax(columns["pnl"])), int(np.argmin(columns["pnl"]))
        out["best_trade"], out["worst_trade"] = _trade(trades[best], best + 1), _trade(trades[worst], worst + 1)
    by_reason: dict[str, list] = defaultdict(list)
    for d in blocks:
        by_reason[d.block.reason].append(d)
    out["blocks_by_reason"] = [
        {
            "reason": reason,
            "reason_class": found[0].block.reason_class,
            "count": len(found),
            "first": found[0].block.why,
            "first_ts": _aware(found[0].ts).isoformat(),
            "last": found[-1].block.why,
            "last_ts": _aware(found[-1].ts).isoformat(),
        }
        for reason, found in sorted(by_reason.items(), key=lambda item: (-len(item[1]), item[0]))
    ]
    return out


DAILY_COLUMNS = (
    ("run_id", "uuid"), ("day", "date"), ("start_equity", "numeric"), ("end_equity", "numeric"), ("pnl", "numeric"),
    ("return_pct", "float8"), ("entries", "int4"), ("exits", "int4"), ("realized_pnl", "numeric"),
    ("fees", "numeric"), ("blocks", "int4"), ("blocks_by_reason", "jsonb"), ("risk_claimed", "numeric"),
    ("risk_used", "float8"),
)  # fmt: skip


def _write_daily_reports(copies: _Copies, run, ts, equity, initial_cash, fills, blocks, orders_risk_by_bar) -> None:
    """One row per UTC day. The per-day sums are ``np.add.at`` over the fills in their order: the same
    float additions, in the same order, as a loop over the fills (so the same numbers), without it."""
    n = len(ts)
    days = ts // DAY
    first = np.flatnonzero(np.diff(days, prepend=days[:1] - 1))  # the curve's times ascend: each day's first bar
    unique_days = days[first]
    count = len(first)
    last = np.concatenate((first[1:], [n])) - 1
    end_eq = equity[last]
    start_eq = np.concatenate(([initial_cash], end_eq[:-1]))

    def day_index(bars) -> np.ndarray:
        return np.searchsorted(first, np.asarray(bars, dtype=np.int64), side="right") - 1

    fill = dict(zip(portfolio.Fill._fields, zip(*fills, strict=True), strict=True)) if fills else {}
    fill_day = day_index(np.asarray(fill.get("bar", ()), dtype=np.int64))
    entry = np.asarray(fill.get("intent", ()), dtype=object) == "entry"
    fees = np.zeros(count)
    np.add.at(fees, fill_day, np.asarray(fill.get("fee", ()), dtype=np.float64))
    entries = np.bincount(fill_day[entry], minlength=count)
    exits = np.bincount(fill_day[~entry], minlength=count)
    realized = np.zeros(count)
    np.add.at(realized, fill_day[~entry], np.asarray(fill.get("pnl", ()), dtype=np.float64)[~entry])
    risk = np.zeros(count)
    if orders_risk_by_bar:
        bars, risks = zip(*orders_risk_by_bar, strict=True)
        np.add.at(risk, day_index(bars), np.asarray(risks, dtype=np.float64))
    block_counts: dict[int, Counter] = defaultdict(Counter)
    if blocks:
        for d, (_, reason) in zip(day_index([bar for bar, _ in blocks]).tolist(), blocks, strict=True):
            block_counts[d][reason] += 1
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    rows = []
    for i, day in enumerate(unique_days.tolist()):
        start, end = float(start_eq[i]), float(end_eq[i])
        counted = block_counts.get(i, Counter())
        rows.append(
            (
                run.pk,
                (epoch + timedelta(days=day)).date(),
                _decimal_or_none(start),
                _decimal_or_none(end),
                _decimal_or_none(end - start),
                end / start - 1.0 if start else 0.0,
                int(entries[i]),
                int(exits[i]),
                _decimal_or_none(float(realized[i])),
                _decimal_or_none(float(fees[i])),
                sum(counted.values()),
                dict(sorted(counted.items())),
                _decimal_or_none(float(risk[i])),
                float(risk[i]) / start if start else 0.0,
            )
        )
    copies.insert(DailyReport, DAILY_COLUMNS, rows)
