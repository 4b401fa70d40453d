from django.contrib import admin

from tradingops.admin import ReadOnlyAdmin

from .models import Candle, Instrument, Tick


@admin.register(Instrument)
class InstrumentAdmin(admin.ModelAdmin):
    list_display = (
        "symbol",
        "base",
        "quote",
        "exchange",
        "exchange_symbol",
        "price_tick",
        "lot_size",
        "min_notional",
        "active",
    )
    list_filter = ("active", "exchange", "quote")
    search_fields = ("symbol", "base", "quote", "exchange_symbol")
    list_editable = ("active",)


# Candles and ticks are read-only here: market data comes from sources and load_candles, never from a form.
@admin.register(Candle)
class CandleAdmin(ReadOnlyAdmin):
    list_display = ("instrument", "timeframe", "open_time", "open", "high", "low", "close", "volume")
    list_filter = ("instrument", "timeframe")
    list_select_related = ("instrument",)
    show_full_result_count = False
    ordering = ("-open_time",)


@admin.register(Tick)
class TickAdmin(ReadOnlyAdmin):
    list_display = ("instrument", "ts", "price", "size", "bid", "ask")
    list_filter = ("instrument",)
    list_select_related = ("instrument",)
    show_full_result_count = False
    ordering = ("-ts", "-id")
