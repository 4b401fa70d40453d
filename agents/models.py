"""Read models of live and paper trading, projected from events, plus the runtime control row and
the execution agent's working state.

The read models are written only by ``agents.projectors`` (from events) so that
``rebuild_projections`` reproduces them exactly. ``RuntimeConfig`` is written only by
``agents.services`` and every change is also an event naming the user. ``ExecutionStep``,
``EngineCheckpoint`` and ``FlattenRequest`` are the execution agent's own state, written by
``agents.execution`` in the candle's transaction; it also creates the day's ``RiskBudgetDay`` row (amounts
untouched) to lock it before a claim. ``tradingops/tests/test_architecture.py`` holds this.
"""

from decimal import Decimal

from django.db import models
from django.utils import timezone

from tradingops.fields import MoneyField, PriceField, QuantityField

SIDES = [("buy", "buy"), ("sell", "sell")]


class RuntimeConfig(models.Model):
    """The one row of runtime control: mode, kill switch and risk limits (admin-editable)."""

    class Mode(models.TextChoices):
        PAPER = "paper", "paper"
        LIVE = "live", "live"

    mode = models.CharField(max_length=8, choices=Mode.choices, default=Mode.PAPER)
    kill_switch = models.BooleanField(default=False, help_text="When on, every new order is blocked.")
    daily_risk_budget = models.DecimalField(
        max_digits=8,
        decimal_places=6,
        default=Decimal("0.02"),
        help_text="Fraction of equity that may be put at risk per day.",
    )
    risk_per_trade = models.DecimalField(
        max_digits=8, decimal_places=6, default=Decimal("0.005"), help_text="Fraction of equity risked by one trade."
    )
    risk_multiplier = models.DecimalField(max_digits=6, decimal_places=4, default=Decimal(1))
    max_trades_per_day = models.PositiveIntegerField(default=20)
    max_trades_per_symbol_per_day = models.PositiveIntegerField(default=5)
    max_open_positions = models.PositiveIntegerField(default=5)
    min_notional = MoneyField(default=Decimal(10))
    # Four bars of the default 1h timeframe: a cooldown of one bar (60) could never block, the next
    # decision after a losing exit being a bar later.
    cooldown_after_loss_minutes = models.PositiveIntegerField(default=240)
    fee_rate = models.DecimalField(max_digits=8, decimal_places=6, default=Decimal("0.001"))
    slippage_bps = models.DecimalField(max_digits=8, decimal_places=3, default=Decimal(5))
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.CharField(max_length=150, blank=True, default="")

    class Meta:
        verbose_name = "runtime configuration"
        verbose_name_plural = "runtime configuration"
        constraints = [models.CheckConstraint(condition=models.Q(pk=1), name="runtime_config_singleton")]

    def __str__(self) -> str:
        return f"{self.mode}{' (KILL SWITCH)' if self.kill_switch else ''}"


class StrategyPlan(models.Model):
    """A versioned plan: per-symbol rules in the plan language, projected from ``plan_generated``."""

    plan_id = models.CharField(max_length=64)
    version = models.PositiveIntegerField(default=1)
    strategy = models.CharField(max_length=64)
    origin = models.CharField(max_length=16)
    regime = models.CharField(max_length=32, blank=True, default="")
    symbols = models.JSONField(default=list)
    rules = models.JSONField(default=dict)
    fallback_reason = models.TextField(blank=True, default="")
    risk_multiplier = models.DecimalField(max_digits=6, decimal_places=4, default=Decimal(1))
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField()
    retired_at = models.DateTimeField(null=True, blank=True)
    correlation_id = models.UUIDField()
    event_id = models.UUIDField(unique=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["plan_id", "version"], name="plan_version_unique")]
        indexes = [models.Index(fields=["active", "created_at"], name="plan_active")]

    def __str__(self) -> str:
        return f"{self.plan_id} v{self.version} ({self.strategy})"


