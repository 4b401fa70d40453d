"""Instruments, candles and ticks: stored once, served through selectors, streamed by the feed."""

from django.db import models
from django.db.models.functions import Cast

from tradingops.fields import MoneyField, PriceField, QuantityField


class Timeframe(models.TextChoices):
    """Bar lengths. ``1M`` is a calendar month (loaded from files, not rolled up from ticks)."""

    M1 = "1m", "1 minute"
    M5 = "5m", "5 minutes"
    M15 = "15m", "15 minutes"
    H1 = "1h", "1 hour"
    H4 = "4h", "4 hours"
    D1 = "1d", "1 day"
    MO1 = "1M", "1 month"


class Instrument(models.Model):
    """A tradable pair. ``symbol`` is ours (``BTC-USD``); ``exchange_symbol`` is what ccxt calls it."""

    symbol = models.CharField(max_length=32, unique=True, help_text="Our name, BASE-QUOTE, e.g. BTC-USD.")
    base = models.CharField(max_length=16)
    quote = models.CharField(max_length=16)
    exchange = models.CharField(max_length=32, blank=True, default="", help_text="ccxt exchange id, e.g. binance.")
    exchange_symbol = models.CharField(max_length=32, blank=True, default="", help_text="ccxt market, e.g. BTC/USDT.")
    price_tick = PriceField(help_text="Smallest price increment.")
    lot_size = QuantityField(help_text="Smallest quantity increment.")
    min_notional = MoneyField(help_text="Smallest order value, in the quote currency.")
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ("symbol",)
        indexes = [models.Index(fields=["active", "symbol"], name="instrument_active_symbol")]

    def __str__(self) -> str:
        return self.symbol


class Candle(models.Model):
    """One OHLCV bar; ``open_time`` is the bar's open (UTC). Written only by ``market.services``."""

    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="candles")
    timeframe = models.CharField(max_length=3, choices=Timeframe.choices)
    open_time = models.DateTimeField()
    open = PriceField()
    high = PriceField()
    low = PriceField()
    close = PriceField()
    volume = QuantityField()
    # float8 copies of the Decimals, computed by the database on every write (stored generated columns):
    # the backtest engine reads these in binary, skipping 5 numeric-to-float conversions per bar. The
    # Decimals stay the record of truth; nothing writes these.
    open_f = models.GeneratedField(expression=Cast("open", models.FloatField()), output_field=models.FloatField(),
                                   db_persist=True)  # fmt: skip
    high_f = models.GeneratedField(expression=Cast("high", models.FloatField()), output_field=models.FloatField(),
                                   db_persist=True)  # fmt: skip
    low_f = models.GeneratedField(expression=Cast("low", models.FloatField()), output_field=models.FloatField(),
                                  db_persist=True)  # fmt: skip
    close_f = models.GeneratedField(expression=Cast("close", models.FloatField()), output_field=models.FloatField(),
                                    db_persist=True)  # fmt: skip
    volume_f = models.GeneratedField(expression=Cast("volume", models.FloatField()), output_field=models.FloatField(),
                                     db_persist=True)  # fmt: skip

    class Meta:
        constraints = [
            # Its index (instrument, timeframe, open_time) serves every range scan, both directions.
            models.UniqueConstraint(fields=["instrument", "timeframe", "open_time"], name="candle_unique_bar"),
            models.CheckConstraint(condition=models.Q(high__gte=models.F("low")), name="candle_high_gte_low"),
        ]

    def __str__(self) -> str:
        return f"{self.instrument_id} {self.timeframe} {self.open_time:%Y-%m-%d %H:%M}"


class Tick(models.Model):
    """One trade or ticker print from the feed."""

    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="ticks")
    ts = models.DateTimeField()
    price = PriceField()
    size = QuantityField(default=0)
    bid = PriceField(null=True, blank=True)
    ask = PriceField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["instrument", "ts", "id"], name="tick_instrument_ts")]

    def __str__(self) -> str:
        return f"{self.instrument_id} {self.ts:%Y-%m-%d %H:%M:%S} {self.price}"


class CandleBlock(models.Model):
    """A derived, columnar copy of one instrument/timeframe's candles over a fixed span of time (PostgreSQL
    only): what a backtest reads instead of a million rows. Not a record: ``market.columnar`` fills it on
    the first read of a block, and triggers on the candle table (every insert, upsert, COPY, update,
    delete and truncate, whoever writes) mark the blocks a change falls in as stale in the same
    transaction (``data`` NULL, ``generation`` + 1). Block ``block`` of timeframe ``tf`` covers open
    times in ``[block * span, (block + 1) * span)`` seconds, span from the SQL function
    ``market_candle_block_span(tf)`` (migration 0004).

    ``data``: ``count`` open times (int8, microseconds since 2000-01-01, as PostgreSQL sends a
    timestamptz) and then the five float8 columns open, high, low, close, volume (the candle's own
    float copies), each ``count`` values, all in network byte order; empty for a span without candles."""

    instrument = models.ForeignKey(Instrument, on_delete=models.CASCADE, related_name="+")
    timeframe = models.CharField(max_length=3, choices=Timeframe.choices)
    block = models.BigIntegerField()
    generation = models.BigIntegerField(default=0)
    count = models.IntegerField(default=0)
    data = models.BinaryField(null=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["instrument", "timeframe", "block"], name="candle_block_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.instrument_id} {self.timeframe} block {self.block}"
