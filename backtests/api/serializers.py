import uuid

from drf_spectacular.utils import OpenApiExample, extend_schema_serializer
from rest_framework import serializers

from agents.api.serializers import BlockFilterInputSerializer
from agents.engine.reasons import explain
from backtests.config import MAX_SWEEP_COMBINATIONS, METRICS, RISK_FIELDS, SOL_SMA_EXAMPLE
from backtests.models import (
    DEFAULT_POINTS,
    OVERVIEW_POINTS,
    BacktestBlock,
    BacktestRun,
    BacktestTrade,
    DailyReport,
    Sweep,
)
from tradingops.api.fields import AwareDateTimeField
from tradingops.api.serializers import StrictInputSerializer


class RunSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    progress = serializers.FloatField(read_only=True)

    class Meta:
        model = BacktestRun
        fields = ["id", "name", "status", "candles_total", "candles_processed", "progress", "created_at",
                  "started_at", "finished_at", "heartbeat_at", "worker", "error", "cancel_requested", "created_by",
                  "sweep", "params", "rerun_of", "config", "results"]  # fmt: skip
        read_only_fields = fields


class TradeSerializer(serializers.ModelSerializer):
    class Meta:
        model = BacktestTrade
        fields = ["seq", "symbol", "side", "qty", "entry_ts", "exit_ts", "entry_bar", "exit_bar", "entry_price",
                  "exit_price", "entry_fee", "exit_fee", "pnl", "exit_reason", "chain"]  # fmt: skip
        read_only_fields = fields


class BlockSerializer(serializers.ModelSerializer):
    why = serializers.SerializerMethodField(help_text="The message with the numbers that decided it.")

    class Meta:
        model = BacktestBlock
        fields = ["seq", "ts", "bar", "symbol", "reason", "reason_class", "message", "why", "detail", "chain"]
        read_only_fields = fields

    def get_why(self, block) -> str:
        return explain(block.reason, block.detail)


class DailyReportSerializer(serializers.ModelSerializer):
    class Meta:
        model = DailyReport
        fields = ["day", "start_equity", "end_equity", "pnl", "return_pct", "entries", "exits", "realized_pnl",
                  "fees", "blocks", "blocks_by_reason", "risk_claimed", "risk_used"]  # fmt: skip
        read_only_fields = fields


class EquityQuerySerializer(serializers.Serializer):
    max_points = serializers.IntegerField(
        min_value=2, max_value=OVERVIEW_POINTS, default=DEFAULT_POINTS, help_text="Points of the curve at most."
    )


class StateQuerySerializer(serializers.Serializer):
    at = AwareDateTimeField(help_text="The moment to show, e.g. 2024-02-01T12:00:00Z.")


class CompareQuerySerializer(serializers.Serializer):
    ids = serializers.CharField(help_text="2 to 5 run ids (UUIDs) separated by commas.")
    max_points = serializers.IntegerField(
        min_value=2, max_value=OVERVIEW_POINTS, default=500, help_text="Points per equity curve at most."
    )

    def validate_ids(self, value):

        parts = [p.strip() for p in value.split(",") if p.strip()]
        if not 2 <= len(parts) <= 5:
            raise serializers.ValidationError("give 2 to 5 run ids separated by commas")
        try:
            return [uuid.UUID(p) for p in parts]
        except ValueError:
            raise serializers.ValidationError("every id must be a run id (UUID)") from None


class PositionStateSerializer(serializers.Serializer):
    symbol = serializers.CharField()
    side = serializers.CharField()
    qty = serializers.CharField(help_text="decimal string")
    entry_price = serializers.CharField(help_text="decimal string")
    entry_ts = serializers.DateTimeField()
    mark = serializers.CharField(help_text="decimal string: the symbol's last close")
    unrealized_pnl = serializers.CharField(help_text="decimal string")


class StateSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    bar = serializers.IntegerField()
    bar_open_time = serializers.DateTimeField()
    cash = serializers.CharField(help_text="decimal string")
    equity = serializers.CharField(help_text="decimal string")
    realized_pnl = serializers.CharField(help_text="decimal string")
    fees_paid = serializers.CharField(help_text="decimal string")
    trades_closed = serializers.IntegerField()
    positions = PositionStateSerializer(many=True)


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "SMA cross, 3 x 2 parameter sets, ranked by Sharpe",
            value={
                "name": "sol-sma-grid",
                "config": SOL_SMA_EXAMPLE,
                "grid": {"fast": [5, 10, 20], "slow": [30, 50]},
                "metric": "sharpe",
            },
            request_only=True,
        )
    ]
)
class SweepCreateSerializer(StrictInputSerializer):
    name = serializers.CharField(required=False, max_length=200, help_text="A label for the sweep.")
    config = serializers.DictField(help_text="A backtest config (as POST /backtests takes) that every run starts from.")
    grid = serializers.DictField(
        child=serializers.ListField(min_length=1),
        help_text=f'Values per strategy parameter, e.g. {{"fast": [5, 10], "slow": [30, 50]}}: one run per '
        f"combination, at most {MAX_SWEEP_COMBINATIONS:,}.",
    )
    metric = serializers.ChoiceField(choices=METRICS, default="sharpe", help_text="The result the runs are ranked by.")


class SweepSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    runs_total = serializers.IntegerField(read_only=True)
    runs_finished = serializers.IntegerField(read_only=True)
    runs_completed = serializers.IntegerField(read_only=True)

    class Meta:
        model = Sweep
        fields = ["id", "name", "base_config", "grid", "metric", "combinations", "skipped", "created_at", "created_by",
                  "runs_total", "runs_finished", "runs_completed"]  # fmt: skip
        read_only_fields = fields


class RankedRunSerializer(serializers.ModelSerializer):
    score = serializers.FloatField(read_only=True, allow_null=True)

    class Meta:
        model = BacktestRun
        fields = ["id", "name", "status", "params", "score", "error", "results"]
        read_only_fields = fields


class RankQuerySerializer(serializers.Serializer):
    metric = serializers.ChoiceField(
        choices=METRICS, required=False, help_text="Rank by this result; default: the sweep's metric."
    )
    order = serializers.ChoiceField(choices=("desc", "asc"), default="desc", help_text="desc: best first.")


class PresetParamSerializer(serializers.Serializer):
    name = serializers.CharField()
    type = serializers.CharField()
    default = serializers.JSONField()
    min = serializers.JSONField(allow_null=True)
    max = serializers.JSONField(allow_null=True)


class PresetSerializer(serializers.Serializer):
    """The OpenAPI shape of ``GET /backtests/presets`` (a list, not an object)."""

    name = serializers.CharField()
    description = serializers.CharField()
    params = PresetParamSerializer(many=True)


class OutcomeQuerySerializer(BlockFilterInputSerializer):
    """Filters of a run's block outcomes: equality, and ``since``/``until`` on the block's time."""

    exit_reason = serializers.ChoiceField(
        choices=["stop", "target", "exit", "end_of_data", "open"],
        required=False,
        help_text="How the blocked trade's shadow ended.",
    )
    status = serializers.ChoiceField(
        choices=["closed", "open"], required=False, help_text="closed: the shadow trade has ended."
    )


class OffsetPageSerializer(serializers.Serializer):
    offset = serializers.IntegerField(min_value=0, default=0, help_text="Rows to skip.")
    limit = serializers.IntegerField(min_value=1, max_value=1000, default=100, help_text="Rows to return.")


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "Daily trade cap from 1 to 5, and off",
            value={"rule": "max_trades_per_day", "values": [1, 2, 5, None]},
            request_only=True,
        )
    ]
)
class WhatIfCreateSerializer(StrictInputSerializer):
    """Rerun the completed run once per value of one risk limit (``null`` switches the limit off)."""

    rule = serializers.CharField(help_text="A risk limit: " + ", ".join(RISK_FIELDS))
    values = serializers.ListField(
        child=serializers.JSONField(allow_null=True),
        allow_empty=False,
        help_text='The limit\'s values to try, e.g. [1, 2, 3] or ["0.02", null]; null switches the limit off.',
    )

    def validate_values(self, values):
        bad = [v for v in values if not (v is None or isinstance(v, int | float | str)) or isinstance(v, bool)]
        if bad:
            raise serializers.ValidationError(f"each value is a number, a decimal string or null; got {bad[0]!r}")
        return values
