"""The fast paths of the write path: the Postgres batch insert, the run-summary upsert and the
publisher that sends from plain sync code (issue 2's ingest figures rely on them)."""

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from events import realtime
from events.models import Event, RunEventCount, RunSummary
from events.services import EventDraft, emit, emit_many

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _intent(n: int, **extra) -> EventDraft:
    return EventDraft("intent", {"action": f"a{n}"}, "agent:x", ts=T0 + timedelta(seconds=n), **extra)


def test_a_batch_mixing_new_stored_and_repeated_keys_returns_one_event_per_draft_in_order(db):
    stored = emit("intent", {"action": "old"}, source="agent:x", dedupe_key="k-old")
    drafts = [
        _intent(1),
        _intent(2, dedupe_key="k-old"),
        _intent(3, dedupe_key="k-new"),
        _intent(4, dedupe_key="k-new"),
        _intent(5),
    ]

    events = emit_many(drafts)

    assert [e.payload["action"] for e in events] == ["a1", "old", "a3", "a3", "a5"]
    assert [e.created for e in events] == [True, False, True, True, True]
    assert events[1].event_id == stored.event_id
    assert events[2] is events[3]
    rows = list(Event.objects.order_by("id").values_list("id", "payload__action"))
    assert rows == [(stored.id, "old"), (events[0].id, "a1"), (events[2].id, "a3"), (events[4].id, "a5")]


def test_run_summaries_fold_batches_and_count_by_type(db):
    emit_many([_intent(1, run_id="r1"), _intent(5, run_id="r1"), _intent(2, run_id="r2")])
    emit_many([_intent(0, run_id="r1"), _intent(9, run_id="r1")])

    r1 = RunSummary.objects.get(run_id="r1")
    assert (r1.event_count, r1.first_event_at, r1.last_event_at) == (4, T0, T0 + timedelta(seconds=9))
    assert dict(RunEventCount.objects.filter(run_id="r1").values_list("type", "count")) == {"intent": 4}
    assert RunSummary.objects.get(run_id="r2").event_count == 1


def test_a_run_whose_summary_was_reset_gets_the_mode_again(db, run_mode):
    run_mode(lambda: "paper")
    emit_many([_intent(1, run_id="r-reset")])
    RunEventCount.objects.all().delete()  # the row goes, this process still remembers the run
    RunSummary.objects.all().delete()
    run_mode(lambda: "live")

    emit_many([_intent(2, run_id="r-reset")])

    summary = RunSummary.objects.get(run_id="r-reset")
    assert (summary.mode, summary.event_count) == ("live", 1)


def test_the_mode_is_read_once_per_new_run_not_per_event(db, run_mode):
    calls = []
    run_mode(lambda: calls.append(1) or "paper")
    emit("intent", {"action": "x"}, source="agent:x", run_id="r-once")
    emit("intent", {"action": "y"}, source="agent:x", run_id="r-once")

    assert len(calls) == 1
    assert RunSummary.objects.get(run_id="r-once").mode == "paper"


@pytest.mark.django_db(transaction=True)
async def test_events_emitted_from_sync_code_reach_redis_subscribers_in_commit_order():
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(realtime.run_group("r-order"), channel)

    first = await database_sync_to_async(emit)("intent", {"action": "1"}, source="x", run_id="r-order")
    rest = await database_sync_to_async(emit_many)([_intent(2, run_id="r-order"), _intent(3, run_id="r-order")])

    received = []
    while len(received) < 3:
        message = await asyncio.wait_for(layer.receive(channel), 5)
        assert message["type"] == realtime.MESSAGE_TYPE
        received.extend(frame["event_id"] for frame in message["events"])
    assert received == [str(first.event_id)] + [str(e.event_id) for e in rest]


def test_a_publish_failing_in_the_publisher_is_logged(db, monkeypatch, caplog, django_capture_on_commit_callbacks):
    layer = get_channel_layer()

    async def refuse(group, message):
        raise ConnectionError("redis is down")

    monkeypatch.setattr(layer, "group_send", refuse)
    with caplog.at_level(logging.ERROR, logger="events.realtime"), django_capture_on_commit_callbacks(execute=True):
        emit("intent", {"action": "x"}, source="x")
    realtime.flush()

    assert Event.objects.count() == 1
    assert "publishing 1 events failed" in caplog.text
