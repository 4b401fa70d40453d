import json
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from django import template
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html

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
def pnl(value, places=None):
    """Profit or loss with sign, arrow and word for screen readers: colour is never the only cue.

    ``places`` (optional): money to that many decimals, thousands separated (``{{ x|pnl:2 }}``)."""
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return value
    value = money(number, places) if places is not None else amount(number)
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


@register.filter
def money(value, places=2) -> str:
    """Money to the quote's precision: ``1234.5678|money:2`` -> ``1,234.57``."""
    try:
        number = Decimal(str(value))
        places = int(places)
    except (InvalidOperation, ValueError, TypeError):
        return value
    return f"{number:,.{places}f}"
