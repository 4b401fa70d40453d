"""The live path: one closed candle at a time through the same state machine as the backtest.

The execution agent keeps a :class:`LiveEngine` per plan (or rebuilds it from history after a
restart), calls :meth:`LiveEngine.step` on each closed candle and records the decisions it
returns as events (trigger, block, order, fill). Conditions are evaluated at the newest bar with
:meth:`Rule.evaluate_at`; indicators are computed over the buffered history, so feeding the same
candles from the same first bar gives exactly the decisions of :func:`run_backtest`.
"""

from __future__ import annotations

import numpy as np

from .bars import Bars, Candle
from .errors import ConfigError
from .machine import Decision, Machine
from .risk import RiskLimits
from .rules import compute_columns
from .sizing import Instrument
from .strategy import Plan

__all__ = ["LiveEngine"]

_FIELDS = ("open", "high", "low", "close", "volume")


class _Buffer:
    """Growable columns for one symbol (amortised O(1) appends)."""

    def __init__(self, capacity: int = 1024):
        self.n = 0
        self.ts = np.empty(capacity, dtype=np.int64)
        self.cols = {f: np.empty(capacity, dtype=np.float64) for f in _FIELDS}

    def append(self, candle: Candle) -> None:
        if self.n and candle.ts <= self.ts[self.n - 1]:
            raise ValueError(f"candle at {candle.ts} is not after the last one ({int(self.ts[self.n - 1])})")
        if self.n == len(self.ts):
            self.ts = np.concatenate([self.ts, np.empty_like(self.ts)])
            self.cols = {f: np.concatenate([c, np.empty_like(c)]) for f, c in self.cols.items()}
        self.ts[self.n] = candle.ts
        for f in _FIELDS:
            self.cols[f][self.n] = getattr(candle, f)
        self.n += 1

    def __getstate__(self) -> dict:
        """Pickled without the unused capacity (the execution agent checkpoints after every candle)."""
        return {"n": self.n, "ts": self.ts[: self.n], "cols": {f: c[: self.n] for f, c in self.cols.items()}}

    def __setstate__(self, state: dict) -> None:
        self.n = state["n"]
        capacity = max(2 * self.n, 64)
        self.ts = np.empty(capacity, dtype=np.int64)
        self.ts[: self.n] = state["ts"]
        self.cols = {f: np.empty(capacity, dtype=np.float64) for f in _FIELDS}
        for f in _FIELDS:
            self.cols[f][: self.n] = state["cols"][f]

    def view(self, name: str) -> np.ndarray:
        return self.cols[name][: self.n]

    def drop_oldest(self, count: int) -> None:
        self.ts = self.ts[count:].copy()
        self.cols = {f: c[count:].copy() for f, c in self.cols.items()}
        self.n -= count


