"""/api/v1/backtests: start (idempotent), read, refuse bad input naming the field, constant query counts."""

from datetime import UTC, datetime

import pytest

from backtests import services, worker
from backtests.config import SOL_SMA_EXAMPLE
from backtests.models import BacktestRun, RunStatus, Sweep

from .conftest import sma_config

URL = "/api/v1/backtests"


def finished_run(**overrides) -> BacktestRun:
    run = services.backtest_run_create(data=sma_config(**overrides))
    worker.backtest_execute(run_id=run.pk)
    return BacktestRun.objects.get(pk=run.pk)


def test_post_starts_a_queued_run_and_get_shows_it(sol_candles, client_for, users):
    response = client_for("operator").post(URL, sma_config(name="first"), format="json")

    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "queued"
    assert body["name"] == "first"
    assert body["candles_total"] == 1000
    assert body["created_by"] == "otto"
    assert body["config"]["initial_cash"] == "10000"
    assert body["config"]["strategy"] == {"preset": "sma_cross", "params": {"fast": 10, "slow": 30}}
    detail = client_for("viewer").get(f"{URL}/{body['id']}").json()
    assert detail["status"] == "queued"
    assert detail["progress"] == 0.0


def test_the_documented_example_runs_on_the_shipped_candles(sol_candles, client_for):
    """What Swagger UI's "Try it out" posts must start a run that trades, not a 400 for a range without candles."""
    response = client_for("operator").post(URL, SOL_SMA_EXAMPLE, format="json")

    assert response.status_code == 202, response.json()
    assert worker.backtest_execute(run_id=response.json()["id"]) == RunStatus.COMPLETED
    assert BacktestRun.objects.get().results["trades"] > 0


def test_idempotency_key_returns_the_same_run(sol_candles, client_for):
    client = client_for("operator")
    first = client.post(URL, sma_config(), format="json", headers={"Idempotency-Key": "k-1"})
    again = client.post(URL, sma_config(), format="json", headers={"Idempotency-Key": "k-1"})
    other = client.post(URL, sma_config(initial_cash="5000"), format="json", headers={"Idempotency-Key": "k-1"})

    assert first.status_code == 202
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert other.status_code == 409
    assert "Idempotency-Key" in other.json()
    assert BacktestRun.objects.count() == 1


BAD = [
    ({"start": "2024-10-10T00:00:00Z", "end": "2024-10-01T00:00:00Z"}, ["end"]),
    ({"start": "2025-01-01T00:00:00Z", "end": "2025-02-01T00:00:00Z"}, ["start"]),
    ({"symbols": ["DOGE-USDT"]}, ["symbols"]),
    ({"symbols": ["SOL-USDT", "SOL-USDT"]}, ["symbols"]),
    ({"symbols": ["SOL-USDT", "NOPE-USD"]}, ["symbols"]),
    ({"timeframe": "2h"}, ["timeframe"]),
    ({"strategy": {"preset": "moon", "params": {}}}, ["strategy", "preset"]),
    ({"strategy": {"preset": "sma_cross", "params": {"fast": 30, "slow": 30}}}, ["strategy", "params", "fast"]),
    ({"strategy": {"preset": "sma_cross", "params": {"fast": 5, "slow": 20, "speed": 1}}},
     ["strategy", "params", "speed"]),
    ({"strategy": {"plan": {"symbols": [{"symbol": "SOL-USDT", "entry": "close >> sma_5", "exit": "close < sma_5"}]}}},
     ["strategy", "plan", "symbols", "0", "entry"]),
    ({"initial_cash": "0"}, ["initial_cash"]),
    ({"fee_rate": "0.5"}, ["fee_rate"]),
    ({"sizing": {"method": "martingale", "value": "1"}}, ["sizing", "method"]),
    ({"sizing": {"method": "equity_fraction", "value": "2"}}, ["sizing", "value"]),
    ({"risk": {"risk_per_trade": "0.05", "daily_risk_budget": "0.02"}}, ["risk", "risk_per_trade"]),
    ({"fill_timing": "same_close"}, ["fill_timing"]),
    ({"leverage": 10}, ["leverage"]),
]  # fmt: skip


