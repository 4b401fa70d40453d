import django_filters as filters

from backtests.models import BacktestBlock, BacktestRun, BacktestTrade, DailyReport, RunStatus, Sweep
from tradingops.api.filters import FilterSet, TimeWindowFilterSet, since_filter, until_filter


class RunFilterSet(TimeWindowFilterSet):
    status = filters.MultipleChoiceFilter(choices=RunStatus.choices)
    since = since_filter("created_at")
    until = until_filter("created_at")
    sweep = filters.UUIDFilter(field_name="sweep_id")

    class Meta(TimeWindowFilterSet.Meta):
        model = BacktestRun
        fields = ["status", "since", "until", "sweep"]


class TradeFilterSet(TimeWindowFilterSet):
    side = filters.ChoiceFilter(choices=(("long", "long"), ("short", "short")))
    exit_reason = filters.ChoiceFilter(choices=(("exit", "exit"), ("stop", "stop"), ("target", "target")))
    since = since_filter("exit_ts")
    until = until_filter("exit_ts")

    class Meta(TimeWindowFilterSet.Meta):
        model = BacktestTrade
        fields = ["symbol", "side", "exit_reason", "since", "until"]


class BlockFilterSet(TimeWindowFilterSet):
    class Meta(TimeWindowFilterSet.Meta):
        model = BacktestBlock
        fields = ["symbol", "reason", "reason_class", "since", "until"]


class DailyReportFilterSet(FilterSet):
    since = filters.DateFilter(
        field_name="day", lookup_expr="gte", help_text="Days on or after this date (YYYY-MM-DD)."
    )
    until = filters.DateFilter(field_name="day", lookup_expr="lt", help_text="Days before this date (YYYY-MM-DD).")

    class Meta:
        model = DailyReport
        fields = ["since", "until"]


class SweepFilterSet(TimeWindowFilterSet):
    since = since_filter("created_at")
    until = until_filter("created_at")

    class Meta(TimeWindowFilterSet.Meta):
        model = Sweep
        fields = ["since", "until"]
