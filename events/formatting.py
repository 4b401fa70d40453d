"""The one rule for numbers a person reads: prices to the instrument's tick, quantities to its lot,
money to the currency's precision, percentages with %, thousands grouped. Pages, event summaries
and WebSocket frames all call these; the API keeps exact decimals and never passes through here.

The events app knows no instruments: the market app registers where ticks and lots come from
(``register_instrument_precision``) at ``AppConfig.ready()``. Lookups are cached for a minute in
the process, since summaries are built for every event published.
"""

import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

# Quote currencies and their display precision (fiat and stablecoins to the cent, the yen to the unit);
# anything else (a crypto asset) shows 8 places.
MONEY_PLACES = {"USD": 2, "USDT": 2, "USDC": 2, "EUR": 2, "GBP": 2, "DAI": 2, "BUSD": 2, "FDUSD": 2, "TUSD": 2,
                "CHF": 2, "AUD": 2, "CAD": 2, "TRY": 2, "JPY": 0}  # fmt: skip
CRYPTO_PLACES = 8
DEFAULT_PRICE_PLACES = 8
PERCENT_PLACES = 2
CACHE_SECONDS = 60.0

# symbol -> (price tick, lot size, quote currency), or None when unknown
Precision = tuple[Decimal, Decimal, str]
_provider: Callable[[str], Precision | None] | None = None
_cache: dict[str, tuple[float, Precision | None]] = {}


def register_instrument_precision(provider: Callable[[str], Precision | None]) -> None:
    global _provider
    _provider = provider
    _cache.clear()


def forget_instrument_precision() -> None:
    """Drop the cached lookups (an instrument was added or changed; tests start afresh)."""
    _cache.clear()


def instrument_precision(symbol: str) -> Precision | None:
    if not symbol or _provider is None:
        return None
    now = time.monotonic()
    cached = _cache.get(symbol)
    if cached is not None and now - cached[0] < CACHE_SECONDS:
        return cached[1]
    try:
        found = _provider(symbol)
    except Exception:  # a summary must never fail on a lookup (e.g. async context): plain places, not cached
        return None
    _cache[symbol] = (now, found)
    return found


def parse_decimal(value: Any) -> Decimal | None:
    """A finite Decimal from a number or its text; None for None, "", NaN, infinities and garbage."""
    if value is None or value == "":
        return None
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def _places(step: Decimal) -> int:
    exponent = step.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _group(number: Decimal, places: int) -> str:
    quantum = Decimal(1).scaleb(-places)
    rounded = number.quantize(quantum, rounding=ROUND_HALF_EVEN)
    if rounded == 0:
        rounded = abs(rounded)  # never "-0.00"
    return f"{rounded:,.{places}f}"


def _to_step(number: Decimal, step: Decimal) -> Decimal:
    if step <= 0:
        return number
    return (number / step).quantize(Decimal(1), rounding=ROUND_HALF_EVEN) * step


def number(value: Any, places: int = 0) -> str:
    """A plain number, grouped: ``12345.678`` -> ``12,345.68`` with ``places=2``."""
    parsed = parse_decimal(value)
    if parsed is None:
        return "—" if value in (None, "") else str(value)
    return _group(parsed, places)


def price(value: Any, symbol: str = "") -> str:
    """``143.08932467552788`` on a 0.01 tick -> ``143.09``; grouped: ``61,234.50``."""
    number = parse_decimal(value)
    if number is None:
        return "—" if value in (None, "") else str(value)
    precision = instrument_precision(symbol)
    if precision is None:
        return _group(number, min(DEFAULT_PRICE_PLACES, _places(number)))
    tick = precision[0]
    return _group(_to_step(number, tick), _places(tick))


def qty(value: Any, symbol: str = "") -> str:
    """A quantity to the instrument's lot: ``247.96412`` on a 0.001 lot -> ``247.964``."""
    number = parse_decimal(value)
    if number is None:
        return "—" if value in (None, "") else str(value)
    precision = instrument_precision(symbol)
    if precision is None:
        return _group(number, min(CRYPTO_PLACES, _places(number)))
    lot = precision[1]
    return _group(_to_step(number, lot), _places(lot))


def money_places(currency: str) -> int:
    return MONEY_PLACES.get((currency or "").upper(), CRYPTO_PLACES if currency else 2)


def money(value: Any, currency: str = "USDT", *, sign: bool = False) -> str:
    """Money to its currency's precision: ``100911.910064625`` USDT -> ``100,911.91``."""
    number = parse_decimal(value)
    if number is None:
        return "—" if value in (None, "") else str(value)
    text = _group(number, money_places(currency))
    return f"+{text}" if sign and number > 0 and text.strip("0.,") else text


def pct(value: Any, *, fraction: bool = True, sign: bool = False) -> str:
    """A percentage: the fraction ``0.0123`` -> ``1.23 %`` (``fraction=False``: ``1.23`` -> ``1.23 %``)."""
    number = parse_decimal(value)
    if number is None:
        return "—" if value in (None, "") else str(value)
    if fraction:
        number *= 100
    text = _group(number, PERCENT_PLACES)
    if sign and number > 0 and text.strip("0.,"):
        text = f"+{text}"
    return f"{text} %"


def duration(seconds: Any) -> str:
    """A holding time in its two largest units: ``95`` -> ``1 min 35 s``, ``93784`` -> ``1 d 2 h``."""
    number = parse_decimal(seconds)
    if number is None:
        return "—"
    left = max(0, int(number))
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60), ("s", 1)):
        if left >= size or (size == 1 and not parts):
            parts.append(f"{left // size} {unit}")
            left %= size
        elif parts:
            break
    return " ".join(parts[:2])


def symbol_quote(symbol: str) -> str:
    """The quote currency of ``SOL-USDT`` (from the instrument when known)."""
    precision = instrument_precision(symbol)
    if precision is not None and precision[2]:
        return precision[2]
    return symbol.rsplit("-", 1)[-1] if "-" in (symbol or "") else ""


def utc_time(value: Any) -> str:
    """``2026-11-25 09:30:12 UTC`` from a datetime or an ISO 8601 text (as the pages print times)."""

    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    if not isinstance(value, datetime):
        return "—"
    return (value.astimezone(UTC) if value.tzinfo else value).strftime("%Y-%m-%d %H:%M:%S UTC")
