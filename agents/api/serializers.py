from decimal import Decimal

from drf_spectacular.utils import OpenApiExample, extend_schema_serializer
from rest_framework import serializers
from rest_framework.reverse import reverse

from agents.models import (
    BlockEvent,
    BlockOutcome,
    EquityPoint,
    Fill,
    Intent,
    Judgement,
    Order,
    Position,
    PositionSnapshot,
    RiskAllocation,
    RuntimeConfig,
    StrategyPlan,
    Trade,
)
from agents.services import INTENT_ACTIONS, LIMIT_FIELDS
from events.models import LLMCall
from events.types import INT32_MAX
from tradingops.api.fields import AwareDateTimeField
from tradingops.api.serializers import StrictInputSerializer, TimeWindowInputMixin


class ChainLinkMixin(serializers.Serializer):
    chain = serializers.SerializerMethodField(help_text="The decision chain behind this row.")

    _CHAIN_MARKER = "00000000-0000-0000-0000-000000000000"

    def get_chain(self, obj) -> str:
        # reversed once per serializer (a list's rows share it): reverse() per row was half a list's CPU
        parts = getattr(self, "_chain_parts", None)
        if parts is None:
            path = reverse("events:event-chain", args=[self._CHAIN_MARKER])
            request = self.context.get("request")
            url = request.build_absolute_uri(path) if request else path
            parts = self._chain_parts = url.split(self._CHAIN_MARKER, 1)
        return f"{parts[0]}{obj.correlation_id}{parts[1]}"


class PositionSerializer(serializers.ModelSerializer):
    unrealized_pnl = serializers.DecimalField(max_digits=40, decimal_places=18)
    market_value = serializers.DecimalField(max_digits=40, decimal_places=18)

    class Meta:
        model = Position
        fields = [
            "symbol",
            "qty",
            "avg_entry_price",
            "mark_price",
            "market_value",
            "unrealized_pnl",
            "realized_pnl",
            "opened_at",
            "updated_at",
        ]


class OrderSerializer(ChainLinkMixin, serializers.ModelSerializer):
    class Meta:
        model = Order
        fields = [
            "order_id",
            "symbol",
            "side",
            "qty",
            "order_type",
            "limit_price",
            "status",
            "filled_qty",
            "ts",
            "run_id",
            "correlation_id",
            "chain",
        ]


class FillSerializer(ChainLinkMixin, serializers.ModelSerializer):
    class Meta:
        model = Fill
        fields = [
            "fill_id",
            "order_id",
            "symbol",
            "side",
            "qty",
            "price",
            "fee",
            "realized_pnl",
            "ts",
            "run_id",
            "correlation_id",
            "event_id",
            "chain",
        ]


class LiveBlockSerializer(ChainLinkMixin, serializers.ModelSerializer):
    class Meta:
        model = BlockEvent
        fields = [
            "event_id",
            "ts",
            "symbol",
            "side",
            "reason",
            "reason_class",
            "detail",
            "plan_id",
            "run_id",
            "correlation_id",
            "chain",
        ]


@extend_schema_serializer(component_name="LiveTrade")  # backtests has a "Trade" of its own
class TradeSerializer(ChainLinkMixin, serializers.ModelSerializer):
    """A round trip of the live/paper book. ``pnl``/``pnl_pct`` (a fraction of the entry cost) are
    final once closed; while open they are marked to ``mark_price``, the symbol's last price."""

    opened_at = serializers.DateTimeField(source="ts")
    mark_price = serializers.DecimalField(max_digits=40, decimal_places=18, allow_null=True, read_only=True)
    pnl = serializers.DecimalField(source="marked_pnl", max_digits=40, decimal_places=18, allow_null=True)
    pnl_pct = serializers.DecimalField(source="marked_pnl_pct", max_digits=30, decimal_places=12, allow_null=True)
    duration_s = serializers.IntegerField(help_text="Seconds held: to the close, or to now while open.")

    class Meta:
        model = Trade
        fields = [
            "symbol",
            "side",
            "status",
            "opened_at",
            "closed_at",
            "duration_s",
            "qty",
            "open_qty",
            "entry_price",
            "exit_price",
            "mark_price",
            "fees",
            "realized_pnl",
            "pnl",
            "pnl_pct",
            "exit_reason",
            "fills",
            "run_id",
            "correlation_id",
            "entry_event_id",
            "exit_event_id",
            "chain",
        ]


