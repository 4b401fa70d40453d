"""Position sizing: how much to buy, rounded DOWN to the instrument's lot size.

Methods (``Sizing.method``):

- ``fixed_qty``: ``value`` units;
- ``fixed_notional``: ``value`` in quote currency at the expected fill price;
- ``equity_fraction``: ``value`` of equity, fee included (``1`` is all-in and still affordable);
- ``risk``: risk ``value`` of equity between entry and stop (``qty = equity * value / |entry - stop|``);
  without ``value`` the limits' ``risk_per_trade`` is used; needs a stop rule.

``price`` says which price sizes the order: ``"signal"`` (the default: the signal bar's close with
slippage, the order's quantity is fixed when it is placed) or ``"fill"`` (the order is sized again
when it fills, at the fill price, and floored to the lot: backtesting.py's and Freqtrade's "all
equity" sizing, where a gap at the next open changes how many units the cash buys).

The engine computes in floats; the quantity leaves here as a ``Decimal`` that is an exact multiple
of the lot size (the float goes through its shortest repr, so ``0.3`` stays ``0.3``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

from .errors import ConfigError

__all__ = ["METHODS", "PRICES", "Instrument", "Sizing", "round_to_lot", "size_order"]

METHODS = ("fixed_qty", "fixed_notional", "equity_fraction", "risk")
PRICES = ("signal", "fill")


def _decimal(value, field: str) -> Decimal:
    try:
        number = Decimal(str(value))
    except ArithmeticError:
        raise ConfigError({field: "must be a number"}) from None
    if not number.is_finite():
        raise ConfigError({field: "must be a finite number"})
    return number


@dataclass(frozen=True)
class Instrument:
    """What the engine needs to know about a symbol: its lot (quantity step)."""

    symbol: str
    lot_size: Decimal = Decimal("0.001")

    def __post_init__(self):
        lot = _decimal(self.lot_size, "lot_size")
        if lot <= 0:
            raise ConfigError({"lot_size": f"must be greater than 0, got {lot}"})
        object.__setattr__(self, "lot_size", lot)


@dataclass(frozen=True)
class Sizing:
    method: str = "equity_fraction"
    value: float | None = 1.0
    price: str = "signal"  # signal | fill: see the module docstring

    def __post_init__(self):
        if self.price not in PRICES:
            raise ConfigError({"sizing.price": f"unknown price {self.price!r}: use one of {', '.join(PRICES)}"})
        if self.method not in METHODS:
            raise ConfigError({"sizing.method": f"unknown method {self.method!r}: use one of {', '.join(METHODS)}"})
        if self.value is None:
            if self.method != "risk":
                raise ConfigError({"sizing.value": f"{self.method} needs a value"})
            return
        value = float(_decimal(self.value, "sizing.value"))
        if value <= 0:
            raise ConfigError({"sizing.value": f"must be greater than 0, got {value:g}"})
        if self.method in ("equity_fraction", "risk") and value > 1:
            raise ConfigError({"sizing.value": f"{self.method} is a fraction of equity: at most 1, got {value:g}"})
        object.__setattr__(self, "value", value)

    @classmethod
    def from_mapping(cls, data) -> Sizing:
        if isinstance(data, Sizing):
            return data
        if not isinstance(data, dict):
            raise ConfigError({"sizing": "must be an object with method and value"})
        unknown = set(data) - {"method", "value", "price"}
        if unknown:
            raise ConfigError({f"sizing.{sorted(unknown)[0]}": "unknown field"})
        price = data.get("price", "signal")
        if price is None:
            price = "signal"
        return cls(method=data.get("method", "equity_fraction"), value=data.get("value"), price=price)

    def to_dict(self) -> dict:
        out = {"method": self.method, "value": self.value}
        if self.price != "signal":  # plans stored before the option keep their exact JSON
            out["price"] = self.price
        return out


def round_to_lot(qty: float, lot_size: Decimal) -> Decimal:
    """Round a float quantity DOWN to a multiple of ``lot_size`` (never up: never more than asked)."""
    if not math.isfinite(qty) or qty <= 0:
        return Decimal(0) * lot_size
    lots = (Decimal(repr(qty)) / lot_size).to_integral_value(rounding=ROUND_FLOOR)
    return lots * lot_size


def size_order(
    sizing: Sizing,
    *,
    instrument: Instrument,
    equity: float,
    price: float,
    stop: float | None = None,
    fee_rate: float = 0.0,
    risk_per_trade: float | None = None,
) -> Decimal:
    """Quantity for an entry at the expected fill ``price``; ``0`` when nothing fits (a check then blocks)."""
    value = sizing.value
    if sizing.method == "fixed_qty":
        raw = value
    elif sizing.method == "fixed_notional":
        raw = value / price  # type: ignore[operator]  # Sizing refuses these methods without a value
    elif sizing.method == "equity_fraction":
        raw = equity * value / (price * (1.0 + fee_rate))  # type: ignore[operator]  # as above
    else:
        fraction = value if value is not None else risk_per_trade
        if fraction is None or stop is None or not math.isfinite(stop) or stop == price:
            return Decimal(0) * instrument.lot_size
        raw = equity * fraction / abs(price - stop)
    return round_to_lot(raw, instrument.lot_size)  # type: ignore[arg-type]  # fixed_qty has a value too
