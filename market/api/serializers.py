"""Input and output shapes of the market API (decimals as plain strings, as on the WebSocket)."""

from django.conf import settings
from drf_spectacular.utils import OpenApiExample, extend_schema_serializer
from rest_framework import serializers

from market import indicators, timeframes
from market.models import Instrument, Tick
from market.presentation import dec
from tradingops.api.fields import AwareDateTimeField


class PlainDecimalField(serializers.DecimalField):
    """A decimal as a string without the column's padding zeros (``0.01``, not ``0.010000000000000000``)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_digits", None)
        kwargs.setdefault("decimal_places", None)
        super().__init__(**kwargs)

    def to_representation(self, value):
        return dec(value)


class InstrumentSerializer(serializers.ModelSerializer):
    price_tick = PlainDecimalField()
    lot_size = PlainDecimalField()
    min_notional = PlainDecimalField()

    class Meta:
        model = Instrument
        fields = (
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


class TickSerializer(serializers.ModelSerializer):
    symbol = serializers.CharField(source="instrument.symbol")
    price = PlainDecimalField()
    size = PlainDecimalField()
    bid = PlainDecimalField(allow_null=True)
    ask = PlainDecimalField(allow_null=True)

    class Meta:
        model = Tick
        fields = ("id", "symbol", "ts", "price", "size", "bid", "ask")


class SummarySerializer(serializers.Serializer):
    symbol = serializers.CharField()
    timeframe = serializers.CharField(
        allow_null=True, help_text="The finest timeframe with data, used for the figures."
    )
    last_time = serializers.DateTimeField(allow_null=True)
    last_price = PlainDecimalField(allow_null=True)
    change_24h = PlainDecimalField(allow_null=True)
    change_pct_24h = PlainDecimalField(allow_null=True)
    high_24h = PlainDecimalField(allow_null=True)
    low_24h = PlainDecimalField(allow_null=True)
    volume_24h = PlainDecimalField(allow_null=True)


def _timeframe_field(**kwargs) -> serializers.ChoiceField:
    allowed = ", ".join(timeframes.ALL)
    return serializers.ChoiceField(
        choices=timeframes.ALL,
        error_messages={"invalid_choice": f'"{{input}}" is not a timeframe: allowed are {allowed}.'},
        **kwargs,
    )


class CandleQuerySerializer(serializers.Serializer):
    symbol = serializers.CharField(max_length=32, help_text="The instrument, e.g. SOL-USDT.")
    timeframe = _timeframe_field(default="1h", help_text="Bar length, e.g. 1m, 1h, 1d.")
    start = AwareDateTimeField(required=False, help_text="First bar's open time (inclusive).")
    end = AwareDateTimeField(required=False, help_text="Bars open before this time (exclusive).")
    limit = serializers.IntegerField(
        min_value=1, required=False, help_text="Bars at most (default 500, up to MARKET_CANDLES_MAX_LIMIT)."
    )
    indicators = serializers.CharField(required=False, allow_blank=True, help_text="e.g. sma_20,rsi_14,macd_12_26_9")

    def validate_limit(self, value):
        maximum = settings.MARKET_CANDLES_MAX_LIMIT
        if value > maximum:
            raise serializers.ValidationError(f"Ensure this value is less than or equal to {maximum}.")
        return value

    def validate_indicators(self, value):
        try:
            return indicators.parse_specs(value or "")
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from None

    def validate(self, attrs):
        start, end = attrs.get("start"), attrs.get("end")
        if start is not None and end is not None and start > end:
            raise serializers.ValidationError({"start": ["start must not be after end."]})
        attrs.setdefault("limit", 500)
        attrs.setdefault("indicators", [])
        return attrs


class TickQuerySerializer(serializers.Serializer):
    symbol = serializers.CharField(max_length=32, help_text="The instrument, e.g. SOL-USDT.")


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "SOL-USDT on Binance",
            value={
                "symbol": "SOL-USDT",
                "quote": "USDT",
                "base": "SOL",
                "price_tick": "0.01",
                "lot_size": "0.001",
                "min_notional": "5",
                "exchange": "binance",
                "exchange_symbol": "SOLUSDT",
            },
            request_only=True,
        )
    ]
)
class InstrumentCreateSerializer(serializers.Serializer):
    """``POST /market/instruments``: every number given; ``base`` defaults to the symbol without its quote."""

    symbol = serializers.CharField(max_length=32, help_text="BASE-QUOTE, e.g. SOL-USDT.")
    quote = serializers.CharField(max_length=16, help_text="The currency prices are in, e.g. USDT.")
    base = serializers.CharField(
        max_length=16, required=False, help_text="The traded asset, e.g. SOL; default: the symbol without its quote."
    )
    price_tick = serializers.CharField(max_length=64, help_text="Price increment, e.g. 0.0000001.")
    lot_size = serializers.CharField(max_length=64, help_text="Quantity increment, e.g. 1.")
    min_notional = serializers.CharField(
        max_length=64, required=False, default="0", help_text="Smallest order value in the quote currency, e.g. 5."
    )
    exchange = serializers.CharField(
        max_length=32, required=False, default="", allow_blank=True, help_text="Where it trades, e.g. binance."
    )
    exchange_symbol = serializers.CharField(
        max_length=32,
        required=False,
        default="",
        allow_blank=True,
        help_text="The exchange's own name for it, e.g. SOLUSDT.",
    )

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({key: ["unknown field"] for key in unknown})
        return super().to_internal_value(data)