class EquityPointSerializer(serializers.ModelSerializer):
    """The book at the end of a minute. ``pnl`` = realised + unrealised - fees paid."""

    pnl = serializers.DecimalField(max_digits=40, decimal_places=18, read_only=True)

    class Meta:
        model = EquityPoint
        fields = ["ts", "equity", "pnl", "cash", "market_value", "realized_pnl", "unrealized_pnl", "fees_paid"]


class PositionSnapshotSerializer(serializers.ModelSerializer):
    class Meta:
        model = PositionSnapshot
        fields = ["symbol", "ts", "qty", "avg_entry_price", "mark_price", "unrealized_pnl", "realized_pnl"]


class PortfolioSerializer(serializers.Serializer):
    cash = serializers.DecimalField(max_digits=40, decimal_places=18, allow_null=True)
    equity = serializers.DecimalField(max_digits=40, decimal_places=18, allow_null=True)
    market_value = serializers.DecimalField(max_digits=40, decimal_places=18)
    unrealized_pnl = serializers.DecimalField(max_digits=40, decimal_places=18)
    realized_pnl = serializers.DecimalField(max_digits=40, decimal_places=18)
    fees_paid = serializers.DecimalField(max_digits=40, decimal_places=18)
    day_pnl = serializers.DecimalField(max_digits=40, decimal_places=18)
    total_pnl = serializers.DecimalField(max_digits=40, decimal_places=18)
    initial_cash = serializers.DecimalField(max_digits=40, decimal_places=18, allow_null=True)
    open_positions = serializers.IntegerField()
    updated_at = serializers.DateTimeField(allow_null=True)


class BlockReasonCountSerializer(serializers.Serializer):
    reason = serializers.CharField()
    reason_class = serializers.CharField()
    count = serializers.IntegerField()


class BlockReasonsSerializer(serializers.Serializer):
    since = serializers.DateTimeField()
    until = serializers.DateTimeField()
    total = serializers.IntegerField()
    by_class = serializers.DictField(child=serializers.IntegerField())
    reasons = BlockReasonCountSerializer(many=True)


class BlockOutcomeSerializer(ChainLinkMixin, serializers.ModelSerializer):
    class Meta:
        model = BlockOutcome
        fields = [
            "event_id",
            "block_event_id",
            "ts",
            "block_ts",
            "blocked_at",
            "symbol",
            "side",
            "reason",
            "reason_class",
            "rule",
            "status",
            "exit_reason",
            "qty",
            "entry_at",
            "entry_price",
            "exit_at",
            "exit_price",
            "fees",
            "pnl",
            "pnl_pct",
            "mae",
            "mae_pct",
            "holding_s",
            "stop",
            "target",
            "plan_id",
            "run_id",
            "correlation_id",
            "chain",
        ]


class ScorecardRowSerializer(serializers.Serializer):
    key = serializers.CharField(required=False)
    blocks = serializers.IntegerField(allow_null=True)
    closed = serializers.IntegerField()
    hits = serializers.IntegerField()
    saved = serializers.DecimalField(max_digits=36, decimal_places=18)
    forgone = serializers.DecimalField(max_digits=36, decimal_places=18)
    net = serializers.DecimalField(max_digits=36, decimal_places=18)
    hit_rate = serializers.DecimalField(max_digits=6, decimal_places=4, allow_null=True)


class BlockOutcomeSummarySerializer(serializers.Serializer):
    """Per reason, class, rule and symbol: blocks, shadows closed, saved (losses avoided), forgone
    (gains missed), net = saved - forgone, hit rate = share of closed shadows that lost."""

    since = serializers.DateTimeField()
    until = serializers.DateTimeField()
    total = ScorecardRowSerializer()
    by_reason = ScorecardRowSerializer(many=True)
    by_reason_class = ScorecardRowSerializer(many=True)
    by_rule = ScorecardRowSerializer(many=True)
    by_symbol = ScorecardRowSerializer(many=True)