@pytest.mark.parametrize(("change", "path"), BAD)
def test_bad_config_is_a_400_naming_the_field_and_writes_nothing(sol_candles, client_for, change, path):
    response = client_for("operator").post(URL, sma_config(**change), format="json")

    assert response.status_code == 400, response.content
    node = response.json()
    for key in path:
        assert key in node, (path, response.json())
        node = node[key]
    assert isinstance(node, list)
    assert node
    assert BacktestRun.objects.count() == 0


def test_a_plan_in_the_rule_language_runs(sol_candles, client_for):
    plan = {"name": "dip", "symbols": [{"symbol": "SOL-USDT", "entry": "rsi_14 < 35", "exit": "rsi_14 > 60"}]}
    response = client_for("operator").post(URL, sma_config(strategy={"plan": plan}), format="json")
    assert response.status_code == 202, response.content
    assert worker.backtest_execute(run_id=response.json()["id"]) == RunStatus.COMPLETED
    results = client_for("viewer").get(f"{URL}/{response.json()['id']}/results").json()["results"]
    assert results["trades"] > 0


def test_cancelling_a_finished_run_is_a_409_naming_its_status(sol_candles, client_for):
    run = finished_run()
    response = client_for("operator").post(f"{URL}/{run.pk}/cancel")

    assert response.status_code == 409
    assert "completed" in response.json()["status"][0]
    run.refresh_from_db()
    assert run.status == RunStatus.COMPLETED


def test_cancelling_a_queued_run_cancels_it_at_once(sol_candles, client_for):
    run = services.backtest_run_create(data=sma_config())
    response = client_for("operator").post(f"{URL}/{run.pk}/cancel")

    assert response.status_code == 202
    assert response.json()["status"] == "cancelled"
    assert worker.backtest_execute(run_id=run.pk) == RunStatus.CANCELLED  # the worker then skips it


def test_results_before_completion_are_a_409_with_the_status(sol_candles, client_for):
    run = services.backtest_run_create(data=sma_config())
    for path in ("results", "equity", "state?at=2024-10-01T00:00:00Z"):
        response = client_for("viewer").get(f"{URL}/{run.pk}/{path}")
        assert response.status_code == 409
        assert "queued" in response.json()["status"][0]


def test_a_failed_run_shows_its_error(sol_candles, client_for):
    run = services.backtest_run_create(data=sma_config())
    sol_candles.candles.all().delete()
    worker.backtest_execute(run_id=run.pk)

    body = client_for("viewer").get(f"{URL}/{run.pk}").json()
    assert body["status"] == "failed"
    assert body["error"] == "no candles of SOL-USDT in the run's range any more"
    results = client_for("viewer").get(f"{URL}/{run.pk}/results")
    assert results.status_code == 409
    assert "no candles" in results.json()["status"][0]


def test_equity_is_downsampled_to_max_points_keeping_both_ends(sol_candles, client_for):
    run = finished_run()
    client = client_for("viewer")
    body = client.get(f"{URL}/{run.pk}/equity?max_points=100").json()
    full = client.get(f"{URL}/{run.pk}/equity?max_points=5000").json()

    assert body["bars"] == 1000
    assert body["points"] == len(body["t"]) == len(body["equity"]) == len(body["drawdown"]) == 100
    assert full["points"] == 1000
    assert body["t"][0] == full["t"][0] == int(datetime(2024, 9, 19, 23, tzinfo=UTC).timestamp())
    assert body["t"][-1] == full["t"][-1]
    assert body["equity"][-1] == run.results["final_equity"]
    assert client.get(f"{URL}/{run.pk}/equity").json()["points"] == 1000  # default 1,000 (all 1,000 here)
    bad = client.get(f"{URL}/{run.pk}/equity?max_points=1")
    assert bad.status_code == 400
    assert "max_points" in bad.json()


