"""The backtest core: the whole history through the same state machine as live trading.

Indicators and rule conditions are computed over the arrays in one pass; then the machine is
driven only on the bars where something can happen: the next entry signal while flat (found with
``searchsorted`` in the signal indices), the fill bar after it, and while in a position the first
bar whose range touches the stop/target (a chunked numpy scan) or the next exit signal, whichever
comes first. Quiet bars cost nothing, so the loop runs per trade, not per bar. The equity curve is
rebuilt afterwards from the cash/position ledger in one vectorised pass.

Driving the machine on fewer bars gives the same decisions as driving it on every bar (the live
stepper), because on a quiet bar every handler is a no-op except marking the close, and the marks
the live path would hold (the day roll's, other symbols' positions') are looked up explicitly.
Several symbols share one portfolio: their events are merged in (time, plan symbol order), the
order the live path is fed in. The parity tests check both.
"""

from __future__ import annotations

import gc
import heapq
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .bars import Bars
from .errors import ConfigError
from .machine import DAY, Decision, Machine, Trade
from .risk import RiskLimits, RiskState
from .rules import compute_columns
from .sizing import Instrument
from .strategy import Plan

__all__ = ["BacktestResult", "run_backtest"]


@dataclass(frozen=True)
class BacktestResult:
    decisions: list[Decision]
    trades: list[Trade]
    ts: np.ndarray  # bar open times, epoch seconds
    equity: np.ndarray  # marked at each bar's close
    state: RiskState  # the portfolio after the last bar
    initial_cash: float
    # what each blocked entry would have done (kind block_outcome, in the order they closed; the
    # shadows still held at the end as status "open", marked at the last close): see .shadow
    block_outcomes: list[Decision] = field(default_factory=list)

    @property
    def final_equity(self) -> float:
        return float(self.equity[-1]) if len(self.equity) else self.initial_cash


def _first_hit(low, high, start: int, stop_level, target_level, long: bool) -> int:
    """Index of the first bar >= start whose range reaches the stop or the target; -1 if none."""
    n = len(low)
    if stop_level is None and target_level is None:
        return -1
    chunk = 64
    while start < n:
        end = min(n, start + chunk)
        lo, hi = low[start:end], high[start:end]
        if long:
            hit = lo <= stop_level if stop_level is not None else np.zeros(end - start, dtype=bool)
            if target_level is not None:
                hit = hit | (hi >= target_level)
        else:
            hit = hi >= stop_level if stop_level is not None else np.zeros(end - start, dtype=bool)
            if target_level is not None:
                hit = hit | (lo <= target_level)
        idx = np.flatnonzero(hit)
        if idx.size:
            return start + int(idx[0])
        start = end
        chunk *= 4
    return -1


def run_backtest(
    plan: Plan,
    bars: Bars | dict[str, Bars],
    limits: RiskLimits,
    *,
    initial_cash: float,
    instruments: dict[str, Instrument] | None = None,
    trade_from: int | dict[str, int] | None = None,
    progress: Callable[[int], None] | None = None,
    progress_every: int = 50_000,
    shadows: bool = True,
    close_at_end: bool = False,
) -> BacktestResult:
    """Backtest ``plan`` over ``bars`` (one ``Bars``, or one per symbol of the plan, sharing one portfolio).

    ``trade_from`` (a bar index, or one per symbol): the bars before it are indicator warm-up only,
    no entry is taken on them (load ``plan.warmup_bars`` candles before a date range's start).

    Deterministic: the same input gives the same output, bit for bit. With several symbols the
    candles are taken in (time, plan symbol order), the order the live path must feed them in.

    ``progress`` (optional) is called with the number of bars handled so far (summed over the
    symbols) each time that number has grown by ``progress_every`` or more; an exception raised
    inside it stops the run and propagates (how a caller cancels). It never changes the result.

    ``shadows`` (default on) follows every blocked entry as if taken (``result.block_outcomes``);
    off, nothing else changes (the benchmark measures what following them costs).
    ``close_at_end``: a position still open after the last bar is closed at that bar's open with
    its fee and slippage, exit reason ``end_of_data`` (:meth:`Machine.close_at_end` says why the
    open); otherwise it stays open, marked at the last close.
    """
    # The loop allocates ~6 small tuples per trade and no reference cycles: the cyclic GC only
    # re-scans the growing decision list (a third of the run time on 1M bars), so it is paused.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _run(
            plan,
            bars,
            limits,
            initial_cash=initial_cash,
            instruments=instruments,
            trade_from=trade_from,
            progress=progress,
            progress_every=max(1, int(progress_every)),
            shadows=shadows,
            close_at_end=bool(close_at_end),
        )
    finally:
        if gc_was_enabled:
            gc.enable()


