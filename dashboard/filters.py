import django_filters as filters
from django_filters.fields import ChoiceField

from events.api.filters import EventFilterSet
from market import selectors as market_selectors
from tradingops.api.fields import UtcIsoDateTimeFilter

LABELS = {
    "source": "Source",
    "run_id": "Run id",
    "correlation_id": "Correlation id",
    "since": "From",
    "until": "Until",
    "symbol": "Symbol",
    "ordering": "Sort",
}


def instrument_choices() -> list[tuple[str, str]]:
    return [(symbol, symbol) for symbol in market_selectors.instrument_symbols()]


class SymbolChoiceField(ChoiceField):
    """A known instrument, picked from a list; a typed URL may give it in any case."""

    def to_python(self, value):
        text = super().to_python(value)
        return next((choice for choice, _ in self.choices if choice and choice.upper() == text.upper()), text)


class SymbolChoiceFilter(filters.ChoiceFilter):
    field_class = SymbolChoiceField


class DecisionFilterSet(EventFilterSet):
    """The API's event filters (and ``ordering``) plus ``symbol`` (the payload's symbol, one of the
    known instruments), for the Decisions page."""

    symbol = SymbolChoiceFilter(
        field_name="payload__symbol",
        lookup_expr="iexact",
        choices=[],  # the instruments known when the form is made (__init__)
        empty_label="Any symbol",
        help_text="An instrument; the events whose payload names it.",
    )
    # the page's datetime-local inputs carry no zone and say they are UTC
    since = UtcIsoDateTimeFilter(field_name="ts", lookup_expr="gte")
    until = UtcIsoDateTimeFilter(field_name="ts", lookup_expr="lt")

    class Meta(EventFilterSet.Meta):
        fields = [*EventFilterSet.Meta.fields, "symbol"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.filters["symbol"].extra["choices"] = instrument_choices()
        for name, label in LABELS.items():
            self.filters[name].label = label
