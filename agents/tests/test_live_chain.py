"""The whole decision chain on the shipped real SOL/USDT candles, through the live path."""

from decimal import Decimal

import pytest

from agents import execution
from agents.judge import judge_run
from agents.market_data import candles_between
from agents.models import (
    BlockEvent,
    ExecutionStep,
    Fill,
    Order,
    Portfolio,
    Position,
    RiskAllocation,
    RiskBudgetDay,
    StrategyPlan,
)
from agents.planner import planner_run
from agents.services import intent_submit, kill_switch_set
from events.models import Event
from market.tests.factories import shipped_candles
from wallets.models import DriftRecord, WalletBalance
from wallets.services import paper_wallet_ensure, reconciliation_execute, reconciliation_start


def feed_candles(candles):
    for candle in candles:
        execution.execution_on_candle(symbol="SOL-USDT", timeframe="1h", open_time=candle.open_time)


@pytest.fixture(autouse=True)
def fresh_engines():
    execution.engine_cache.clear()
    yield
    execution.engine_cache.clear()


@pytest.fixture
def planned(sol_candles, users, django_capture_on_commit_callbacks):
    """An operator asks for a plan; the broker agent hands it to the planner; the judge scores it."""
    with django_capture_on_commit_callbacks(execute=True):
        intent = intent_submit(user=users["operator"], action="replan", note="new week")
    plan = StrategyPlan.objects.get(active=True)
    judge_run()
    return intent, plan


def test_intent_to_fill_is_one_chain_returned_in_order(planned, sol_candles, client_for, settings):
    intent, plan = planned
    assert plan.correlation_id == intent.correlation_id
    feed_candles(sol_candles[200:700])

    fill = Fill.objects.order_by("ts").first()
    assert fill is not None, "the plan traded on 500 real candles"
    chain = client_for("viewer").get(f"/api/v1/events/chains/{fill.correlation_id}").data["events"]
    by_id = {e["event_id"]: e for e in chain}
    # walk back from the fill along its causes
    path, event = [], by_id[str(fill.event_id)]
    while event is not None:
        path.append(event["type"])
        event = by_id.get(event["cause"]["event_id"]) if event["cause"] else None
    expected = ["intent", "plan_generated", "plan_judged", "trigger_fired", "risk_claimed", "order_submitted", "fill"]
    assert list(reversed(path)) == expected
    assert chain[0]["type"] == "intent"
    assert [e["ts"] for e in chain] == sorted(e["ts"] for e in chain)

    order = Order.objects.get(order_id=fill.order_id)
    assert order.status == "filled"
    assert order.correlation_id == intent.correlation_id


def test_blocked_trade_links_to_its_plan_with_reason_and_numbers(planned, sol_candles, client_for):
    intent, plan = planned
    runtime = client_for("admin").patch(
        "/api/v1/control/runtime", {"max_trades_per_day": 1, "max_trades_per_symbol_per_day": 1}, format="json"
    )
    assert runtime.status_code == 200
    feed_candles(sol_candles[200:700])

    block = BlockEvent.objects.filter(reason__in=["daily_trade_cap", "symbol_trade_cap"]).first()
    assert block is not None
    assert block.reason_class == "risk_valid"
    assert block.detail["limit"] == 1 if "limit" in block.detail else block.detail
    event = Event.objects.get(event_id=block.event_id)
    trigger = Event.objects.get(event_id=event.causation_id)
    assert trigger.type == "trigger_fired"
    assert event.correlation_id == intent.correlation_id == plan.correlation_id
    listed = client_for("viewer").get("/api/v1/live/blocks?reason=" + block.reason).data["results"]
    assert str(block.event_id) in {row["event_id"] for row in listed}


def test_positions_and_portfolio_follow_the_fills(planned, sol_candles, client_for):
    feed_candles(sol_candles[200:700])
    fills = list(Fill.objects.order_by("ts", "id"))
    assert fills
    held = sum((f.qty if f.side == "buy" else -f.qty for f in fills), Decimal(0))
    position = Position.objects.get(symbol="SOL-USDT")
    assert position.qty == held
    portfolio = client_for("viewer").get("/api/v1/live/portfolio").data
    spent = sum((f.qty * f.price * (1 if f.side == "buy" else -1) + f.fee for f in fills), Decimal(0))
    assert Decimal(portfolio["cash"]) == Decimal("100000") - spent


