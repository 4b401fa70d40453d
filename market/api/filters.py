import django_filters

from market.models import Instrument, Tick
from tradingops.api.fields import AwareIsoDateTimeFilter


class InstrumentFilterSet(django_filters.FilterSet):
    class Meta:
        model = Instrument
        fields = ("active", "exchange", "base", "quote")


class TickFilterSet(django_filters.FilterSet):
    since = AwareIsoDateTimeFilter(field_name="ts", lookup_expr="gte", help_text="Ticks at or after.")

    class Meta:
        model = Tick
        fields = ("since",)