class Judgement(models.Model):
    """The judge's score of a plan, projected from ``plan_judged``."""

    plan_id = models.CharField(max_length=64)
    overall_score = models.DecimalField(max_digits=6, decimal_places=2)
    component_scores = models.JSONField(default=dict)
    recommendations = models.JSONField(default=list)
    ts = models.DateTimeField()
    correlation_id = models.UUIDField()
    event_id = models.UUIDField(unique=True)

    class Meta:
        indexes = [models.Index(fields=["ts", "id"], name="judgement_ts")]

    def __str__(self) -> str:
        return f"{self.plan_id}: {self.overall_score}"


class Intent(models.Model):
    """An operator intent, projected from ``intent``; the first link of its chain."""

    action = models.CharField(max_length=64)
    symbol = models.CharField(max_length=32, blank=True, default="")
    params = models.JSONField(default=dict)
    note = models.TextField(blank=True, default="")
    source = models.CharField(max_length=128)
    ts = models.DateTimeField()
    correlation_id = models.UUIDField()
    event_id = models.UUIDField(unique=True)

    class Meta:
        indexes = [models.Index(fields=["ts", "id"], name="intent_ts")]

    def __str__(self) -> str:
        return f"{self.action} {self.symbol}".strip()


class Order(models.Model):
    class Status(models.TextChoices):
        SUBMITTED = "submitted", "submitted"
        FILLED = "filled", "filled"
        CANCELLED = "cancelled", "cancelled"
        REJECTED = "rejected", "rejected"

    order_id = models.CharField(max_length=64, unique=True)
    symbol = models.CharField(max_length=32)
    side = models.CharField(max_length=4, choices=SIDES)
    qty = QuantityField()
    order_type = models.CharField(max_length=8, default="market")
    limit_price = PriceField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.SUBMITTED)
    filled_qty = QuantityField(default=0)
    ts = models.DateTimeField()
    run_id = models.CharField(max_length=64, blank=True, default="")
    correlation_id = models.UUIDField()

    class Meta:
        indexes = [
            models.Index(fields=["ts", "id"], name="order_ts"),
            models.Index(fields=["symbol", "ts"], name="order_symbol_ts"),
            models.Index(fields=["status", "ts"], name="order_status_ts"),
        ]

    def __str__(self) -> str:
        return f"{self.order_id} {self.side} {self.qty} {self.symbol}"


class Fill(models.Model):
    fill_id = models.CharField(max_length=64, unique=True)
    order_id = models.CharField(max_length=64)
    symbol = models.CharField(max_length=32)
    side = models.CharField(max_length=4, choices=SIDES)
    qty = QuantityField()
    price = PriceField()
    fee = MoneyField(default=0)
    realized_pnl = MoneyField(default=0)
    ts = models.DateTimeField()
    run_id = models.CharField(max_length=64, blank=True, default="")
    correlation_id = models.UUIDField()
    event_id = models.UUIDField(unique=True)

    class Meta:
        indexes = [
            models.Index(fields=["ts", "id"], name="fill_ts"),
            models.Index(fields=["symbol", "ts"], name="fill_symbol_ts"),
            models.Index(fields=["run_id", "ts"], name="fill_run_ts"),
        ]

    def __str__(self) -> str:
        return f"{self.fill_id} {self.side} {self.qty} {self.symbol} @ {self.price}"


class Position(models.Model):
    """Long-only net position per symbol, updated by each fill."""

    symbol = models.CharField(max_length=32, unique=True)
    qty = QuantityField(default=0)
    avg_entry_price = PriceField(default=0)
    mark_price = PriceField(default=0)
    realized_pnl = MoneyField(default=0)
    opened_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.symbol} {self.qty}"

    @property
    def unrealized_pnl(self):
        return (self.mark_price - self.avg_entry_price) * self.qty if self.qty else 0

    @property
    def market_value(self):
        return self.mark_price * self.qty


class PositionSnapshot(models.Model):
    symbol = models.CharField(max_length=32)
    ts = models.DateTimeField()
    qty = QuantityField()
    avg_entry_price = PriceField()
    mark_price = PriceField()
    unrealized_pnl = MoneyField()
    realized_pnl = MoneyField()
    event_id = models.UUIDField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["event_id", "symbol"], name="snapshot_unique")]
        indexes = [
            models.Index(fields=["ts", "id"], name="snapshot_ts"),
            models.Index(fields=["symbol", "ts"], name="snapshot_symbol_ts"),
        ]

    def __str__(self) -> str:
        return f"{self.symbol} {self.ts:%Y-%m-%d %H:%M}"


