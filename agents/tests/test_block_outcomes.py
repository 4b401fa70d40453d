"""Shadow outcomes of blocked trades through the live path on the shipped candles: the events, the
read model, its rebuild, the scorecard API, the books, and the backtest giving the same outcomes."""

import pickle
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.management import call_command

from agents import execution
from agents.books import books_check
from agents.engine import Bars, run_backtest
from agents.market_data import candles_between
from agents.models import BlockEvent, BlockOutcome, StrategyPlan
from events.models import Event

from .test_books import paper_books  # noqa: F401 - fixture
from .test_live_chain import _feed, _fresh_engines, planned  # noqa: F401 - fixtures

Q18 = Decimal(1).scaleb(-18)


def _q(value) -> Decimal:
    return Decimal(value).quantize(Q18)


@pytest.fixture
def capped(planned, client_for):  # noqa: F811 - the fixture imported above
    """One trade a day: every further entry signal that day is blocked, and followed as a shadow."""
    response = client_for("admin").patch(
        "/api/v1/control/runtime", {"max_trades_per_day": 1, "max_trades_per_symbol_per_day": 1}, format="json"
    )
    assert response.status_code == 200
    return planned


def test_each_shadow_is_a_block_outcome_caused_by_its_block_and_never_moves_the_books(capped, sol_candles):
    _feed(sol_candles[200:700])
    outcomes = list(BlockOutcome.objects.order_by("ts", "id"))
    assert len(outcomes) >= 5, "caps of one trade a day block plenty on 500 real candles"
    blocks = {b.event_id: b for b in BlockEvent.objects.all()}
    for o in outcomes:
        event = Event.objects.get(event_id=o.event_id)
        assert event.type == "block_outcome"
        block = blocks[o.block_event_id]
        assert event.causation_id == block.event_id
        assert event.correlation_id == block.correlation_id == o.correlation_id
        assert (o.reason, o.reason_class, o.symbol) == (block.reason, block.reason_class, block.symbol)
        assert o.entry_at == o.blocked_at  # blocked on a close, the shadow fills at the next open
        assert o.exit_at >= o.entry_at
        assert o.holding_s == (o.exit_at - o.entry_at).total_seconds()
        gross = (o.exit_price - o.entry_price) * o.qty * (1 if o.side == "long" else -1)
        assert abs(o.pnl - (gross - o.fees)) < Decimal("1e-9")
    assert {o.exit_reason for o in outcomes} <= {"stop", "target", "exit"}
    report = books_check()
    assert report.ok, report.violations


def test_the_live_outcomes_are_the_backtests_for_the_same_blocks(capped, sol_candles):
    _feed(sol_candles[200:700])
    plan = StrategyPlan.objects.get(active=True)
    engine = execution._new_engine(plan, execution.runtime_config_get())
    warmup = engine.plan.warmup_bars
    history = candles_between(symbol="SOL-USDT", timeframe="1h", after=None, until=sol_candles[699].open_time)
    start = max(0, 200 - warmup)  # the warm-up the execution agent fed before its first candle
    rows = [(c.ts, c.open, c.high, c.low, c.close, c.volume) for c in history[start:700]]
    result = run_backtest(
        engine.plan,
        {"SOL-USDT": Bars.from_rows(rows, 3600)},
        engine.machine.limits,
        initial_cash=engine.state.cash,
        instruments=engine.machine.instruments,
        trade_from=200 - start,
    )
    live_blocks = list(BlockEvent.objects.order_by("ts", "id").values_list("reason", flat=True))
    assert live_blocks == [d.block.reason for d in result.decisions if d.kind == "block"]

    def at(ts):
        return datetime.fromtimestamp(ts, tz=UTC)

    expected = [
        (at(o.block_ts), at(o.entry_ts), at(o.exit_ts), o.exit_reason, _q(repr(o.entry_price)), _q(repr(o.pnl)))
        for o in (d.outcome for d in result.block_outcomes)
        if o.status == "closed"
    ]
    live = [
        (o.blocked_at, o.entry_at, o.exit_at, o.exit_reason, _q(o.entry_price), _q(o.pnl))
        for o in BlockOutcome.objects.order_by("exit_at", "id")
    ]
    assert live == expected
    assert len(live) >= 5


def test_rebuild_projections_rebuilds_the_outcomes_exactly(capped, sol_candles):
    _feed(sol_candles[200:500])
    fields = ("event_id", "block_event_id", "pnl", "mae", "exit_reason", "blocked_at", "rule")
    before = list(BlockOutcome.objects.order_by("event_id").values_list(*fields))
    assert before
    call_command("rebuild_projections")
    assert list(BlockOutcome.objects.order_by("event_id").values_list(*fields)) == before


