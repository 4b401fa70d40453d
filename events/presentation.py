"""The JSON shape of an event, shared by the REST serializer and the WebSocket frames.

A plain function rather than serializer fields: it runs for every event published, so it must
cost microseconds. ``summary`` is the line registered with the event's type (events.types), numbers
formatted by events.formatting: the pages and scripts show it and keep no copy of their own.
"""

from datetime import datetime

from . import types
from .models import Event


def _iso(value: datetime) -> str:
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def event_to_dict(event: Event) -> dict:
    return {
        "id": event.id,
        "event_id": str(event.event_id),
        "ts": _iso(event.ts),
        "recorded_at": _iso(event.recorded_at),
        "type": event.type,
        "source": event.source,
        "run_id": event.run_id,
        "correlation_id": str(event.correlation_id),
        "causation_id": str(event.causation_id) if event.causation_id else None,
        "dedupe_key": event.dedupe_key,
        "schema_version": event.schema_version,
        "payload": event.payload,
        "summary": types.summarize(event.type, event.payload),
    }
