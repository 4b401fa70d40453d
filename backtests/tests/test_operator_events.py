"""Starting and cancelling backtests are operator actions: events naming the user. A started run is
sent through the transactional outbox, so the broker being down neither fails the request nor
loses the run."""

import uuid

import pytest
from kombu.exceptions import OperationalError as BrokerDown

from backtests.models import BacktestRun, RunStatus
from events.models import Event
from tradingops import outbox
from tradingops.models import OutboxMessage

from .conftest import sma_config

URL = "/api/v1/backtests"


def test_starting_a_backtest_is_an_event_naming_the_user(sol_candles, client_for):
    response = client_for("operator").post(URL, sma_config(name="first"), format="json")
    assert response.status_code == 202, response.content
    run = BacktestRun.objects.get()
    event = Event.objects.get(type="backtest_requested")
    assert event.source == "user:otto"
    assert event.correlation_id == run.pk  # the run's chain: requested, started, finished
    assert event.run_id == ""  # a backtest is not a live run
    assert (event.payload["backtest_id"], event.payload["name"]) == (str(run.pk), "first")
    assert event.payload["symbols"] == ["SOL-USDT"]


def test_cancelling_a_backtest_is_an_event_naming_the_user_once(sol_candles, client_for):
    run_id = client_for("operator").post(URL, sma_config(), format="json").json()["id"]
    BacktestRun.objects.filter(pk=run_id).update(status=RunStatus.RUNNING)  # a cancel of a running run repeats
    for _ in range(2):
        assert client_for("operator").post(f"{URL}/{run_id}/cancel").status_code == 202
    event = Event.objects.get(type="backtest_cancel_requested")
    assert event.source == "user:otto"
    assert event.correlation_id == uuid.UUID(run_id)
    assert event.payload == {"backtest_id": run_id, "status": "running"}


def test_a_sweep_is_one_event_naming_the_user(sol_candles, client_for):
    body = {"config": sma_config(), "grid": {"fast": [5, 10, 30]}}  # fast=30 is not below slow=30: skipped
    response = client_for("operator").post(f"{URL}/sweeps", body, format="json")
    assert response.status_code == 202, response.content
    event = Event.objects.get(type="backtest_sweep_requested")
    assert event.source == "user:otto"
    assert event.payload["sweep_id"] == response.json()["id"]
    assert (event.payload["runs"], event.payload["skipped"]) == (2, 1)
    assert not Event.objects.filter(type="backtest_requested").exists()  # one event, not one per run


def test_a_backtest_with_the_broker_down_is_202_and_waits_in_the_outbox(
    sol_candles, client_for, monkeypatch, django_capture_on_commit_callbacks
):
    def broker_down(message, connection=None):
        raise BrokerDown("Error 111 connecting to 127.0.0.1:6399. Connection refused.")

    monkeypatch.setattr(outbox, "_publish", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for("operator").post(URL, sma_config(), format="json")
    assert response.status_code == 202, response.content
    assert response.json()["status"] == "queued"
    message = OutboxMessage.objects.get()
    assert (message.task, message.args) == ("backtests.tasks.backtest_run_task", [response.json()["id"]])
    assert message.dispatched_at is None
    assert "Connection refused" in message.last_error

    sent = []
    monkeypatch.setattr(outbox, "_publish", lambda message, connection=None: sent.append(message.args))
    assert outbox.sweep(older_than_s=0) == 1
    assert outbox.sweep(older_than_s=0) == 0
    assert sent == [[response.json()["id"]]]


def test_a_sweep_sends_each_run_through_the_outbox(
    sol_candles, client_for, monkeypatch, django_capture_on_commit_callbacks
):
    sent = []
    monkeypatch.setattr(outbox, "_publish", lambda message, connection=None: sent.append(message.args[0]))
    body = {"config": sma_config(), "grid": {"fast": [5, 10]}}
    with django_capture_on_commit_callbacks(execute=True):
        assert client_for("operator").post(f"{URL}/sweeps", body, format="json").status_code == 202
    runs = {str(pk) for pk in BacktestRun.objects.values_list("pk", flat=True)}
    assert len(runs) == 2
    assert sorted(sent) == sorted(runs)
    assert not OutboxMessage.objects.filter(dispatched_at__isnull=True).exists()


@pytest.mark.parametrize("path", ["", "/sweeps"])
def test_a_refused_start_writes_no_event_and_sends_nothing(sol_candles, client_for, path):
    body = sma_config(initial_cash="0") if not path else {"config": sma_config(initial_cash="0"), "grid": {"fast": [5]}}
    assert client_for("operator").post(f"{URL}{path}", body, format="json").status_code == 400
    assert not Event.objects.exists()
    assert not OutboxMessage.objects.exists()
