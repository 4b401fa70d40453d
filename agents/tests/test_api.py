from datetime import UTC, datetime, timedelta

import pytest

from agents.models import Intent
from events.models import Event
from events.services import EventDraft, emit, emit_many

READ_ENDPOINTS = [
    "/api/v1/live/positions",
    "/api/v1/live/portfolio",
    "/api/v1/live/orders",
    "/api/v1/live/fills",
    "/api/v1/live/blocks",
    "/api/v1/live/block-reasons",
    "/api/v1/live/risk-budget",
    "/api/v1/live/position-snapshots",
    "/api/v1/agents/plans",
    "/api/v1/agents/judgements",
    "/api/v1/agents/intents",
    "/api/v1/agents/llm/calls",
    "/api/v1/agents/llm/summary",
    "/api/v1/agents/status",
    "/api/v1/control/runtime",
]
T0 = datetime(2026, 11, 25, 12, tzinfo=UTC)


@pytest.mark.parametrize(("role", "status"), [(None, 401), ("nobody", 403), ("viewer", 200), ("admin", 200)])
def test_every_read_endpoint_needs_a_role(client_for, role, status):
    client = client_for(role)
    for url in READ_ENDPOINTS:
        assert client.get(url).status_code == status, url
    admin_only = 200 if role == "admin" else status if role in (None, "nobody") else 403
    assert client.get("/api/v1/control/mode").status_code == admin_only
    assert client.get("/api/v1/control/kill-switch").status_code == admin_only


def test_a_viewer_posting_an_intent_gets_403_and_nothing_is_written(client_for):
    response = client_for("viewer").post("/api/v1/agents/intents", {"action": "pause"}, format="json")
    assert response.status_code == 403
    assert not Event.objects.filter(type="intent").exists()


def test_an_operator_intent_is_the_first_link_of_its_chain(client_for, sol, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for("operator").post(
            "/api/v1/agents/intents", {"action": "pause", "note": "news at 14:30"}, format="json"
        )
    assert response.status_code == 202
    assert response.data["source"] == "user:otto"
    chain = Event.objects.filter(correlation_id=response.data["correlation_id"]).order_by("ts", "id")
    assert [e.type for e in chain] == ["intent", "run_control", "agent_run"]
    assert chain[1].payload["action"] == "pause"
    assert chain[1].causation_id == chain[0].event_id
    runs = client_for("viewer").get("/api/v1/runs/live").data
    assert runs["status"] == "paused"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"action": "teleport"}, "action"),
        ({"action": "flatten", "symbol": "DOGE-XYZ"}, "symbol"),
        ({"action": "set_risk_multiplier", "params": {"multiplier": "7"}}, "params.multiplier"),
        ({"action": "set_risk_multiplier", "params": {"multiplier": "abc"}}, "params.multiplier"),
        ({"action": "set_risk_multiplier", "params": {"multiplier": "NaN"}}, "params.multiplier"),
        ({"action": "note"}, "note"),
        ({"action": "pause", "params": "x"}, "params"),
    ],
)
def test_bad_intents_get_400_naming_the_field(client_for, sol, body, field):
    response = client_for("operator").post("/api/v1/agents/intents", body, format="json")
    assert response.status_code == 400, response.data
    assert field in response.data
    assert not Intent.objects.exists()