def test_state_at_a_moment(sol_candles, client_for):
    run = finished_run()
    client = client_for("viewer")
    last = client.get(f"{URL}/{run.pk}/state", {"at": "2024-10-31T14:30:00Z"}).json()

    assert last["bar"] == 999
    assert last["trades_closed"] == 18
    assert last["equity"] == run.results["final_equity"]
    assert client.get(f"{URL}/{run.pk}/state").json() == {"at": ["This field is required."]}
    early = client.get(f"{URL}/{run.pk}/state", {"at": "2020-01-01T00:00:00Z"})
    assert early.status_code == 400
    assert "first bar" in early.json()["at"][0]


def test_trades_are_paginated_and_filtered_by_side(sol_candles, client_for):
    run = finished_run()
    client = client_for("viewer")
    page = client.get(f"{URL}/{run.pk}/trades", {"limit": 5}).json()
    assert [t["seq"] for t in page["results"]] == [1, 2, 3, 4, 5]
    second = client.get(page["next"]).json()
    assert [t["seq"] for t in second["results"]] == [6, 7, 8, 9, 10]
    assert len(client.get(f"{URL}/{run.pk}/trades", {"side": "long", "limit": 100}).json()["results"]) == 18
    assert client.get(f"{URL}/{run.pk}/trades", {"side": "short"}).json()["results"] == []
    assert client.get(f"{URL}/{run.pk}/trades", {"side": "sideways"}).status_code == 400


def test_daily_reports_and_blocks(sol_candles, client_for):
    run = finished_run(risk={"risk_per_trade": "0.01", "daily_risk_budget": "0.02", "max_cost_to_reward": None})
    client = client_for("viewer")
    blocks = client.get(f"{URL}/{run.pk}/blocks", {"reason_class": "risk_valid", "limit": 1000}).json()["results"]
    assert len(blocks) == run.results["blocks"] > 0
    assert blocks[0]["reason"] == "trade_risk_limit"
    assert set(blocks[0]["detail"]) == {"trade_risk", "allowed", "equity", "risk_per_trade"}
    days = client.get(f"{URL}/{run.pk}/daily-reports", {"limit": 1000}).json()["results"]
    assert days[0]["day"] == "2024-09-19"
    assert sum(d["blocks"] for d in days) == len(blocks)


def test_compare_two_runs(sol_candles, client_for):
    a = finished_run(name="fast")
    b = finished_run(name="slow", strategy={"preset": "sma_cross", "params": {"fast": 20, "slow": 50}})
    body = client_for("viewer").get(f"{URL}/compare", {"ids": f"{a.pk},{b.pk}", "max_points": 50}).json()
    assert [r["name"] for r in body["runs"]] == ["fast", "slow"]
    assert body["runs"][0]["results"]["final_equity"] == a.results["final_equity"]
    assert len(body["runs"][1]["equity"]["t"]) == 50
    assert client_for("viewer").get(f"{URL}/compare", {"ids": str(a.pk)}).status_code == 400


def test_presets_list_their_parameters(client_for):
    body = client_for("viewer").get(f"{URL}/presets").json()
    sma = next(p for p in body if p["name"] == "sma_cross")
    assert sma["params"][0] == {"name": "fast", "type": "int", "default": 10, "min": 1, "max": 999}


def test_sweep_creates_one_run_per_valid_combination_and_ranks_them(sol_candles, client_for):
    body = {"config": sma_config(), "grid": {"fast": [5, 10, 30], "slow": [20, 30]}, "metric": "total_return"}
    response = client_for("operator").post(f"{URL}/sweeps", body, format="json")

    assert response.status_code == 202, response.content
    sweep = response.json()
    assert sweep["combinations"] == 6
    assert sweep["runs_total"] == 4  # (30, 20) and (30, 30) are refused: fast must be below slow
    assert [s["params"] for s in sweep["skipped"]] == [{"fast": 30, "slow": 20}, {"fast": 30, "slow": 30}]
    for run in BacktestRun.objects.filter(sweep_id=sweep["id"]):
        worker.backtest_execute(run_id=run.pk)
    ranked = client_for("viewer").get(f"{URL}/sweeps/{sweep['id']}/results").json()["results"]
    scores = [r["score"] for r in ranked]
    assert scores == sorted(scores, reverse=True)
    assert len(scores) == 4
    assert ranked[0]["score"] == ranked[0]["results"]["total_return"]
    by_sharpe = client_for("viewer").get(f"{URL}/sweeps/{sweep['id']}/results", {"metric": "sharpe", "order": "asc"})
    sharpes = [r["score"] for r in by_sharpe.json()["results"]]
    assert sharpes == sorted(sharpes)