class Trade(models.Model):
    """A round trip of the live/paper book, flat to flat, kept from fills by the trading projector:
    opened by the fill that takes a symbol's position off zero, closed by the one that brings it
    back. Open trades are marked to the position's last price when read (``agents.selectors``)."""

    class Status(models.TextChoices):
        OPEN = "open", "open"
        CLOSED = "closed", "closed"

    symbol = models.CharField(max_length=32)
    side = models.CharField(max_length=5, default="long", help_text="The position's side (long-only book).")
    status = models.CharField(max_length=6, choices=Status.choices, default=Status.OPEN)
    ts = models.DateTimeField(help_text="When the trade opened (its first fill).")
    closed_at = models.DateTimeField(null=True, blank=True)
    qty = QuantityField(help_text="Everything bought into the trade.")
    open_qty = QuantityField(help_text="What is still held.")
    entry_price = PriceField(help_text="Average price of the buys.")
    exit_qty = QuantityField(default=0)
    exit_price = PriceField(null=True, blank=True, help_text="Average price of the sells.")
    fees = MoneyField(default=0)
    realized_pnl = MoneyField(default=0, help_text="Gross P&L of what was sold, before fees.")
    pnl = MoneyField(null=True, blank=True, help_text="Closed: realised P&L net of all fees.")
    pnl_pct = models.DecimalField(
        max_digits=24, decimal_places=12, null=True, blank=True, help_text="Closed: pnl / entry cost (a fraction)."
    )
    exit_reason = models.CharField(max_length=32, blank=True, default="", help_text="exit, stop, target, ...")
    fills = models.PositiveIntegerField(default=1)
    run_id = models.CharField(max_length=64, blank=True, default="")
    correlation_id = models.UUIDField(help_text="The entry fill's decision chain.")
    entry_event_id = models.UUIDField(unique=True, help_text="The fill event that opened the trade.")
    exit_event_id = models.UUIDField(null=True, blank=True, help_text="The fill event that closed it.")

    class Meta:
        indexes = [
            models.Index(fields=["ts", "id"], name="trade_ts"),
            models.Index(fields=["symbol", "ts"], name="trade_symbol_ts"),
            models.Index(fields=["status", "ts"], name="trade_status_ts"),
            models.Index(fields=["run_id", "ts"], name="trade_run_ts"),
            models.Index(fields=["closed_at", "id"], name="trade_closed_at"),
        ]
        constraints = [
            # at most one open trade per symbol: the projector finds it by symbol and status
            models.UniqueConstraint(
                fields=["symbol"], condition=models.Q(status="open"), name="trade_one_open_per_symbol"
            )
        ]

    def __str__(self) -> str:
        return f"{self.symbol} {self.status} {self.qty} @ {self.entry_price}"

    @property
    def marked_pnl(self) -> Decimal | None:
        """Closed: the net P&L. Open: realised so far, less fees, plus what is held marked to the
        symbol's last price (``mark_price``, annotated by ``selectors.trade_list``)."""
        if self.status == self.Status.CLOSED:
            return self.pnl
        mark = getattr(self, "mark_price", None)
        if mark is None:
            return None
        return self.realized_pnl - self.fees + (mark - self.entry_price) * self.open_qty

    @property
    def marked_pnl_pct(self) -> Decimal | None:
        """``marked_pnl`` as a fraction of the entry cost."""
        if self.status == self.Status.CLOSED:
            return self.pnl_pct
        pnl, cost = self.marked_pnl, self.entry_price * self.qty
        return (pnl / cost).quantize(Decimal("1E-12")) if pnl is not None and cost else None

    @property
    def duration_s(self) -> int:
        """Seconds held: to the close, or to now while open."""
        end = self.closed_at or timezone.now()
        return max(0, int((end - self.ts).total_seconds()))


