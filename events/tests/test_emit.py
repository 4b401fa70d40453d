import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from django.db import IntegrityError, connection, transaction

from events import projectors
from events.models import Event, LLMCall, RunEventCount, RunSummary
from events.services import EventDraft, EventRejected, emit, emit_many

FILL = {"fill_id": "f1", "order_id": "o1", "symbol": "BTC-USD", "side": "buy", "qty": "0.5", "price": "65000.10"}


def test_emit_stores_the_event_with_its_envelope(db):
    correlation = uuid.uuid4()
    event = emit("fill", FILL, source="agent:execution", run_id="r1", correlation_id=correlation)

    stored = Event.objects.get()
    assert stored.event_id == event.event_id
    assert (stored.type, stored.source, stored.run_id, stored.correlation_id) == (
        "fill",
        "agent:execution",
        "r1",
        correlation,
    )
    assert stored.schema_version == 1
    assert stored.payload == {**FILL, "fee": "0"}
    assert event.created is True


def test_an_event_without_correlation_id_starts_its_own_chain(db):
    event = emit("intent", {"action": "pause"}, source="user:ada")
    assert Event.objects.get().correlation_id == event.event_id


def test_same_dedupe_key_twice_writes_once_and_returns_the_first(db):
    first = emit("fill", FILL, source="agent:execution", dedupe_key="fill:f1")
    second = emit("fill", {**FILL, "qty": "9"}, source="agent:execution", dedupe_key="fill:f1")

    assert Event.objects.count() == 1
    assert second.event_id == first.event_id
    assert second.created is False
    assert second.payload["qty"] == "0.5"


@pytest.mark.django_db(transaction=True)
def test_concurrent_retries_with_one_dedupe_key_write_one_event():
    def retry(_):
        try:
            return emit("fill", FILL, source="agent:execution", dedupe_key="fill:race").event_id
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = set(pool.map(retry, range(16)))

    assert Event.objects.filter(dedupe_key="fill:race").count() == 1
    assert ids == {Event.objects.get(dedupe_key="fill:race").event_id}


def test_unknown_type_is_refused_naming_the_field_and_nothing_is_written(db):
    with pytest.raises(EventRejected) as caught:
        emit("teleport", {}, source="x")
    assert list(caught.value.errors) == ["type"]
    assert "teleport" in caught.value.errors["type"][0]
    assert Event.objects.count() == 0


def test_bad_payload_is_refused_naming_each_field(db):
    with pytest.raises(EventRejected) as caught:
        emit("fill", {**FILL, "qty": "-1", "price": "abc", "surprise": 1}, source="x")
    errors = caught.value.errors["payload"]
    assert set(errors) == {"qty", "price", "surprise"}
    assert Event.objects.count() == 0


def test_missing_payload_field_is_named(db):
    payload = dict(FILL)
    del payload["symbol"]
    with pytest.raises(EventRejected) as caught:
        emit("fill", payload, source="x")
    assert caught.value.errors == {"payload": {"symbol": ["Field required"]}}


def test_naive_timestamp_is_refused(db):
    with pytest.raises(EventRejected) as caught:
        emit("intent", {"action": "pause"}, source="x", ts=datetime(2024, 1, 1))  # noqa: DTZ001
    assert "ts" in caught.value.errors


def test_a_failing_projector_leaves_no_event(db):
    def explode(events):
        raise RuntimeError("projector bug")

    projectors.register(projectors.Projector("exploding", frozenset({"intent"}), explode, lambda: None))
    try:
        with pytest.raises(RuntimeError):
            emit("intent", {"action": "pause"}, source="x", run_id="r1")
    finally:
        projectors.unregister("exploding")
    assert Event.objects.count() == 0
    assert RunSummary.objects.count() == 0


def test_emit_many_is_all_or_nothing(db):
    good = EventDraft("intent", {"action": "pause"}, "x")
    bad = EventDraft("fill", {"qty": "1"}, "x")
    with pytest.raises(EventRejected) as caught:
        emit_many([good, bad, good])
    assert caught.value.errors[0] == {}
    assert "payload" in caught.value.errors[1]
    assert caught.value.errors[2] == {}
    assert Event.objects.count() == 0


def test_emit_many_keeps_order_and_dedupes_inside_the_batch(db):
    emit("intent", {"action": "pause"}, source="x", dedupe_key="old")
    drafts = [
        EventDraft("intent", {"action": "a"}, "x", dedupe_key="k1"),
        EventDraft("intent", {"action": "b"}, "x"),
        EventDraft("intent", {"action": "c"}, "x", dedupe_key="k1"),
        EventDraft("intent", {"action": "d"}, "x", dedupe_key="old"),
    ]
    events = emit_many(drafts)

    assert [e.payload["action"] for e in events] == ["a", "b", "a", "pause"]
    assert [e.created for e in events] == [True, True, True, False]
    assert Event.objects.count() == 3


def test_emit_many_refuses_a_batch_over_1000(db):
    with pytest.raises(EventRejected) as caught:
        emit_many([EventDraft("intent", {"action": "a"}, "x")] * 1001)
    assert "1000" in caught.value.errors["non_field_errors"][0]
    assert Event.objects.count() == 0


def test_the_database_refuses_to_change_a_stored_event(db):
    emit("intent", {"action": "pause"}, source="x")
    with pytest.raises(Exception, match="append-only"), transaction.atomic():
        Event.objects.update(source="tampered")
    with pytest.raises(Exception, match="append-only"), transaction.atomic():
        Event.objects.all().delete()
    assert Event.objects.get().source == "x"


def test_run_summary_counts_by_type_and_follows_control_events(db):
    t0 = datetime(2024, 9, 20, 12, 0, tzinfo=UTC)
    emit("run_control", {"action": "start", "mode": "paper"}, source="x", run_id="r1", ts=t0)
    emit("intent", {"action": "note"}, source="x", run_id="r1", ts=t0.replace(minute=5))
    emit("intent", {"action": "note"}, source="x", run_id="r1", ts=t0.replace(minute=1))
    emit("run_control", {"action": "pause"}, source="x", run_id="r1", ts=t0.replace(minute=3))

    summary = RunSummary.objects.get(run_id="r1")
    assert (summary.first_event_at, summary.last_event_at) == (t0, t0.replace(minute=5))
    assert summary.event_count == 4
    assert summary.control_state == "paused"
    assert summary.mode == "paper"
    counts = dict(RunEventCount.objects.filter(run_id="r1").values_list("type", "count"))
    assert counts == {"run_control": 2, "intent": 2}


def test_llm_call_is_projected_into_telemetry(db):
    payload = {
        "model": "gpt-x",
        "agent": "planner",
        "prompt_hash": "abc",
        "tokens_in": 1200,
        "tokens_out": 300,
        "cost": "0.0123",
        "latency_ms": 850,
    }
    event = emit("llm_call", payload, source="agent:planner")
    call = LLMCall.objects.get()
    assert call.event_id == event.event_id
    assert (call.model, call.tokens_in, call.tokens_out, str(call.cost.normalize())) == ("gpt-x", 1200, 300, "0.0123")


def test_dedupe_key_is_unique_in_the_database(db):
    emit("intent", {"action": "a"}, source="x", dedupe_key="k")
    with pytest.raises(IntegrityError), transaction.atomic():
        Event.objects.bulk_create(
            [Event(type="intent", source="x", correlation_id=uuid.uuid4(), dedupe_key="k", ts=datetime.now(UTC))]
        )
