"""Decimal presets for money, prices and quantities: precision is set here and nowhere else."""

from decimal import Context, Decimal

from django.db import models

MAX_DIGITS = 36
DECIMAL_PLACES = 18


class PriceField(models.DecimalField):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_digits", MAX_DIGITS)
        kwargs.setdefault("decimal_places", DECIMAL_PLACES)
        super().__init__(*args, **kwargs)


class QuantityField(PriceField):
    pass


class MoneyField(PriceField):
    pass


# Every digit a MAX_DIGITS column holds (the default context has 28: quantizing 10^10 or more to 18
# places raised InvalidOperation, a 500).
_CONTEXT = Context(prec=MAX_DIGITS + 2)


def quantize(value: Decimal | float | str, places: int = DECIMAL_PLACES) -> Decimal:
    return Decimal(str(value)).quantize(Decimal(1).scaleb(-places), context=_CONTEXT)
