from market.models import Instrument, Tick
from tradingops.api.filters import FilterSet, since_filter


class InstrumentFilterSet(FilterSet):
    class Meta:
        model = Instrument
        fields = ("active", "exchange", "base", "quote")


class TickFilterSet(FilterSet):
    since = since_filter(help_text="Ticks at or after.")

    class Meta:
        model = Tick
        fields = ("since",)