class EquityPoint(models.Model):
    """The book's equity over time, one row per minute (the minute's last state), kept by the
    trading projector on every fill and mark so the Overview's chart reads rows, not the log."""

    ts = models.DateTimeField(unique=True, help_text="The minute (UTC, its start) whose last state this is.")
    equity = MoneyField()
    cash = MoneyField()
    market_value = MoneyField()
    realized_pnl = MoneyField()
    unrealized_pnl = MoneyField()
    fees_paid = MoneyField()
    last_event = models.BigIntegerField(help_text="The log id of the last event applied (replays skip older ones).")

    def __str__(self) -> str:
        return f"{self.ts:%Y-%m-%d %H:%M} {self.equity}"

    @property
    def pnl(self) -> Decimal:
        """Total P&L at this point: realised plus unrealised, less every fee paid."""
        return self.realized_pnl + self.unrealized_pnl - self.fees_paid


class Portfolio(models.Model):
    """The one row of paper/live portfolio totals, kept by the fill and mark projectors."""

    cash = MoneyField()
    initial_cash = MoneyField()
    realized_pnl = MoneyField(default=0)
    fees_paid = MoneyField(default=0)
    day = models.DateField(null=True, blank=True)
    day_start_equity = MoneyField(default=0)
    updated_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"cash {self.cash}"


class BlockEvent(models.Model):
    """A trade that did not happen and the rule that stopped it, projected from ``trade_blocked``."""

    ts = models.DateTimeField()
    symbol = models.CharField(max_length=32)
    side = models.CharField(max_length=4, choices=SIDES)
    reason = models.CharField(max_length=64)
    reason_class = models.CharField(max_length=16)
    detail = models.JSONField(default=dict)
    plan_id = models.CharField(max_length=64, blank=True, default="")
    run_id = models.CharField(max_length=64, blank=True, default="")
    correlation_id = models.UUIDField()
    event_id = models.UUIDField(unique=True)

    class Meta:
        indexes = [
            # reason and class ride along so /live/block-reasons counts a window by an index-only scan
            models.Index(fields=["ts", "id"], include=["reason", "reason_class"], name="block_ts"),
            models.Index(fields=["reason", "ts"], name="block_reason_ts"),
            models.Index(fields=["reason_class", "ts"], name="block_class_ts"),
            models.Index(fields=["symbol", "ts"], name="block_symbol_ts"),
            models.Index(fields=["run_id", "ts"], name="block_run_ts"),
        ]

    def __str__(self) -> str:
        return f"{self.symbol} {self.side} blocked: {self.reason}"


class BlockOutcome(models.Model):
    """What a blocked trade would have done had it gone through: its shadow trade, projected from
    ``block_outcome`` (one per block; caused by the ``trade_blocked`` event, same correlation).

    ``pnl`` < 0 means the block saved that much, > 0 that it forwent that much. An outcome is
    counted at its block's time (``block_ts``), the clock blocks are counted on, never at the bar's
    (``blocked_at``): in a replay the bar is history while the block was made now."""

    ts = models.DateTimeField(help_text="When the shadow closed (the block_outcome event's time).")
    block_ts = models.DateTimeField(
        help_text="When its block was recorded (the trade_blocked event's time, as BlockEvent.ts): the time the "
        "scorecard counts the outcome at, with its block."
    )
    blocked_at = models.DateTimeField(help_text="The blocked bar's time (in a replay, a historical candle's).")
    symbol = models.CharField(max_length=32)
    side = models.CharField(max_length=5, help_text="The shadow position's side: long or short.")
    reason = models.CharField(max_length=64)
    reason_class = models.CharField(max_length=16)
    rule = models.CharField(max_length=500, blank=True, default="", help_text="The plan's blocked entry rule.")
    status = models.CharField(max_length=8, default="closed")
    exit_reason = models.CharField(max_length=8)
    qty = QuantityField()
    entry_at = models.DateTimeField()
    entry_price = PriceField()
    exit_at = models.DateTimeField()
    exit_price = PriceField()
    fees = MoneyField()
    pnl = MoneyField()
    pnl_pct = MoneyField()
    mae = MoneyField(help_text="Maximum adverse excursion while held, in quote.")
    mae_pct = MoneyField()
    holding_s = models.BigIntegerField()
    stop = PriceField(null=True, blank=True)
    target = PriceField(null=True, blank=True)
    plan_id = models.CharField(max_length=64, blank=True, default="")
    run_id = models.CharField(max_length=64, blank=True, default="")
    correlation_id = models.UUIDField()
    block_event_id = models.UUIDField(unique=True)
    event_id = models.UUIDField(unique=True)

    class Meta:
        indexes = [
            # the scorecard groups a window of blocks: an index-only scan carries what it sums
            models.Index(
                fields=["block_ts"],
                include=["reason", "reason_class", "rule", "symbol", "pnl"],
                name="blockout_block_ts",
            ),
            models.Index(fields=["ts", "id"], name="blockout_ts"),
            models.Index(fields=["reason", "ts"], name="blockout_reason_ts"),
            models.Index(fields=["symbol", "ts"], name="blockout_symbol_ts"),
            models.Index(fields=["run_id", "ts"], name="blockout_run_ts"),
        ]

    def __str__(self) -> str:
        return f"{self.symbol} {self.reason}: shadow {self.exit_reason} {self.pnl}"


