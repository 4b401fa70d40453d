import pickle
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from uuid import UUID

from celery import schedules
from django.db.models import Aggregate, Avg, Count, FloatField, OuterRef, Q, QuerySet, Subquery, Sum
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from events.models import Event, LLMCall, RunSummary
from tradingops.db import is_postgres

from .models import (
    AgentStatus,
    BlockEvent,
    BlockOutcome,
    BlockTally,
    EngineCheckpoint,
    EquityPoint,
    ExecutionStep,
    Fill,
    Intent,
    Judgement,
    Order,
    Portfolio,
    Position,
    PositionSnapshot,
    RiskAllocation,
    RiskBudgetDay,
    RuntimeConfig,
    StrategyPlan,
    Trade,
)
from .scorecard import marginals, rollup_marginals

ZERO = Decimal(0)


def runtime_config_get() -> RuntimeConfig:
    """The runtime configuration; the defaults until a service has saved one (no write here)."""
    return RuntimeConfig.objects.filter(pk=1).first() or RuntimeConfig(pk=1)


def runtime_mode() -> str:
    return runtime_config_get().mode


def position_list(*, open_only: bool = False) -> QuerySet[Position]:
    queryset = Position.objects.order_by("symbol")
    return queryset.exclude(qty=0) if open_only else queryset


def order_list() -> QuerySet[Order]:
    return Order.objects.order_by("-ts", "-id")


def fill_list() -> QuerySet[Fill]:
    return Fill.objects.order_by("-ts", "-id")


def trade_list() -> QuerySet[Trade]:
    """Round trips, newest opened first, each with its symbol's last price (``mark_price``, one
    subquery on the position's unique symbol) so an open trade is marked without another query."""
    mark = Position.objects.filter(symbol=OuterRef("symbol")).values("mark_price")[:1]
    return Trade.objects.annotate(mark_price=Subquery(mark)).order_by("-ts", "-id")


def trades_overview(*, closed: int = 10) -> dict[str, list[Trade]]:
    """Every open trade and the latest ``closed`` closed ones (two indexed queries)."""
    trades = trade_list()
    return {
        "open": list(trades.filter(status=Trade.Status.OPEN)),
        "closed": list(trades.filter(status=Trade.Status.CLOSED).order_by("-closed_at", "-id")[:closed]),
    }


def equity_point_list() -> QuerySet[EquityPoint]:
    return EquityPoint.objects.order_by("-ts", "-id")


def equity_curve(*, limit: int = 1440) -> list[EquityPoint]:
    """The book's latest ``limit`` equity points (a day at one a minute), oldest first, for a chart."""
    return list(reversed(equity_point_list()[:limit]))


def block_list() -> QuerySet[BlockEvent]:
    return BlockEvent.objects.order_by("-ts", "-id")


def block_outcome_list() -> QuerySet[BlockOutcome]:
    return BlockOutcome.objects.order_by("-ts", "-id")


HOUR, DAY = timedelta(hours=1), timedelta(days=1)
ONE_FILTER = ("symbol", "reason", "reason_class", "rule")  # what a BlockTally row can be restricted to


def _floor(ts: datetime, unit: timedelta) -> datetime:
    ts = ts.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return ts.replace(hour=0) if unit == DAY else ts


def _ceil(ts: datetime, unit: timedelta) -> datetime:
    floor = _floor(ts, unit)
    return floor if floor == ts else floor + unit


def block_outcome_summary(*, since: datetime, until: datetime, filters: dict | None = None) -> dict:
    """The scorecard of the blocks made in [since, until) (when recorded: a block's ``ts``, an
    outcome's ``block_ts``, never the bar's time), from at most three grouped queries: the
    whole days and hours of the window from the tallies (``BlockTally``), and the partial hours at
    its two edges from the raw blocks and outcomes, so any window is exact.

    ``filters``: equality on ``symbol``, ``reason``, ``reason_class``, ``plan_id``, ``run_id`` (and
    ``rule``, which only outcomes carry: blocks are then not counted). Tallies hold one filter of
    the first four at a time; two or more of them are answered from the raw rows alone."""
    filters = {k: v for k, v in (filters or {}).items() if v not in (None, "")}
    on = [k for k in ONE_FILTER if k in filters]
    hours_from, hours_until = _ceil(since, HOUR), _floor(until, HOUR)
    if len(on) > 1 or hours_from >= hours_until:
        return _summary(raw=[(since, until)], tallies=[], filters=filters, since=since, until=until)
    days_from, days_until = _ceil(hours_from, DAY), _floor(hours_until, DAY)
    if days_from < days_until:
        spans = [("hour", hours_from, days_from), ("day", days_from, days_until), ("hour", days_until, hours_until)]
    else:
        spans = [("hour", hours_from, hours_until)]
    scope = {k: filters[k] for k in ("run_id", "plan_id") if k in filters}
    restricted = {"filter_on": on[0], "filter_value": filters[on[0]]} if on else {"filter_on": "", "filter_value": ""}
    tallies = [Q(span=span, start__gte=a, start__lt=b, **restricted, **scope) for span, a, b in spans if a < b]
    raw = [(a, b) for a, b in ((since, hours_from), (hours_until, until)) if a < b]
    return _summary(raw=raw, tallies=tallies, filters=filters, since=since, until=until)


