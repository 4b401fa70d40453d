"""Events posted by clients are inputs, never facts: only the types meant for clients, the source
set by the server from the authenticated user, and no dedupe key that a service could later need."""

import pytest

from agents.models import Fill, Position
from events.models import Event
from events.services import emit
from events.tests.payloads import LLM_CALL

EVENTS_URL = "/api/v1/events"
FILL = {"fill_id": "f1", "order_id": "o1", "symbol": "SOL-USDT", "side": "buy", "qty": "2", "price": "142.5"}


@pytest.fixture
def operator(client_for):
    return client_for("operator")


@pytest.mark.parametrize(
    ("event_type", "payload"),
    [
        ("fill", FILL),
        ("position_update", {"symbol": "SOL-USDT", "qty": "5", "avg_entry_price": "1"}),
        ("runtime_changed", {"changes": {"mode": {"old": "paper", "new": "live"}}}),
        ("trade_blocked", {"symbol": "SOL-USDT", "side": "buy", "reason": "x", "reason_class": "infra"}),
        (
            "ledger_adjusted",
            {"entry_id": 1, "wallet_id": 1, "wallet": "w", "currency": "USDT", "amount": "1e6", "reason": "free money"},
        ),  # fmt: skip
    ],
)
def test_a_client_cannot_post_a_domain_fact(operator, event_type, payload):
    response = operator.post(EVENTS_URL, {"type": event_type, "payload": payload}, format="json")
    assert response.status_code == 400
    assert "type" in response.data
    assert Event.objects.count() == 0
    assert not Fill.objects.exists()
    assert not Position.objects.exists()


def test_a_forged_fact_in_a_batch_refuses_the_whole_batch(operator):
    batch = [{"type": "llm_call", "payload": LLM_CALL}, {"type": "fill", "payload": FILL}]
    response = operator.post(EVENTS_URL, batch, format="json")
    assert response.status_code == 400
    assert response.data[0] == {}
    assert "type" in response.data[1]
    assert Event.objects.count() == 0


def test_the_source_is_set_by_the_server(operator):
    response = operator.post(
        EVENTS_URL, {"type": "llm_call", "payload": LLM_CALL, "source": "agent:execution"}, format="json"
    )
    assert response.status_code == 400
    assert "source" in response.data
    response = operator.post(EVENTS_URL, {"type": "llm_call", "payload": LLM_CALL}, format="json")
    assert response.status_code == 201
    assert Event.objects.get().source == "user:otto"


def test_a_client_cannot_control_the_live_run(operator):
    body = {"type": "run_control", "payload": {"action": "stop"}, "run_id": "live"}
    response = operator.post(EVENTS_URL, body, format="json")
    assert response.status_code == 400
    assert "run_id" in response.data
    body["run_id"] = "my-external-agent"
    assert operator.post(EVENTS_URL, body, format="json").status_code == 201


def test_a_client_intent_is_only_a_note(operator):
    """Actions go through POST /agents/intents, which checks and carries them out; an intent
    posted as a raw event would be listed but never executed."""
    response = operator.post(EVENTS_URL, {"type": "intent", "payload": {"action": "flatten"}}, format="json")
    assert response.status_code == 400
    assert "payload" in response.data
    response = operator.post(EVENTS_URL, {"type": "intent", "payload": {"action": "note", "note": "hi"}}, format="json")
    assert response.status_code == 201


def test_a_client_dedupe_key_cannot_claim_a_service_key(operator):
    """A client key lives in the client's own namespace: the service's event with that key still lands."""
    response = operator.post(
        EVENTS_URL, {"type": "llm_call", "payload": LLM_CALL, "dedupe_key": "fill:f1"}, format="json"
    )
    assert response.status_code == 201
    real = emit("fill", FILL, source="agent:execution", dedupe_key="fill:f1")
    assert real.created
    assert real.type == "fill"
    again = operator.post(EVENTS_URL, {"type": "llm_call", "payload": LLM_CALL, "dedupe_key": "fill:f1"}, format="json")
    assert again.status_code == 200


def test_an_empty_batch_is_refused(operator):
    response = operator.post(EVENTS_URL, [], format="json")
    assert response.status_code == 400
    assert "non_field_errors" in response.data


def test_unknown_envelope_fields_are_refused(operator):
    response = operator.post(EVENTS_URL, {"type": "llm_call", "payload": LLM_CALL, "colour": "red"}, format="json")
    assert response.status_code == 400
    assert "colour" in response.data


def test_a_zone_less_time_is_refused(operator):
    body = {"type": "llm_call", "payload": LLM_CALL, "ts": "2024-09-20T12:00:00"}
    response = operator.post(EVENTS_URL, body, format="json")
    assert response.status_code == 400
    assert "ts" in response.data