class BlockTally(models.Model):
    """The blocks' scorecard per hour and per day of block time (when the block was recorded:
    ``BlockEvent.ts``, ``BlockOutcome.block_ts``), as rows per (dimension, key): what
    ``block_outcome_summary`` adds up for the whole days and hours of a window (only the partial
    hours at its edges are read from the raw rows).

    The scorecard shows marginals (per reason, class, rule, symbol), so that is what is stored: one
    row per (span, start, run, plan, filter, dimension, key), where ``filter_on``/``filter_value``
    is the one filter the row is restricted to (``""`` for none). The cross product of the four
    dimensions would hold about one row per block (14 reasons x 20 symbols x rules), marginals a
    few dozen per hour. ``trade_blocked`` adds to ``blocks`` (never under the rule: a block records
    no rule), ``block_outcome`` to ``closed``, ``hits``, ``saved`` and ``forgone`` of its block's
    hour; both by an upsert that increments in place, in the transaction that writes the event, so
    concurrent workers add up and none overwrites another. Rebuilt by ``rebuild_projections``."""

    class Span(models.TextChoices):
        HOUR = "hour"
        DAY = "day"

    span = models.CharField(max_length=4, choices=Span.choices)
    start = models.DateTimeField(help_text="The UTC hour or day the blocks were made in (block time).")
    run_id = models.CharField(max_length=64, blank=True, default="")
    plan_id = models.CharField(max_length=64, blank=True, default="")
    filter_on = models.CharField(max_length=16, blank=True, default="", help_text="symbol, reason, reason_class, rule")
    filter_value = models.CharField(max_length=500, blank=True, default="")
    dimension = models.CharField(max_length=16, help_text="reason, reason_class, rule or symbol")
    key = models.CharField(max_length=500, blank=True, default="")
    blocks = models.BigIntegerField(default=0)
    closed = models.BigIntegerField(default=0)
    hits = models.BigIntegerField(default=0)
    saved = MoneyField(default=Decimal(0))
    forgone = MoneyField(default=Decimal(0))

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["span", "filter_on", "filter_value", "start", "run_id", "plan_id", "dimension", "key"],
                name="blocktally_key",
            )
        ]
        indexes = [
            # the summary: equality on span and filter, a range of starts, the sums carried along so
            # that a window is an index-only scan (rows of one filter and span are not together in the heap)
            models.Index(
                fields=["span", "filter_on", "filter_value", "start"],
                include=["run_id", "plan_id", "dimension", "key", "blocks", "closed", "hits", "saved", "forgone"],
                name="blocktally_window",
            )
        ]

    def __str__(self) -> str:
        return f"{self.span} {self.start:%Y-%m-%d %H}h {self.dimension}={self.key}: {self.blocks} blocks"


