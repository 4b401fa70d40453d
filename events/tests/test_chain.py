"""A chain per decision: a fill's or block's own causation path, short and in order, whatever the
size of the plan; the correlation chain paged, never cut silently; heartbeats and marks left out."""

import pytest

from events import types
from events.types import PayloadInvalid, validate_payload

from .plan_life import make_plan_life

pytestmark = pytest.mark.django_db

EVENTS_URL = "/api/v1/events"


@pytest.fixture
def viewer(client_for):
    return client_for("viewer")


def _types(steps):
    return [step["type"] for step in steps]


def test_a_fill_in_a_plan_of_3000_events_has_its_own_short_chain_in_causal_order(viewer, django_assert_max_num_queries):
    life = make_plan_life(heartbeats=2900)
    fill = life.trades[1]["fill"]
    with django_assert_max_num_queries(20):
        response = viewer.get(f"{EVENTS_URL}/{fill.event_id}/chain")
    assert response.status_code == 200
    steps = response.data["steps"]
    assert len(steps) < 20
    assert _types(steps) == ["intent", "plan_generated", "plan_judged", "trigger_fired", "order_submitted", "fill"]
    trade = life.trades[1]
    assert [s["event_id"] for s in steps[3:]] == [str(trade[k].event_id) for k in ("trigger", "order", "fill")]
    assert steps[-1]["cause"] == {"event_id": str(trade["order"].event_id), "type": "order_submitted"}
    assert response.data["truncated"] is False
    assert response.data["correlation_chain"] == f"{EVENTS_URL}/chains/{life.correlation_id}"


def test_a_trigger_chain_goes_on_to_its_order_fill_and_released_claim_without_heartbeats(viewer):
    life = make_plan_life(trades=2, blocks=0, heartbeats=50)
    trigger = life.trades[0]["trigger"]
    steps = viewer.get(f"{EVENTS_URL}/{trigger.event_id}/chain").data["steps"]
    assert _types(steps) == [
        "intent", "plan_generated", "plan_judged", "trigger_fired", "order_submitted", "fill", "risk_released"
    ]  # fmt: skip
    assert not set(_types(steps)) & set(types.outside_chains())


@pytest.mark.parametrize("index", [0, 1], ids=["linked-by-trigger_id-only", "linked-by-causation-too"])
def test_a_block_chain_reaches_its_trigger_and_carries_its_numbers(viewer, index):
    life = make_plan_life(trades=1, blocks=2, heartbeats=20)
    block = life.blocks[index]
    steps = viewer.get(f"{EVENTS_URL}/{block['block'].event_id}/chain").data["steps"]
    assert _types(steps) == ["intent", "plan_generated", "plan_judged", "trigger_fired", "trade_blocked"]
    assert steps[3]["event_id"] == str(block["trigger"].event_id)
    payload = steps[-1]["payload"]
    assert (payload["trigger_id"], payload["qty"], payload["price"]) == (
        str(block["trigger"].event_id),
        "14.3",
        "139.5",
    )


def test_the_correlation_chain_is_paged_says_its_size_and_hides_heartbeats(viewer):
    life = make_plan_life(trades=3, blocks=2, heartbeats=300)
    url = f"{EVENTS_URL}/chains/{life.correlation_id}"
    first = viewer.get(url, {"limit": 5}).data
    decisions = 3 + 3 * 4 + 2 * 2
    assert first["count"] == decisions
    assert len(first["events"]) == 5
    assert first["next"]
    assert first["previous"] is None
    assert set(first["hidden_types"]) >= {"agent_run", "marks_updated"}
    seen, page = [], first
    while True:
        seen += page["events"]
        if not page["next"]:
            break
        page = viewer.get(page["next"]).data
    assert len(seen) == decisions
    assert not set(_types(seen)) & {"agent_run", "marks_updated"}
    assert [s["ts"] for s in seen] == sorted(s["ts"] for s in seen)

    everything = viewer.get(url, {"all": "1", "limit": 1}).data
    assert everything["count"] == decisions + 300 + 3
    assert everything["hidden_types"] == []


def test_block_payload_refuses_a_trigger_id_that_is_not_a_uuid():

    base = {"symbol": "SOL-USDT", "side": "buy", "reason": "cooldown", "reason_class": "risk_valid"}
    assert validate_payload("trade_blocked", base) == {**base, "detail": {}}  # the new fields stay optional
    with pytest.raises(PayloadInvalid) as error:
        validate_payload("trade_blocked", {**base, "trigger_id": "t-1", "qty": "-1"})
    assert set(error.value.errors) == {"trigger_id", "qty"}
