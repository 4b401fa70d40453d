"""A run through the service (the Celery task's body) on the shipped real SOL candles: the engine's
numbers, stored compactly, read back exactly; the state at any bar without replaying the run."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest

from agents.engine import Bars, Instrument, RiskLimits, Sizing, run_backtest, sma_cross
from agents.engine.fills import to_decimal
from backtests import metrics, selectors, services, worker
from backtests import results as results_module
from backtests.models import BacktestBlock, BacktestRun, BacktestTrade, CurveChunk, DailyReport, RunStatus
from events.models import Event

from .conftest import OPEN_LIMITS, SOL_FILE, sma_config

Q18 = Decimal(1).scaleb(-18)


def engine_result(fast=10, slow=30, trade_from=None, bars=None, **limits):
    bars = bars or Bars.from_csv(SOL_FILE, 3600)
    plan = sma_cross(fast, slow, symbols="SOL-USDT")
    limits = RiskLimits.from_mapping({**OPEN_LIMITS, "fee_rate": "0.001", "slippage_bps": "5", **limits})
    instruments = {"SOL-USDT": Instrument("SOL-USDT", Decimal("0.001"))}
    return run_backtest(plan, bars, limits, initial_cash=10_000.0, instruments=instruments, trade_from=trade_from)


def dec(value: float) -> Decimal:
    return to_decimal(value).quantize(Q18)


def start_and_run(data: dict) -> BacktestRun:
    run = services.backtest_run_create(data=data)
    assert run.status == RunStatus.QUEUED
    assert worker.backtest_execute(run_id=run.pk, worker="test") == RunStatus.COMPLETED
    return BacktestRun.objects.get(pk=run.pk)


def test_sol_run_gives_the_engines_trades_equity_and_metrics(sol_candles):
    expected = engine_result()
    run = start_and_run(sma_config())

    assert run.candles_total == run.candles_processed == 1000
    assert run.started_at <= run.finished_at
    assert run.worker == "test"
    assert run.error == ""
    trades = list(BacktestTrade.objects.filter(run=run).order_by("seq"))
    assert len(trades) == len(expected.trades) == 18
    for stored, t in zip(trades, expected.trades, strict=True):
        assert stored.entry_ts == datetime.fromtimestamp(t.entry_ts, tz=UTC)
        assert stored.exit_ts == datetime.fromtimestamp(t.exit_ts, tz=UTC)
        assert (stored.qty, stored.entry_price) == (dec(t.qty), dec(t.entry_price))
        assert stored.exit_price == dec(t.exit_price)
        assert stored.pnl == dec(t.pnl)
        assert stored.entry_fee + stored.exit_fee == pytest.approx(Decimal(repr(t.fees)), abs=Decimal("1e-12"))
    results = run.results
    assert results["final_equity"] == str(to_decimal(expected.final_equity))
    assert results["trades"] == 18
    assert results["fees"] == str(to_decimal(expected.state.fees_paid))
    assert results["total_return"] == expected.final_equity / 10_000.0 - 1.0
    wins = sum(1 for t in expected.trades if t.pnl > 0)
    assert results["win_rate"] == wins / 18
    assert results["best_trade"] == str(to_decimal(max(t.pnl for t in expected.trades)))
    assert (
        results["blocks"]
        == BacktestBlock.objects.filter(run=run).count()
        == sum(1 for d in expected.decisions if d.kind == "block")
    )
    # 1,000 bars fit the overview: the stored curve is the engine's, bit for bit
    curve = selectors.equity_curve(run_id=run.pk, max_points=10_000)
    assert np.array_equal(curve["equity"], expected.equity)
    assert np.array_equal(curve["ts"], expected.ts)
    assert curve["drawdown"].max() == 0.0
    assert curve["drawdown"].min() == pytest.approx(results["max_drawdown"])
    # daily reports add up to the run's P&L
    reports = list(DailyReport.objects.filter(run=run).order_by("day"))
    assert reports[0].start_equity == Decimal("10000")
    assert reports[-1].end_equity == dec(expected.final_equity)
    assert sum(r.exits for r in reports) == 18
    assert sum(r.pnl for r in reports) == pytest.approx(reports[-1].end_equity - Decimal(10000), abs=Decimal("1e-9"))
    # the run's request, start and end are one chain in the event stream under its id, and never a live run
    events = list(Event.objects.filter(correlation_id=run.pk).order_by("id").values_list("type", "payload"))
    assert not Event.objects.filter(run_id=str(run.pk)).exists()
    assert [t for t, _ in events] == ["backtest_requested", "backtest_started", "backtest_finished"]
    assert events[0][1]["candles"] == events[1][1]["candles"] == 1000
    assert events[2][1]["status"] == "completed"
    assert events[2][1]["final_equity"] == results["final_equity"]
    assert events[2][1]["trades"] == 18


def test_a_start_date_uses_warm_up_candles_before_it_and_counts_only_the_range(sol_candles):
    bars = Bars.from_csv(SOL_FILE, 3600)
    start = 200
    warm = sma_cross(10, 30, symbols="SOL-USDT").warmup_bars
    expected = engine_result(bars=bars.slice(start - warm, len(bars)), trade_from=warm)
    at = datetime.fromtimestamp(int(bars.ts[start]), tz=UTC)
    run = start_and_run(sma_config(start=at.isoformat()))

    assert run.candles_total == 800
    assert run.results["final_equity"] == str(to_decimal(expected.final_equity))
    first = BacktestTrade.objects.filter(run=run).order_by("seq").first()
    assert first.entry_ts == datetime.fromtimestamp(expected.trades[0].entry_ts, tz=UTC)
    assert first.entry_bar == expected.trades[0].entry_bar - warm
    assert run.results["bars"] == 800


def test_state_at_any_bar_is_the_snapshot_plus_trades_since_and_matches_the_curve(sol_candles, monkeypatch):
    monkeypatch.setattr(results_module, "CURVE_CHUNK", 97)  # many chunks: snapshots with open positions in them
    expected = engine_result()
    run = start_and_run(sma_config())
    assert CurveChunk.objects.filter(run=run).count() == 11

    for i in range(0, 1000, 7):
        at = datetime.fromtimestamp(int(expected.ts[i]), tz=UTC) + timedelta(minutes=30)
        state = selectors.state_at(run=run, at=at)
        assert state["bar"] == i
        assert state["equity"] == pytest.approx(float(expected.equity[i]), rel=1e-12)
    last = selectors.state_at(run=run, at=datetime.fromtimestamp(int(expected.ts[-1]), tz=UTC))
    assert last["cash"] == pytest.approx(expected.state.cash, rel=1e-12)
    assert last["trades_closed"] == 18
    assert last["fees_paid"] == pytest.approx(expected.state.fees_paid, rel=1e-12)
    with pytest.raises(selectors.StateError):
        selectors.state_at(run=run, at=datetime.fromtimestamp(int(expected.ts[0]) - 1, tz=UTC))


def test_the_same_config_gives_the_same_result_bit_for_bit(sol_candles):
    first = start_and_run(sma_config(name="a"))
    second = start_and_run(sma_config(name="b"))

    assert first.results == second.results

    def stored(run):
        trades = list(BacktestTrade.objects.filter(run=run).order_by("seq").values_list(
            "entry_ts", "exit_ts", "qty", "entry_price", "exit_price", "entry_fee", "exit_fee", "pnl"))  # fmt: skip
        blob = b"".join(bytes(c.equity) for c in CurveChunk.objects.filter(run=run).order_by("seq"))
        return trades, blob

    assert stored(first) == stored(second)


def test_blocks_are_recorded_with_reason_class_and_numbers(sol_candles):
    expected = engine_result(risk_per_trade="0.01", daily_risk_budget="0.02")
    run = start_and_run(sma_config(risk={**OPEN_LIMITS, "risk_per_trade": "0.01", "daily_risk_budget": "0.02"}))

    blocks = list(BacktestBlock.objects.filter(run=run).order_by("seq"))
    engine_blocks = [d for d in expected.decisions if d.kind == "block"]
    assert len(blocks) == len(engine_blocks) > 0
    assert [b.reason for b in blocks] == [d.block.reason for d in engine_blocks]
    assert blocks[0].reason == "trade_risk_limit"
    assert blocks[0].reason_class == "risk_valid"
    assert blocks[0].detail == engine_blocks[0].block.payload()["detail"]
    assert run.results["blocks_by_reason"] == {"trade_risk_limit": len(blocks)}
    assert run.results["blocks_by_class"] == {"risk_valid": len(blocks)}
    assert run.results["trades"] == 0
    assert sum(r.blocks for r in DailyReport.objects.filter(run=run)) == len(blocks)


def test_a_run_that_fails_records_its_error(sol_candles):
    run = services.backtest_run_create(data=sma_config())
    sol_candles.candles.all().delete()

    assert worker.backtest_execute(run_id=run.pk) == RunStatus.FAILED
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert run.error == "no candles of SOL-USDT in the run's range any more"
    assert not BacktestTrade.objects.filter(run=run).exists()
    finished = Event.objects.get(correlation_id=run.pk, type="backtest_finished")
    assert finished.payload["status"] == "failed"
    assert finished.payload["error"] == run.error


def test_a_run_is_executed_once_even_if_its_message_is_delivered_twice(sol_candles):
    run = start_and_run(sma_config())

    assert worker.backtest_execute(run_id=run.pk) == RunStatus.COMPLETED
    assert BacktestTrade.objects.filter(run=run).count() == 18


def test_several_symbols_share_one_portfolio_like_the_engine(sol_candles):
    from market.models import Instrument as MarketInstrument
    from market.services import candles_load_file

    twin = MarketInstrument.objects.create(
        symbol="SOLX-USDT", base="SOLX", quote="USDT", price_tick=Decimal("0.01"), lot_size=Decimal("0.001"),
        min_notional=Decimal("5"),
    )  # fmt: skip
    candles_load_file(instrument=twin, timeframe="1h", path=SOL_FILE, start=datetime(2024, 10, 5, tzinfo=UTC))
    bars = Bars.from_csv(SOL_FILE, 3600)
    k = int(np.searchsorted(bars.ts, int(datetime(2024, 10, 5, tzinfo=UTC).timestamp())))
    plan = sma_cross(10, 30, symbols=["SOL-USDT", "SOLX-USDT"], sizing=Sizing("equity_fraction", 0.5))
    limits = RiskLimits.from_mapping({**OPEN_LIMITS, "fee_rate": "0.001", "slippage_bps": "5"})
    lots = {s: Instrument(s, Decimal("0.001")) for s in ("SOL-USDT", "SOLX-USDT")}
    expected = run_backtest(
        plan, {"SOL-USDT": bars, "SOLX-USDT": bars.slice(k, len(bars))}, limits, initial_cash=10_000.0,
        instruments=lots,
    )  # fmt: skip

    run = start_and_run(
        sma_config(symbols=["SOL-USDT", "SOLX-USDT"], sizing={"method": "equity_fraction", "value": "0.5"})
    )
    assert run.candles_total == 1000 + (1000 - k)
    assert run.results["symbols"] == ["SOL-USDT", "SOLX-USDT"]
    assert run.results["final_equity"] == str(to_decimal(expected.final_equity))
    trades = list(BacktestTrade.objects.filter(run=run).order_by("seq").values_list("symbol", "entry_ts", "pnl"))
    assert len(trades) == len(expected.trades)
    assert {sym for sym, _, _ in trades} == {"SOL-USDT", "SOLX-USDT"}
    assert sorted(trades) == sorted(
        (t.symbol, datetime.fromtimestamp(t.entry_ts, tz=UTC), dec(t.pnl)) for t in expected.trades
    )
    curve = selectors.equity_curve(run_id=run.pk, max_points=10_000)
    assert np.array_equal(curve["equity"], expected.equity)
    both_open = 0
    for i in range(0, 1000, 5):
        state = selectors.state_at(run=run, at=datetime.fromtimestamp(int(expected.ts[i]), tz=UTC))
        assert state["equity"] == pytest.approx(float(expected.equity[i]), rel=1e-12)
        both_open += len(state["positions"]) == 2
    assert both_open > 0  # the state holds both symbols' positions at once


def test_the_default_equity_view_is_the_lttb_of_the_stored_overview(db):
    from backtests.models import CurveOverview
    from market.models import Instrument as MarketInstrument
    from market.services import candle_rows_upsert

    from .conftest import synthetic_rows

    syn = MarketInstrument.objects.create(
        symbol="SYN-USD", base="SYN", quote="USD", price_tick=Decimal("0.000001"), lot_size=Decimal("0.0001"),
        min_notional=Decimal(0),
    )  # fmt: skip
    candle_rows_upsert(instrument_id=syn.pk, timeframe="1m", rows=synthetic_rows(5000))
    run = start_and_run(sma_config(symbols=["SYN-USD"], timeframe="1m"))
    ts, equity, _ = CurveOverview.objects.get(run=run).arrays()
    assert len(ts) == 5000

    default = selectors.equity_curve(run_id=run.pk, max_points=1000)
    picked = metrics.lttb(ts.astype(float), equity, 1000)
    assert np.array_equal(default["ts"], ts[picked])
    assert np.array_equal(default["equity"], equity[picked])
    other = selectors.equity_curve(run_id=run.pk, max_points=999)
    assert np.array_equal(other["ts"], ts[metrics.lttb(ts.astype(float), equity, 999)])


def test_shorts_when_the_config_asks(sol_candles):
    plan = sma_cross(10, 30, symbols="SOL-USDT", side="short")
    limits = RiskLimits.from_mapping({**OPEN_LIMITS, "fee_rate": "0.001", "slippage_bps": "5"})
    expected = run_backtest(
        plan, Bars.from_csv(SOL_FILE, 3600), limits, initial_cash=10_000.0,
        instruments={"SOL-USDT": Instrument("SOL-USDT", Decimal("0.001"))},
    )  # fmt: skip
    run = start_and_run(
        sma_config(strategy={"preset": "sma_cross", "params": {"fast": 10, "slow": 30}, "side": "short"})
    )

    assert run.results["final_equity"] == str(to_decimal(expected.final_equity))
    assert set(BacktestTrade.objects.filter(run=run).values_list("side", flat=True)) == {"short"}
    assert BacktestTrade.objects.filter(run=run).count() == len(expected.trades) > 0
    last = selectors.state_at(run=run, at=datetime.fromtimestamp(int(expected.ts[-1]), tz=UTC))
    assert last["equity"] == pytest.approx(float(expected.equity[-1]), rel=1e-12)


def test_a_backtest_is_never_listed_as_a_live_run(sol_candles, client_for):
    from events.models import RunSummary

    run = start_and_run(sma_config())
    assert not RunSummary.objects.filter(run_id=str(run.pk)).exists()
    listed = client_for("viewer").get("/api/v1/runs").json()
    ids = [r["run_id"] for r in listed.get("results", listed)]
    assert str(run.pk) not in ids
    chain = client_for("viewer").get("/api/v1/events", {"correlation_id": str(run.pk)}).json()
    assert sorted(e["type"] for e in chain.get("results", chain)) == [
        "backtest_finished",
        "backtest_requested",
        "backtest_started",
    ]


def test_an_internal_error_shows_a_sentence_and_logs_the_exception(sol_candles, caplog, monkeypatch):
    run = services.backtest_run_create(data=sma_config())

    def broken(*args, **kwargs):
        raise ZeroDivisionError("float division by zero")

    monkeypatch.setattr(worker, "run_backtest", broken)
    assert worker.backtest_execute(run_id=run.pk) == RunStatus.FAILED
    run.refresh_from_db()
    assert run.error.startswith("This backtest stopped on an internal error, so it has no results.")
    assert str(run.pk) in run.error
    assert "ZeroDivisionError" not in run.error
    logged = [r for r in caplog.records if r.name == "backtests.worker" and r.exc_info]
    assert logged
    assert logged[0].exc_info[0] is ZeroDivisionError