def test_a_sweep_over_10000_combinations_is_refused(sol_candles, client_for):
    grid = {"fast": list(range(1, 101)), "slow": list(range(200, 301))}  # 10,100
    response = client_for("operator").post(f"{URL}/sweeps", {"config": sma_config(), "grid": grid}, format="json")
    assert response.status_code == 400
    assert "10,100 combinations" in response.json()["grid"][0]
    assert Sweep.objects.count() == 0
    assert BacktestRun.objects.count() == 0


@pytest.mark.parametrize(
    ("role", "read", "write"),
    [("viewer", 200, 403), ("operator", 200, 202), ("admin", 200, 202), ("nobody", 403, 403), (None, 401, 401)],
)
def test_permissions(sol_candles, client_for, role, read, write):
    client = client_for(role)
    assert client.get(URL).status_code == read
    assert client.post(URL, sma_config(), format="json").status_code == write
    assert client.get(f"{URL}/presets").status_code == read


@pytest.mark.parametrize("rows", [1, 15])
def test_run_list_query_count_does_not_grow(sol_candles, client_for, django_assert_num_queries, rows):
    for _ in range(rows):
        finished_run()
    client = client_for("viewer")
    client.get(URL)  # warm the user's session/groups lookups
    with django_assert_num_queries(2):  # role check + page
        response = client.get(URL, {"status": "completed"})
    assert len(response.json()["results"]) == rows


@pytest.mark.parametrize("fast", [10, 3])
def test_trades_and_blocks_query_count_does_not_grow(sol_candles, client_for, django_assert_num_queries, fast):
    run = finished_run(strategy={"preset": "sma_cross", "params": {"fast": fast, "slow": 30}})
    client = client_for("viewer")
    for path in ("trades", "blocks", "daily-reports"):
        with django_assert_num_queries(3):  # role check + run exists + page
            client.get(f"{URL}/{run.pk}/{path}", {"limit": 1000})
    with django_assert_num_queries(4):  # role + run + chunk + trades since its start
        client.get(f"{URL}/{run.pk}/state", {"at": "2024-10-20T00:00:00Z"})
    with django_assert_num_queries(3):  # role + run + overview
        client.get(f"{URL}/{run.pk}/equity")


@pytest.mark.parametrize("sweeps", [1, 6])
def test_sweep_list_and_ranking_query_counts_do_not_grow(sol_candles, client_for, django_assert_num_queries, sweeps):
    for _ in range(sweeps):
        body = {"config": sma_config(), "grid": {"fast": [5, 10]}}
        assert client_for("operator").post(f"{URL}/sweeps", body, format="json").status_code == 202
    client = client_for("viewer")
    client.get(f"{URL}/sweeps")
    with django_assert_num_queries(2):  # role + page (run counts are annotated)
        assert len(client.get(f"{URL}/sweeps").json()["results"]) == sweeps
    sweep_id = Sweep.objects.first().pk
    with django_assert_num_queries(4):  # role + sweep + count + page
        assert len(client.get(f"{URL}/sweeps/{sweep_id}/results").json()["results"]) == 2


@pytest.mark.parametrize("child", ["trades", "blocks", "daily-reports"])
def test_a_list_under_an_unknown_run_is_404_not_an_empty_page(client_for, child):
    response = client_for("viewer").get(f"{URL}/00000000-0000-0000-0000-000000000000/{child}")

    assert response.status_code == 404
    assert "no such backtest run" in response.json()["detail"]
