"""Trades and the equity curve: read models kept from fills and marks (agents.projectors), their
rebuild from the log, the selectors behind the Overview and GET /api/v1/live/trades and /live/equity."""

import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command

from agents import selectors
from agents.engine import Bars, run_backtest
from agents.models import EquityPoint, Portfolio, StrategyPlan, Trade
from events.services import emit

T0 = datetime(2026, 3, 2, 9, 0, 10, tzinfo=UTC)


def _fill(n: int, side: str, qty: str, price: str, fee: str, *, at: datetime, symbol="SOL-USDT", **extra):
    payload = {"fill_id": f"f{n}", "order_id": f"o{n}", "symbol": symbol, "side": side, "qty": qty, "price": price,
               "fee": fee, **extra}  # fmt: skip
    return emit("fill", payload, source="agent:execution", run_id="live", ts=at)


def _mark(price: str, *, at: datetime, symbol="SOL-USDT"):
    return emit("marks_updated", {"prices": {symbol: price}}, source="agent:execution", ts=at)


def _round_trip():
    """Buy 2 @ 100 and 1 @ 103 (avg 101), sell 1 @ 110, then 2 @ 95 on a stop."""
    opened = _fill(1, "buy", "2", "100", "0.2", at=T0)
    _fill(2, "buy", "1", "103", "0.1", at=T0 + timedelta(minutes=5))
    _fill(3, "sell", "1", "110", "0.11", at=T0 + timedelta(hours=1))
    closed = _fill(4, "sell", "2", "95", "0.19", at=T0 + timedelta(hours=2, minutes=30), exit_reason="stop")
    return opened, closed


def test_a_round_trip_from_flat_to_flat_is_one_closed_trade_with_net_pnl_and_its_exit_reason(db):
    opened, closed = _round_trip()
    trade = Trade.objects.get()
    assert (trade.status, trade.symbol, trade.side, trade.fills) == ("closed", "SOL-USDT", "long", 4)
    assert (trade.ts, trade.closed_at) == (opened.ts, closed.ts)
    assert (trade.entry_event_id, trade.exit_event_id) == (opened.event_id, closed.event_id)
    assert (trade.qty, trade.open_qty, trade.exit_qty) == (3, 0, 3)
    assert trade.entry_price == 101
    assert trade.exit_price == 100  # (110 * 1 + 95 * 2) / 3
    assert trade.realized_pnl == Decimal("-3")  # (110 - 101) * 1 + (95 - 101) * 2
    assert trade.fees == Decimal("0.6")
    assert trade.pnl == Decimal("-3.6")
    assert trade.pnl_pct == Decimal("-0.011881188119")  # -3.6 / 303
    assert trade.exit_reason == "stop"
    assert trade.duration_s == 2.5 * 3600


def test_the_next_buy_after_flat_opens_a_new_trade_and_an_exit_without_reason_is_an_exit(db):
    _fill(1, "buy", "1", "100", "0", at=T0)
    _fill(2, "sell", "1", "101", "0", at=T0 + timedelta(minutes=1))
    _fill(3, "buy", "1", "102", "0", at=T0 + timedelta(minutes=2))
    first, second = Trade.objects.order_by("ts")
    assert (first.status, first.exit_reason, first.pnl) == ("closed", "exit", 1)
    assert (second.status, second.qty, second.entry_price, second.closed_at) == ("open", 1, 102, None)


def test_an_open_trade_is_marked_to_the_last_price(db):
    _fill(1, "buy", "2", "100", "0.2", at=T0)
    _fill(2, "sell", "1", "104", "0.1", at=T0 + timedelta(minutes=1))  # 4 realised, one still held
    _mark("97.5", at=T0 + timedelta(minutes=2))
    trade = selectors.trade_list().get()
    assert (trade.status, trade.open_qty, trade.mark_price) == ("open", 1, Decimal("97.5"))
    assert trade.marked_pnl == Decimal("4") - Decimal("0.3") + Decimal("-2.5")  # realised - fees + held at the mark
    assert trade.marked_pnl_pct == (Decimal("1.2") / 200).quantize(Decimal("1E-12"))


