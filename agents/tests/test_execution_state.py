"""One trading state whatever process decides: the engine's state after a candle is what the
database holds, not what one worker's memory holds."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from agents import execution
from agents.models import BlockEvent, ExecutionStep, Fill, Position, RiskAllocation, StrategyPlan
from agents.planner import planner_run
from agents.selectors import runtime_config_get
from events.models import Event


@pytest.fixture
def two_processes(monkeypatch):
    """Two worker processes, each with its own in-memory engine cache; ``run(n, candle)`` hands the
    candle to process ``n``."""
    caches = [execution.EngineCache(), execution.EngineCache()]

    def run(n: int, candle) -> None:
        monkeypatch.setattr(execution, "engine_cache", caches[n])
        execution.execution_on_candle(symbol="SOL-USDT", timeframe="1h", open_time=candle.open_time)

    return run


def _claim_whole_budget(days) -> None:
    """Another plan (retired since) has used every day's risk budget: the database refuses every
    new claim while the new plan's engine, which knows nothing of it, would enter."""
    config = runtime_config_get()
    for day in days:
        refused = execution.risk_claim(
            allocation_id=f"earlier-plan-{day}",
            symbol="SOL-USDT",
            amount=config.daily_risk_budget * Decimal(execution.settings.PAPER_INITIAL_CASH),
            config=config,
            day=day,
            correlation_id=None,
            dedupe_key=f"earlier-plan-claim-{day}",
        )
        assert refused is None


def test_a_claim_refused_in_one_process_is_refused_in_every_process(sol_candles, two_processes):
    planner_run()
    candles = sol_candles[200:700]
    days = {c.open_time.date() for c in candles} | {datetime.now(tz=UTC).date()}
    _claim_whole_budget(days)

    for i, candle in enumerate(candles):
        two_processes(i % 2, candle)

    refused = BlockEvent.objects.filter(reason="risk_budget_exhausted")
    assert refused.exists(), "the database refused entries the engine wanted"
    # no entry went through without a claim: no buy fill at all, so nothing to sell either
    assert list(Fill.objects.values_list("fill_id", "side")) == []
    assert not RiskAllocation.objects.exclude(allocation_id__startswith="earlier-plan").exists()
    assert not Position.objects.exclude(qty=0).exists()


def test_alternating_processes_decide_exactly_as_one_process(sol_candles, two_processes):
    planner_run()
    candles = sol_candles[200:700]
    for i, candle in enumerate(candles):
        two_processes(i % 2, candle)
    fills = list(Fill.objects.order_by("id").values_list("side", "qty", "price"))
    assert fills, "the plan traded on 500 real candles"
    for fill in Fill.objects.filter(side="buy"):
        assert RiskAllocation.objects.get(allocation_id=fill.order_id).status in ("used", "released")
    trigger_ids = set(Event.objects.filter(type="trade_blocked").values_list("causation_id", flat=True))
    orders = Event.objects.filter(type="order_submitted", causation_id__in=trigger_ids)
    assert not orders.exists(), "an order descends from a blocked trigger"
    held = sum((q if s == "buy" else -q for s, q, _ in fills), Decimal(0))
    assert Position.objects.get(symbol="SOL-USDT").qty == held


def test_a_late_task_does_not_start_a_new_plan_on_a_candle_already_decided(sol_candles):

    planner_run()
    for candle in sol_candles[200:300]:
        execution.execution_on_candle(symbol="SOL-USDT", timeframe="1h", open_time=candle.open_time)
    planner_run()  # replan: a new active plan
    new_plan = StrategyPlan.objects.get(active=True)

    # the task of the last candle the old plan decided arrives again (a retry, a redelivery)
    late = execution.execution_on_candle(symbol="SOL-USDT", timeframe="1h", open_time=sol_candles[299].open_time)
    assert late == 0
    assert not ExecutionStep.objects.filter(plan_event_id=new_plan.event_id).exists()

    execution.execution_on_candle(symbol="SOL-USDT", timeframe="1h", open_time=sol_candles[300].open_time)
    decided = ExecutionStep.objects.filter(plan_event_id=new_plan.event_id, warmup=False)
    assert list(decided.values_list("open_time", flat=True)) == [sol_candles[300].open_time]
    times = list(ExecutionStep.objects.filter(warmup=False).values_list("open_time", flat=True))
    assert len(times) == len(set(times)), "every candle decided once, whatever the plan"