def _summary(*, raw: list[tuple[datetime, datetime]], tallies: list[Q], filters: dict, since, until) -> dict:
    rows: list[dict] = []
    if tallies:
        # one grouped branch per range of starts, each an index-only scan of blocktally_window (an OR
        # of the ranges would be a bitmap scan of the heap), sent as one UNION ALL
        branches = [
            BlockTally.objects.filter(q)
            .values("dimension", "key")
            .annotate(
                n_blocks=Sum("blocks"),
                n_closed=Sum("closed"),
                n_hits=Sum("hits"),
                n_saved=Sum("saved"),
                n_forgone=Sum("forgone"),
            )
            .values_list("dimension", "key", "n_blocks", "n_closed", "n_hits", "n_saved", "n_forgone")
            .order_by()
            for q in tallies
        ]
        sums = branches[0].union(*branches[1:], all=True) if len(branches) > 1 else branches[0]
        names = ("dimension", "key", "blocks", "closed", "hits", "saved", "forgone")
        rows = [dict(zip(names, row, strict=True)) for row in sums]
    if raw:
        # one branch per edge as well: each a range scan of its covering index (blocktally above)
        def union(branches: list) -> QuerySet:
            return branches[0].union(*branches[1:], all=True) if len(branches) > 1 else branches[0]

        groups = union(
            [
                BlockOutcome.objects.filter(block_ts__gte=a, block_ts__lt=b, **filters)
                .values("reason", "reason_class", "rule", "symbol")
                .annotate(
                    closed=Count("*"),  # not count(id): the window is then an index-only scan
                    hits=Count("pnl", filter=Q(pnl__lt=0)),  # pnl rides in the index
                    lost=Sum("pnl", filter=Q(pnl__lt=0)),
                    forgone=Sum("pnl", filter=Q(pnl__gt=0)),
                )
                .order_by()
                for a, b in raw
            ]
        )
        blocks: list[dict] | QuerySet = []
        if "rule" not in filters:
            blocks = union(
                [
                    BlockEvent.objects.filter(ts__gte=a, ts__lt=b, **filters)
                    .values("reason", "reason_class", "symbol")
                    .annotate(blocks=Count("*"))
                    .order_by()
                    for a, b in raw
                ]
            )
        rows += marginals([{**g, "saved": -(g.pop("lost") or ZERO)} for g in groups], blocks)
    return {"since": since, "until": until, **rollup_marginals(rows)}


def block_outcomes_open() -> list[dict]:
    """Blocks whose shadow is still held, marked at the engine's latest close of the symbol.

    Open shadows live in the active plans' engine checkpoints (they write no event until they
    close), so they are read from there: one row per checkpoint, bounded in size."""

    from .execution import CHECKPOINT_FORMAT  # noqa: PLC0415 - execution imports planner, which imports these selectors

    plans = {p.event_id: p for p in StrategyPlan.objects.filter(active=True)}
    rows, keys = [], []
    for checkpoint in EngineCheckpoint.objects.filter(plan_event_id__in=list(plans), format=CHECKPOINT_FORMAT):
        engine, _ = pickle.loads(checkpoint.state)  # noqa: S301 - written only by execution._checkpoint
        plan = plans[checkpoint.plan_event_id]
        for d in engine.block_outcomes:
            keys.append(f"exec:{plan.event_id}:{d.symbol}:{d.chain}:block")  # the recorder's block key
            rows.append(
                {
                    "symbol": d.symbol,
                    "plan_id": plan.plan_id,
                    "correlation_id": plan.correlation_id,
                    **d.outcome.payload(),
                }
            )
    recorded = Event.objects.filter(dedupe_key__in=keys).values_list("dedupe_key", "event_id", "ts") if keys else []
    blocks = {key: (event_id, ts) for key, event_id, ts in recorded}
    for row, key in zip(rows, keys, strict=True):
        row["block_event_id"], row["block_ts"] = blocks.get(key, (None, None))
    return sorted(rows, key=lambda r: r["blocked_at"], reverse=True)