class _Symbol:
    """One symbol's arrays, precomputed signals and cursor (the first bar not yet handled)."""

    def __init__(self, index: int, sp, bars: Bars):
        self.index = index
        self.symbol = sp.symbol
        self.sp = sp
        self.bars = bars
        self.n = len(bars)
        self.ts, self.open, self.high, self.low, self.close = bars.ts, bars.open, bars.high, bars.low, bars.close
        self.env = compute_columns(sp.rules, bars.open, bars.high, bars.low, bars.close, bars.volume)
        self.entry_sig = sp.entry_rule.evaluate(self.env)
        if sp.exit_rule is not None:
            self.exit_sig = sp.exit_rule.evaluate(self.env)
        else:
            self.exit_sig = np.zeros(self.n, dtype=bool)
        self.entry_idx = np.flatnonzero(self.entry_sig).tolist()
        self.exit_idx = np.flatnonzero(self.exit_sig).tolist()
        self.long = sp.side == "long"
        self.cursor = 0


def _resolve(plan: Plan, bars) -> list[_Symbol]:
    if isinstance(bars, Bars):
        if len(plan.symbols) != 1:
            raise ConfigError({"symbols": "the plan has several symbols: pass candles per symbol as a dict"})
        bars = {plan.symbols[0].symbol: bars}
    errors = {}
    for symbol in bars:
        try:
            plan.for_symbol(symbol)
        except KeyError:
            errors["symbols"] = f"candles given for {symbol}, which the plan does not trade"
    missing = [sp.symbol for sp in plan.symbols if sp.symbol not in bars]
    if missing:
        errors["symbols"] = f"no candles for {', '.join(missing)}"
    if len({b.timeframe_s for b in bars.values()}) > 1:
        errors["timeframe"] = "all symbols must have the same timeframe"
    if errors:
        raise ConfigError(errors)
    return [_Symbol(i, sp, bars[sp.symbol]) for i, sp in enumerate(plan.symbols)]


def _last_before(sym: _Symbol, ts: int, index: int) -> int:
    """Index of ``sym``'s last candle fed before the candle (``ts``, symbol ``index``); -1 if none."""
    side = "right" if sym.index < index else "left"
    return int(np.searchsorted(sym.ts, ts, side=side)) - 1


