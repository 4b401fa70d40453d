"""Shadow trades: what a blocked entry would have done had it gone through.

When the machine blocks an entry (:meth:`Machine.on_close`), :meth:`ShadowBook.on_block` opens a
shadow of it with the order the block refused (side, quantity) and the plan's own rules: it fills
at the next bar's open with the fill model's slippage and fee, its stop and target are the plan's
levels evaluated at the signal bar with the shadow's fill price, it exits on the first bar whose
range touches the stop or target (stop first when both are inside one bar) or at the open after
the plan's exit signal. Exactly the real position's path (:mod:`.machine`), but it never touches
the real state: no cash, claims, counters or positions. When it closes, a ``block_outcome``
:class:`~agents.engine.machine.Decision` carries a :class:`ShadowOutcome` (entry, exit, exit reason,
P&L in quote and %, fees, holding time, maximum adverse excursion).

Two drivers give the same outcomes (a test holds them together):

- live (:meth:`ShadowBook.on_bar`): the stepper moves every open shadow of a symbol one candle;
- backtest (:meth:`ShadowBook.attach`, :meth:`ShadowBook.finish`): the runner hands over the whole
  history; the shadows are queued as they open and resolved at the end of the run, each symbol's
  in one vectorised pass (levels, first range hit before the next exit signal, worst price held).

The outcomes are kept apart from ``Machine.decisions``: the real decision streams of the live and
backtest paths stay exactly what they were. Cash is not checked: the shadow takes the quantity the
block refused (a block with no quantity, e.g. a zero-sized order, opens no shadow).

MAE (maximum adverse excursion) is the worst price against the position over the bars it was held
before the exit bar, and the exit price itself, as quote (``qty * distance from the entry``) and %.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .fills import market_fill, stop_fill, target_fill, to_decimal
from .strategy import level_price

__all__ = ["ShadowBook", "ShadowOutcome"]


def _num(value: float | None) -> str | None:
    if value is None or value != value:  # None or nan
        return None
    return str(to_decimal(value))


class ShadowOutcome(NamedTuple):
    """A shadow trade's result. ``status`` is ``closed`` or ``open`` (still held, marked at the last
    close; ``exit_*`` then hold the mark). ``exit_reason``: ``stop``, ``target``, ``exit`` (the plan's
    exit signal), ``end_of_data`` (a backtest with ``close_at_end``), or for an open shadow ``open``."""

    status: str
    exit_reason: str
    reason: str
    reason_class: str
    side: str  # long | short
    qty: float
    block_ts: int
    entry_bar: int
    entry_ts: int
    entry_price: float
    exit_bar: int
    exit_ts: int
    exit_price: float
    fees: float
    pnl: float
    pnl_pct: float
    mae: float
    mae_pct: float
    stop: float | None
    target: float | None
    rule: str = ""  # the plan's entry rule whose trigger was blocked

    @property
    def holding_s(self) -> int:
        return self.exit_ts - self.entry_ts

    def payload(self) -> dict:
        """JSON-ready, numbers as exact decimal strings (the float's shortest repr)."""
        from datetime import UTC, datetime

        def iso(ts: int) -> str:
            return datetime.fromtimestamp(ts, tz=UTC).isoformat()

        out = {
            "status": self.status,
            "exit_reason": self.exit_reason,
            "reason": self.reason,
            "reason_class": self.reason_class,
            "rule": self.rule,
            "position_side": self.side,
            "blocked_at": iso(self.block_ts),
            "entry_at": iso(self.entry_ts),
            "exit_at": iso(self.exit_ts),
            "holding_s": self.holding_s,
        }
        for name in ("qty", "entry_price", "exit_price", "fees", "pnl", "pnl_pct", "mae", "mae_pct", "stop", "target"):
            value = _num(getattr(self, name))
            if value is not None:
                out[name] = value
        return out


@dataclass(slots=True)
class _Shadow:
    symbol: str
    side: str  # long | short
    qty: float
    chain: int
    signal_bar: int
    block_ts: int
    reason: str
    reason_class: str
    rule: str  # the plan's entry rule
    entry_bar: int = -1
    entry_ts: int = 0
    entry_price: float = 0.0
    entry_fee: float = 0.0
    stop: float | None = None
    target: float | None = None
    worst: float = 0.0
    exit_pending: bool = False


class _History:
    """The backtest's arrays for one symbol (bar = array index: the runner has no offset)."""

    __slots__ = ("close", "env", "exit_idx", "high", "low", "n", "open", "ts")

    def __init__(self, ts, open_, high, low, close, env, exit_idx):
        self.ts, self.open, self.high, self.low, self.close = ts, open_, high, low, close
        self.env = env
        self.exit_idx = exit_idx
        self.n = len(ts)


class ShadowBook:
    """The open shadows of one machine and, unless ``keep_log`` is off, the outcomes so far."""

    def __init__(self):
        self.open: dict[str, list[_Shadow]] = {}
        self.outcomes: list = []  # Decisions of kind block_outcome, in the order they closed
        self._history: dict[str, _History] = {}
        self._queued: list[_Shadow] = []

    def __getstate__(self) -> dict:
        """Checkpoints carry the open shadows, never a backtest's arrays."""
        return {"open": self.open, "outcomes": self.outcomes, "_history": {}}

    def __setstate__(self, state: dict) -> None:
        self.open = state["open"]
        self.outcomes = state["outcomes"]
        self._history = {}
        self._queued = []

    # -- opening -----------------------------------------------------------------------------------
    def attach(self, symbol: str, ts, open_, high, low, close, env, exit_idx: list[int]) -> None:
        """Backtest: the symbol's whole history is known, shadows resolve as they open."""
        self._history[symbol] = _History(ts, open_, high, low, close, env, exit_idx)

    def on_block(
        self, machine, symbol: str, bar: int, ts: int, chain: int, block, qty: float, *, signal_bar: int | None = None
    ) -> None:
        """Follow the entry ``block`` refused. Blocked on a close, the shadow fills at the next open;
        blocked at the fill (``signal_bar`` given: the bar whose close signalled it), it fills at this
        very open, as the refused order would have (its levels from the signal bar, as the real entry's)."""
        if not qty > 0:
            return
        sp = machine._plans[symbol]
        signal = bar if signal_bar is None else signal_bar
        shadow = _Shadow(symbol, sp.side, qty, chain, signal, ts, block.reason, block.reason_class, sp.entry)
        if symbol in self._history:
            self._queued.append(shadow)  # resolved all at once by finish()
        else:
            self.open.setdefault(symbol, []).append(shadow)

    # -- the shared arithmetic ---------------------------------------------------------------------
    @staticmethod
    def _fill(machine, shadow: _Shadow, bar: int, ts: int, open_: float, env, index: int) -> None:
        limits = machine.limits
        side = "buy" if shadow.side == "long" else "sell"
        quote = market_fill(side, open_, shadow.qty, slippage_bps=limits.slippage_bps, fee_rate=limits.fee_rate)
        sp = machine._plans[shadow.symbol]
        shadow.entry_bar, shadow.entry_ts = bar, ts
        shadow.entry_price, shadow.entry_fee = quote.price, quote.fee
        shadow.stop = level_price(sp.stop_rule, "stop", sp.side, env, index, quote.price)
        shadow.target = level_price(sp.target_rule, "target", sp.side, env, index, quote.price)
        shadow.worst = quote.price

    @staticmethod
    def _range_exit(machine, shadow: _Shadow, open_: float, high: float, low: float):
        """(quote, reason) when this bar's range touches the stop or target, else None."""
        long = shadow.side == "long"
        stop, target = shadow.stop, shadow.target
        limits = machine.limits
        if stop is not None and (low <= stop if long else high >= stop):
            quote = stop_fill(
                shadow.side, stop, open_, shadow.qty, slippage_bps=limits.slippage_bps, fee_rate=limits.fee_rate
            )
            return quote, "stop"
        if target is not None and (high >= target if long else low <= target):
            return target_fill(shadow.side, target, open_, shadow.qty, fee_rate=limits.fee_rate), "target"
        return None

    @staticmethod
    def _outcome(machine, shadow: _Shadow, status: str, exit_reason: str, bar: int, ts: int, price: float, fee: float):
        from .machine import Decision

        qty, entry = shadow.qty, shadow.entry_price
        if shadow.side == "long":
            gross = (price - entry) * qty
            adverse = max(0.0, entry - min(shadow.worst, price))
        else:
            gross = (entry - price) * qty
            adverse = max(0.0, max(shadow.worst, price) - entry)
        fees = shadow.entry_fee + fee
        pnl = gross - fees
        notional = entry * qty
        outcome = ShadowOutcome(
            status,
            exit_reason,
            shadow.reason,
            shadow.reason_class,
            shadow.side,
            qty,
            shadow.block_ts,
            shadow.entry_bar,
            shadow.entry_ts,
            entry,
            bar,
            ts,
            price,
            fees,
            pnl,
            pnl / notional * 100.0 if notional else 0.0,
            adverse * qty,
            adverse / entry * 100.0 if entry else 0.0,
            shadow.stop,
            shadow.target,
            shadow.rule,
        )
        exit_side = "sell" if shadow.side == "long" else "buy"
        return Decision(
            "block_outcome",
            ts,
            bar,
            shadow.symbol,
            shadow.chain,
            exit_reason,
            None,
            exit_side,
            "exit",
            qty,
            price,
            fees,
            shadow.stop,
            shadow.target,
            None,
            pnl,
            outcome,
        )

    def _exit_at_open(self, machine, shadow: _Shadow, bar: int, ts: int, open_: float, reason: str = "exit"):
        limits = machine.limits
        side = "sell" if shadow.side == "long" else "buy"
        quote = market_fill(side, open_, shadow.qty, slippage_bps=limits.slippage_bps, fee_rate=limits.fee_rate)
        return self._outcome(machine, shadow, "closed", reason, bar, ts, quote.price, quote.fee)

    # -- live: one candle at a time ----------------------------------------------------------------
    def on_bar(self, machine, symbol: str, bar: int, ts: int, open_, high, low, env, index: int) -> list:
        """Move the symbol's open shadows over this candle; returns the outcomes that closed on it.

        Called before the machine's close step, so a shadow opened on this candle's close waits for
        the next candle's open, as the real order would."""
        shadows = self.open.get(symbol)
        if not shadows:
            return []
        sp = machine._plans[symbol]
        closed, still = [], []
        exit_now = None  # the exit rule at this bar, evaluated once and only if needed
        for s in shadows:
            if s.entry_bar < 0:
                if bar <= s.signal_bar:
                    still.append(s)
                    continue
                self._fill(machine, s, bar, ts, open_, env, s.signal_bar - machine.bar_offset[symbol])
            elif s.exit_pending:
                closed.append(self._exit_at_open(machine, s, bar, ts, open_))
                continue
            hit = self._range_exit(machine, s, open_, high, low)
            if hit is not None:
                quote, reason = hit
                closed.append(self._outcome(machine, s, "closed", reason, bar, ts, quote.price, quote.fee))
                continue
            s.worst = min(s.worst, low) if s.side == "long" else max(s.worst, high)
            if sp.exit_rule is not None:
                if exit_now is None:
                    exit_now = bool(sp.exit_rule.evaluate_at(env, index))
                s.exit_pending = exit_now
            still.append(s)
        if still:
            self.open[symbol] = still
        else:
            del self.open[symbol]
        return closed

    def close_at_end(self, machine, symbol: str, bar: int, ts: int, open_: float) -> None:
        """Backtest with ``close_at_end``: the symbol's shadows still held are closed as the real
        position is (:meth:`Machine.close_at_end`): at the last bar's open with its slippage and fee,
        exit reason ``end_of_data``. A shadow never filled stays out (there was nothing to close)."""
        still = []
        for s in self.open.pop(symbol, []):
            if s.entry_bar < 0:
                still.append(s)
                continue
            self.outcomes.append(self._exit_at_open(machine, s, bar, ts, open_, reason="end_of_data"))
        if still:
            self.open[symbol] = still

    def marked(self, machine, marks: dict[str, float]) -> list:
        """The open shadows as ``open`` outcomes marked at ``marks`` (the unfilled ones as ``unfilled``)."""
        out = []
        for symbol, shadows in self.open.items():
            mark = marks.get(symbol)
            for s in shadows:
                if s.entry_bar < 0 or mark is None:
                    continue
                out.append(self._outcome(machine, s, "open", "open", s.entry_bar, s.entry_ts, mark, 0.0))
        return out

    # -- backtest: resolved at once over the known future ------------------------------------------
    def finish(self, machine) -> None:
        """Backtest: resolve the queued shadows, each symbol's in one vectorised pass.

        The scans are numpy (levels over the arrays, the first bar touching a stop/target before
        the next exit signal, the worst price held); the per-shadow arithmetic (fills, fees, P&L,
        MAE) is the live path's own code, so both paths give the same floats."""
        queued, self._queued = self._queued, []
        by_symbol: dict[str, list[_Shadow]] = {}
        for s in queued:
            by_symbol.setdefault(s.symbol, []).append(s)
        for symbol, shadows in by_symbol.items():
            self._resolve_symbol(machine, shadows, self._history[symbol])

    def _resolve_symbol(self, machine, shadows: list[_Shadow], h: _History) -> None:
        n = h.n
        shadows = [s for s in shadows if s.signal_bar + 1 < n]  # blocked on the last candle: nothing to follow
        if not shadows:
            return
        sp = machine._plans[shadows[0].symbol]
        long = sp.side == "long"
        limits = machine.limits
        sig = np.fromiter((s.signal_bar for s in shadows), dtype=np.int64, count=len(shadows))
        f = sig + 1
        m = len(shadows)
        # the entry fill, exactly as market_fill computes it (same float operations)
        slip = limits.slippage_bps / 10_000.0
        entry = h.open[f] * (1.0 + slip) if long else h.open[f] * (1.0 - slip)

        def levels(rule, kind: str):
            if rule is None:
                return None
            at_entry = np.full(n, np.nan)
            at_entry[sig] = entry
            values = rule.evaluate(h.env, entry=at_entry)[sig]
            if rule.is_price_level:
                return values
            below = (kind == "stop") == long
            return entry - values if below else entry + values

        stop = levels(sp.stop_rule, "stop")
        target = levels(sp.target_rule, "target")
        exits = np.asarray(h.exit_idx, dtype=np.int64)
        p = np.searchsorted(exits, f, side="left")
        e = np.where(p < len(exits), exits[np.minimum(p, max(len(exits) - 1, 0))], -1) if len(exits) else np.full(m, -1)
        last = np.where(e >= 0, e, n - 1)  # a stop/target hit counts up to the exit signal's bar
        j = np.full(m, -1, dtype=np.int64)
        if stop is not None or target is not None:
            nan = np.full(m, np.nan)
            stop_a = stop if stop is not None else nan
            target_a = target if target is not None else nan
            active = np.arange(m)
            start = f.copy()
            width = 64
            while active.size:
                s0, lim = start[active], last[active]
                idx = s0[:, None] + np.arange(width)
                valid = idx <= lim[:, None]
                np.minimum(idx, n - 1, out=idx)
                lo, hi = h.low[idx], h.high[idx]
                with np.errstate(invalid="ignore"):
                    if long:
                        hit = (lo <= stop_a[active, None]) | (hi >= target_a[active, None])
                    else:
                        hit = (hi >= stop_a[active, None]) | (lo <= target_a[active, None])
                hit &= valid
                found = hit.any(axis=1)
                j[active[found]] = s0[found] + hit.argmax(axis=1)[found]
                done = found | (s0 + width > lim)
                start[active] = s0 + width
                active = active[~done]
                width = max(64, min(width * 4, 4_000_000 // max(active.size, 1)))
        # the exit bar: the hit bar, the bar after the exit signal, or none (still held at the end)
        ranged = j >= 0
        signalled = ~ranged & (e >= 0) & (e + 1 < n)
        end = np.where(ranged, j, np.where(signalled, e + 1, n))  # bars [f, end) were held through
        ext = np.append(h.low if long else h.high, np.inf if long else -np.inf)
        pairs = np.empty(2 * m, dtype=np.int64)
        pairs[0::2], pairs[1::2] = f, end
        reduce = np.minimum if long else np.maximum
        seg = reduce.reduceat(ext, pairs)[0::2]
        seg = np.where(end > f, seg, entry)
        worst = reduce(entry, seg)
        for k, s in enumerate(shadows):
            fk = int(f[k])
            s.entry_bar, s.entry_ts = fk, h.ts.item(fk)
            s.entry_price = entry.item(k)
            s.entry_fee = s.entry_price * s.qty * limits.fee_rate
            s.stop = stop.item(k) if stop is not None else None
            s.target = target.item(k) if target is not None else None
            s.worst = worst.item(k)
            if ranged[k]:
                jk = int(j[k])
                quote, reason = self._range_exit(machine, s, h.open.item(jk), h.high.item(jk), h.low.item(jk))
                self.outcomes.append(
                    self._outcome(machine, s, "closed", reason, jk, h.ts.item(jk), quote.price, quote.fee)
                )
            elif signalled[k]:
                b = int(e[k]) + 1
                self.outcomes.append(self._exit_at_open(machine, s, b, h.ts.item(b), h.open.item(b)))
            else:
                s.exit_pending = bool(e[k] >= 0)
                self.open.setdefault(s.symbol, []).append(s)
