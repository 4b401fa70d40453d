import django_filters as filters

from agents.models import (
    BlockEvent,
    BlockOutcome,
    EquityPoint,
    Fill,
    Intent,
    Judgement,
    Order,
    PositionSnapshot,
    StrategyPlan,
    Trade,
)
from events.api.filters import TimeWindowForm
from events.models import LLMCall
from tradingops.api.fields import AwareIsoDateTimeFilter


class _TimeWindowFilterSet(filters.FilterSet):
    since = AwareIsoDateTimeFilter(field_name="ts", lookup_expr="gte")
    until = AwareIsoDateTimeFilter(field_name="ts", lookup_expr="lt")


class OrderFilterSet(_TimeWindowFilterSet):
    class Meta:
        model = Order
        fields = ["symbol", "side", "status", "run_id", "correlation_id", "since", "until"]
        form = TimeWindowForm


class FillFilterSet(_TimeWindowFilterSet):
    class Meta:
        model = Fill
        fields = ["symbol", "side", "run_id", "order_id", "correlation_id", "since", "until"]
        form = TimeWindowForm


class TradeFilterSet(_TimeWindowFilterSet):
    """``since``/``until`` bound when the trade opened; ``closed_since``/``closed_until`` when it closed."""

    closed_since = AwareIsoDateTimeFilter(field_name="closed_at", lookup_expr="gte")
    closed_until = AwareIsoDateTimeFilter(field_name="closed_at", lookup_expr="lt")

    class Meta:
        model = Trade
        fields = [
            "symbol",
            "side",
            "status",
            "exit_reason",
            "run_id",
            "correlation_id",
            "since",
            "until",
            "closed_since",
            "closed_until",
        ]
        form = TimeWindowForm


class EquityPointFilterSet(_TimeWindowFilterSet):
    class Meta:
        model = EquityPoint
        fields = ["since", "until"]
        form = TimeWindowForm


class BlockFilterSet(_TimeWindowFilterSet):
    class Meta:
        model = BlockEvent
        fields = ["reason", "reason_class", "symbol", "side", "run_id", "plan_id", "correlation_id", "since", "until"]
        form = TimeWindowForm


class BlockOutcomeFilterSet(_TimeWindowFilterSet):
    """``since``/``until`` bound when the shadow closed; ``blocked_since``/``blocked_until`` the block."""

    blocked_since = AwareIsoDateTimeFilter(field_name="blocked_at", lookup_expr="gte")
    blocked_until = AwareIsoDateTimeFilter(field_name="blocked_at", lookup_expr="lt")

    class Meta:
        model = BlockOutcome
        fields = [
            "reason",
            "reason_class",
            "rule",
            "symbol",
            "exit_reason",
            "run_id",
            "plan_id",
            "correlation_id",
            "since",
            "until",
            "blocked_since",
            "blocked_until",
        ]
        form = TimeWindowForm


class PositionSnapshotFilterSet(_TimeWindowFilterSet):
    class Meta:
        model = PositionSnapshot
        fields = ["symbol", "since", "until"]
        form = TimeWindowForm


class JudgementFilterSet(_TimeWindowFilterSet):
    class Meta:
        model = Judgement
        fields = ["plan_id", "since", "until"]
        form = TimeWindowForm


class IntentFilterSet(_TimeWindowFilterSet):
    class Meta:
        model = Intent
        fields = ["action", "symbol", "source", "since", "until"]
        form = TimeWindowForm


class PlanFilterSet(filters.FilterSet):
    class Meta:
        model = StrategyPlan
        fields = ["plan_id", "strategy", "origin", "active"]


class LLMCallFilterSet(_TimeWindowFilterSet):
    class Meta:
        model = LLMCall
        fields = ["model", "agent", "outcome", "run_id", "correlation_id", "since", "until"]
        form = TimeWindowForm
