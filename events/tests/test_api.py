import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from events.models import Event
from events.services import EventDraft, emit, emit_many
from events.tests.payloads import LLM_CALL

T0 = datetime(2024, 9, 20, 12, 0, tzinfo=UTC)
EVENTS_URL = "/api/v1/events"
FILL = {"fill_id": "f1", "order_id": "o1", "symbol": "SOL-USDT", "side": "buy", "qty": "2", "price": "142.5"}


def _intent(**envelope):
    return emit("intent", {"action": "note"}, source=envelope.pop("source", "user:ada"), **envelope)


@pytest.fixture
def viewer(client_for):
    return client_for("viewer")


@pytest.fixture
def operator(client_for):
    return client_for("operator")


# --- Reading and filtering -------------------------------------------------------------------


def test_list_is_newest_first(viewer):
    for minute in (1, 3, 2):
        _intent(ts=T0 + timedelta(minutes=minute))
    response = viewer.get(EVENTS_URL)
    assert response.status_code == 200
    assert [e["ts"] for e in response.data["results"]] == [
        "2024-09-20T12:03:00Z",
        "2024-09-20T12:02:00Z",
        "2024-09-20T12:01:00Z",
    ]


def test_filter_by_several_types(viewer):
    _intent(ts=T0)
    emit("fill", FILL, source="agent:execution", ts=T0)
    emit(
        "trade_blocked",
        {"symbol": "SOL-USDT", "side": "buy", "reason": "cooldown", "reason_class": "risk_valid"},
        source="agent:execution",
        ts=T0,
    )
    for query in ("type=fill,trade_blocked", "type=fill&type=trade_blocked"):
        response = viewer.get(f"{EVENTS_URL}?{query}")
        assert sorted(e["type"] for e in response.data["results"]) == ["fill", "trade_blocked"], query


@pytest.mark.parametrize(
    ("query", "expected_sources"),
    [
        ("source=agent:judge", ["agent:judge"]),
        ("run_id=r2", ["agent:judge"]),
        ("since=2024-09-20T12:01:00Z", ["agent:judge", "agent:planner"]),
        ("until=2024-09-20T12:01:00Z", ["user:ada"]),
        ("since=2024-09-20T12:01:00Z&until=2024-09-20T12:02:00Z", ["agent:planner"]),
    ],
)
def test_filters_select_exactly_the_matching_events(viewer, query, expected_sources):
    _intent(ts=T0, run_id="r1")
    _intent(ts=T0 + timedelta(minutes=1), run_id="r1", source="agent:planner")
    _intent(ts=T0 + timedelta(minutes=2), run_id="r2", source="agent:judge")
    response = viewer.get(f"{EVENTS_URL}?{query}")
    assert response.status_code == 200
    assert [e["source"] for e in response.data["results"]] == expected_sources


def test_filter_by_correlation_id_and_after(viewer):
    chain = uuid.uuid4()
    first = _intent(ts=T0, correlation_id=chain)
    second = _intent(ts=T0, correlation_id=chain)
    _intent(ts=T0)
    response = viewer.get(f"{EVENTS_URL}?correlation_id={chain}")
    assert {e["event_id"] for e in response.data["results"]} == {str(first.event_id), str(second.event_id)}
    response = viewer.get(f"{EVENTS_URL}?correlation_id={chain}&after={first.id}")
    assert [e["event_id"] for e in response.data["results"]] == [str(second.event_id)]