class RiskBudgetDay(models.Model):
    """A day's risk budget and how much of it is in each state (amounts in the quote currency)."""

    day = models.DateField(primary_key=True)
    budget = MoneyField()
    claimed = MoneyField(default=0)
    used = MoneyField(default=0)
    released = MoneyField(default=0)
    expired = MoneyField(default=0)

    def __str__(self) -> str:
        return f"{self.day}: {self.claimed + self.used + self.released} of {self.budget}"

    @property
    def consumed(self):
        return self.claimed + self.used + self.released


class RiskAllocation(models.Model):
    """One claim on the day's budget: claimed → used → released | expired."""

    class Status(models.TextChoices):
        CLAIMED = "claimed", "claimed"
        USED = "used", "used"
        RELEASED = "released", "released"
        EXPIRED = "expired", "expired"

    allocation_id = models.CharField(max_length=64, unique=True)
    day = models.DateField()
    symbol = models.CharField(max_length=32)
    amount = MoneyField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.CLAIMED)
    order_id = models.CharField(max_length=64, blank=True, default="")
    correlation_id = models.UUIDField()
    claimed_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["day", "status"], name="allocation_day_status"),
            models.Index(fields=["symbol", "status"], name="allocation_symbol_status"),
            models.Index(fields=["order_id"], name="allocation_order"),  # check_books: a fill's claims
        ]

    def __str__(self) -> str:
        return f"{self.allocation_id} {self.status} {self.amount}"


class AgentStatus(models.Model):
    """Each agent's last run and last error, projected from ``agent_run``."""

    agent = models.CharField(max_length=32, primary_key=True)
    last_run_at = models.DateTimeField()
    last_status = models.CharField(max_length=8)
    last_error = models.TextField(blank=True, default="")
    last_error_at = models.DateTimeField(null=True, blank=True)
    runs = models.PositiveBigIntegerField(default=0)
    errors = models.PositiveBigIntegerField(default=0)

    class Meta:
        verbose_name_plural = "agent statuses"

    def __str__(self) -> str:
        return f"{self.agent}: {self.last_status}"


class ExecutionStep(models.Model):
    """One row per candle the execution agent processed for a plan, with the controls in force
    then: the audit of what was decided under which controls; its unique key makes sure a candle
    is processed once."""

    plan_event_id = models.UUIDField()
    symbol = models.CharField(max_length=32)
    open_time = models.DateTimeField()
    entries_allowed = models.BooleanField()
    kill_switch = models.BooleanField()
    force_exit = models.BooleanField()
    warmup = models.BooleanField(default=False, help_text="Only fed the indicators (before the plan's first candle).")
    processed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["plan_event_id", "symbol", "open_time"], name="execution_step_unique")
        ]
        # the newest decided candle of a symbol, whatever the plan (a new plan's first candle, claim expiry)
        indexes = [models.Index(fields=["symbol", "open_time"], name="execution_step_symbol_time")]

    def __str__(self) -> str:
        return f"{self.symbol} {self.open_time:%Y-%m-%d %H:%M}"


class EngineCheckpoint(models.Model):
    """The live engine's whole state after the last candle processed for a plan (positions, pending
    orders, risk state, indicator history), written in the same transaction as that candle's
    decisions. ``version`` goes up by one each time; a process whose in-memory engine is at another
    version loads this one, so every process decides from what is committed."""

    plan_event_id = models.UUIDField(primary_key=True)
    version = models.PositiveBigIntegerField()
    format = models.PositiveSmallIntegerField(help_text="The engine's state format (execution.CHECKPOINT_FORMAT).")
    state = models.BinaryField()
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.plan_event_id} v{self.version}"


class FlattenRequest(models.Model):
    """An operator's flatten, waiting for the execution agent's next candle of the symbol."""

    symbol = models.CharField(max_length=32)
    intent_event_id = models.UUIDField()
    correlation_id = models.UUIDField()
    requested_at = models.DateTimeField()
    applied_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["intent_event_id", "symbol"], name="flatten_request_unique")]

    def __str__(self) -> str:
        return f"flatten {self.symbol}"
