"""An Idempotency-Key makes a retried POST return what the first one made, never a second one."""

import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient

from agents.models import Intent, StrategyPlan
from events.models import Event

INTENTS = "/api/v1/agents/intents"
PLANS = "/api/v1/agents/plans"
PLAN = {
    "name": "trend",
    "symbols": [{"symbol": "SOL-USDT", "entry": "close > sma_50", "exit": "close < sma_20", "stop": "2 * atr_14",
                 "sizing": {"method": "risk", "value": 0.004}}],
}  # fmt: skip


def test_a_retried_intent_is_carried_out_once(client_for):
    client = client_for("operator")
    answers = [
        client.post(INTENTS, {"action": "pause"}, format="json", HTTP_IDEMPOTENCY_KEY="pause-1") for _ in range(5)
    ]
    assert [a.status_code for a in answers] == [202, 200, 200, 200, 200]
    assert len({a.data["event_id"] for a in answers}) == 1
    assert Intent.objects.count() == 1


def test_the_same_key_with_another_body_is_a_409(client_for):
    client = client_for("operator")
    client.post(INTENTS, {"action": "pause"}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    other = client.post(INTENTS, {"action": "resume"}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert other.status_code == 409
    assert "Idempotency-Key" in other.data
    assert Intent.objects.count() == 1


def test_keys_belong_to_their_user(client_for, make_user):
    client_for("operator").post(INTENTS, {"action": "pause"}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    other = APIClient()
    other.force_authenticate(make_user("olga", "operator"))
    assert other.post(INTENTS, {"action": "pause"}, format="json", HTTP_IDEMPOTENCY_KEY="k").status_code == 202
    assert Intent.objects.count() == 2


@pytest.mark.parametrize("key", ["", "x" * 201])
def test_a_bad_key_is_a_400_naming_the_header(client_for, key):
    response = client_for("operator").post(INTENTS, {"action": "pause"}, format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert response.status_code == 400
    assert "Idempotency-Key" in response.data


def test_a_retried_plan_is_made_once(client_for, sol):
    client = client_for("operator")
    first = client.post(PLANS, {"plan": PLAN}, format="json", HTTP_IDEMPOTENCY_KEY="plan-1")
    again = client.post(PLANS, {"plan": PLAN}, format="json", HTTP_IDEMPOTENCY_KEY="plan-1")
    assert (first.status_code, again.status_code) == (201, 200)
    assert (first.data["plan_id"], first.data["version"]) == (again.data["plan_id"], again.data["version"])
    assert StrategyPlan.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicates_make_one_intent(users):
    barrier = threading.Barrier(10)
    codes = []

    def post():
        client = APIClient()
        client.force_authenticate(users["operator"])
        barrier.wait()
        codes.append(client.post(INTENTS, {"action": "pause"}, format="json", HTTP_IDEMPOTENCY_KEY="race").status_code)

        connection.close()

    threads = [threading.Thread(target=post) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(codes) == [200] * 9 + [202]
    assert Event.objects.filter(type="intent").count() == 1