def block_shadow(*, block_event_id: UUID) -> dict | None:
    """What one blocked trade would have done: its closed shadow (``BlockOutcome``), else its
    still-open one marked at the engine's latest close (``block_outcomes_open``), else None (a
    block that opens no shadow, e.g. one with no quantity)."""
    closed = BlockOutcome.objects.filter(block_event_id=block_event_id).first()
    if closed is not None:
        return {
            "status": "closed",
            "outcome_event_id": closed.event_id,
            "symbol": closed.symbol,
            "position_side": closed.side,
            "exit_reason": closed.exit_reason,
            **{name: getattr(closed, name) for name in SHADOW_NUMBERS},
            "entry_at": closed.entry_at,
            "exit_at": closed.exit_at,
            "holding_s": closed.holding_s,
        }
    for row in block_outcomes_open():
        if row["block_event_id"] == block_event_id:
            return {"outcome_event_id": None, **row}
    return None


SHADOW_NUMBERS = ("qty", "entry_price", "exit_price", "fees", "pnl", "pnl_pct", "mae", "mae_pct")


def position_snapshot_list() -> QuerySet[PositionSnapshot]:
    return PositionSnapshot.objects.order_by("-ts", "-id")


def plan_list() -> QuerySet[StrategyPlan]:
    return StrategyPlan.objects.order_by("-created_at", "-id")


def plan_active() -> StrategyPlan | None:
    return StrategyPlan.objects.filter(active=True).order_by("-created_at").first()


def judgement_list() -> QuerySet[Judgement]:
    return Judgement.objects.order_by("-ts", "-id")


def intent_list() -> QuerySet[Intent]:
    return Intent.objects.order_by("-ts", "-id")


def agent_status_list() -> QuerySet[AgentStatus]:
    return AgentStatus.objects.order_by("agent")


def portfolio_summary() -> dict:
    """Cash, equity and P&L from the projected portfolio row and the open positions (two queries)."""
    portfolio = Portfolio.objects.filter(pk=1).first()
    positions = list(position_list(open_only=True))
    market_value = sum((p.qty * p.mark_price for p in positions), ZERO)
    unrealized = sum(((p.mark_price - p.avg_entry_price) * p.qty for p in positions), ZERO)
    if portfolio is None:
        return {
            "cash": None,
            "equity": None,
            "market_value": market_value,
            "unrealized_pnl": unrealized,
            "realized_pnl": ZERO,
            "fees_paid": ZERO,
            "day_pnl": ZERO,
            "total_pnl": ZERO,
            "initial_cash": None,
            "open_positions": len(positions),
            "updated_at": None,
        }
    equity = portfolio.cash + market_value
    today = timezone.now().date()
    day_start = portfolio.day_start_equity if portfolio.day == today else equity
    return {
        "cash": portfolio.cash,
        "equity": equity,
        "market_value": market_value,
        "unrealized_pnl": unrealized,
        "realized_pnl": portfolio.realized_pnl,
        "fees_paid": portfolio.fees_paid,
        "day_pnl": equity - day_start,
        "total_pnl": equity - portfolio.initial_cash,
        "initial_cash": portfolio.initial_cash,
        "open_positions": len(positions),
        "updated_at": portfolio.updated_at,
    }


def block_reason_counts(*, since: datetime, until: datetime) -> list[dict]:
    return list(
        BlockEvent.objects.filter(ts__gte=since, ts__lt=until)
        .values("reason", "reason_class")
        .annotate(count=Count("id"))
        .order_by("-count", "reason")
    )


def risk_day_current() -> date:
    """The risk day being traded: risk days are bar days, so the day of the newest candle decided
    (a replay trades last year's days); today before any candle was."""
    newest = ExecutionStep.objects.order_by("-id").values_list("open_time", flat=True).first()
    return newest.date() if newest else timezone.now().date()


def risk_budget(*, day: date) -> dict:
    budget_day = RiskBudgetDay.objects.filter(day=day).first()
    allocations = list(RiskAllocation.objects.filter(day=day).order_by("claimed_at", "id"))
    if budget_day is None:
        return {
            "day": day,
            "budget": None,
            "claimed": ZERO,
            "used": ZERO,
            "released": ZERO,
            "expired": ZERO,
            "consumed": ZERO,
            "available": None,
            "utilisation": ZERO,
            "allocations": allocations,
        }
    consumed = budget_day.consumed
    return {
        "day": day,
        "budget": budget_day.budget,
        "claimed": budget_day.claimed,
        "used": budget_day.used,
        "released": budget_day.released,
        "expired": budget_day.expired,
        "consumed": consumed,
        "available": budget_day.budget - consumed,
        "utilisation": (consumed / budget_day.budget) if budget_day.budget else ZERO,
        "allocations": allocations,
    }