def test_the_scorecard_sums_equal_the_outcomes(capped, sol_candles, client_for, django_assert_max_num_queries):
    _feed(sol_candles[200:700])
    client = client_for("viewer")
    window = "since=2020-01-01T00:00:00Z&until=2030-01-01T00:00:00Z"
    with django_assert_max_num_queries(12):
        summary = client.get(f"/api/v1/live/block-outcomes/summary?{window}").data
    outcomes = list(BlockOutcome.objects.all())
    pnls = [o.pnl for o in outcomes]
    saved = sum((-p for p in pnls if p < 0), Decimal(0))
    forgone = sum((p for p in pnls if p > 0), Decimal(0))
    total = summary["total"]
    assert total["blocks"] == BlockEvent.objects.count()
    assert total["closed"] == len(outcomes)
    assert Decimal(total["saved"]) == saved
    assert Decimal(total["forgone"]) == forgone
    assert Decimal(total["net"]) == saved - forgone
    assert total["hits"] == sum(1 for p in pnls if p < 0)
    for dimension in ("by_reason", "by_reason_class", "by_rule", "by_symbol"):
        rows = summary[dimension]
        assert sum(r["closed"] for r in rows) == total["closed"]
        assert sum(Decimal(r["saved"]) for r in rows) == saved
        assert sum(Decimal(r["forgone"]) for r in rows) == forgone
    by_reason = {r["key"]: r for r in summary["by_reason"]}
    for reason, row in by_reason.items():
        mine = [o.pnl for o in outcomes if o.reason == reason]
        assert row["closed"] == len(mine)
        assert Decimal(row["net"]) == -sum(mine, Decimal(0))
        assert row["blocks"] == BlockEvent.objects.filter(reason=reason).count()

    one = outcomes[0]
    filtered = client.get(f"/api/v1/live/block-outcomes/summary?{window}&reason={one.reason}").data
    assert {r["key"] for r in filtered["by_reason"]} == {one.reason}

    with django_assert_max_num_queries(4):
        listed = client.get(f"/api/v1/live/block-outcomes?reason={one.reason}").data["results"]
    assert {r["reason"] for r in listed} == {one.reason}
    row = next(r for r in listed if r["event_id"] == str(one.event_id))
    assert Decimal(row["pnl"]) == one.pnl
    assert row["chain"].endswith(f"/api/v1/events/chains/{one.correlation_id}")
    bad = client.get("/api/v1/live/block-outcomes/summary?since=2030-01-01T00:00:00Z&until=2020-01-01T00:00:00Z")
    assert bad.status_code == 400
    assert "until" in bad.data


def test_open_shadows_are_listed_with_their_marked_pnl(capped, sol_candles, client_for):
    from agents.models import EngineCheckpoint

    plan = StrategyPlan.objects.get(active=True)
    held = []
    for candle in sol_candles[200:700]:  # up to the first candle after which a shadow is held
        _feed([candle])
        engine, _ = pickle.loads(EngineCheckpoint.objects.get(plan_event_id=plan.event_id).state)  # noqa: S301
        held = [d for d in engine.block_outcomes if d.outcome.status == "open"]
        if held:
            break
    assert held, "a shadow is held at some point of 500 capped candles"
    rows = client_for("viewer").get("/api/v1/live/block-outcomes/open").data["results"]
    assert len(rows) == len(held)
    for row, d in zip(
        sorted(rows, key=lambda r: r["entry_at"]), sorted(held, key=lambda d: d.outcome.entry_ts), strict=True
    ):
        assert row["status"] == "open"
        assert row["exit_price"] == repr(engine.state.marks["SOL-USDT"])  # marked at the latest close
        assert Decimal(row["pnl"]) == Decimal(repr(d.outcome.pnl))
        block = Event.objects.get(event_id=row["block_event_id"])
        assert block.type == "trade_blocked"


def test_an_entry_the_databases_budget_refused_is_followed_too(paper_books, sol_candles):  # noqa: F811
    """The engine passed the entry, the day's budget in the database refused its claim: that block
    is followed as a shadow like the engine's own, and its outcome is caused by it."""
    _feed(sol_candles[200:450])
    refused = {b.event_id: b for b in BlockEvent.objects.filter(reason="risk_budget_exhausted")}
    assert refused, "the database refused a claim"
    outcomes = list(BlockOutcome.objects.filter(block_event_id__in=list(refused)))
    assert outcomes, "and the refused entry's shadow closed"
    for o in outcomes:
        block = refused[o.block_event_id]
        assert Event.objects.get(event_id=o.event_id).causation_id == block.event_id
        assert (o.reason, o.reason_class, o.symbol) == ("risk_budget_exhausted", "risk_valid", block.symbol)
        assert o.entry_at == o.blocked_at  # refused on a close: the shadow fills at the next open
    report = books_check()
    assert report.ok, report.violations
