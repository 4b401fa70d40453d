from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID

from django.conf import settings
from django.db.models import Case, CharField, F, QuerySet, Value, When
from django.db.models.fields.json import KT
from django.db.models.functions import Coalesce
from django.utils import timezone

from . import types
from .models import Event, RunSummary


def event_list() -> QuerySet[Event]:
    return Event.objects.all()


# A list's sort keys: each column, then newest first among equals; the last field (id) is unique,
# so a keyset cursor (tradingops.api.pagination.KeysetCursorPagination) pages it exactly.
EVENT_ORDERINGS: dict[str, tuple[str, ...]] = {
    "-time": ("-ts", "-id"),
    "time": ("ts", "id"),
    "type": ("type", "-ts", "-id"),
    "-type": ("-type", "-ts", "-id"),
    "symbol": ("symbol_key", "-ts", "-id"),
    "-symbol": ("-symbol_key", "-ts", "-id"),
    "run": ("run_id", "-ts", "-id"),
    "-run": ("-run_id", "-ts", "-id"),
}
# The payload's symbol as sortable text ("" when absent); the index event_symbol_ts is on exactly this.
SYMBOL_KEY = Coalesce(KT("payload__symbol"), Value(""), output_field=CharField())


def event_ordered(queryset: QuerySet[Event], *, orderings: list[str]) -> QuerySet[Event]:
    """``queryset`` sorted by the named orderings (``EVENT_ORDERINGS``), first name first."""
    fields: list[str] = []
    for name in orderings:
        for sort_key in EVENT_ORDERINGS[name]:
            if sort_key.lstrip("-") not in {f.lstrip("-") for f in fields}:
                fields.append(sort_key)
    if any(f.lstrip("-") == "symbol_key" for f in fields):
        queryset = queryset.annotate(symbol_key=SYMBOL_KEY)
    return queryset.order_by(*fields)


def event_get(*, event_id: UUID) -> Event | None:
    return Event.objects.filter(event_id=event_id).first()


def correlation_events(*, correlation_id: UUID, include_all: bool = False) -> QuerySet[Event]:
    """Everything one correlation id threads (a plan's whole life), oldest first. Heartbeats and
    marks are left out unless ``include_all``: they share the id but explain nothing. Callers page
    it; nothing here cuts it short."""
    queryset = Event.objects.filter(correlation_id=correlation_id)
    if not include_all:
        queryset = queryset.exclude(type__in=types.outside_chains())
    return queryset.order_by("ts", "id")


def attach_causes(events: list[Event]) -> list[Event]:
    """Give each event ``cause`` (the Event it names as causation, or None), in one query."""
    by_id = {event.event_id: event for event in events}
    missing = {e.causation_id for e in events if e.causation_id and e.causation_id not in by_id}
    if missing:
        by_id.update({e.event_id: e for e in Event.objects.filter(event_id__in=missing)})
    for event in events:
        event.cause = by_id.get(event.causation_id) if event.causation_id else None
    return events


@dataclass
class DecisionPath:
    """One decision's own chain: what led to ``event`` (causes, oldest first), the event, and what
    it led to, heartbeats and marks left out. ``truncated`` says that more consequences exist than
    were shown; the whole correlation chain (paged) has them."""

    event: Event
    steps: list[Event]
    truncated: bool
    # What higher apps add about this decision, by name (agents: "shadow", a block's shadow outcome)
    sections: dict[str, dict] = field(default_factory=dict)


# A section of a decision's path: given the path, a JSON-ready dict, or None when it has nothing to
# say. Registered by higher apps in their ``AppConfig.ready()`` (events knows no blocks or trades).
PathSection = Callable[[DecisionPath], dict | None]
_path_sections: dict[str, PathSection] = {}


def register_path_section(name: str, provider: PathSection) -> None:
    _path_sections[name] = provider


MAX_PATH_CAUSES = 50
MAX_PATH_CONSEQUENCES = 30


def _cause_id(event: Event) -> UUID | None:
    if event.causation_id:
        return event.causation_id
    trigger_id = event.payload.get("trigger_id") if event.type == "trade_blocked" else None
    try:
        return UUID(str(trigger_id)) if trigger_id else None
    except ValueError:
        return None