def test_cursor_pagination_walks_every_event_once(viewer):
    emit_many([EventDraft("intent", {"action": f"a{i}"}, "x", ts=T0 + timedelta(seconds=i // 3)) for i in range(25)])
    seen, url = [], f"{EVENTS_URL}?limit=7"
    while url:
        response = viewer.get(url)
        assert len(response.data["results"]) <= 7
        seen += [e["payload"]["action"] for e in response.data["results"]]
        url = response.data["next"]
    assert sorted(seen) == sorted(f"a{i}" for i in range(25))
    assert len(seen) == 25


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("since=yesterday", "since"),
        ("until=2024-13-45", "until"),
        ("type=teleport", "type"),
        ("correlation_id=not-a-uuid", "correlation_id"),
        ("since=2024-09-21T00:00:00Z&until=2024-09-20T00:00:00Z", "until"),
        ("after=-3", "after"),
    ],
)
def test_bad_filters_get_400_naming_the_field(viewer, query, field):
    response = viewer.get(f"{EVENTS_URL}?{query}")
    assert response.status_code == 400
    assert field in response.data


def test_list_query_count_does_not_grow_with_page_size(viewer, django_assert_num_queries):
    emit_many([EventDraft("intent", {"action": "a"}, "x") for _ in range(60)])
    # the user's roles, then one page of events
    with django_assert_num_queries(2):
        assert len(viewer.get(f"{EVENTS_URL}?limit=1").data["results"]) == 1
    with django_assert_num_queries(2):
        assert len(viewer.get(f"{EVENTS_URL}?limit=60").data["results"]) == 60


def test_detail_by_event_id_and_404(viewer):
    event = _intent(ts=T0)
    assert viewer.get(f"{EVENTS_URL}/{event.event_id}").data["event_id"] == str(event.event_id)
    missing = viewer.get(f"{EVENTS_URL}/{uuid.uuid4()}")
    assert missing.status_code == 404


# --- Chains ----------------------------------------------------------------------------------


def test_chain_is_in_order_with_each_cause(viewer):
    intent = _intent(ts=T0)
    chain = intent.correlation_id
    plan = emit(
        "plan_generated",
        {"plan_id": "p1", "strategy": "trend", "symbols": ["SOL-USDT"]},
        source="agent:planner",
        correlation_id=chain,
        causation_id=intent.event_id,
        ts=T0 + timedelta(seconds=1),
    )
    fill = emit(
        "fill",
        FILL,
        source="agent:execution",
        correlation_id=chain,
        causation_id=plan.event_id,
        ts=T0 + timedelta(seconds=2),
    )
    _intent(ts=T0)  # another chain

    response = viewer.get(f"{EVENTS_URL}/chains/{chain}")
    assert response.status_code == 200
    assert (response.data["count"], response.data["next"]) == (3, None)
    events = response.data["events"]
    assert [e["type"] for e in events] == ["intent", "plan_generated", "fill"]
    assert [e["cause"] for e in events] == [
        None,
        {"event_id": str(intent.event_id), "type": "intent"},
        {"event_id": str(plan.event_id), "type": "plan_generated"},
    ]
    assert events[2]["event_id"] == str(fill.event_id)


def test_unknown_chain_is_404(viewer):
    assert viewer.get(f"{EVENTS_URL}/chains/{uuid.uuid4()}").status_code == 404


# --- Writing ---------------------------------------------------------------------------------


def test_post_one_event_sets_the_source_to_the_user(operator):
    response = operator.post(EVENTS_URL, {"type": "intent", "payload": {"action": "note"}}, format="json")
    assert response.status_code == 201
    assert response.data["source"] == "user:otto"
    assert Event.objects.get().payload == {"action": "note", "params": {}}


def test_post_is_idempotent_by_dedupe_key(operator):
    body = {"type": "llm_call", "payload": LLM_CALL, "dedupe_key": "call:1"}
    first = operator.post(EVENTS_URL, body, format="json")
    again = operator.post(EVENTS_URL, body, format="json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.data["event_id"] == again.data["event_id"]
    assert Event.objects.count() == 1


def test_post_a_batch(operator):
    batch = [{"type": "intent", "payload": {"action": "note", "note": f"a{i}"}, "run_id": "r1"} for i in range(3)]
    response = operator.post(EVENTS_URL, batch, format="json")
    assert response.status_code == 201
    assert [e["payload"]["note"] for e in response.data] == ["a0", "a1", "a2"]
    assert Event.objects.count() == 3


def test_a_batch_with_one_bad_event_writes_nothing(operator):
    batch = [
        {"type": "intent", "payload": {"action": "note"}},
        {"type": "llm_call", "payload": {**LLM_CALL, "cost": "zero"}},
    ]
    response = operator.post(EVENTS_URL, batch, format="json")
    assert response.status_code == 400
    assert response.data[0] == {}
    assert "cost" in response.data[1]["payload"]
    assert Event.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "teleport", "payload": {}}, "type"),
        ({"type": "llm_call", "payload": {"model": "X"}}, "payload"),
        ({"type": "intent", "payload": "not an object"}, "payload"),
        ({"type": "intent", "payload": {"action": "a"}, "ts": "noon"}, "ts"),
        ({"type": "intent", "payload": {"action": "a"}, "correlation_id": "123"}, "correlation_id"),
        ({"payload": {"action": "a"}}, "type"),
    ],
)
def test_bad_event_gets_400_naming_the_field(operator, body, field):
    response = operator.post(EVENTS_URL, body, format="json")
    assert response.status_code == 400
    assert field in response.data
    assert Event.objects.count() == 0