def test_set_risk_multiplier_changes_the_runtime_naming_the_user(client_for, sol, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        client_for("operator").post(
            "/api/v1/agents/intents", {"action": "set_risk_multiplier", "params": {"multiplier": "0.5"}}, format="json"
        )
    assert client_for("viewer").get("/api/v1/control/runtime").data["risk_multiplier"] == "0.5000"
    change = Event.objects.get(type="runtime_changed")
    assert change.source == "user:otto"
    assert change.payload["changes"] == {"risk_multiplier": {"old": "1.0000", "new": "0.5"}}


def _blocks(n: int, start=T0):
    reasons = [("cooldown", "risk_valid"), ("cost_gate", "quality_gate"), ("kill_switch", "infra")]
    return [
        EventDraft(
            "trade_blocked",
            {"symbol": "SOL-USDT", "side": "buy", "reason": reasons[i % 3][0], "reason_class": reasons[i % 3][1],
             "detail": {"i": i}},
            "agent:execution",
            run_id="live",
            ts=start + timedelta(minutes=i),
        )
        for i in range(n)
    ]  # fmt: skip


def test_block_reasons_count_by_reason_and_class_over_the_window(client_for):
    emit_many(_blocks(9))
    url = "/api/v1/live/block-reasons?since=2026-11-25T12:00:00Z&until=2026-11-25T12:06:00Z"
    data = client_for("viewer").get(url).data
    assert data["total"] == 6
    assert data["by_class"] == {"risk_valid": 2, "quality_gate": 2, "infra": 2}
    assert sorted((r["reason"], r["count"]) for r in data["reasons"]) == [
        ("cooldown", 2), ("cost_gate", 2), ("kill_switch", 2),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("query", "count"),
    [("reason=cooldown", 3), ("reason_class=infra", 3), ("symbol=SOL-USDT", 9), ("symbol=BTC-USD", 0),
     ("run_id=live", 9), ("since=2026-11-25T12:05:00Z", 4), ("until=2026-11-25T12:02:00Z", 2)],
)  # fmt: skip
def test_block_filters(client_for, query, count):
    emit_many(_blocks(9))
    response = client_for("viewer").get(f"/api/v1/live/blocks?{query}")
    assert response.status_code == 200
    assert len(response.data["results"]) == count


@pytest.mark.parametrize(
    "url",
    ["/api/v1/live/blocks?since=noon", "/api/v1/live/block-reasons?since=noon",
     "/api/v1/live/fills?until=2026-99-01", "/api/v1/agents/llm/summary?until=x"],
)  # fmt: skip
def test_bad_dates_get_400_naming_the_field(client_for, url):
    response = client_for("viewer").get(url)
    assert response.status_code == 400
    assert {"since", "until"} & set(response.data)


def test_block_list_query_count_does_not_grow(client_for, django_assert_num_queries):
    emit_many(_blocks(1))
    viewer = client_for("viewer")
    with django_assert_num_queries(2):
        assert len(viewer.get("/api/v1/live/blocks").data["results"]) == 1
    emit_many(_blocks(60, start=T0 + timedelta(hours=2)))
    with django_assert_num_queries(2):
        assert len(viewer.get("/api/v1/live/blocks?limit=60").data["results"]) == 60


def test_fill_list_query_count_does_not_grow(client_for, django_assert_num_queries):
    def fills(n, offset):
        return [
            EventDraft("fill", {"fill_id": f"f{offset + i}", "order_id": f"o{offset + i}", "symbol": "SOL-USDT",
                                "side": "buy", "qty": "1", "price": "150"}, "agent:execution")
            for i in range(n)
        ]  # fmt: skip

    emit_many(fills(1, 0))
    viewer = client_for("viewer")
    with django_assert_num_queries(2):
        assert len(viewer.get("/api/v1/live/fills").data["results"]) == 1
    emit_many(fills(50, 1))
    with django_assert_num_queries(2):
        assert len(viewer.get("/api/v1/live/fills?limit=51").data["results"]) == 51


def test_llm_summary_by_model_and_agent(client_for):
    emit_many(
        [
            EventDraft("llm_call", {"model": m, "agent": "planner", "prompt_hash": f"h{i}", "tokens_in": 100,
                                    "tokens_out": 10, "cost": "0.01", "latency_ms": 100 * (i + 1),
                                    "outcome": "ok" if i else "error"}, "agent:planner")
            for i, m in enumerate(["a", "a", "b"])
        ]
    )  # fmt: skip
    data = client_for("viewer").get("/api/v1/agents/llm/summary").data
    by_model = {row["key"]: row for row in data["by_model"]}
    assert (by_model["a"]["calls"], by_model["a"]["tokens_in"], by_model["a"]["errors"]) == (2, 200, 1)
    assert by_model["a"]["avg_latency_ms"] == 150.0
    assert by_model["a"]["p95_latency_ms"] == pytest.approx(195.0)
    assert data["by_agent"][0]["key"] == "planner"
    assert data["by_agent"][0]["cost"] == "0.030000000000000000"


def test_agent_status_shows_schedules_from_beat_and_last_runs(client_for):

    emit("agent_run", {"agent": "judge", "status": "error", "duration_ms": 3, "error": "no plan"}, source="x")
    rows = {row["agent"]: row for row in client_for("viewer").get("/api/v1/agents/status").data}
    assert rows["judge"]["last_status"] == "error"
    assert rows["judge"]["last_error"] == "no plan"
    assert rows["judge"]["schedule"] == "every hour"
    assert rows["judge"]["next_run_at"] is not None
    assert rows["planner"]["runs"] == 0