class BlockFilterInputSerializer(TimeWindowInputMixin, serializers.Serializer):
    """The filters every block scorecard and outcome list takes (live and per backtest)."""

    since = serializers.DateTimeField(required=False, help_text="Blocks at or after this time (ISO 8601, UTC).")
    until = serializers.DateTimeField(required=False, help_text="Blocks before this time (ISO 8601, UTC).")
    symbol = serializers.CharField(required=False, help_text="Only this instrument, e.g. SOL-USDT.")
    reason = serializers.CharField(required=False, help_text="Only this block reason, e.g. risk_budget_exceeded.")
    reason_class = serializers.CharField(required=False, help_text="Only this class of reason, e.g. risk_valid.")
    rule = serializers.CharField(required=False, help_text="Only blocks of this entry rule.")


class BlockOutcomeSummaryInputSerializer(BlockFilterInputSerializer):
    plan_id = serializers.CharField(required=False, help_text="Only blocks of this plan.")
    run_id = serializers.CharField(required=False, help_text="Only blocks of this run, e.g. live.")


class WindowInputSerializer(TimeWindowInputMixin, serializers.Serializer):
    since = AwareDateTimeField(required=False, help_text="From this time (ISO 8601 with a time zone).")
    until = AwareDateTimeField(required=False, help_text="Up to this time (ISO 8601 with a time zone).")


class RiskAllocationSerializer(ChainLinkMixin, serializers.ModelSerializer):
    class Meta:
        model = RiskAllocation
        fields = [
            "allocation_id",
            "symbol",
            "amount",
            "status",
            "order_id",
            "claimed_at",
            "updated_at",
            "correlation_id",
            "chain",
        ]


class RiskBudgetSerializer(serializers.Serializer):
    day = serializers.DateField()
    budget = serializers.DecimalField(max_digits=40, decimal_places=18, allow_null=True)
    claimed = serializers.DecimalField(max_digits=40, decimal_places=18)
    used = serializers.DecimalField(max_digits=40, decimal_places=18)
    released = serializers.DecimalField(max_digits=40, decimal_places=18)
    expired = serializers.DecimalField(max_digits=40, decimal_places=18)
    consumed = serializers.DecimalField(max_digits=40, decimal_places=18)
    available = serializers.DecimalField(max_digits=40, decimal_places=18, allow_null=True)
    utilisation = serializers.DecimalField(max_digits=20, decimal_places=6)
    allocations = RiskAllocationSerializer(many=True)


class PlanSerializer(ChainLinkMixin, serializers.ModelSerializer):
    class Meta:
        model = StrategyPlan
        fields = [
            "plan_id",
            "version",
            "strategy",
            "origin",
            "regime",
            "symbols",
            "rules",
            "fallback_reason",
            "risk_multiplier",
            "active",
            "created_at",
            "retired_at",
            "correlation_id",
            "chain",
        ]


class JudgementSerializer(ChainLinkMixin, serializers.ModelSerializer):
    class Meta:
        model = Judgement
        fields = ["plan_id", "overall_score", "component_scores", "recommendations", "ts", "correlation_id", "chain"]


class IntentSerializer(ChainLinkMixin, serializers.ModelSerializer):
    class Meta:
        model = Intent
        fields = ["event_id", "action", "symbol", "params", "note", "source", "ts", "correlation_id", "chain"]


class JSONObjectField(serializers.JSONField):
    """A JSON object: DictField has no HTML input, so the browsable API's form could not send it;
    this one is a textarea there and a plain object in JSON requests."""

    def __init__(self, **kwargs):
        kwargs.setdefault("style", {"base_template": "textarea.html", "rows": 3})
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if value is not None and not isinstance(value, dict):
            raise serializers.ValidationError("Must be a JSON object.")
        return value