def test_kill_switch_blocks_every_new_entry_at_once(planned, sol_candles, users):

    kill_switch_set(user=users["admin"], engaged=True, reason="drill")
    feed_candles(sol_candles[200:700])
    assert not Order.objects.exists()
    blocks = set(BlockEvent.objects.values_list("reason", flat=True))
    assert blocks == {"kill_switch"}


def test_a_candle_processed_twice_writes_nothing_twice(planned, sol_candles):
    feed_candles(sol_candles[200:500])
    counts = (Event.objects.count(), Fill.objects.count(), Order.objects.count())
    execution.engine_cache.clear()  # a retried task on another worker
    feed_candles(sol_candles[499:500])
    assert (Event.objects.count(), Fill.objects.count(), Order.objects.count()) == counts  # not even a heartbeat


def test_a_restarted_worker_continues_exactly_where_the_last_one_stopped(planned, sol_candles):
    feed_candles(sol_candles[200:450])
    execution.engine_cache.clear()  # the worker died; a fresh one loads the checkpoint
    feed_candles(sol_candles[450:700])
    interrupted = list(Fill.objects.order_by("ts", "id").values_list("fill_id", "side", "qty", "price"))
    interrupted_blocks = list(BlockEvent.objects.order_by("ts", "id").values_list("reason", "ts"))

    # the same candles through one uninterrupted engine, after wiping what the first pass wrote

    plan = StrategyPlan.objects.get(active=True)
    continuous_engine = execution.new_engine(plan, execution.runtime_config_get())
    decisions = []
    warmup = continuous_engine.plan.warmup_bars

    history = candles_between(symbol="SOL-USDT", timeframe="1h", after=None, until=sol_candles[699].open_time)
    start = max(0, 200 - warmup)  # the warm-up the execution agent fed before its first candle
    for i, candle in enumerate(history[start:700]):
        decisions += continuous_engine.step("SOL-USDT", candle, allow_entry=start + i >= 200)
    expected = [(d.side, str(d.qty)) for d in decisions if d.kind == "fill"]
    assert [(side, str(qty.normalize())) for _, side, qty, _ in interrupted] == [
        (side, str(Decimal(q).normalize())) for side, q in expected
    ]
    assert ExecutionStep.objects.filter(plan_event_id=plan.event_id).count() == 700 - start
    assert len(interrupted_blocks) == sum(1 for d in decisions if d.kind == "block")


def test_risk_claims_never_exceed_the_budget(planned, sol_candles):
    feed_candles(sol_candles[200:700])
    for day in RiskAllocation.objects.values_list("day", flat=True).distinct():
        budget = RiskBudgetDay.objects.get(day=day)
        assert budget.claimed + budget.used + budget.released <= budget.budget


@pytest.mark.django_db(transaction=True)
def test_paper_fills_move_the_paper_wallet_and_reconcile_clean(users, django_capture_on_commit_callbacks):

    candles = shipped_candles()
    wallet = paper_wallet_ensure(name="paper", funds={"USDT": "100000"})
    planner_run()
    feed_candles(candles[200:700])

    assert Fill.objects.exists()
    balances = dict(WalletBalance.objects.filter(wallet=wallet).values_list("currency", "amount"))
    assert balances["USDT"] == Portfolio.objects.get().cash
    assert balances.get("SOL", Decimal(0)) == Position.objects.get(symbol="SOL-USDT").qty
    run = reconciliation_start(threshold_abs="0.00000001", threshold_rel="0").run
    reconciliation_execute(run_id=run.pk)
    assert DriftRecord.objects.filter(run_id=run.pk, within_threshold=False).count() == 0
    assert DriftRecord.objects.filter(run_id=run.pk).count() >= 1
