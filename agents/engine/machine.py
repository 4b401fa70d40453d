"""The position/risk state machine both paths drive: the backtest runner and the live stepper.

One symbol's bar is handled in four steps, always in this order:

1. :meth:`Machine.roll_day` when the bar opens a new UTC day (counters reset, budget set from the
   equity marked at the previous close);
2. :meth:`Machine.on_open`: an order decided on the previous close fills at this open;
3. :meth:`Machine.on_range`: a stop or target inside this bar's high/low exits the position
   (the stop is assumed hit first when both are inside the same bar);
4. :meth:`Machine.on_close`: the closed bar's rules: an exit signal when in a position, an entry
   signal when flat (sized, checked, then blocked or ordered for the next open).

The runner calls these only on the bars where something can happen; the stepper on every bar.
The decisions they append are the engine's output; ``chain`` numbers one trigger's decisions
(trigger -> block, or trigger -> order -> fill) so the caller can give them one correlation id.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import NamedTuple

from .fills import market_fill, stop_fill, target_fill, to_decimal
from .reasons import Block
from .risk import OrderRequest, Position, RiskLimits, RiskState, active_checks, check_order
from .shadow import ShadowBook, ShadowOutcome
from .sizing import Instrument, round_to_lot, size_order
from .strategy import Plan, level_price

__all__ = ["Decision", "Machine", "Trade"]

DAY = 86_400
END_OF_DATA = "end_of_data"  # a Trade's exit_reason (and the trigger's rule) under close_at_end


def _dec(value: float | None) -> Decimal | None:
    if value is None or math.isnan(value):
        return None
    return to_decimal(value)


class Decision(NamedTuple):
    """One step of a decision chain (numbers are the engine's floats; Decimals via :meth:`payload`).

    ``kind``: ``trigger`` (``rule`` says which: entry, exit, stop, target), ``block`` (``block`` holds
    reason, class and numbers), ``order`` (``price`` is the expected fill price, or the stop/target
    level) or ``fill``. ``side`` is ``buy``/``sell``; ``intent`` is ``entry``/``exit``. ``ts`` is epoch
    seconds: a bar's close for triggers, blocks and signal orders, a bar's open for fills at the
    open and for stop/target exits. ``chain`` numbers one trigger's decisions.
    """

    kind: str
    ts: int
    bar: int
    symbol: str
    chain: int
    rule: str | None = None
    block: Block | None = None
    side: str | None = None
    intent: str | None = None
    qty: float | None = None
    price: float | None = None
    fee: float | None = None
    stop: float | None = None
    target: float | None = None
    risk: float | None = None
    pnl: float | None = None
    outcome: ShadowOutcome | None = None  # kind block_outcome: what the blocked trade would have done

    @property
    def at(self) -> datetime:
        return datetime.fromtimestamp(self.ts, tz=UTC)

    def decimal(self, name: str) -> Decimal | None:
        """A numeric field as a Decimal (the float's shortest repr: exactly what the engine used)."""
        return _dec(getattr(self, name))

    def payload(self) -> dict:
        """JSON-ready: numbers as decimal strings, the block as reason/class/message/detail."""
        out = {
            "kind": self.kind,
            "ts": self.at.isoformat(),
            "bar": self.bar,
            "symbol": self.symbol,
            "chain": self.chain,
        }
        for name in ("rule", "side", "intent"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        for name in _NUMBERS:
            value = _dec(getattr(self, name))
            if value is not None:
                out[name] = str(value)
        if self.block is not None:
            out.update(self.block.payload())
        if self.outcome is not None:
            out["outcome"] = self.outcome.payload()
        return out


_NUMBERS = ("qty", "price", "fee", "stop", "target", "risk", "pnl")


class Trade(NamedTuple):
    """A closed round trip (floats: the backtest metrics work on arrays of these)."""

    symbol: str
    side: str
    chain: int
    entry_bar: int
    exit_bar: int
    entry_ts: int
    exit_ts: int
    qty: float
    entry_price: float
    exit_price: float
    fees: float
    pnl: float
    exit_reason: str  # exit | stop | target | end_of_data


@dataclass(slots=True)
class _Pending:
    intent: str
    side: str  # buy | sell
    qty: float
    chain: int
    signal_bar: int
    risk: float = 0.0
    reason: str = "exit"


class Machine:
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
        shadows: bool = True,
    ):
        self.plan = plan
        self._mode = mode
        self.limits = limits  # the setter caches what the hot path needs
        self.timeframe_s = int(timeframe_s)
        self.instruments = {sp.symbol: Instrument(sp.symbol) for sp in plan.symbols}
        self.instruments.update(instruments or {})
        self.live_confirmed = live_confirmed
        self.state = RiskState(cash=float(initial_cash))
        self.pending: dict[str, _Pending] = {}
        self.decisions: list[Decision] = []
        self.trades: list[Trade] = []
        # after every fill: the runner rebuilds the equity curve from it
        self.ledger: list[tuple[str, int, int, float, float]] = []  # (symbol, bar, ts, cash, signed qty)
        self.state.symbol_order = {sp.symbol: i for i, sp in enumerate(plan.symbols)}
        self._chain = 0
        self._entry_bar: dict[str, int] = {}
        self._plans = {sp.symbol: sp for sp in plan.symbols}
        # bar numbers count every candle of the symbol; ``env`` may hold only the newest ones (live
        # history trimmed): env index = bar - bar_offset[symbol]
        self.bar_offset = {sp.symbol: 0 for sp in plan.symbols}
        # blocked entries followed as if taken (never touching the state above): see .shadow
        self.shadow = ShadowBook() if shadows else None

    @property
    def limits(self) -> RiskLimits:
        return self._limits

    @limits.setter
    def limits(self, limits: RiskLimits) -> None:
        """Limits may change between candles (an admin edits them): the cached check list follows."""
        self._limits = limits
        self._slippage = limits.slippage
        self._checks = active_checks(limits, self._mode)

    @property
    def mode(self) -> str:
        return self._mode

    @mode.setter
    def mode(self, mode: str) -> None:
        self._mode = mode
        self._checks = active_checks(self._limits, mode)

    # -- helpers ---------------------------------------------------------------------------------
    def _next_chain(self) -> int:
        self._chain += 1
        return self._chain

    def _emit(self, kind: str, symbol: str, bar: int, ts: int, chain: int, **fields) -> None:
        self.decisions.append(Decision(kind, ts, bar, symbol, chain, **fields))

    # -- 1. day ----------------------------------------------------------------------------------
    def roll_day_if_new(self, ts: int) -> None:
        day = ts // DAY
        if day != self.state.day:
            self.state.roll_day(day, self.state.equity())

    # -- 2. open ---------------------------------------------------------------------------------
    def on_open(self, symbol: str, bar: int, ts: int, open_: float, env) -> None:
        pending = self.pending.pop(symbol, None)
        if pending is None:
            return
        limits = self.limits
        state = self.state
        if pending.intent == "exit":
            pos = state.positions[symbol]
            quote = market_fill(
                pending.side, open_, pos.qty, slippage_bps=limits.slippage_bps, fee_rate=limits.fee_rate
            )
            self._close(symbol, bar, ts, pos, quote, pending.chain, "exit")
            return
        sp = self._plans[symbol]
        if sp.sizing.price == "fill":
            self._fill_sized_entry(symbol, bar, ts, open_, env, pending, sp)
            return
        qty = pending.qty
        quote = market_fill(pending.side, open_, qty, slippage_bps=limits.slippage_bps, fee_rate=limits.fee_rate)
        if quote.price * qty + quote.fee > state.cash:
            # The open gapped away from the close the order was sized on: buy what the cash allows.
            lot = self.instruments[symbol].lot_size
            qty = float(round_to_lot(state.cash / (quote.price * (1.0 + limits.fee_rate)), lot))
            if qty <= 0 or qty * quote.price < limits.min_notional:
                detail = {"cash": state.cash, "needed": quote.price * quote.qty + quote.fee, "at": "fill"}
                state.drop_claim(symbol)
                block = Block("insufficient_cash", detail)
                self.decisions.append(Decision("block", ts, bar, symbol, pending.chain, None, block))
                self._shadow_fill_block(symbol, bar, ts, pending, block, pending.qty)  # the order it refused
                return
            quote = market_fill(pending.side, open_, qty, slippage_bps=limits.slippage_bps, fee_rate=limits.fee_rate)
        entry = quote.price
        stop = target = None
        if sp.stop_rule is not None:
            stop = level_price(sp.stop_rule, "stop", sp.side, env, pending.signal_bar - self.bar_offset[symbol], entry)
        if sp.target_rule is not None:
            target = level_price(
                sp.target_rule, "target", sp.side, env, pending.signal_bar - self.bar_offset[symbol], entry
            )
        self._open(symbol, bar, ts, sp, quote, stop, target, pending.risk, pending.chain)

    def _fill_sized_entry(self, symbol: str, bar: int, ts: int, open_: float, env, pending, sp) -> None:
        """``sizing.price == "fill"``: the quantity is computed now, at the fill price, floored to the lot.

        The checks on the signal's close ran on the quantity sized at that close (the best estimate
        then); the position claims the risk of the quantity it really holds. Nothing that fits the
        lot and the minimum notional: the entry is blocked at the fill, the claim dropped."""
        limits, state = self.limits, self.state
        price = market_fill(pending.side, open_, 1.0, slippage_bps=limits.slippage_bps, fee_rate=0.0).price
        i = pending.signal_bar - self.bar_offset[symbol]
        stop = level_price(sp.stop_rule, "stop", sp.side, env, i, price) if sp.stop_rule is not None else None
        target = level_price(sp.target_rule, "target", sp.side, env, i, price) if sp.target_rule is not None else None
        lot = self.instruments[symbol].lot_size
        qty = float(
            size_order(
                sp.sizing,
                instrument=self.instruments[symbol],
                equity=state.equity(),
                price=price,
                stop=stop,
                fee_rate=limits.fee_rate,
                risk_per_trade=limits.risk_per_trade,
            )
        )
        if qty > 0 and price * qty * (1.0 + limits.fee_rate) > state.cash:  # fixed sizes may not fit the cash
            qty = float(round_to_lot(state.cash / (price * (1.0 + limits.fee_rate)), lot))
        if qty <= 0 or qty * price < limits.min_notional:
            one_lot = price * float(lot) * (1.0 + limits.fee_rate)
            reason = "insufficient_cash" if qty <= 0 and one_lot > state.cash else "min_notional"
            detail = {"qty": qty, "price": price, "cash": state.cash, "min_notional": limits.min_notional, "at": "fill"}
            state.drop_claim(symbol)
            block = Block(reason, detail)
            self.decisions.append(Decision("block", ts, bar, symbol, pending.chain, None, block))
            self._shadow_fill_block(symbol, bar, ts, pending, block, qty)  # none when nothing could be sized
            return
        quote = market_fill(pending.side, open_, qty, slippage_bps=limits.slippage_bps, fee_rate=limits.fee_rate)
        risk = qty * abs(quote.price - stop) if stop is not None else quote.price * qty
        self._open(symbol, bar, ts, sp, quote, stop, target, risk, pending.chain)

    def _shadow_fill_block(self, symbol: str, bar: int, ts: int, pending, block: Block, qty: float) -> None:
        """An entry blocked at its fill is followed from this open, as one blocked on a close is from the next."""
        shadow = getattr(self, "shadow", None)
        if shadow is not None:
            shadow.on_block(self, symbol, bar, ts, pending.chain, block, qty, signal_bar=pending.signal_bar)

    def _open(self, symbol, bar, ts, sp, quote, stop, target, risk: float, chain: int) -> None:
        state = self.state
        qty, entry = quote.qty, quote.price
        notional = entry * qty
        cash_delta = -(notional + quote.fee) if sp.side == "long" else notional - quote.fee
        pos = Position(symbol, sp.side, qty, entry, quote.fee, stop, target, risk, ts, ts // DAY, chain)
        state.open_position(pos, cash_delta, quote.fee)
        self._entry_bar[symbol] = bar
        self.ledger.append((symbol, bar, ts, state.cash, pos.signed_qty))
        self.decisions.append(
            Decision(
                "fill",
                ts,
                bar,
                symbol,
                chain,
                None,
                None,
                quote.side,
                "entry",
                qty,
                entry,
                quote.fee,
                stop,
                target,
            )
        )

    def _close(
        self, symbol: str, bar: int, ts: int, pos: Position, quote, chain: int, reason: str, ledger_ts=None
    ) -> None:
        price, fee = quote.price, quote.fee
        if pos.side == "long":
            cash_delta = price * pos.qty - fee
            gross = (price - pos.entry_price) * pos.qty
        else:
            cash_delta = -(price * pos.qty + fee)
            gross = (pos.entry_price - price) * pos.qty
        pnl = gross - pos.entry_fee - fee
        state = self.state
        state.close_position(symbol, cash_delta, fee, pnl, ts)
        self.ledger.append((symbol, bar, ts if ledger_ts is None else ledger_ts, state.cash, 0.0))
        self.trades.append(
            Trade(
                symbol,
                pos.side,
                pos.chain,
                self._entry_bar.pop(symbol),
                bar,
                pos.opened_ts,
                ts,
                pos.qty,
                pos.entry_price,
                price,
                pos.entry_fee + fee,
                pnl,
                reason,
            )
        )
        self.decisions.append(
            Decision(
                "fill",
                ts,
                bar,
                symbol,
                chain,
                None,
                None,
                quote.side,
                "exit",
                pos.qty,
                price,
                fee,
                None,
                None,
                None,
                pnl,
            )
        )

    # -- end of the data (backtests only) -------------------------------------------------------
    def close_at_end(self, symbol: str, bar: int, ts: int, open_: float, *, ledger_ts: int | None = None) -> None:
        """``close_at_end``: exit ``symbol``'s open position at its last bar's open, fee and slippage included.

        The open, not the close: it is where backtesting.py's ``finalize_trades`` and Freqtrade's
        end-of-backtest ``force_exit`` fill, so a result here reproduces there. An exit already ordered
        on the last close is filled by it too (there is no next open); an entry ordered on the last
        close is dropped, never filled. ``ledger_ts`` puts the cash change on the curve's last point
        when the symbol's data ends before another's."""
        pending = self.pending.pop(symbol, None)
        if pending is not None and pending.intent == "entry":
            self.state.drop_claim(symbol)
        pos = self.state.positions.get(symbol)
        if pos is None:
            return
        limits = self.limits
        side = "sell" if pos.side == "long" else "buy"
        quote = market_fill(side, open_, pos.qty, slippage_bps=limits.slippage_bps, fee_rate=limits.fee_rate)
        chain = pending.chain if pending is not None else self._next_chain()
        if pending is None:
            self._emit("trigger", symbol, bar, ts, chain, rule=END_OF_DATA)
            self._emit("order", symbol, bar, ts, chain, side=side, intent="exit", qty=pos.qty, price=open_)
        self._close(symbol, bar, ts, pos, quote, chain, END_OF_DATA, ledger_ts=ledger_ts)

    # -- 3. range --------------------------------------------------------------------------------
    def on_range(self, symbol: str, bar: int, ts: int, open_: float, high: float, low: float) -> None:
        pos = self.state.positions.get(symbol)
        if pos is None or symbol in self.pending:
            return
        long = pos.side == "long"
        stop, target = pos.stop, pos.target
        hit_stop = stop is not None and (low <= stop if long else high >= stop)
        hit_target = not hit_stop and target is not None and (high >= target if long else low <= target)
        if not (hit_stop or hit_target):
            return
        limits = self.limits
        if hit_stop:
            quote = stop_fill(
                pos.side, stop, open_, pos.qty, slippage_bps=limits.slippage_bps, fee_rate=limits.fee_rate
            )
            reason, level = "stop", stop
        else:
            quote = target_fill(pos.side, target, open_, pos.qty, fee_rate=limits.fee_rate)
            reason, level = "target", target
        chain = self._next_chain()
        self._emit("trigger", symbol, bar, ts, chain, rule=reason)
        self._emit(
            "order",
            symbol,
            bar,
            ts,
            chain,
            side=quote.side,
            intent="exit",
            qty=quote.qty,
            price=level,
        )
        self._close(symbol, bar, ts, pos, quote, chain, reason)

    # -- 4. close --------------------------------------------------------------------------------
    def on_close(
        self,
        symbol: str,
        bar: int,
        ts: int,
        close: float,
        env,
        entry_signal: bool,
        exit_signal: bool,
        now_ts: int | None = None,
    ) -> None:
        state = self.state
        state.marks[symbol] = close
        if symbol in self.pending:
            return
        close_ts = ts + self.timeframe_s
        pos = state.positions.get(symbol)
        if pos is not None:
            if exit_signal:
                chain = self._next_chain()
                side = "sell" if pos.side == "long" else "buy"
                self.decisions.append(Decision("trigger", close_ts, bar, symbol, chain, "exit"))
                self.decisions.append(
                    Decision("order", close_ts, bar, symbol, chain, None, None, side, "exit", pos.qty, close)
                )
                self.pending[symbol] = _Pending("exit", side, pos.qty, chain, bar)
            return
        if not entry_signal:
            return
        self._chain += 1
        chain = self._chain
        decisions = self.decisions
        decisions.append(Decision("trigger", close_ts, bar, symbol, chain, "entry"))
        sp = self._plans[symbol]
        limits = self.limits
        if sp.side == "long":
            side, price = "buy", close * (1.0 + self._slippage)
        else:
            side, price = "sell", close * (1.0 - self._slippage)
        stop = target = None
        if sp.stop_rule is not None:
            stop = level_price(sp.stop_rule, "stop", sp.side, env, bar - self.bar_offset[symbol], price)
        if sp.target_rule is not None:
            target = level_price(sp.target_rule, "target", sp.side, env, bar - self.bar_offset[symbol], price)
        qty = float(
            size_order(
                sp.sizing,
                instrument=self.instruments[symbol],
                equity=state.equity(),
                price=price,
                stop=stop,
                fee_rate=limits.fee_rate,
                risk_per_trade=limits.risk_per_trade,
            )
        )
        order = OrderRequest(symbol, sp.side, qty, price, stop, target)
        block = check_order(
            state,
            order,
            limits,
            now_ts=close_ts if now_ts is None else now_ts,
            data_ts=close_ts,
            mode=self.mode,
            live_confirmed=self.live_confirmed,
            checks=self._checks,
        )
        if block is not None:
            decisions.append(Decision("block", close_ts, bar, symbol, chain, None, block))
            shadow = getattr(self, "shadow", None)  # absent from engines pickled before shadows existed
            if shadow is not None:
                shadow.on_block(self, symbol, bar, close_ts, chain, block, qty)
            return
        risk = order.risk
        decisions.append(
            Decision(
                "order", close_ts, bar, symbol, chain, None, None, side, "entry", qty, price, None, stop, target, risk
            )
        )
        state.claim(symbol, risk)
        self.pending[symbol] = _Pending("entry", side, qty, chain, bar, risk)
