"""A backtest's id is the system's: a client may not post events into it as a run id (a
``run_control`` there would make a live-looking run of a backtest, flip its status on the
dashboards, and sit in its event chain)."""

import uuid

import pytest

from backtests import services
from events.models import Event, RunSummary
from events.tests.payloads import LLM_CALL

from .conftest import sma_config

EVENTS = "/api/v1/events"


@pytest.fixture
def backtest_id(sol_candles):
    return str(services.backtest_run_create(data=sma_config()).pk)


@pytest.mark.parametrize(
    ("event_type", "payload"),
    [("run_control", {"action": "pause"}), ("run_control", {"action": "stop"}), ("llm_call", LLM_CALL)],
)
@pytest.mark.parametrize("spelling", [str, str.upper, lambda rid: uuid.UUID(rid).hex])
def test_a_client_cannot_post_into_a_backtests_run_id(client_for, backtest_id, event_type, payload, spelling):
    written = Event.objects.count()
    body = {"type": event_type, "payload": payload, "run_id": spelling(backtest_id)}
    response = client_for("operator").post(EVENTS, body, format="json")
    assert response.status_code == 400, response.content
    assert "backtest" in response.json()["run_id"][0]
    assert Event.objects.count() == written
    assert not RunSummary.objects.exists()


def test_one_such_event_refuses_the_whole_batch(client_for, backtest_id):
    batch = [
        {"type": "llm_call", "payload": LLM_CALL, "run_id": "my-agent"},
        {"type": "run_control", "payload": {"action": "pause"}, "run_id": backtest_id},
    ]
    response = client_for("operator").post(EVENTS, batch, format="json")
    assert response.status_code == 400
    assert response.json()[0] == {}
    assert "run_id" in response.json()[1]
    assert not Event.objects.filter(type__in=["llm_call", "run_control"]).exists()


def test_a_uuid_that_is_no_backtest_is_a_clients_own_run(client_for, backtest_id):
    body = {"type": "run_control", "payload": {"action": "pause"}, "run_id": str(uuid.uuid4())}
    assert client_for("operator").post(EVENTS, body, format="json").status_code == 201
