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
from events.models import LLMCall
from tradingops.api.filters import FilterSet, TimeWindowFilterSet, since_filter, until_filter


class OrderFilterSet(TimeWindowFilterSet):
    class Meta(TimeWindowFilterSet.Meta):
        model = Order
        fields = ["symbol", "side", "status", "run_id", "correlation_id", "since", "until"]


class FillFilterSet(TimeWindowFilterSet):
    class Meta(TimeWindowFilterSet.Meta):
        model = Fill
        fields = ["symbol", "side", "run_id", "order_id", "correlation_id", "since", "until"]


class TradeFilterSet(TimeWindowFilterSet):
    """``since``/``until`` bound when the trade opened; ``closed_since``/``closed_until`` when it closed."""

    closed_since = since_filter("closed_at", help_text="Closed at or after (ISO 8601).")
    closed_until = until_filter("closed_at", help_text="Closed before (ISO 8601).")

    class Meta(TimeWindowFilterSet.Meta):
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


class EquityPointFilterSet(TimeWindowFilterSet):
    class Meta(TimeWindowFilterSet.Meta):
        model = EquityPoint
        fields = ["since", "until"]


class BlockFilterSet(TimeWindowFilterSet):
    class Meta(TimeWindowFilterSet.Meta):
        model = BlockEvent
        fields = ["reason", "reason_class", "symbol", "side", "run_id", "plan_id", "correlation_id", "since", "until"]


class BlockOutcomeFilterSet(TimeWindowFilterSet):
    """``since``/``until`` bound when the shadow closed; ``blocked_since``/``blocked_until`` when its
    block was recorded (as the scorecard's window and ``/live/blocks?since=``)."""

    blocked_since = since_filter("block_ts")
    blocked_until = until_filter("block_ts")

    class Meta(TimeWindowFilterSet.Meta):
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


class PositionSnapshotFilterSet(TimeWindowFilterSet):
    class Meta(TimeWindowFilterSet.Meta):
        model = PositionSnapshot
        fields = ["symbol", "since", "until"]


class JudgementFilterSet(TimeWindowFilterSet):
    class Meta(TimeWindowFilterSet.Meta):
        model = Judgement
        fields = ["plan_id", "since", "until"]


class IntentFilterSet(TimeWindowFilterSet):
    class Meta(TimeWindowFilterSet.Meta):
        model = Intent
        fields = ["action", "symbol", "source", "since", "until"]


class PlanFilterSet(FilterSet):
    class Meta:
        model = StrategyPlan
        fields = ["plan_id", "strategy", "origin", "active"]


class LLMCallFilterSet(TimeWindowFilterSet):
    class Meta(TimeWindowFilterSet.Meta):
        model = LLMCall
        fields = ["model", "agent", "outcome", "run_id", "correlation_id", "since", "until"]
