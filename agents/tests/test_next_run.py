"""The agents' "next run" (API and dashboard) is beat's, computed from the schedule."""

from datetime import UTC, datetime, timedelta

import pytest
from django_celery_beat.models import CrontabSchedule, PeriodicTask

pytestmark = pytest.mark.django_db

JUDGE = "agents: judge"  # every hour (agents migration 0002)


def _next_runs(client_for) -> dict:
    return {row["agent"]: row["next_run_at"] for row in client_for("viewer").get("/api/v1/agents/status").data}


def test_next_run_is_one_interval_after_the_last_run(client_for):
    PeriodicTask.objects.filter(name=JUDGE).update(last_run_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    assert _next_runs(client_for)["judge"] == "2026-01-02T04:04:05Z"


def test_never_run_next_run_counts_from_the_schedules_last_change_and_holds_still(client_for):
    """Beat (django-celery-beat's ModelEntry) counts a never-run interval from ``date_changed``;
    the page must say the same, not now + interval, which moved on every load."""
    task = PeriodicTask.objects.get(name=JUDGE)
    assert task.last_run_at is None
    first = _next_runs(client_for)["judge"]
    expected = task.date_changed.astimezone(UTC) + timedelta(hours=1)
    assert first == expected.isoformat().replace("+00:00", "Z")
    assert _next_runs(client_for)["judge"] == first


def test_a_crontab_schedule_gives_its_next_time(client_for):
    daily = CrontabSchedule.objects.create(minute="30", hour="2", timezone="UTC")
    PeriodicTask.objects.filter(name=JUDGE).update(
        interval=None, crontab=daily, last_run_at=datetime(2026, 1, 2, 2, 30, tzinfo=UTC)
    )
    # The first 02:30 after the last run (overdue now: beat runs it at its next tick).
    assert _next_runs(client_for)["judge"] == "2026-01-03T02:30:00Z"