def test_trades_overview_lists_every_open_trade_and_the_latest_closed_ones(db, django_assert_num_queries):
    for n in range(4):
        at = T0 + timedelta(minutes=10 * n)
        _fill(2 * n, "buy", "1", "100", "0", at=at, symbol="BTC-USDT")
        _fill(2 * n + 1, "sell", "1", str(100 + n), "0", at=at + timedelta(minutes=1), symbol="BTC-USDT")
    _fill(99, "buy", "1", "50", "0", at=T0, symbol="SOL-USDT")
    with django_assert_num_queries(2):
        shown = selectors.trades_overview(closed=3)
    assert [t.symbol for t in shown["open"]] == ["SOL-USDT"]
    assert [t.exit_price for t in shown["closed"]] == [103, 102, 101]  # newest closed first


def test_equity_keeps_one_point_a_minute_the_last_event_of_the_minute_winning(db):
    _fill(1, "buy", "10", "100", "1", at=T0)  # cash 100000 - 1001, held 10 @ 100
    _mark("101", at=T0 + timedelta(seconds=20))
    _mark("102", at=T0 + timedelta(seconds=40))  # same minute: this one is the minute's point
    _mark("99", at=T0 + timedelta(minutes=1, seconds=5))
    points = list(EquityPoint.objects.order_by("ts"))
    assert [p.ts for p in points] == [T0.replace(second=0), T0.replace(second=0) + timedelta(minutes=1)]
    cash = Decimal("100000") - Decimal("1001")
    assert [(p.cash, p.market_value, p.equity) for p in points] == [
        (cash, Decimal("1020"), cash + 1020),
        (cash, Decimal("990"), cash + 990),
    ]
    assert points[1].pnl == Decimal("-10") - 1  # held 10 @ 100 marked at 99, less the fee
    assert points[1].pnl == points[1].equity - Portfolio.objects.get().initial_cash
    assert selectors.equity_curve(limit=1) == [points[1]]


def test_rebuild_projections_gives_the_same_trades_and_equity(db):
    _round_trip()
    _fill(5, "buy", "1", "90", "0.09", at=T0 + timedelta(hours=3))
    _mark("91", at=T0 + timedelta(hours=3, minutes=1))
    trade_fields = [f.name for f in Trade._meta.fields if f.name != "id"]
    point_fields = [f.name for f in EquityPoint._meta.fields if f.name != "id"]

    def snapshot():
        return (
            list(Trade.objects.order_by("ts").values_list(*trade_fields)),
            list(EquityPoint.objects.order_by("ts").values_list(*point_fields)),
        )

    before = snapshot()
    assert len(before[0]) == 2
    assert len(before[1]) == 6
    Trade.objects.update(exit_reason="corrupted")
    EquityPoint.objects.all().delete()
    call_command("rebuild_projections", "--projector", "trading", "--no-progress", stdout=io.StringIO())
    assert snapshot() == before


# --- the live path on the shipped candles ------------------------------------------------------


from .test_live_chain import _feed, _fresh_engines, planned  # noqa: E402, F401 - fixtures


