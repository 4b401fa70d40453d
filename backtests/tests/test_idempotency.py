"""An Idempotency-Key makes a retried start (a run or a sweep) return what the first one made, with
the one implementation every POST uses (tradingops/idempotency.py): keys belong to their user."""

import pytest
from rest_framework.test import APIClient

from backtests.models import BacktestRun, Sweep
from events.models import Event
from tradingops.models import OutboxMessage

from .conftest import sma_config

RUNS = "/api/v1/backtests"
SWEEPS = "/api/v1/backtests/sweeps"


def sweep_body(**config):
    return {"config": sma_config(**config), "grid": {"fast": [5, 10]}, "metric": "sharpe"}


def test_a_retried_sweep_is_made_once(sol_candles, client_for):
    client = client_for("operator")
    answers = [client.post(SWEEPS, sweep_body(), format="json", HTTP_IDEMPOTENCY_KEY="sweep-1") for _ in range(3)]
    assert [a.status_code for a in answers] == [202, 200, 200]
    assert len({a.json()["id"] for a in answers}) == 1
    assert answers[1].json() == answers[0].json()
    assert Sweep.objects.count() == 1
    assert BacktestRun.objects.count() == 2
    assert OutboxMessage.objects.count() == 2
    assert Event.objects.filter(type="backtest_sweep_requested").count() == 1


def test_a_sweep_key_with_another_body_is_a_409(sol_candles, client_for):
    client = client_for("operator")
    client.post(SWEEPS, sweep_body(), format="json", HTTP_IDEMPOTENCY_KEY="k")
    other = client.post(SWEEPS, sweep_body(initial_cash="5000"), format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert other.status_code == 409
    assert "Idempotency-Key" in other.json()
    assert Sweep.objects.count() == 1


@pytest.mark.parametrize("url", [RUNS, SWEEPS])
@pytest.mark.parametrize("key", ["", "   ", "x" * 201])
def test_a_bad_key_is_a_400_naming_the_header(sol_candles, client_for, url, key):
    body = sma_config() if url == RUNS else sweep_body()
    response = client_for("operator").post(url, body, format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert response.status_code == 400, response.content
    assert "Idempotency-Key" in response.json()
    assert not BacktestRun.objects.exists()


@pytest.mark.parametrize("url", [RUNS, SWEEPS])
def test_keys_belong_to_their_user(sol_candles, client_for, make_user, url):
    body = sma_config() if url == RUNS else sweep_body()
    assert client_for("operator").post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="k").status_code == 202
    other = APIClient()
    other.force_authenticate(make_user("olga", "operator"))
    assert other.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="k").status_code == 202
    assert BacktestRun.objects.filter(created_by__username="olga").exists()
