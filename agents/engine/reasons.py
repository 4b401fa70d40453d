"""The one taxonomy of reasons a trade is refused, shared by live, paper and backtest.

Every check that can refuse a trade returns a :class:`Block` carrying one of these codes, the
class the code belongs to and the numbers that decided it, or ``None``. The class says whose
problem it is:

- ``infra``: the platform refused (kill switch, live mode not confirmed);
- ``quality_gate``: the trade or its inputs are not good enough (stale candles, costs eat the
  expected gain, a stop on the wrong side of the entry);
- ``risk_valid``: a risk limit did its job (caps, budget, cash, cooldown).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

__all__ = ["REASONS", "REASON_CLASSES", "Block", "Reason", "explain", "reason_class"]

INFRA = "infra"
QUALITY_GATE = "quality_gate"
RISK_VALID = "risk_valid"
REASON_CLASSES = (INFRA, QUALITY_GATE, RISK_VALID)


@dataclass(frozen=True)
class Reason:
    code: str
    reason_class: str
    description: str


REASONS: dict[str, Reason] = {
    r.code: r
    for r in (
        Reason("kill_switch", INFRA, "the kill switch is on: no new orders"),
        Reason("live_mode_not_confirmed", INFRA, "live mode is selected but has not been confirmed by an admin"),
        Reason("stale_market_data", QUALITY_GATE, "the latest candle is older than the allowed age"),
        Reason("invalid_stop", QUALITY_GATE, "the stop is undefined or on the wrong side of the entry"),
        Reason("invalid_target", QUALITY_GATE, "the target is undefined or on the wrong side of the entry"),
        Reason("cooldown", RISK_VALID, "still cooling down after a losing trade"),
        Reason("daily_trade_cap", RISK_VALID, "the maximum number of trades today is reached"),
        Reason("symbol_trade_cap", RISK_VALID, "the maximum number of trades today in this symbol is reached"),
        Reason("max_positions", RISK_VALID, "the maximum number of open positions is reached"),
        Reason("min_notional", RISK_VALID, "the order is smaller than the minimum notional"),
        Reason("cost_gate", QUALITY_GATE, "fees and slippage take too much of the expected gain"),
        Reason("trade_risk_limit", RISK_VALID, "the trade risks more than the per-trade limit"),
        Reason("risk_budget_exhausted", RISK_VALID, "the trade would exceed the day's risk budget"),
        Reason("insufficient_cash", RISK_VALID, "not enough cash for the order and its fee"),
    )
}


def reason_class(code: str) -> str:
    return REASONS[code].reason_class


def _plain(value):
    """Numbers for an event payload: floats as exact decimal strings, ints as they are."""
    if isinstance(value, bool) or value is None or isinstance(value, int | str):
        return value
    if isinstance(value, Decimal):
        return str(value)
    return str(Decimal(repr(float(value))))


@dataclass(frozen=True)
class Block:
    """A refused trade: the reason code, its class and the numbers that decided it."""

    reason: str
    detail: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.reason not in REASONS:
            raise ValueError(f"unknown block reason {self.reason!r}")

    @property
    def reason_class(self) -> str:
        return REASONS[self.reason].reason_class

    @property
    def message(self) -> str:
        return REASONS[self.reason].description

    @property
    def why(self) -> str:
        """The message with the numbers that decided it (see :func:`explain`)."""
        return explain(self.reason, self.detail)

    def payload(self) -> dict:
        """JSON-ready: reason, class, message and the detail with decimals as strings."""
        return {
            "reason": self.reason,
            "reason_class": self.reason_class,
            "message": self.message,
            "detail": {k: _plain(v) for k, v in self.detail.items()},
        }


# --- the numbers behind a block, in words -----------------------------------------------------------
def _f(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _num(value) -> str:
    """A number as a trader reads it: thousands separated, 2 decimals from 1 up, 6 significant below."""
    x = _f(value)
    if x is None:
        return "?"
    if x == 0 or abs(x) >= 1:
        return f"{x:,.2f}"
    return f"{x:.6g}"


def _pct(value) -> str:
    x = _f(value)
    return "?" if x is None else f"{x * 100:.2f}%".replace(".00%", "%")


def _why(reason: str, d: dict) -> str | None:
    if reason == "trade_risk_limit":
        return (f"the trade risks {_num(d.get('trade_risk'))}, more than the {_num(d.get('allowed'))} allowed "
                f"({_pct(d.get('risk_per_trade'))} of equity {_num(d.get('equity'))}); size it smaller, "
                f"add a stop, or raise/switch off risk_per_trade")  # fmt: skip
    if reason == "risk_budget_exhausted":
        return (f"the trade risks {_num(d.get('trade_risk'))}, more than the {_num(d.get('available'))} left of "
                f"today's budget {_num(d.get('budget'))} (used {_num(d.get('used'))}, "
                f"claimed {_num(d.get('claimed'))})")  # fmt: skip
    if reason == "insufficient_cash":
        needed = d.get("needed")
        if needed is None and _f(d.get("qty")) is not None and _f(d.get("price")) is not None:
            needed = _f(d["qty"]) * _f(d["price"])  # type: ignore[operator]  # both not None, checked above
        at = " at the fill" if d.get("at") == "fill" else ""
        return f"needs {_num(needed)} (notional and fee){at}, cash is {_num(d.get('cash'))}"
    if reason == "min_notional":
        notional = d.get("notional")
        if notional is None and _f(d.get("qty")) is not None and _f(d.get("price")) is not None:
            notional = _f(d["qty"]) * _f(d["price"])  # type: ignore[operator]  # both not None, checked above
        return (
            f"the order is worth {_num(notional)} (qty {d.get('qty')}), under the minimum {_num(d.get('min_notional'))}"
        )
    if reason == "daily_trade_cap":
        return f"{d.get('trades_today')} trades today, the cap is {d.get('max_trades_per_day')}"
    if reason == "symbol_trade_cap":
        cap = d.get("max_trades_per_symbol_per_day")
        return f"{d.get('trades_today_symbol')} trades in this symbol today, the cap is {cap}"
    if reason == "max_positions":
        return f"{d.get('open_positions')} positions open or ordered, the cap is {d.get('max_open_positions')}"
    if reason == "cooldown":
        return f"{d.get('seconds_left')} s left of the {d.get('cooldown_s')} s cooldown after a loss"
    if reason == "cost_gate":
        return (f"costs are {_pct(d.get('cost_to_reward'))} of the expected gain "
                f"({_num(d.get('cost_per_unit'))} of {_num(d.get('reward_per_unit'))} per unit), "
                f"more than the {_pct(d.get('max_cost_to_reward'))} allowed")  # fmt: skip
    if reason in ("invalid_stop", "invalid_target"):
        level = "stop" if reason == "invalid_stop" else "target"
        return (
            f"{level} {_num(d.get(level))} is on the wrong side of the {d.get('side')} entry at {_num(d.get('entry'))}"
        )
    if reason == "stale_market_data":
        return f"the last candle is {d.get('age_s')} s old, more than the {d.get('max_data_age_s')} s allowed"
    return None


def explain(reason: str, detail: dict | None) -> str:
    """``trade_risk_limit`` + its detail -> "the trade risks 9,989.92, more than the 100.00 allowed (1% of ...)".

    Works on a live :class:`Block`'s floats and on a stored detail's decimal strings alike."""
    description = REASONS[reason].description if reason in REASONS else reason
    try:
        numbers = _why(reason, dict(detail or {}))
    except (TypeError, ValueError):  # a detail from another version: the description still says what
        numbers = None
    return f"{description}: {numbers}" if numbers else description