def llm_call_list() -> QuerySet:

    return LLMCall.objects.order_by("-ts", "-id")


def llm_summary(*, since: datetime, until: datetime) -> dict:
    """Tokens, cost and latency by model and by agent over a window (p95 on Postgres only)."""

    class PercentileCont95(Aggregate):
        function = "percentile_cont"
        template = "%(function)s(0.95) WITHIN GROUP (ORDER BY %(expressions)s)"
        output_field = FloatField()

    aggregates = {
        "calls": Count("id"),
        "tokens_in": Sum("tokens_in"),
        "tokens_out": Sum("tokens_out"),
        "cost": Sum("cost"),
        "avg_latency_ms": Avg("latency_ms"),
        "errors": Count("id", filter=~Q(outcome="ok")),
    }
    if is_postgres():
        aggregates["p95_latency_ms"] = PercentileCont95("latency_ms")
    window = LLMCall.objects.filter(ts__gte=since, ts__lt=until)

    def rows(field: str) -> list[dict]:
        result = []
        for row in window.values(field).annotate(**aggregates).order_by(field):
            row["key"] = row.pop(field)
            row.setdefault("p95_latency_ms", None)
            result.append(row)
        return result

    return {"since": since, "until": until, "by_model": rows("model"), "by_agent": rows("agent")}


AGENT_TASKS = {
    "planner": "agents.tasks.planner_run_task",
    "judge": "agents.tasks.judge_run_task",
    "execution": "agents.tasks.execution_on_candle_task",
    "broker": "agents.tasks.intent_execute_task",
    "snapshot": "agents.tasks.positions_snapshot_task",
}


def _next_run(task) -> datetime:
    """When beat runs ``task`` next, computed as beat does: from its last run or, never run, from
    when its schedule was last changed (django-celery-beat's ``ModelEntry.__init__``, mirrored here
    because building a ModelEntry may save the task, and a read must not write), so the answer is
    the same on every read instead of moving with the clock."""

    if task.last_run_at is None and task.start_time is not None:
        return task.start_time  # beat holds a never-run task with a start time until then
    last = task.last_run_at or task.date_changed or timezone.now()
    if timezone.is_naive(last):
        last = timezone.make_aware(last, UTC)
    schedule = task.schedule
    if type(schedule) is schedules.schedule:  # an interval: exactly one interval after the last run
        return last + schedule.run_every
    # crontab, solar, clocked: the schedule's own estimate, on whole seconds (their times are)
    due = timezone.now() + schedule.remaining_estimate(last)
    return (due + timedelta(microseconds=500_000)).replace(microsecond=0)


def agent_status_overview() -> list[dict]:
    """Each agent's last run and error (projected) with its schedule and next run (beat)."""

    statuses = {s.agent: s for s in AgentStatus.objects.all()}
    schedules = {
        t.task: t
        for t in PeriodicTask.objects.filter(task__in=AGENT_TASKS.values()).select_related(
            "interval", "crontab", "solar", "clocked"
        )
    }
    rows = []
    for agent, task_name in AGENT_TASKS.items():
        status, task = statuses.get(agent), schedules.get(task_name)
        next_run = _next_run(task) if task is not None and task.enabled else None
        rows.append(
            {
                "agent": agent,
                "schedule": str(task.interval or task.crontab) if task else None,
                "enabled": bool(task and task.enabled),
                "last_run_at": status.last_run_at if status else None,
                "last_status": status.last_status if status else None,
                "last_error": (status.last_error or None) if status else None,
                "last_error_at": status.last_error_at if status else None,
                "next_run_at": next_run,
                "runs": status.runs if status else 0,
                "errors": status.errors if status else 0,
            }
        )
    return rows


def header_state() -> dict:
    """The top bar's trading fields (registered with ``events.realtime`` as a header provider):
    mode, kill switch and whether the live run is paused. Two primary-key reads."""

    from .services import LIVE_RUN_ID  # noqa: PLC0415 - services import the planner, which imports these selectors

    config = runtime_config_get()
    control = RunSummary.objects.filter(run_id=LIVE_RUN_ID).values_list("control_state", flat=True).first()
    changed = f", changed {config.updated_at:%Y-%m-%d %H:%M} UTC" if config.updated_at else ""
    by = f" by {config.updated_by}" if config.updated_by else ""
    return {
        "mode": config.mode,
        "kill_switch": bool(config.kill_switch),
        "trading": control if control in ("paused", "stopped") else "running",
        "source": f"runtime configuration{changed}{by}",
    }
