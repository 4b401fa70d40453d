import django_filters

from market.models import Instrument, Tick
from tradingops.api.filters import since_filter


class InstrumentFilterSet(django_filters.FilterSet):
    class Meta:
        model = Instrument
        fields = ("active", "exchange", "base", "quote")


class TickFilterSet(django_filters.FilterSet):
    since = since_filter(help_text="Ticks at or after.")

    class Meta:
        model = Tick
        fields = ("since",)
