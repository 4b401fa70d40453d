import django_filters as filters

from events.api.filters import EventFilterSet


class DecisionFilterSet(EventFilterSet):
    """The API's event filters plus ``symbol`` (the payload's symbol), for the Decisions page."""

    symbol = filters.CharFilter(field_name="payload__symbol", help_text="The symbol in the event's payload.")

    class Meta(EventFilterSet.Meta):
        fields = [*EventFilterSet.Meta.fields, "symbol"]