def _run(
    plan,
    bars,
    limits,
    *,
    initial_cash,
    instruments,
    trade_from=None,
    progress=None,
    progress_every=50_000,
    shadows=True,
    close_at_end=False,
) -> BacktestResult:
    syms = _resolve(plan, bars)
    for sym in syms:
        start = trade_from.get(sym.symbol, 0) if isinstance(trade_from, dict) else (trade_from or 0)
        if start < 0:
            raise ConfigError({"trade_from": "must be a bar index, at least 0"})
        if start:
            sym.entry_sig[:start] = False
            sym.entry_idx = np.flatnonzero(sym.entry_sig).tolist()
    timeframe = syms[0].bars.timeframe_s
    machine = Machine(
        plan, limits, initial_cash=initial_cash, timeframe_s=timeframe, instruments=instruments, shadows=shadows
    )
    state = machine.state
    pending = machine.pending
    for sym in syms if machine.shadow is not None else ():
        machine.shadow.attach(sym.symbol, sym.ts, sym.open, sym.high, sym.low, sym.close, sym.env, sym.exit_idx)
    on_close, on_open, on_range = machine.on_close, machine.on_open, machine.on_range
    several = len(syms) > 1
    by_name = {s.symbol: s for s in syms}
    day_end_ts = -1  # first timestamp of the day after the current one

    def roll(ts: int, index: int) -> None:
        """Roll the day as the live path did on the day's first candle, marking positions as it saw them."""
        nonlocal day_end_ts
        day = ts // DAY
        start = day * DAY
        first = min(
            ((s.ts.item(k), s.index) for s in syms if (k := int(np.searchsorted(s.ts, start))) < s.n),
            default=(ts, index),
        )
        mark_positions(*first)
        day_end_ts = start + DAY
        state.roll_day(day, state.equity())

    def mark_positions(ts: int, index: int) -> None:
        for symbol in state.positions:
            sym = by_name[symbol]
            k = _last_before(sym, ts, index)
            if k >= 0:
                state.marks[symbol] = sym.close.item(k)

    def next_event(sym: _Symbol):
        """(bar, kind) of the symbol's next bar where something can happen, or None."""
        cursor = sym.cursor
        if cursor >= sym.n:
            return None
        symbol = sym.symbol
        if symbol in pending:
            return cursor, "open"
        pos = state.positions.get(symbol)
        if pos is None:
            p = bisect_left(sym.entry_idx, cursor)
            return (sym.entry_idx[p], "close") if p < len(sym.entry_idx) else None
        if pos.stop is None and pos.target is None:
            j = -1
        else:
            j = _first_hit(sym.low, sym.high, cursor, pos.stop, pos.target, sym.long)
        p = bisect_left(sym.exit_idx, cursor)
        e = sym.exit_idx[p] if p < len(sym.exit_idx) else -1
        if j >= 0 and (e < 0 or j <= e):
            return j, "range"
        return (e, "close") if e >= 0 else None

    def handle(sym: _Symbol, k: int, kind: str, ts: int) -> None:
        nonlocal day_end_ts
        symbol = sym.symbol
        if ts >= day_end_ts:
            roll(ts, sym.index)
        if several and state.positions:
            mark_positions(ts, sym.index)
        if kind == "open":
            on_open(symbol, k, ts, sym.open.item(k), sym.env)
            sym.cursor = k  # the bar's range and close are still to come
        elif kind == "range":
            on_range(symbol, k, ts, sym.open.item(k), sym.high.item(k), sym.low.item(k))
            sym.cursor = k  # flat again: an entry signal on this bar's close is still to come
        else:
            on_close(symbol, k, ts, sym.close.item(k), sym.env, sym.entry_sig.item(k), sym.exit_sig.item(k))
            sym.cursor = k + 1

    if not several:
        # The same steps as handle(), inlined: this loop runs once per event on a long history.
        sym = syms[0]
        symbol, ts_arr, env = sym.symbol, sym.ts, sym.env
        open_arr, high_arr, low_arr, close_arr = sym.open, sym.high, sym.low, sym.close
        entry_sig, exit_sig, n = sym.entry_sig, sym.exit_sig, sym.n
        report_at = progress_every if progress is not None else sym.n + 1
        while (event := next_event(sym)) is not None:
            k, kind = event
            if k >= report_at:
                progress(k)
                report_at = k + progress_every
            ts = ts_arr.item(k)
            if ts >= day_end_ts:
                roll(ts, 0)
            if kind == "open":
                on_open(symbol, k, ts, open_arr.item(k), env)
                sym.cursor = k
            elif kind == "range":
                on_range(symbol, k, ts, open_arr.item(k), high_arr.item(k), low_arr.item(k))
                sym.cursor = k
            else:
                on_close(symbol, k, ts, close_arr.item(k), env, entry_sig.item(k), exit_sig.item(k))
                k += 1
                sym.cursor = k
                if symbol in pending and k < n:  # what next_event would return: the fill at the next open
                    ts = ts_arr.item(k)
                    if ts >= day_end_ts:
                        roll(ts, 0)
                    on_open(symbol, k, ts, open_arr.item(k), env)
    else:
        # Candles in (time, plan symbol order): a min-heap of each symbol's next event.
        heap: list[tuple[int, int, int, str]] = []
        for sym in syms:
            if (event := next_event(sym)) is not None:
                heapq.heappush(heap, (sym.ts.item(event[0]), sym.index, event[0], event[1]))
        total = sum(sym.n for sym in syms)
        report_at = progress_every if progress is not None else total + 1
        events = 0
        while heap:
            ts, index, k, kind = heapq.heappop(heap)
            sym = syms[index]
            events += 1
            if not events % 256 and (done := sum(s.cursor for s in syms)) >= report_at:
                progress(done)
                report_at = done + progress_every
            handle(sym, k, kind, ts)
            if (event := next_event(sym)) is not None:
                heapq.heappush(heap, (sym.ts.item(event[0]), index, event[0], event[1]))

    if close_at_end:
        last_ts = max(s.ts.item(s.n - 1) for s in syms if s.n)
        for sym in syms:  # plan symbol order, the order the equity adds positions in
            if sym.n and (sym.symbol in state.positions or sym.symbol in pending):
                k = sym.n - 1
                machine.close_at_end(sym.symbol, k, sym.ts.item(k), sym.open.item(k), ledger_ts=last_ts)
    ts_all, equity = _equity_curve(syms, machine.ledger, initial_cash)
    return BacktestResult(
        machine.decisions,
        machine.trades,
        ts_all,
        equity,
        state,
        float(initial_cash),
        _block_outcomes(machine, syms, close_at_end=bool(close_at_end)),
    )


