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

__all__ = ["REASONS", "REASON_CLASSES", "Block", "Reason", "reason_class"]

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

    def payload(self) -> dict:
        """JSON-ready: reason, class, message and the detail with decimals as strings."""
        return {
            "reason": self.reason,
            "reason_class": self.reason_class,
            "message": self.message,
            "detail": {k: _plain(v) for k, v in self.detail.items()},
        }
