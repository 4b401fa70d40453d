"""Decimal presets for money, prices and quantities: precision is set here and nowhere else."""

from decimal import Decimal

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


def quantize(value: Decimal | float | str, places: int = DECIMAL_PLACES) -> Decimal:
    return Decimal(str(value)).quantize(Decimal(1).scaleb(-places))