# A plan in the rule language, as the OpenAPI examples of plans and backtests show it.
RULE_PLAN_EXAMPLE = {
    "name": "trend",
    "symbols": [
        {
            "symbol": "SOL-USDT",
            "entry": "close > sma_50",
            "exit": "close < sma_20",
            "stop": "2 * atr_14",
            "sizing": {"method": "risk", "value": "0.004"},
        }
    ],
}


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "A preset with its parameters",
            value={"preset": "sma_cross", "params": {"fast": 10, "slow": 30}},
            request_only=True,
        ),
        OpenApiExample(
            "A full plan in the rule language",
            value={"plan": RULE_PLAN_EXAMPLE},
            request_only=True,
        ),
    ]
)
class PlanInputSerializer(StrictInputSerializer):
    preset = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        help_text="A strategy preset (sma_cross, rsi_reversion, breakout) traded on every active instrument; "
        "give either a preset or a full plan.",
    )
    params = JSONObjectField(
        required=False, default=dict, help_text='The preset\'s parameters, e.g. {"fast": 10, "slow": 30}.'
    )
    plan = JSONObjectField(
        required=False,
        allow_null=True,
        default=None,
        help_text='A full plan: {"name": ..., "symbols": [{"symbol", "entry", "exit", "stop", "target", "sizing"}]}',
    )


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "Halve the risk taken",
            value={"action": "set_risk_multiplier", "params": {"multiplier": "0.5"}},
            request_only=True,
        ),
        OpenApiExample("Flatten one symbol", value={"action": "flatten", "symbol": "SOL-USDT"}, request_only=True),
        OpenApiExample(
            "A note in the log", value={"action": "note", "note": "CPI print at 13:30 UTC"}, request_only=True
        ),
    ]
)
class IntentInputSerializer(StrictInputSerializer):
    action = serializers.ChoiceField(
        choices=INTENT_ACTIONS,
        help_text="What the broker agent is to do: pause or resume trading, flatten positions, replan, "
        "set_risk_multiplier (params.multiplier), or note (text only).",
    )
    symbol = serializers.CharField(
        max_length=32,
        required=False,
        allow_blank=True,
        default="",
        help_text="The instrument it applies to, e.g. SOL-USDT; empty: every symbol.",
    )
    params = JSONObjectField(
        required=False,
        default=dict,
        help_text='The action\'s parameters: set_risk_multiplier takes {"multiplier": "0.5"} (0.1 to 2).',
    )
    note = serializers.CharField(
        max_length=2000,
        required=False,
        allow_blank=True,
        default="",
        help_text="Free text kept with the intent; required for the note action.",
    )


class LLMCallSerializer(ChainLinkMixin, serializers.ModelSerializer):
    class Meta:
        model = LLMCall
        fields = [
            "event_id",
            "ts",
            "model",
            "agent",
            "prompt_hash",
            "tokens_in",
            "tokens_out",
            "cost",
            "latency_ms",
            "outcome",
            "run_id",
            "correlation_id",
            "chain",
        ]


class LLMSummaryRowSerializer(serializers.Serializer):
    key = serializers.CharField()
    calls = serializers.IntegerField()
    tokens_in = serializers.IntegerField()
    tokens_out = serializers.IntegerField()
    cost = serializers.DecimalField(max_digits=40, decimal_places=18)
    avg_latency_ms = serializers.FloatField()
    p95_latency_ms = serializers.FloatField(allow_null=True)
    errors = serializers.IntegerField()


class LLMSummarySerializer(serializers.Serializer):
    since = serializers.DateTimeField()
    until = serializers.DateTimeField()
    by_model = LLMSummaryRowSerializer(many=True)
    by_agent = LLMSummaryRowSerializer(many=True)


class AgentStatusSerializer(serializers.Serializer):
    agent = serializers.CharField()
    schedule = serializers.CharField(allow_null=True)
    enabled = serializers.BooleanField()
    last_run_at = serializers.DateTimeField(allow_null=True)
    last_status = serializers.CharField(allow_null=True)
    last_error = serializers.CharField(allow_null=True)
    last_error_at = serializers.DateTimeField(allow_null=True)
    next_run_at = serializers.DateTimeField(allow_null=True)
    runs = serializers.IntegerField()
    errors = serializers.IntegerField()


