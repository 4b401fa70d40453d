"""The fill model, the same for paper trading and backtests.

A signal on a bar's close becomes a market order filled at the NEXT bar's open, moved against
the trader by ``slippage_bps`` (buys higher, sells lower). A stop is a stop-market order: it fills
at the stop price, or at the open if the bar gaps through it, with slippage. A target is a limit
order: it fills at the target, or at a better open, without slippage. The fee is ``fee_rate`` of
the filled notional, each side.

Floats inside; :class:`FillQuote` converts to ``Decimal`` at the edge via the float's shortest
repr, so the stored price is exactly the number the engine computed with.
"""

from __future__ import annotations

from decimal import Decimal
from typing import NamedTuple

__all__ = ["FillQuote", "fill_price", "market_fill", "stop_fill", "target_fill", "to_decimal"]


def to_decimal(value: float) -> Decimal:
    return Decimal(repr(float(value)))


def fill_price(side: str, reference: float, slippage_bps: float) -> float:
    """``side`` is ``buy`` or ``sell``; slippage always works against the trader."""
    slip = slippage_bps / 10_000.0
    if side == "buy":
        return reference * (1.0 + slip)
    return reference * (1.0 - slip)


class FillQuote(NamedTuple):
    side: str
    price: float
    qty: float
    fee: float

    @property
    def notional(self) -> float:
        return self.price * self.qty

    @property
    def price_decimal(self) -> Decimal:
        return to_decimal(self.price)

    @property
    def qty_decimal(self) -> Decimal:
        return to_decimal(self.qty)

    @property
    def fee_decimal(self) -> Decimal:
        return to_decimal(self.fee)


def market_fill(side: str, open_price: float, qty: float, *, slippage_bps: float, fee_rate: float) -> FillQuote:
    price = fill_price(side, open_price, slippage_bps)
    return FillQuote(side, price, qty, price * qty * fee_rate)


def stop_fill(position_side: str, stop: float, open_price: float, qty: float, *, slippage_bps: float, fee_rate: float):
    """Exit of a ``long`` (sell) or ``short`` (buy) position whose stop was touched during the bar."""
    if position_side == "long":
        reference = open_price if open_price <= stop else stop
        return market_fill("sell", reference, qty, slippage_bps=slippage_bps, fee_rate=fee_rate)
    reference = open_price if open_price >= stop else stop
    return market_fill("buy", reference, qty, slippage_bps=slippage_bps, fee_rate=fee_rate)


def target_fill(position_side: str, target: float, open_price: float, qty: float, *, fee_rate: float) -> FillQuote:
    if position_side == "long":
        price = open_price if open_price >= target else target
        return FillQuote("sell", price, qty, price * qty * fee_rate)
    price = open_price if open_price <= target else target
    return FillQuote("buy", price, qty, price * qty * fee_rate)
