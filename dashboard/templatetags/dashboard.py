import json
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from django import template
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html

from events import formatting

register = template.Library()


@register.filter
def utc(value) -> str:
    """``2026-11-25 09:30:12`` in UTC (the page header states the zone). Same as format.js ``utc``."""
    if isinstance(value, str):
        value = parse_datetime(value)
    if not isinstance(value, datetime):
        return ""
    return (value.astimezone(UTC) if value.tzinfo else value).strftime("%Y-%m-%d %H:%M:%S")


@register.filter
def price(value, symbol: str = "") -> str:
    """A price to the instrument's tick (events.formatting, the one rule)."""
    return formatting.price(value, symbol)


@register.filter
def qty(value, symbol: str = "") -> str:
    """A quantity to the instrument's lot."""
    return formatting.qty(value, symbol)


def _money(value, currency_or_places) -> str:
    """Money by the one rule: ``|money:"BTC"`` to the currency's precision, ``|money:2`` to places
    the page already knows (a backtest's quote precision); thousands grouped either way."""
    if isinstance(currency_or_places, int) or str(currency_or_places).isdigit():
        return formatting.number(value, int(currency_or_places))
    return formatting.money(value, currency_or_places or "USDT")


@register.filter
def money(value, currency_or_places="USDT") -> str:
    """Money to its currency's precision (or to the places given), thousands grouped."""
    return _money(value, currency_or_places)


@register.filter
def pct(value) -> str:
    """A fraction as a percentage: ``0.0123`` -> ``1.23 %``."""
    return formatting.pct(value)


@register.filter
def pct_signed(value) -> str:
    """A fraction as a signed percentage: ``0.0123`` -> ``+1.23 %`` (P&L of a trade)."""
    return formatting.pct(value, sign=True)


@register.filter
def duration(seconds) -> str:
    """Seconds as a holding time: ``5400`` -> ``1 h 30 min``."""
    return formatting.duration(seconds)


@register.filter
def quote_of(symbol: str) -> str:
    """The quote currency of an instrument: ``SOL-USDT`` -> ``USDT``."""
    return formatting.symbol_quote(symbol) or "USDT"


@register.filter
def pnl(value, currency_or_places="USDT"):
    """Profit or loss with sign, arrow and word for screen readers: colour is never the only cue.
    The argument is the currency (``|pnl:"USDT"``) or decimal places (``|pnl:2``)."""
    return _pnl(value, currency_or_places)


@register.filter
def pnl_in(value, currency: str = "USDT"):
    """``pnl`` with the currency after the amount: ``▼ -79.41 USDT`` (tables mixing quotes)."""
    return _pnl(value, currency, unit=currency)


def _pnl(value, currency_or_places, unit: str = ""):
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return value
    value = _money(number, currency_or_places) + (f" {unit}" if unit else "")
    if number > 0:
        return format_html(
            '<span class="pnl pos"><span aria-hidden="true">▲</span> +{}<span class="sr-only"> gain</span></span>',
            value,
        )
    if number < 0:
        return format_html(
            '<span class="pnl neg"><span aria-hidden="true">▼</span> {}<span class="sr-only"> loss</span></span>', value
        )
    return format_html('<span class="pnl flat">{}</span>', value)


@register.filter
def amount(value) -> str:
    """A Decimal without trailing zeros or exponent: ``1.50000000`` -> ``1.5``, ``1E+2`` -> ``100``."""
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return value
    text = format(number.normalize(), "f")
    return "0" if text in ("-0", "") else text


@register.filter
def pretty_json(value) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)
