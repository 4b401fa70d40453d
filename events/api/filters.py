import django_filters as filters
from django_filters.widgets import QueryArrayWidget

from events import selectors, types
from events.models import Event, RunSummary
from tradingops.api.filters import FilterSet, TimeWindowFilterSet


class CommaOrRepeatedWidget(QueryArrayWidget):
    """Accepts ``?type=a,b`` as well as ``?type=a&type=b`` (django-filter splits CSV only for plain dicts)."""

    def value_from_datadict(self, data, files, name):
        values = super().value_from_datadict(data, files, name)
        return sorted({part.strip() for value in values for part in value.split(",") if part.strip()})


class EventTypeFilter(filters.MultipleChoiceFilter):
    """``?type=fill,trade_blocked`` or ``?type=fill&type=trade_blocked``: one indexed IN."""

    def filter(self, qs, value):
        return qs.filter(type__in=value) if value else qs


class EventOrderingFilter(filters.OrderingFilter):
    """``?ordering=type`` (or ``-type``, ``time``, ``symbol``, ``run``): the list sorted by one
    column, newest first among equals; an unknown name is a 400 naming ``ordering``. The order
    itself is the selector's (``events.selectors.event_ordered``), which pagination follows."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("choices", [(name, name) for name in selectors.EVENT_ORDERINGS])
        kwargs.setdefault("help_text", "Sort by time, type, symbol or run; '-' first for descending (default -time).")
        super().__init__(*args, **kwargs)

    def filter(self, qs, value):
        return selectors.event_ordered(qs, orderings=list(value)) if value else qs


class EventFilterSet(TimeWindowFilterSet):
    type = EventTypeFilter(choices=types.choices, widget=CommaOrRepeatedWidget, help_text="One or more event types.")
    source = filters.CharFilter()
    run_id = filters.CharFilter()
    correlation_id = filters.UUIDFilter()
    after = filters.NumberFilter(
        field_name="id", lookup_expr="gt", min_value=0, help_text="Only events appended after this log position."
    )
    ordering = EventOrderingFilter()

    class Meta(TimeWindowFilterSet.Meta):
        model = Event
        fields = ["type", "source", "run_id", "correlation_id", "since", "until", "after", "ordering"]


class RunSummaryFilterSet(FilterSet):
    status = filters.ChoiceFilter(choices=[(s, s) for s in ("running", "paused", "stopped")])
    mode = filters.CharFilter()

    class Meta:
        model = RunSummary
        fields = ["status", "mode"]