def event_decision_path(*, event: Event) -> DecisionPath:
    """Walk causation up to the first cause (intent → plan → judged → trigger → order → fill, or
    → block) and down to what the event caused. One indexed query per cause and one per level of
    consequences, so its cost follows the path's length, never the plan's size."""
    noise = set(types.outside_chains())
    causes: list[Event] = []
    seen = {event.event_id}
    current = event
    while (cause_id := _cause_id(current)) and cause_id not in seen and len(causes) < MAX_PATH_CAUSES:
        cause = Event.objects.filter(event_id=cause_id).first()
        if cause is None:
            break
        seen.add(cause.event_id)
        causes.append(cause)
        current = cause
    causes.reverse()

    consequences: list[Event] = []
    frontier = [event.event_id]
    truncated = False
    while frontier and not truncated:
        room = MAX_PATH_CONSEQUENCES - len(consequences)
        level = list(
            Event.objects.filter(causation_id__in=frontier).exclude(type__in=noise).order_by("ts", "id")[: room + 1]
        )
        level = [e for e in level if e.event_id not in seen]
        if len(level) > room:
            level, truncated = level[:room], True
        seen.update(e.event_id for e in level)
        consequences.extend(level)
        frontier = [e.event_id for e in level]
    consequences.sort(key=lambda e: (e.ts, e.id))
    steps = attach_causes([*(c for c in causes if c.type not in noise), event, *consequences])
    path = DecisionPath(event=event, steps=steps, truncated=truncated)
    for name, provider in _path_sections.items():
        section = provider(path)
        if section is not None:
            path.sections[name] = section
    return path


def events_after(*, after_id: int, types: list[str] | None = None, run_id: str = "", limit: int = 1000) -> list[Event]:
    """Events appended after a log position, oldest first: what a reconnecting client missed."""
    queryset = Event.objects.filter(id__gt=after_id)
    if types:
        queryset = queryset.filter(type__in=types)
    if run_id:
        queryset = queryset.filter(run_id=run_id)
    return list(queryset.order_by("id")[:limit])


@dataclass(frozen=True)
class SettledEvents:
    horizon: int
    """The newest log position recorded before the cut-off (the old position when there is none)."""
    count: int
    """How many of the subscription's events lie after the old position, up to ``horizon``."""


def events_settled_after(
    *, after_id: int, types: list[str] | None = None, run_id: str = "", recorded_before: datetime
) -> SettledEvents:
    """What a socket subscribed to ``types``/``run_id`` should have received by now after the log
    position ``after_id``, counted: two scans of the primary key over the last seconds of the log,
    one row each, whatever the size of the log. The horizon moves on even when nothing matched, so a
    rare type does not leave the next check a longer range to scan."""
    horizon = (
        Event.objects.filter(id__gt=after_id, recorded_at__lt=recorded_before)
        .order_by("-id")
        .values_list("id", flat=True)
        .first()
    )
    if horizon is None:
        return SettledEvents(horizon=after_id, count=0)
    count = _subscription(Event.objects.filter(id__gt=after_id, id__lte=horizon), types, run_id).count()
    return SettledEvents(horizon=horizon, count=count)


def event_ids_between(*, after_id: int, up_to: int, types: list[str] | None = None, run_id: str = "") -> list[int]:
    """Log positions of a subscription's events in (``after_id``, ``up_to``], oldest first."""
    queryset = _subscription(Event.objects.filter(id__gt=after_id, id__lte=up_to), types, run_id)
    return list(queryset.order_by("id").values_list("id", flat=True))


def _subscription(queryset: QuerySet[Event], types: list[str] | None, run_id: str) -> QuerySet[Event]:
    if types:
        queryset = queryset.filter(type__in=types)
    if run_id:
        queryset = queryset.filter(run_id=run_id)
    return queryset


def events_with_ids(ids: list[int]) -> list[Event]:
    return list(Event.objects.filter(id__in=ids).order_by("id"))


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
