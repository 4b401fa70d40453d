import django_filters

from market.models import Instrument, Tick


class InstrumentFilterSet(django_filters.FilterSet):
    class Meta:
        model = Instrument
        fields = ("active", "exchange", "base", "quote")


class TickFilterSet(django_filters.FilterSet):
    since = django_filters.IsoDateTimeFilter(field_name="ts", lookup_expr="gte", help_text="Ticks at or after.")

    class Meta:
        model = Tick
        fields = ("since",)
