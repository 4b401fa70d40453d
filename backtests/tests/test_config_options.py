"""What a run's config can say: presets that trade with their defaults, sizing at the fill price,
closing at the end of the data, and bad input refused by name with nothing written."""

import pytest

from agents.engine import PRESETS
from backtests import services, worker
from backtests.models import BacktestRun, BacktestTrade, RunStatus

from .conftest import sma_config

URL = "/api/v1/backtests"


def minimal(preset: str, **extra) -> dict:
    """What the form sends when nothing but the preset is chosen: every other field at its default."""
    return {"symbols": ["SOL-USDT"], "timeframe": "1h", "initial_cash": "10000",
            "strategy": {"preset": preset, "params": {}}, **extra}  # fmt: skip


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_preset_trades_with_its_defaults_on_the_shipped_candles(sol_candles, preset):
    run = services.backtest_run_create(data=minimal(preset))
    assert worker.backtest_execute(run_id=run.pk) == RunStatus.COMPLETED
    run.refresh_from_db()
    assert run.results["trades"] > 0, run.results["blocks_by_reason"]
    assert run.config["risk"]["risk_per_trade"] is None  # the backtest defaults, stored with the run
    assert run.config["risk"]["max_open_positions"] == 5
    assert run.config["close_at_end"] is False
    assert run.config["sizing"] == {"method": "equity_fraction", "value": "1", "price": "signal"}


def test_sizing_at_the_fill_and_close_at_end_are_stored_and_run(sol_candles):
    data = minimal("sma_cross", sizing={"method": "equity_fraction", "value": "1", "price": "fill"}, close_at_end=True)
    data["strategy"]["params"] = {"fast": 5, "slow": 13}
    run = services.backtest_run_create(data=data)
    assert run.config["sizing"]["price"] == "fill"
    assert run.config["close_at_end"] is True
    assert worker.backtest_execute(run_id=run.pk) == RunStatus.COMPLETED
    run.refresh_from_db()
    assert run.results["open_positions"] == []
    trades = list(BacktestTrade.objects.filter(run=run).order_by("seq"))
    assert trades
    kept = services.backtest_run_create(data={**data, "close_at_end": False})
    worker.backtest_execute(run_id=kept.pk)
    kept.refresh_from_db()
    if kept.results["open_positions"]:
        assert trades[-1].exit_reason == "end_of_data"
        assert len(trades) == kept.results["trades"] + 1
    else:
        assert len(trades) == kept.results["trades"]


BAD = [
    ({"close_at_end": "yes"}, ["close_at_end"]),
    ({"close_at_end": 1}, ["close_at_end"]),
    ({"close_at_end": None}, ["close_at_end"]),
    ({"sizing": {"method": "equity_fraction", "value": "0"}}, ["sizing", "value"]),
    ({"sizing": {"method": "fixed_qty", "value": "-3"}}, ["sizing", "value"]),
    ({"sizing": {"method": "equity_fraction", "value": "1", "price": "close"}}, ["sizing", "price"]),
    ({"risk": {"max_trades_per_day": 0}}, ["risk", "max_trades_per_day"]),
    ({"risk": {"max_open_positions": 0}}, ["risk", "max_open_positions"]),
    ({"risk": {"risk_per_trade": "0"}}, ["risk", "risk_per_trade"]),
    ({"risk": {"daily_risk_budget": "0"}}, ["risk", "daily_risk_budget"]),
    ({"risk": {"max_trades_per_day": -1}}, ["risk", "max_trades_per_day"]),
    ({"risk": {"max_trades_per_day": 2**31}}, ["risk", "max_trades_per_day"]),
    ({"symbols": ["ETH-USDT"]}, ["symbols"]),
    ({"start": "2030-01-01T00:00:00Z"}, ["start"]),
]  # fmt: skip


@pytest.mark.parametrize(("change", "path"), BAD)
def test_bad_input_is_a_400_naming_the_field_and_writes_nothing(sol_candles, client_for, change, path):
    response = client_for("operator").post(URL, sma_config(**change), format="json")

    assert response.status_code == 400, response.content
    node = response.json()
    for key in path:
        assert key in node, (path, response.json())
        node = node[key]
    assert isinstance(node, list)
    assert node
    assert BacktestRun.objects.count() == 0


def test_a_zero_limit_says_null_switches_it_off(sol_candles, client_for):
    response = client_for("operator").post(URL, sma_config(risk={"max_trades_per_day": 0}), format="json")
    assert "null" in response.json()["risk"]["max_trades_per_day"][0]


def test_services_raise_the_projects_errors_not_drfs(sol_candles):
    from rest_framework.exceptions import APIException

    from tradingops.errors import Conflict, Invalid

    with pytest.raises(Invalid) as caught:
        services.backtest_run_create(data=sma_config(risk={"max_open_positions": 0}))
    assert not isinstance(caught.value, APIException)
    assert "max_open_positions" in caught.value.detail["risk"]
    with pytest.raises(Invalid) as caught:
        services.sweep_create(data=sma_config(), grid={"speed": [1]}, metric="sharpe")
    assert "grid" in caught.value.detail
    run = services.backtest_run_create(data=sma_config())
    worker.backtest_execute(run_id=run.pk)
    with pytest.raises(Conflict) as caught:
        services.backtest_run_cancel(run_id=run.pk)
    assert "status" in caught.value.detail


def test_the_api_gives_each_block_its_why_and_the_results_a_summary(sol_candles, client_for):
    run = services.backtest_run_create(data=sma_config(risk={"risk_per_trade": "0.01", "daily_risk_budget": "0.02"}))
    worker.backtest_execute(run_id=run.pk)
    blocks = client_for("viewer").get(f"{URL}/{run.pk}/blocks").json()["results"]
    assert blocks
    assert blocks[0]["why"].startswith("the trade risks more than the per-trade limit: the trade risks ")
    results = client_for("viewer").get(f"{URL}/{run.pk}/results").json()["results"]
    summary = results["summary"]
    assert set(summary) >= {"per_symbol", "per_exit_reason", "best_trade", "worst_trade", "avg_duration_s",
                            "win_rate", "blocks_by_reason"}  # fmt: skip
    assert results["quote"] == "USDT"
    assert sum(row["trades"] for row in summary["per_exit_reason"]) == results["trades"]


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_the_presets_endpoint_shows_the_defaults_a_run_stores(sol_candles, client_for, preset):
    listed = next(p for p in client_for("viewer").get(f"{URL}/presets").json() if p["name"] == preset)["defaults"]
    run = services.backtest_run_create(data=minimal(preset))
    config = run.config
    assert listed["sizing"] == config["sizing"]
    assert listed["close_at_end"] is config["close_at_end"] is False
    assert (listed["fee_rate"], listed["slippage_bps"], listed["fill_timing"]) == (
        config["fee_rate"], config["slippage_bps"], config["fill_timing"])  # fmt: skip
    assert {k: v for k, v in listed["risk"].items() if k != "min_notional"} == config["risk"]


def test_a_run_whose_every_entry_is_blocked_completes_with_no_trade(sol_candles):
    run = services.backtest_run_create(data=sma_config(risk={"risk_per_trade": "0.0001"}))
    assert worker.backtest_execute(run_id=run.pk) == RunStatus.COMPLETED
    run.refresh_from_db()
    assert run.results["trades"] == 0
    assert run.results["blocks_by_reason"]["trade_risk_limit"] > 0
    assert run.results["summary"]["best_trade"] is None
    assert not BacktestTrade.objects.filter(run=run).exists()
