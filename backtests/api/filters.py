import django_filters as filters

from backtests.models import BacktestBlock, BacktestRun, BacktestTrade, DailyReport, RunStatus, Sweep
from events.api.filters import TimeWindowForm
from tradingops.api.fields import AwareIsoDateTimeFilter


class RunFilterSet(filters.FilterSet):
    status = filters.MultipleChoiceFilter(choices=RunStatus.choices)
    since = AwareIsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    until = AwareIsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    sweep = filters.UUIDFilter(field_name="sweep_id")

    class Meta:
        model = BacktestRun
        fields = ["status", "since", "until", "sweep"]
        form = TimeWindowForm


class TradeFilterSet(filters.FilterSet):
    side = filters.ChoiceFilter(choices=(("long", "long"), ("short", "short")))
    exit_reason = filters.ChoiceFilter(choices=(("exit", "exit"), ("stop", "stop"), ("target", "target")))
    since = AwareIsoDateTimeFilter(field_name="exit_ts", lookup_expr="gte")
    until = AwareIsoDateTimeFilter(field_name="exit_ts", lookup_expr="lt")

    class Meta:
        model = BacktestTrade
        fields = ["symbol", "side", "exit_reason", "since", "until"]
        form = TimeWindowForm


class BlockFilterSet(filters.FilterSet):
    since = AwareIsoDateTimeFilter(field_name="ts", lookup_expr="gte")
    until = AwareIsoDateTimeFilter(field_name="ts", lookup_expr="lt")

    class Meta:
        model = BacktestBlock
        fields = ["symbol", "reason", "reason_class", "since", "until"]
        form = TimeWindowForm


class DailyReportFilterSet(filters.FilterSet):
    since = filters.DateFilter(field_name="day", lookup_expr="gte")
    until = filters.DateFilter(field_name="day", lookup_expr="lt")

    class Meta:
        model = DailyReport
        fields = ["since", "until"]


class SweepFilterSet(filters.FilterSet):
    since = AwareIsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    until = AwareIsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Sweep
        fields = ["since", "until"]
        form = TimeWindowForm
