from datetime import timedelta
from uuid import UUID

from django.conf import settings
from django.db.models import Case, CharField, F, QuerySet, Value, When
from django.utils import timezone

from .models import Event, RunSummary


def event_list() -> QuerySet[Event]:
    return Event.objects.all()


def event_get(*, event_id: UUID) -> Event | None:
    return Event.objects.filter(event_id=event_id).first()


def event_chain(*, correlation_id: UUID, limit: int = 1000) -> list[Event]:
    """A decision chain in the order it happened, each event carrying ``cause`` (or None)."""
    events = list(Event.objects.filter(correlation_id=correlation_id).order_by("ts", "id")[:limit])
    by_id = {event.event_id: event for event in events}
    missing = {e.causation_id for e in events if e.causation_id and e.causation_id not in by_id}
    if missing:
        by_id.update({e.event_id: e for e in Event.objects.filter(event_id__in=missing)})
    for event in events:
        event.cause = by_id.get(event.causation_id) if event.causation_id else None
    return events


def events_after(*, after_id: int, types: list[str] | None = None, run_id: str = "", limit: int = 1000) -> list[Event]:
    """Events appended after a log position, oldest first: what a reconnecting client missed."""
    queryset = Event.objects.filter(id__gt=after_id)
    if types:
        queryset = queryset.filter(type__in=types)
    if run_id:
        queryset = queryset.filter(run_id=run_id)
    return list(queryset.order_by("id")[:limit])


def event_last_id() -> int:
    last = Event.objects.order_by("-id").values_list("id", flat=True).first()
    return last or 0


def run_summary_list() -> QuerySet[RunSummary]:
    """Run summaries with ``status``: paused/stopped if a control event says so, else running
    while the last event is within the configured window, else stopped."""
    cutoff = timezone.now() - timedelta(seconds=settings.RUN_ACTIVE_WINDOW_SECONDS)
    return (
        RunSummary.objects.annotate(
            status=Case(
                When(control_state__in=["paused", "stopped"], then=F("control_state")),
                When(last_event_at__gte=cutoff, then=Value("running")),
                default=Value("stopped"),
                output_field=CharField(),
            )
        )
        .prefetch_related("type_counts")
        .order_by("-last_event_at", "run_id")
    )


def run_summary_get(*, run_id: str) -> RunSummary | None:
    return run_summary_list().filter(run_id=run_id).first()
