"""The one write path of the event store: ``emit`` and ``emit_many``.

Each call is one transaction (joining the caller's, if any): insert the events (a repeated
``dedupe_key`` writes nothing and returns the first event), run the projectors registered for
their types, and on commit publish them to their Channels groups.
"""

import hashlib
import os
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone

from tradingops.db import is_postgres, server_binding_cursor
from tradingops.errors import Invalid

from . import projectors, realtime, types
from .models import Event
from .presentation import event_to_dict

MAX_BATCH = 1000
DEDUPE_KEY_MAX_LENGTH = Event._meta.get_field("dedupe_key").max_length


class EventRejected(Invalid, ValueError):
    """Nothing was written. ``errors`` is DRF-shaped: a dict for one event, a list for a batch."""

    def __init__(self, errors: dict[str, Any] | list[dict[str, Any]]):
        super().__init__(errors)


@dataclass
class EventDraft:
    type: str
    payload: Mapping[str, Any]
    source: str
    run_id: str = ""
    correlation_id: uuid.UUID | None = None
    causation_id: uuid.UUID | None = None
    dedupe_key: str | None = None
    ts: datetime | None = None


def emit(
    event_type: str,
    payload: Mapping[str, Any],
    *,
    source: str,
    run_id: str = "",
    correlation_id: uuid.UUID | None = None,
    causation_id: uuid.UUID | None = None,
    dedupe_key: str | None = None,
    ts: datetime | None = None,
) -> Event:
    """Append one event. The returned event has ``created`` False when its dedupe key existed."""
    draft = EventDraft(event_type, payload, source, run_id, correlation_id, causation_id, dedupe_key, ts)
    try:
        return emit_many([draft])[0]
    except EventRejected as exc:
        raise EventRejected(exc.errors[0]) from None


def emit_many(drafts: Sequence[EventDraft]) -> list[Event]:
    """Append a batch, all or nothing; returns one event per draft, in order."""
    if len(drafts) > MAX_BATCH:
        raise EventRejected({"non_field_errors": [f"A batch holds at most {MAX_BATCH} events; got {len(drafts)}."]})
    now = timezone.now()
    events = _build(drafts, now)
    with transaction.atomic():
        stored = _insert(events)
        created = [event for event in stored if event.created]
        projectors.run_projectors(created)
        if created:
            transaction.on_commit(partial(realtime.publish, [event_to_dict(event) for event in created]))
    return stored


CLIENT_DEDUPE_PREFIX = "client:"


def client_emit_many(rows: Sequence[Mapping[str, Any]], *, source: str) -> list[Event]:
    """Events posted by a client (``POST /api/v1/events``): inputs, never facts.

    Only the types registered ``client_postable`` pass, each through its ``client_check``;
    ``source`` is the server's (``user:<username>``); no event goes into a reserved run; and a
    client's dedupe key lives in that client's namespace, so that it can never pre-empt the key a
    service will use (``fill:<id>``), which would make the real event a "duplicate" of a forged
    one. All or nothing, like ``emit_many``.
    """
    errors: list[dict[str, Any]] = []
    drafts = []
    reserved = types.reserved_run_ids(str(row.get("run_id") or "") for row in rows)
    for row in rows:
        error: dict[str, Any] = {}
        name = row.get("type", "")
        try:
            event_type = types.get(name)
        except types.UnknownEventType:
            error["type"] = [f"Unknown event type {name!r}. Clients may post: {', '.join(types.client_names())}."]
        else:
            if not event_type.client_postable:
                error["type"] = [
                    f"{name!r} events are written by the system, not posted by clients. "
                    f"Clients may post: {', '.join(types.client_names())}."
                ]
            elif event_type.client_check is not None and (refused := event_type.client_check(row.get("payload"))):
                error["payload"] = refused
        if row.get("run_id") and row["run_id"] in reserved:
            what = f"{reserved[row['run_id']]}, " if reserved[row["run_id"]] else ""
            error["run_id"] = [f"Run {row['run_id']!r} is {what}written by the system only."]
        errors.append(error)
        key = row.get("dedupe_key")
        drafts.append(
            EventDraft(
                type=name,
                payload=row.get("payload") or {},
                source=source,
                run_id=row.get("run_id") or "",
                correlation_id=row.get("correlation_id"),
                causation_id=row.get("causation_id"),
                dedupe_key=client_dedupe_key(source, key) if key else None,
                ts=row.get("ts"),
            )
        )
    if any(errors):
        raise EventRejected(errors)
    return emit_many(drafts)


def client_dedupe_key(source: str, key: str) -> str:
    namespaced = f"{CLIENT_DEDUPE_PREFIX}{source}:{key}"
    if len(namespaced) > DEDUPE_KEY_MAX_LENGTH:  # still unique per (source, key), and fits the column
        namespaced = CLIENT_DEDUPE_PREFIX + hashlib.sha256(f"{source}\0{key}".encode()).hexdigest()
    return namespaced