def test_live_trades_are_the_backtests_round_trips_with_their_exit_reasons(planned, sol_candles):  # noqa: F811
    from agents import execution
    from agents.market_data import candles_between

    _feed(sol_candles[200:700])
    plan = StrategyPlan.objects.get(active=True)
    engine = execution._new_engine(plan, execution.runtime_config_get())
    history = candles_between(symbol="SOL-USDT", timeframe="1h", after=None, until=sol_candles[699].open_time)
    start = max(0, 200 - engine.plan.warmup_bars)  # the warm-up the execution agent fed first
    result = run_backtest(
        engine.plan,
        {
            "SOL-USDT": Bars.from_rows(
                [(c.ts, c.open, c.high, c.low, c.close, c.volume) for c in history[start:700]], 3600
            )
        },  # fmt: skip
        engine.machine.limits,
        initial_cash=engine.state.cash,
        instruments=engine.machine.instruments,
        trade_from=200 - start,
    )
    expected = [t for t in result.trades if t.exit_reason != "end_of_data"]
    live = list(Trade.objects.filter(status="closed").order_by("ts", "id"))
    assert len(live) >= 3, "500 real candles trade a few round trips"
    assert [t.exit_reason for t in live] == [t.exit_reason for t in expected]
    for trade, engine_trade in zip(live, expected, strict=True):
        assert trade.entry_price == Decimal(repr(engine_trade.entry_price))
        assert trade.exit_price == Decimal(repr(engine_trade.exit_price))
        assert abs(trade.pnl - Decimal(repr(engine_trade.pnl))) < Decimal("1e-6")


# --- API ---------------------------------------------------------------------------------------


def test_trades_api_lists_trades_with_marked_pnl_duration_and_filters(db, client_for, django_assert_max_num_queries):
    _round_trip()
    _fill(5, "buy", "1", "90", "0.09", at=T0 + timedelta(hours=3))
    _mark("92", at=T0 + timedelta(hours=3, minutes=1))
    client = client_for("viewer")
    with django_assert_max_num_queries(4):
        body = client.get("/api/v1/live/trades").json()
    opened, closed = body["results"]  # newest opened first
    assert (opened["status"], opened["mark_price"], opened["exit_reason"]) == ("open", "92.000000000000000000", "")
    assert Decimal(opened["pnl"]) == Decimal("2") - Decimal("0.09")
    assert (closed["status"], closed["exit_reason"], Decimal(closed["pnl"])) == ("closed", "stop", Decimal("-3.6"))
    assert Decimal(closed["pnl_pct"]) == Decimal("-0.011881188119")
    assert closed["duration_s"] == 9000
    assert closed["chain"].endswith(f"/api/v1/events/chains/{closed['correlation_id']}")
    assert [t["status"] for t in client.get("/api/v1/live/trades?status=closed").json()["results"]] == ["closed"]
    assert client.get("/api/v1/live/trades?exit_reason=target").json()["results"] == []
    assert len(client.get("/api/v1/live/trades?symbol=SOL-USDT&since=2026-03-02T11:00:00Z").json()["results"]) == 1


@pytest.mark.parametrize(
    ("query", "field"),
    [("status=half", "status"), ("since=yesterday", "since"), ("closed_until=2026-13-01T00:00:00Z", "closed_until"),
     ("since=2026-03-02T10:00:00Z&until=2026-03-02T09:00:00Z", "until")],
)  # fmt: skip
def test_trades_api_refuses_bad_filters_naming_the_field(db, client_for, query, field):
    response = client_for("viewer").get(f"/api/v1/live/trades?{query}")
    assert response.status_code == 400
    assert field in response.json()


def test_equity_api_pages_the_curve_newest_first(db, client_for):
    _fill(1, "buy", "10", "100", "1", at=T0)
    _mark("102", at=T0 + timedelta(minutes=1))
    client = client_for("viewer")
    body = client.get("/api/v1/live/equity").json()
    assert [(p["ts"], Decimal(p["equity"]), Decimal(p["pnl"])) for p in body["results"]] == [
        ("2026-03-02T09:01:00Z", Decimal("100019"), Decimal("19")),
        ("2026-03-02T09:00:00Z", Decimal("99999"), Decimal("-1")),
    ]
    assert len(client.get("/api/v1/live/equity?since=2026-03-02T09:01:00Z").json()["results"]) == 1
    assert client.get("/api/v1/live/equity?until=soon").status_code == 400
    assert client_for(None).get("/api/v1/live/trades").status_code in (401, 403)