def test_malformed_json_is_400(operator):
    response = operator.post(EVENTS_URL, data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert "JSON parse error" in str(response.data["detail"])


def test_batch_over_1000_is_400_and_writes_nothing(operator):
    batch = [{"type": "intent", "payload": {"action": "a"}}] * 1001
    response = operator.post(EVENTS_URL, batch, format="json")
    assert response.status_code == 400
    assert "1000" in response.data["non_field_errors"][0]
    assert Event.objects.count() == 0


# --- Runs ------------------------------------------------------------------------------------


def test_run_status_follows_recency_and_control_events(viewer, settings):
    settings.RUN_ACTIVE_WINDOW_SECONDS = 300
    now = timezone.now()
    _intent(run_id="fresh", ts=now - timedelta(seconds=30))
    _intent(run_id="stale", ts=now - timedelta(minutes=10))
    emit("run_control", {"action": "pause"}, source="user:ada", run_id="held", ts=now)
    emit("run_control", {"action": "start", "mode": "live"}, source="x", run_id="ended", ts=now - timedelta(seconds=5))
    emit("run_control", {"action": "stop"}, source="x", run_id="ended", ts=now)

    response = viewer.get("/api/v1/runs")
    statuses = {run["run_id"]: run["status"] for run in response.data["results"]}
    assert statuses == {"fresh": "running", "stale": "stopped", "held": "paused", "ended": "stopped"}

    detail = viewer.get("/api/v1/runs/ended").data
    assert detail["mode"] == "live"
    assert detail["counts_by_type"] == {"run_control": 2}
    assert detail["event_count"] == 2
    assert viewer.get("/api/v1/runs?status=paused").data["results"][0]["run_id"] == "held"


def test_run_mode_comes_from_the_registered_runtime_mode(viewer, run_mode):
    run_mode(lambda: "live")
    _intent(run_id="r9")
    assert viewer.get("/api/v1/runs/r9").data["mode"] == "live"


def test_unknown_run_is_404(viewer):
    assert viewer.get("/api/v1/runs/nope").status_code == 404


def test_run_list_query_count_does_not_grow(viewer, django_assert_num_queries):
    # roles, count, the page, the prefetched type counts
    _intent(run_id="r0")
    with django_assert_num_queries(4):
        assert len(viewer.get("/api/v1/runs").data["results"]) == 1
    emit_many([EventDraft("intent", {"action": "a"}, "x", run_id=f"r{i}") for i in range(40)])
    with django_assert_num_queries(4):
        assert len(viewer.get("/api/v1/runs?limit=50").data["results"]) == 40


# --- Health and docs -------------------------------------------------------------------------


def test_health_reports_database_redis_and_celery(client, db):
    response = client.get("/api/v1/health")
    assert response.status_code == 200
    body = response.json()
    assert body["database"] == {"ok": True}
    assert body["redis"] == {"ok": True}
    assert set(body["celery"]) >= {"ok", "workers"}


def test_openapi_schema_and_docs_are_served(viewer, client, users):
    schema = viewer.get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/events/chains/{correlation_id}" in schema.content
    client.force_login(users["viewer"])
    assert client.get(reverse("swagger-ui")).status_code == 200


def test_health_lists_a_running_celery_worker(client, celery_worker_process):

    cache.delete("health:celery")
    body = client.get("/api/v1/health").json()
    assert body["status"] == "ok"
    assert body["celery"]["ok"] is True
    assert celery_worker_process in body["celery"]["workers"]
