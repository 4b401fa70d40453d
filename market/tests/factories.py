"""Instruments and the shipped candles.

``InstrumentFactory()`` is SOL-USDT with the figures the seed migration gives it (made again, or put back,
where a test emptied the table); other symbols give every figure. ``shipped_candles()`` stores the real
SOL/USDT hourly candles of ``market/data/SOLUSDT-1h.csv`` through the market app's own file loader."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import factory

from market.models import Candle, Instrument
from market.services import candles_load_file

SHIPPED_CANDLES = Path(__file__).resolve().parents[1] / "data" / "SOLUSDT-1h.csv"
SHIPPED_FIRST_BAR = datetime(2024, 9, 19, 23, tzinfo=UTC)  # 1,000 hourly bars without a gap from here


class InstrumentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Instrument

    symbol = "SOL-USDT"
    base = "SOL"
    quote = "USDT"
    price_tick = Decimal("0.01")
    lot_size = Decimal("0.001")
    min_notional = Decimal("5")

    @classmethod
    def _create(cls, model_class, *, symbol: str, **figures):
        instrument, _ = model_class.objects.update_or_create(symbol=symbol, defaults=figures)
        return instrument


def shipped_candles(instrument: Instrument | None = None, *, limit: int | None = None) -> list[Candle]:
    """The shipped real SOL/USDT hourly candles (Binance, Sep-Oct 2024: 1,000 bars, or the first ``limit``)
    stored as ``instrument``'s (SOL-USDT by default), oldest first."""
    instrument = instrument or InstrumentFactory()
    end = SHIPPED_FIRST_BAR + timedelta(hours=limit) if limit else None
    candles_load_file(instrument=instrument, timeframe="1h", path=SHIPPED_CANDLES, end=end)
    return list(Candle.objects.filter(instrument=instrument, timeframe="1h").order_by("open_time")[:limit])
