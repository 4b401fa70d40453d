import django_filters as filters
from django import forms
from django_filters.widgets import QueryArrayWidget

from events import selectors, types
from events.models import Event, RunSummary
from tradingops.api.fields import AwareIsoDateTimeFilter


class TimeWindowForm(forms.Form):
    def clean(self):
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            self.add_error("until", "Must not be before 'since'.")
        return data


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


class EventFilterSet(filters.FilterSet):
    type = EventTypeFilter(choices=types.choices, widget=CommaOrRepeatedWidget, help_text="One or more event types.")
    source = filters.CharFilter()
    run_id = filters.CharFilter()
    correlation_id = filters.UUIDFilter()
    since = AwareIsoDateTimeFilter(field_name="ts", lookup_expr="gte", help_text="ts >= since (ISO 8601).")
    until = AwareIsoDateTimeFilter(field_name="ts", lookup_expr="lt", help_text="ts < until (ISO 8601).")
    after = filters.NumberFilter(
        field_name="id", lookup_expr="gt", min_value=0, help_text="Only events appended after this log position."
    )
    ordering = EventOrderingFilter()

    class Meta:
        model = Event
        fields = ["type", "source", "run_id", "correlation_id", "since", "until", "after", "ordering"]
        form = TimeWindowForm


class RunSummaryFilterSet(filters.FilterSet):
    status = filters.ChoiceFilter(choices=[(s, s) for s in ("running", "paused", "stopped")])
    mode = filters.CharFilter()

    class Meta:
        model = RunSummary
        fields = ["status", "mode"]
