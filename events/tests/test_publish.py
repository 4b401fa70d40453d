import logging

import pytest

from events import realtime
from events.models import Event
from events.services import emit


def test_a_failed_publish_is_logged_and_loses_nothing(db, monkeypatch, caplog, django_capture_on_commit_callbacks):
    def broken_layer():
        raise ConnectionError("redis is down")

    monkeypatch.setattr(realtime, "get_channel_layer", broken_layer)
    with caplog.at_level(logging.ERROR, logger="events.realtime"), django_capture_on_commit_callbacks(execute=True):
        event = emit("intent", {"action": "note"}, source="x")

    assert Event.objects.get().event_id == event.event_id
    assert "publishing 1 events failed" in caplog.text


def test_publish_waits_for_commit(db, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        emit("intent", {"action": "note"}, source="x")
    assert len(callbacks) == 1


def test_a_duplicate_is_not_published_again(db, django_capture_on_commit_callbacks):
    emit("intent", {"action": "note"}, source="x", dedupe_key="k")
    with django_capture_on_commit_callbacks() as callbacks:
        emit("intent", {"action": "note"}, source="x", dedupe_key="k")
    assert callbacks == []


@pytest.mark.parametrize(
    ("run_id", "expected"),
    [("r1", "events.run.r1"), ("run:42/α", "events.run.run_42__"), ("x" * 200, "events.run." + "x" * 80)],
)
def test_group_names_are_valid_for_channels(run_id, expected):
    assert realtime.run_group(run_id) == expected
    assert len(expected) < 100
