import django_filters as filters

from events.api.filters import EventFilterSet
from tradingops.api.fields import UtcIsoDateTimeFilter

LABELS = {
    "source": "Source",
    "run_id": "Run id",
    "correlation_id": "Correlation id",
    "since": "From",
    "until": "Until",
    "symbol": "Symbol",
}


class DecisionFilterSet(EventFilterSet):
    """The API's event filters plus ``symbol`` (the payload's symbol), for the Decisions page."""

    symbol = filters.CharFilter(
        field_name="payload__symbol", lookup_expr="iexact", help_text="The symbol in the event's payload (any case)."
    )
    # the page's datetime-local inputs carry no zone and say they are UTC
    since = UtcIsoDateTimeFilter(field_name="ts", lookup_expr="gte")
    until = UtcIsoDateTimeFilter(field_name="ts", lookup_expr="lt")

    class Meta(EventFilterSet.Meta):
        fields = [*EventFilterSet.Meta.fields, "symbol"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, label in LABELS.items():
            self.filters[name].label = label
