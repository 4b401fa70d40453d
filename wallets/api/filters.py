import django_filters as filters
from django import forms

from events.api.filters import CommaOrRepeatedWidget
from tradingops.api.fields import AwareIsoDateTimeFilter

from ..models import DriftRecord, LedgerEntry, ReconciliationRun, Wallet


class _TimeWindowForm(forms.Form):
    def clean(self):
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            self.add_error("until", "Must not be before 'since'.")
        return data


def _since(field_name: str = "ts") -> AwareIsoDateTimeFilter:
    return AwareIsoDateTimeFilter(field_name=field_name, lookup_expr="gte", help_text="At or after (ISO 8601).")


def _until(field_name: str = "ts") -> AwareIsoDateTimeFilter:
    return AwareIsoDateTimeFilter(field_name=field_name, lookup_expr="lt", help_text="Before (ISO 8601).")


class WalletFilterSet(filters.FilterSet):
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


class LedgerEntryFilterSet(filters.FilterSet):
    currency = filters.CharFilter(method="filter_currency")
    kind = LedgerEntryKindFilter(
        choices=LedgerEntry.Kind.choices, widget=CommaOrRepeatedWidget, help_text="One or more kinds."
    )
    since = _since()
    until = _until()
    reference = filters.CharFilter()
    correlation_id = filters.UUIDFilter()

    class Meta:
        model = LedgerEntry
        fields = ["currency", "kind", "since", "until", "reference", "correlation_id"]
        form = _TimeWindowForm

    def filter_currency(self, qs, name, value):
        return qs.filter(currency=value.upper())


class DriftRecordFilterSet(filters.FilterSet):
    currency = filters.CharFilter(method="filter_currency")
    within_threshold = filters.BooleanFilter()
    run = filters.NumberFilter(field_name="run_id", min_value=1)
    since = _since()
    until = _until()

    class Meta:
        model = DriftRecord
        fields = ["currency", "within_threshold", "run", "since", "until"]
        form = _TimeWindowForm

    def filter_currency(self, qs, name, value):
        return qs.filter(currency=value.upper())


class ReconciliationRunFilterSet(filters.FilterSet):
    status = filters.ChoiceFilter(choices=ReconciliationRun.Status.choices)
    trigger = filters.ChoiceFilter(choices=ReconciliationRun.Trigger.choices)
    since = _since("started_at")
    until = _until("started_at")

    class Meta:
        model = ReconciliationRun
        fields = ["status", "trigger", "since", "until"]
        form = _TimeWindowForm