class LiveEngine:
    """Feed closed candles one at a time; get the decisions each one caused.

    ``state`` is the live portfolio view (set ``engine.state.kill_switch`` from the runtime
    control; assign ``engine.machine.limits``/``engine.machine.mode`` when they change);
    ``mode``/``live_confirmed`` feed the infra checks; ``now_ts`` passed to :meth:`step` drives the
    stale-data gate (``limits.max_data_age_s``). ``max_history`` bounds the candles kept per symbol
    (at least ``plan.warmup_bars``: windowed indicators stay exact, recursive ones within 1e-12);
    ``keep_log=False`` keeps no decision/trade/equity log beyond what each step returns.
    """

    def __init__(
        self,
        plan: Plan,
        limits: RiskLimits,
        *,
        initial_cash: float,
        timeframe_s: int,
        instruments: dict[str, Instrument] | None = None,
        mode: str = "paper",
        live_confirmed: bool = False,
        max_history: int | None = None,
        keep_log: bool = True,
    ):
        if max_history is not None and max_history < plan.warmup_bars:
            raise ConfigError(
                {"max_history": f"must be at least the plan's warm-up ({plan.warmup_bars} bars), got {max_history}"}
            )
        self.plan = plan
        self.max_history = max_history
        # False for a long-running worker: step() still returns its decisions, but the engine keeps
        # no decision/trade/equity log (memory stays bounded together with max_history)
        self.keep_log = keep_log
        self.machine = Machine(
            plan,
            limits,
            initial_cash=initial_cash,
            timeframe_s=timeframe_s,
            instruments=instruments,
            mode=mode,
            live_confirmed=live_confirmed,
        )
        self._buffers = {sp.symbol: _Buffer() for sp in plan.symbols}
        self.equity: list[float] = []  # portfolio equity after each step
        self.equity_ts: list[int] = []  # the stepped candle's open time, one per equity value

    @property
    def state(self):
        return self.machine.state

    @property
    def decisions(self) -> list[Decision]:
        return self.machine.decisions

    @property
    def block_outcomes(self) -> list[Decision]:
        """Closed shadows so far (with ``keep_log``), then the open ones marked at the latest closes."""
        m = self.machine
        book = getattr(m, "shadow", None)
        return book.outcomes + book.marked(m, m.state.marks) if book else []

    def step(
        self,
        symbol: str,
        candle: Candle,
        *,
        now_ts: int | None = None,
        allow_entry: bool = True,
        force_exit: bool = False,
    ) -> list[Decision]:
        """Process one CLOSED candle of ``symbol``; returns the decisions it caused, in order.

        ``allow_entry=False`` ignores entry signals (a paused run, warm-up bars); ``force_exit``
        exits an open position as if the exit rule fired (an operator's flatten)."""
        sp = self.plan.for_symbol(symbol)
        buf = self._buffers[sp.symbol]
        buf.append(candle)
        m = self.machine
        if self.max_history is not None and buf.n > 2 * self.max_history:
            drop = buf.n - self.max_history
            buf.drop_oldest(drop)
            m.bar_offset[sp.symbol] += drop
        i = buf.n - 1  # index into env
        bar = m.bar_offset[sp.symbol] + i  # the symbol's candle number since the engine started
        start = len(m.decisions)
        env = compute_columns(
            sp.rules, buf.view("open"), buf.view("high"), buf.view("low"), buf.view("close"), buf.view("volume")
        )
        m.roll_day_if_new(candle.ts)
        m.on_open(sp.symbol, bar, candle.ts, candle.open, env)
        m.on_range(sp.symbol, bar, candle.ts, candle.open, candle.high, candle.low)
        book = getattr(m, "shadow", None)  # None: switched off (or an engine pickled before shadows)
        shadows = (
            book.on_bar(m, sp.symbol, bar, candle.ts, candle.open, candle.high, candle.low, env, i) if book else []
        )
        in_position = sp.symbol in m.state.positions
        entry = allow_entry and not in_position and sp.entry_rule.evaluate_at(env, i)
        exit_ = in_position and (force_exit or (sp.exit_rule is not None and sp.exit_rule.evaluate_at(env, i)))
        m.on_close(sp.symbol, bar, candle.ts, candle.close, env, entry_signal=entry, exit_signal=exit_, now_ts=now_ts)
        new = m.decisions[start:]
        if self.keep_log:
            self.equity.append(m.state.equity())
            self.equity_ts.append(candle.ts)
            if shadows:
                book.outcomes.extend(shadows)
        else:
            m.decisions.clear()
            m.trades.clear()
            m.ledger.clear()
        # the shadows' outcomes come after the candle's real decisions (kept out of ``decisions``)
        return new + shadows if shadows else new

    def prime(self, symbol: str, history: Bars) -> None:
        """Load candles that came before the first live one: indicator history only, no decisions.

        After a (re)start, prime with at least ``plan.warmup_bars`` candles; the marks are set from
        the last one. ``run_backtest(..., trade_from={symbol: len(history)})`` over the same candles
        gives the same decisions.
        """
        sp = self.plan.for_symbol(symbol)
        buf = self._buffers[sp.symbol]
        for i in range(len(history)):
            buf.append(history.candle(i))
        if len(history):
            self.machine.state.marks[sp.symbol] = float(history.close[-1])

    def run(self, bars: Bars | dict[str, Bars]) -> list[Decision]:
        """Step through candles one at a time in (time, plan symbol order): the parity tests' live side."""
        if isinstance(bars, Bars):
            bars = {self.plan.symbols[0].symbol: bars}
        order = {sp.symbol: i for i, sp in enumerate(self.plan.symbols)}
        feed = sorted((int(b.ts[i]), order[symbol], i, symbol) for symbol, b in bars.items() for i in range(len(b)))
        for _, _, i, symbol in feed:
            self.step(symbol, bars[symbol].candle(i))
        return self.decisions

    def equity_by_time(self) -> tuple[np.ndarray, np.ndarray]:
        """(timestamps, equity after the last candle of each timestamp): comparable with a backtest's curve."""
        ts = np.array(self.equity_ts, dtype=np.int64)
        eq = np.array(self.equity, dtype=np.float64)
        last = np.r_[ts[1:] != ts[:-1], True] if len(ts) else np.zeros(0, dtype=bool)
        return ts[last], eq[last]