def _build(drafts: Sequence[EventDraft], now: datetime) -> list[Event]:
    events, errors = [], []
    random = os.urandom(16 * len(drafts))  # uuid4's randomness for the whole batch in one system call
    for index, draft in enumerate(drafts):
        error: dict[str, Any] = {}
        payload: dict[str, Any] = {}
        try:
            event_type = types.get(draft.type)
        except types.UnknownEventType:
            error["type"] = [f"Unknown event type {draft.type!r}. Known types: {', '.join(types.names())}."]
        else:
            try:
                payload = types.validate_payload(draft.type, draft.payload)
            except types.PayloadInvalid as exc:
                error["payload"] = exc.errors
        if not draft.source:
            error["source"] = ["This field is required."]
        if draft.ts is not None and timezone.is_naive(draft.ts):
            error["ts"] = ["Must carry a time zone (UTC)."]
        errors.append(error)
        if error:
            continue
        event_id = uuid.UUID(bytes=random[16 * index : 16 * index + 16], version=4)
        # Positional arguments, in field order (id first): Model.__init__'s fast path, which
        # matters at 1,000 events a batch.
        events.append(
            Event(
                None,
                event_id,
                draft.ts or now,
                now,
                draft.type,
                draft.source,
                draft.run_id or "",
                draft.correlation_id or event_id,
                draft.causation_id,
                draft.dedupe_key or None,
                event_type.version,
                payload,
            )
        )
    if any(errors):
        raise EventRejected(errors)
    return events


def _insert(events: list[Event]) -> list[Event]:
    """Insert what is new; map every repeated dedupe key to the event stored first."""
    if is_postgres():
        return _insert_postgresql(events)
    keys = {event.dedupe_key for event in events if event.dedupe_key}
    if not keys:
        Event.objects.bulk_create(events)
        for event in events:
            event.created = True
        return events

    existing = {event.dedupe_key: event for event in Event.objects.filter(dedupe_key__in=keys)}
    first_with_key: dict[str, Event] = {}
    fresh = []
    for event in events:
        if event.dedupe_key in existing:
            continue
        if event.dedupe_key:
            if event.dedupe_key in first_with_key:
                continue
            first_with_key[event.dedupe_key] = event
        fresh.append(event)
    # A concurrent writer may commit the same key between our read and our insert: ignore the
    # conflict, then look up which of ours landed.
    Event.objects.bulk_create(fresh, ignore_conflicts=True)
    landed = dict(Event.objects.filter(event_id__in=[e.event_id for e in fresh]).values_list("event_id", "id"))
    lost_keys = {e.dedupe_key for e in fresh if e.event_id not in landed}
    if lost_keys:
        existing.update({e.dedupe_key: e for e in Event.objects.filter(dedupe_key__in=lost_keys)})
    for event in fresh:
        event.id = landed.get(event.event_id)
        event.created = event.id is not None
    for event in existing.values():
        event.created = False

    stored = []
    for event in events:
        if event.dedupe_key and event.dedupe_key in existing:
            stored.append(existing[event.dedupe_key])
        elif event.dedupe_key and first_with_key.get(event.dedupe_key) is not event:
            stored.append(first_with_key[event.dedupe_key])
        else:
            stored.append(event)
    return stored


# Postgres: one statement per batch. The columns travel as arrays (server-side binding: no
# quoting in Python) and come back as rows through unnest; a dedupe key already stored makes its
# row a no-op and it is looked up afterwards, so the common case costs one round trip, not three.
_EVENT_COLUMNS = (
    ("event_id", "uuid"),
    ("ts", "timestamptz"),
    ("recorded_at", "timestamptz"),
    ("type", "text"),
    ("source", "text"),
    ("run_id", "text"),
    ("correlation_id", "uuid"),
    ("causation_id", "uuid"),
    ("dedupe_key", "text"),
    ("schema_version", "int2"),
    ("payload", "text"),
)
_INSERT_SQL = (
    f"INSERT INTO {Event._meta.db_table} ({', '.join(name for name, _ in _EVENT_COLUMNS)}) "  # noqa: S608 - constants
    f"SELECT {', '.join(name + '::jsonb' if name == 'payload' else name for name, _ in _EVENT_COLUMNS)} "
    f"FROM unnest({', '.join(f'%b::{kind}[]' for _, kind in _EVENT_COLUMNS)}) "
    f"AS u({', '.join(name for name, _ in _EVENT_COLUMNS)}) "
    "ON CONFLICT (dedupe_key) DO NOTHING RETURNING event_id, id"
)
_encode_payload = DjangoJSONEncoder(separators=(",", ":")).encode


def _insert_postgresql(events: list[Event]) -> list[Event]:
    first_with_key: dict[str, Event] = {}
    fresh = []
    for event in events:
        if event.dedupe_key:
            if event.dedupe_key in first_with_key:
                continue
            first_with_key[event.dedupe_key] = event
        fresh.append(event)
    columns = [[] for _ in _EVENT_COLUMNS]
    for e in fresh:
        row = (
            e.event_id,
            e.ts,
            e.recorded_at,
            e.type,
            e.source,
            e.run_id,
            e.correlation_id,
            e.causation_id,
            e.dedupe_key,
            e.schema_version,
            _encode_payload(e.payload),
        )
        for column, value in zip(columns, row, strict=True):
            column.append(value)
    with server_binding_cursor() as cursor:
        cursor.execute(_INSERT_SQL, columns)
        landed = dict(cursor.fetchall())
    existing: dict[str, Event] = {}
    lost_keys = [e.dedupe_key for e in fresh if e.event_id not in landed]
    if lost_keys:
        existing = {event.dedupe_key: event for event in Event.objects.filter(dedupe_key__in=lost_keys)}
        for event in existing.values():
            event.created = False
    for event in fresh:
        event.id = landed.get(event.event_id)
        event.created = event.id is not None
        event._state.adding = False
        event._state.db = connection.alias
    stored = []
    for event in events:
        key = event.dedupe_key
        stored.append(existing[key] if key in existing else first_with_key[key] if key else event)
    return stored