class RuntimeConfigSerializer(serializers.ModelSerializer):
    # null until the first change is saved (the defaults are not a stored row yet)
    updated_at = serializers.DateTimeField(read_only=True, allow_null=True)

    class Meta:
        model = RuntimeConfig
        fields = ["mode", "kill_switch", *LIMIT_FIELDS, "updated_at", "updated_by"]


@extend_schema_serializer(
    examples=[
        OpenApiExample("Back to paper", value={"mode": "paper", "reason": "end of the live trial"}, request_only=True),
        OpenApiExample(
            "Go live",
            value={"mode": "live", "confirmation": "LIVE", "reason": "paper results reviewed"},
            request_only=True,
        ),
    ]
)
class ModeInputSerializer(StrictInputSerializer):
    mode = serializers.ChoiceField(
        choices=RuntimeConfig.Mode.choices, help_text="paper: fills are simulated; live: orders go to the exchange."
    )
    confirmation = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        help_text="Going live only: the confirmation word (settings.LIVE_CONFIRMATION_WORD), typed out.",
    )
    reason = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=500, help_text="Why, kept in the change's event."
    )


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "Stop every new order",
            value={"engaged": True, "reason": "exchange API degraded"},
            request_only=True,
        ),
        OpenApiExample("Trade again", value={"engaged": False, "reason": "exchange recovered"}, request_only=True),
    ]
)
class KillSwitchInputSerializer(StrictInputSerializer):
    engaged = serializers.BooleanField(help_text="true: every new order is blocked; false: trading resumes.")
    reason = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=500, help_text="Why, kept in the change's event."
    )


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "Tighter risk for the day",
            value={"daily_risk_budget": "0.010000", "risk_per_trade": "0.002500", "reason": "volatile session"},
            request_only=True,
        ),
        OpenApiExample(
            "Fewer trades",
            value={"max_trades_per_day": 10, "max_open_positions": 3, "cooldown_after_loss_minutes": 120},
            request_only=True,
        ),
    ]
)
class LimitsInputSerializer(StrictInputSerializer):
    """Only the fields given change; the others keep their values."""

    daily_risk_budget = serializers.DecimalField(
        max_digits=8,
        decimal_places=6,
        required=False,
        help_text="Fraction of equity that may be put at risk per day, e.g. 0.02.",
    )
    risk_per_trade = serializers.DecimalField(
        max_digits=8, decimal_places=6, required=False, help_text="Fraction of equity risked by one trade, e.g. 0.005."
    )
    risk_multiplier = serializers.DecimalField(
        max_digits=6, decimal_places=4, required=False, help_text="Scales every trade's risk, e.g. 0.5 halves it."
    )
    max_trades_per_day = serializers.IntegerField(
        min_value=0, max_value=INT32_MAX, required=False, help_text="Entries allowed per UTC day, all symbols."
    )
    max_trades_per_symbol_per_day = serializers.IntegerField(
        min_value=0, max_value=INT32_MAX, required=False, help_text="Entries allowed per UTC day in one symbol."
    )
    max_open_positions = serializers.IntegerField(
        min_value=0, max_value=INT32_MAX, required=False, help_text="Positions open at the same time."
    )
    min_notional = serializers.DecimalField(
        max_digits=36,
        decimal_places=18,
        min_value=Decimal(0),
        required=False,
        help_text="Smallest order value in the quote currency, e.g. 10 (USDT).",
    )
    cooldown_after_loss_minutes = serializers.IntegerField(
        min_value=0, max_value=INT32_MAX, required=False, help_text="Minutes a symbol rests after a losing trade."
    )
    fee_rate = serializers.DecimalField(
        max_digits=8, decimal_places=6, required=False, help_text="Fee as a fraction of notional, e.g. 0.001 (0.1 %)."
    )
    slippage_bps = serializers.DecimalField(
        max_digits=8, decimal_places=3, required=False, help_text="Assumed slippage in basis points, e.g. 5."
    )
    reason = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=500, help_text="Why, kept in the change's event."
    )
