import django_filters as filters

from events.api.filters import CommaOrRepeatedWidget
from tradingops.api.filters import FilterSet, TimeWindowFilterSet, since_filter, until_filter

from ..models import DriftRecord, LedgerEntry, ReconciliationRun, Wallet


class WalletFilterSet(FilterSet):
    name = filters.CharFilter(lookup_expr="icontains")
    kind = filters.ChoiceFilter(choices=Wallet.Kind.choices)
    status = filters.ChoiceFilter(choices=Wallet.Status.choices)
    drift_status = filters.ChoiceFilter(choices=Wallet.DriftStatus.choices)
    exchange_id = filters.CharFilter()

    class Meta:
        model = Wallet
        fields = ["name", "kind", "status", "drift_status", "exchange_id"]


class LedgerEntryKindFilter(filters.MultipleChoiceFilter):
    def filter(self, qs, value):
        return qs.filter(kind__in=value) if value else qs


class LedgerEntryFilterSet(TimeWindowFilterSet):
    currency = filters.CharFilter(method="filter_currency")
    kind = LedgerEntryKindFilter(
        choices=LedgerEntry.Kind.choices, widget=CommaOrRepeatedWidget, help_text="One or more kinds."
    )
    reference = filters.CharFilter()
    correlation_id = filters.UUIDFilter()

    class Meta(TimeWindowFilterSet.Meta):
        model = LedgerEntry
        fields = ["currency", "kind", "since", "until", "reference", "correlation_id"]

    def filter_currency(self, qs, name, value):
        return qs.filter(currency=value.upper())


class DriftRecordFilterSet(TimeWindowFilterSet):
    currency = filters.CharFilter(method="filter_currency")
    within_threshold = filters.BooleanFilter()
    run = filters.NumberFilter(field_name="run_id", min_value=1)

    class Meta(TimeWindowFilterSet.Meta):
        model = DriftRecord
        fields = ["currency", "within_threshold", "run", "since", "until"]

    def filter_currency(self, qs, name, value):
        return qs.filter(currency=value.upper())


class ReconciliationRunFilterSet(TimeWindowFilterSet):
    status = filters.ChoiceFilter(choices=ReconciliationRun.Status.choices)
    trigger = filters.ChoiceFilter(choices=ReconciliationRun.Trigger.choices)
    since = since_filter("started_at")
    until = until_filter("started_at")

    class Meta(TimeWindowFilterSet.Meta):
        model = ReconciliationRun
        fields = ["status", "trigger", "since", "until"]