def _block_outcomes(machine: Machine, syms: list[_Symbol], *, close_at_end: bool = False) -> list[Decision]:
    """Closed shadows in the order the live stepper closes them (candle time, plan symbol order, chain),
    then the ones still open, marked at their symbol's last close (with ``close_at_end``: closed at
    the last bar's open as the real positions are, ``end_of_data``)."""
    if machine.shadow is None:
        return []
    machine.shadow.finish(machine)
    if close_at_end:
        for sym in syms:
            if sym.n:
                k = sym.n - 1
                machine.shadow.close_at_end(machine, sym.symbol, k, sym.ts.item(k), sym.open.item(k))
    order = {s.symbol: s.index for s in syms}
    closed = sorted(machine.shadow.outcomes, key=lambda d: (d.ts, order[d.symbol], d.chain))
    marks = {s.symbol: s.close.item(s.n - 1) for s in syms if s.n}
    return closed + machine.shadow.marked(machine, marks)


def _equity_curve(syms: list[_Symbol], ledger, initial_cash: float) -> tuple[np.ndarray, np.ndarray]:
    """Equity after each timestamp's candles: cash + each position marked at its symbol's last close."""
    ts_all = syms[0].ts if len(syms) == 1 else np.unique(np.concatenate([s.ts for s in syms]))
    n = len(ts_all)
    if not ledger:
        return ts_all, np.full(n, float(initial_cash))
    symbols, _, times, cash, qtys = zip(*ledger, strict=True)
    event_ts = np.array(times, dtype=np.int64)
    event_cash = np.array(cash, dtype=np.float64)
    event_qty = np.array(qtys, dtype=np.float64)
    last = _last_event(event_ts, ts_all)
    equity = np.where(last >= 0, event_cash[np.maximum(last, 0)], float(initial_cash))
    if len(syms) == 1:
        owner = np.zeros(len(symbols), dtype=np.int64)
    else:
        index = {s.symbol: s.index for s in syms}
        owner = np.array([index[symbol] for symbol in symbols], dtype=np.int64)
    for sym in syms:
        mine = np.flatnonzero(owner == sym.index)
        if not len(mine):
            continue
        q_last = _last_event(event_ts[mine], ts_all)
        qty = np.where(q_last >= 0, event_qty[mine][np.maximum(q_last, 0)], 0.0)
        if sym.ts is ts_all:
            close = sym.close
        else:
            c_last = np.searchsorted(sym.ts, ts_all, side="right") - 1
            close = sym.close[np.maximum(c_last, 0)]
        with np.errstate(invalid="ignore"):
            equity = equity + np.where(qty != 0.0, qty * close, 0.0)
    return ts_all, equity


def _last_event(event_ts: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """For each of ``ts``, the index of the last event at or before it (-1 if none): what
    ``np.searchsorted(event_ts, ts, side="right") - 1`` gives for the time-ordered ledger, counted in one
    pass over ``ts`` (a histogram of where each event starts to count) instead of one search per time."""
    starts = np.searchsorted(ts, event_ts, side="left")
    return np.cumsum(np.bincount(starts, minlength=len(ts) + 1)[: len(ts)]) - 1
