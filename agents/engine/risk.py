"""Risk limits, the portfolio state they are checked against, and every pre-trade check.

``check_order`` runs the checks in one fixed order (infra first, then data quality, then the
limits, cash last) and returns the first :class:`~agents.engine.reasons.Block`, or ``None`` when
the order may go. Exits are never checked: closing a position always reduces risk.

Risk accounting. A trade claims ``qty * |entry - stop|`` (its whole notional when it has no
stop). The day's budget is ``daily_risk_budget * equity at the start of the UTC day``; it is
used by the claims of positions opened today that are still open plus the losses realised today
on positions opened today. An exit releases its claim (a loss is then counted as used). Claims
of positions opened on an earlier day expire at midnight and no longer count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from decimal import Decimal
from typing import NamedTuple

from .errors import ConfigError
from .reasons import Block

__all__ = ["CHECKS", "OrderRequest", "Position", "RiskLimits", "RiskState", "check_order"]


def _num(value, name: str, errors: dict, *, integer: bool = False):
    if value is None:
        return None
    if isinstance(value, bool):
        errors[name] = "must be a number"
        return None
    try:
        number = float(Decimal(str(value))) if not isinstance(value, float) else value
    except (ArithmeticError, ValueError, TypeError):
        errors[name] = "must be a number"
        return None
    if not math.isfinite(number):
        errors[name] = "must be a finite number"
        return None
    if integer:
        if number != int(number):
            errors[name] = "must be a whole number"
            return None
        return int(number)
    return number


@dataclass(frozen=True)
class RiskLimits:
    """Limits from the runtime control (live) or the backtest config.

    ``None`` switches a limit off; ``0`` is a limit of zero (``max_trades_per_day=0`` stops new
    entries, ``risk_per_trade=0`` refuses any trade that risks anything), never "no limit"."""

    daily_risk_budget: float | None = 0.02  # fraction of the day's starting equity
    risk_per_trade: float | None = 0.01  # fraction of equity one trade may risk
    max_trades_per_day: int | None = 20
    max_trades_per_symbol_per_day: int | None = 5
    max_open_positions: int | None = 5
    min_notional: float = 10.0  # quote currency
    cooldown_after_loss_s: int = 0
    fee_rate: float = 0.001  # of notional, each side
    slippage_bps: float = 5.0  # market orders, each side
    max_cost_to_reward: float | None = 0.5  # cost gate: round-trip costs / distance to target
    max_data_age_s: int | None = None  # stale-data gate (live); None in backtests

    @classmethod
    def from_mapping(cls, data: dict | None = None) -> RiskLimits:
        """Build from plain/Decimal/string values, validating every field; ConfigError names the fields."""
        data = dict(data or {})
        known = {f.name for f in fields(cls)}
        errors: dict[str, str] = {name: "unknown field" for name in data if name not in known}
        ints = {"max_trades_per_day", "max_trades_per_symbol_per_day", "max_open_positions"}
        ints |= {"cooldown_after_loss_s", "max_data_age_s"}
        values = {}
        for name in sorted(known & set(data)):
            values[name] = _num(data[name], name, errors, integer=name in ints)
        for name in ("min_notional", "cooldown_after_loss_s", "fee_rate", "slippage_bps"):
            if name in data and data[name] is None:
                errors.setdefault(name, "may not be empty")
        if errors:
            raise ConfigError(errors)
        limits = cls(**values)
        limits.validate()
        return limits

    def validate(self) -> None:
        errors: dict[str, str] = {}

        def frac(name, low_open=True, high=1.0):
            value = getattr(self, name)
            if value is None:
                return
            if (value <= 0 if low_open else value < 0) or value > high:
                bound = "greater than 0" if low_open else "at least 0"
                errors[name] = f"must be {bound} and at most {high:g}, got {value:g}"

        # 0 is a limit like any other (it refuses every entry it applies to); only None switches one off
        frac("daily_risk_budget", low_open=False)
        frac("risk_per_trade", low_open=False)
        frac("max_cost_to_reward", low_open=False, high=10.0)
        frac("fee_rate", low_open=False, high=0.1)
        frac("slippage_bps", low_open=False, high=1000.0)
        for name in ("max_trades_per_day", "max_trades_per_symbol_per_day", "max_open_positions"):
            value = getattr(self, name)
            if value is not None and not 0 <= value <= 100_000:
                errors[name] = f"must be between 0 and 100000 (0 allows none; null switches the cap off), got {value}"
        if self.min_notional < 0:
            errors["min_notional"] = f"must be at least 0, got {self.min_notional:g}"
        if self.cooldown_after_loss_s < 0:
            errors["cooldown_after_loss_s"] = "must be at least 0"
        if self.max_data_age_s is not None and self.max_data_age_s < 1:
            errors["max_data_age_s"] = "must be at least 1 second"
        if (
            "risk_per_trade" not in errors
            and "daily_risk_budget" not in errors
            and self.risk_per_trade is not None
            and self.daily_risk_budget is not None
            and self.risk_per_trade > self.daily_risk_budget
        ):
            errors["risk_per_trade"] = (
                f"risk per trade ({self.risk_per_trade:g}) cannot exceed the daily risk budget "
                f"({self.daily_risk_budget:g})"
            )
        if (
            not errors.keys() & {"max_trades_per_day", "max_trades_per_symbol_per_day"}
            and self.max_trades_per_day is not None
            and self.max_trades_per_symbol_per_day is not None
            and self.max_trades_per_symbol_per_day > self.max_trades_per_day
        ):
            errors["max_trades_per_symbol_per_day"] = (
                f"trades per symbol per day ({self.max_trades_per_symbol_per_day}) cannot exceed trades per day "
                f"({self.max_trades_per_day})"
            )
        if errors:
            raise ConfigError(errors)

    @property
    def slippage(self) -> float:
        return self.slippage_bps / 10_000.0


@dataclass(slots=True)
class Position:
    symbol: str
    side: str  # long | short
    qty: float
    entry_price: float
    entry_fee: float
    stop: float | None
    target: float | None
    risk: float  # claimed
    opened_ts: int
    opened_day: int
    chain: int

    @property
    def signed_qty(self) -> float:
        return self.qty if self.side == "long" else -self.qty


class OrderRequest(NamedTuple):
    """A proposed entry: what the checks need to know about it."""

    symbol: str
    side: str  # long | short
    qty: float
    price: float  # expected fill price (slippage included)
    stop: float | None = None
    target: float | None = None

    @property
    def notional(self) -> float:
        return self.qty * self.price

    @property
    def risk(self) -> float:
        if self.stop is None:
            return self.notional
        return self.qty * abs(self.price - self.stop)


@dataclass
class RiskState:
    """The portfolio as the checks see it; :mod:`machine` updates it on every fill."""

    cash: float
    positions: dict[str, Position] = field(default_factory=dict)
    marks: dict[str, float] = field(default_factory=dict)
    day: int | None = None  # days since the epoch, UTC
    day_start_equity: float = 0.0
    trades_today: int = 0
    trades_today_by_symbol: dict[str, int] = field(default_factory=dict)
    risk_used_today: float = 0.0
    last_loss_ts: int | None = None
    kill_switch: bool = False
    pending_claims: dict[str, float] = field(default_factory=dict)  # entries ordered, not yet filled
    symbol_order: dict[str, int] = field(default_factory=dict)  # equity sums positions in this order
    fees_paid: float = 0.0
    realized_pnl: float = 0.0

    def equity(self, marks: dict[str, float] | None = None) -> float:
        marks = self.marks if marks is None else marks
        value = self.cash
        items = self.positions.items()
        if len(self.positions) > 1:  # one fixed order, so the float sum is the same on every path
            order = self.symbol_order
            items = sorted(items, key=lambda item: (order.get(item[0], len(order)), item[0]))  # type: ignore[assignment]
        for sym, pos in items:
            value += pos.signed_qty * marks.get(sym, pos.entry_price)
        return value

    @property
    def open_count(self) -> int:
        """Open positions plus entries ordered and waiting for their fill."""
        return len(self.positions) + len(self.pending_claims)

    @property
    def risk_open_today(self) -> float:
        total = 0.0
        for risk in self.pending_claims.values():
            total += risk
        for pos in self.positions.values():
            if pos.opened_day == self.day:
                total += pos.risk
        return total

    def roll_day(self, day: int, equity: float) -> None:
        """Start a new UTC day: counters reset, old claims expire, the budget is set from equity."""
        self.day = day
        self.day_start_equity = equity
        self.trades_today = 0
        self.trades_today_by_symbol = {}
        self.risk_used_today = 0.0

    def claim(self, symbol: str, risk: float) -> None:
        """An entry order was submitted: it counts as a trade and its risk is claimed until it fills."""
        self.pending_claims[symbol] = risk
        self.trades_today += 1
        self.trades_today_by_symbol[symbol] = self.trades_today_by_symbol.get(symbol, 0) + 1

    def drop_claim(self, symbol: str) -> None:
        self.pending_claims.pop(symbol, None)

    def open_position(self, pos: Position, cash_delta: float, fee: float) -> None:
        self.pending_claims.pop(pos.symbol, None)
        self.positions[pos.symbol] = pos
        self.cash += cash_delta
        self.fees_paid += fee

    def close_position(self, symbol: str, cash_delta: float, fee: float, pnl: float, ts: int) -> Position:
        pos = self.positions.pop(symbol)
        self.cash += cash_delta
        self.fees_paid += fee
        self.realized_pnl += pnl
        if pnl < 0:
            self.last_loss_ts = ts
            if pos.opened_day == self.day:
                self.risk_used_today += -pnl
        return pos


# --- Checks: each returns a Block or None ---------------------------------------------------------
class CheckContext(NamedTuple):
    now_ts: int  # decision time, epoch seconds
    data_ts: int | None = None  # close time of the newest candle the decision saw
    mode: str = "paper"
    live_confirmed: bool = False


def check_kill_switch(state, order, limits, ctx):
    if state.kill_switch:
        return Block("kill_switch", {"kill_switch": True})
    return None


def check_live_mode(state, order, limits, ctx):
    if ctx.mode == "live" and not ctx.live_confirmed:
        return Block("live_mode_not_confirmed", {"mode": "live", "live_confirmed": False})
    return None


def check_stale_market_data(state, order, limits, ctx):
    if limits.max_data_age_s is None or ctx.data_ts is None:
        return None
    age = ctx.now_ts - ctx.data_ts
    if age > limits.max_data_age_s:
        return Block("stale_market_data", {"age_s": age, "max_data_age_s": limits.max_data_age_s})
    return None


def check_levels(state, order, limits, ctx):
    long = order.side == "long"
    stop, target = order.stop, order.target
    if stop is not None and (math.isnan(stop) or (stop >= order.price if long else stop <= order.price)):
        return Block("invalid_stop", {"stop": stop, "entry": order.price, "side": order.side})
    if target is not None and (math.isnan(target) or (target <= order.price if long else target >= order.price)):
        return Block("invalid_target", {"target": target, "entry": order.price, "side": order.side})
    return None


def check_cooldown(state, order, limits, ctx):
    if not limits.cooldown_after_loss_s or state.last_loss_ts is None:
        return None
    until = state.last_loss_ts + limits.cooldown_after_loss_s
    if ctx.now_ts < until:
        return Block(
            "cooldown",
            {
                "last_loss_ts": state.last_loss_ts,
                "cooldown_s": limits.cooldown_after_loss_s,
                "seconds_left": until - ctx.now_ts,
            },
        )
    return None


def check_daily_trade_cap(state, order, limits, ctx):
    if limits.max_trades_per_day is not None and state.trades_today >= limits.max_trades_per_day:
        return Block(
            "daily_trade_cap", {"trades_today": state.trades_today, "max_trades_per_day": limits.max_trades_per_day}
        )
    return None


def check_symbol_trade_cap(state, order, limits, ctx):
    cap = limits.max_trades_per_symbol_per_day
    count = state.trades_today_by_symbol.get(order.symbol, 0)
    if cap is not None and count >= cap:
        return Block("symbol_trade_cap", {"trades_today_symbol": count, "max_trades_per_symbol_per_day": cap})
    return None


def check_max_positions(state, order, limits, ctx):
    cap = limits.max_open_positions
    if cap is not None and state.open_count >= cap:
        return Block("max_positions", {"open_positions": state.open_count, "max_open_positions": cap})
    return None


def check_min_notional(state, order, limits, ctx):
    if order.qty <= 0 or order.notional < limits.min_notional:
        return Block(
            "min_notional", {"qty": order.qty, "notional": order.notional, "min_notional": limits.min_notional}
        )
    return None


def check_cost_gate(state, order, limits, ctx):
    if limits.max_cost_to_reward is None or order.target is None:
        return None
    per_side = limits.fee_rate + limits.slippage
    cost = (order.price + order.target) * per_side
    reward = order.target - order.price if order.side == "long" else order.price - order.target
    if reward <= 0 or cost > limits.max_cost_to_reward * reward:
        ratio = cost / reward if reward > 0 else math.inf
        return Block(
            "cost_gate",
            {
                "cost_per_unit": cost,
                "reward_per_unit": reward,
                "cost_to_reward": ratio,
                "max_cost_to_reward": limits.max_cost_to_reward,
            },
        )
    return None


def check_trade_risk(state, order, limits, ctx):
    if limits.risk_per_trade is None:
        return None
    equity = state.equity()
    allowed = limits.risk_per_trade * equity
    if order.risk > allowed:
        return Block(
            "trade_risk_limit",
            {"trade_risk": order.risk, "allowed": allowed, "equity": equity, "risk_per_trade": limits.risk_per_trade},
        )
    return None


def check_risk_budget(state, order, limits, ctx):
    if limits.daily_risk_budget is None:
        return None
    budget = limits.daily_risk_budget * state.day_start_equity
    claimed = state.risk_open_today
    used = state.risk_used_today
    if used + claimed + order.risk > budget:
        return Block(
            "risk_budget_exhausted",
            {
                "budget": budget,
                "claimed": claimed,
                "used": used,
                "trade_risk": order.risk,
                "available": budget - used - claimed,
            },
        )
    return None


def check_cash(state, order, limits, ctx):
    need = order.notional * (1.0 + limits.fee_rate)
    if need > state.cash:
        return Block(
            "insufficient_cash",
            {"cash": state.cash, "needed": need, "notional": order.notional, "fee_rate": limits.fee_rate},
        )
    return None


CHECKS = (
    check_kill_switch,
    check_live_mode,
    check_stale_market_data,
    check_levels,
    check_cooldown,
    check_daily_trade_cap,
    check_symbol_trade_cap,
    check_max_positions,
    check_min_notional,
    check_cost_gate,
    check_trade_risk,
    check_risk_budget,
    check_cash,
)


def check_order(
    state: RiskState,
    order: OrderRequest,
    limits: RiskLimits,
    *,
    now_ts: int,
    data_ts: int | None = None,
    mode: str = "paper",
    live_confirmed: bool = False,
    checks: tuple = CHECKS,
) -> Block | None:
    """Run every check in order; the first refusal wins. ``checks`` is :func:`active_checks` (a speed-up)."""
    ctx = CheckContext(now_ts, data_ts, mode, live_confirmed)
    for check in checks:
        block = check(state, order, limits, ctx)
        if block is not None:
            return block
    return None


def active_checks(limits: RiskLimits, mode: str) -> tuple:
    """The checks that can refuse anything under these limits and mode, in the fixed order.

    A check whose limit is switched off (``None``; a zero cooldown) or that cannot apply in this mode returns
    ``None`` for every order, so the state machine may skip it: same decisions, less work per trade.
    The kill switch is always checked (it is state, not a limit).
    """
    off = set()
    if mode != "live":
        off.add(check_live_mode)
    if limits.max_data_age_s is None:
        off.add(check_stale_market_data)
    if not limits.cooldown_after_loss_s:
        off.add(check_cooldown)
    if limits.max_trades_per_day is None:
        off.add(check_daily_trade_cap)
    if limits.max_trades_per_symbol_per_day is None:
        off.add(check_symbol_trade_cap)
    if limits.max_open_positions is None:
        off.add(check_max_positions)
    if limits.max_cost_to_reward is None:
        off.add(check_cost_gate)
    if limits.risk_per_trade is None:
        off.add(check_trade_risk)
    if limits.daily_risk_budget is None:
        off.add(check_risk_budget)
    return tuple(c for c in CHECKS if c not in off)
