"""Reads for the dashboard pages. Each is a bounded, indexed query: the pages must render fast
with millions of events stored (see bench/dashboard.py)."""

from datetime import timedelta

from django.db.models import Count
from django.db.models.fields.json import KT
from django.utils import timezone

from events import types
from events.models import Event
from events.presentation import event_to_dict
from wallets.selectors import drift_record_list

from .presentation import event_row


def latest_events(*, event_type: str, limit: int = 10) -> list[dict]:
    """The newest events of one type (index event_type_ts), as display rows."""
    events = Event.objects.filter(type=event_type).order_by("-ts", "-id")[:limit]
    return [event_row(event_to_dict(event)) for event in events]


def block_reasons(*, window: timedelta = timedelta(hours=1)) -> list[dict]:
    """``trade_blocked`` events in the window, counted by reason and class, most frequent first."""
    since = timezone.now() - window
    return list(
        Event.objects.filter(type="trade_blocked", ts__gte=since)
        .values(reason=KT("payload__reason"), reason_class=KT("payload__reason_class"))
        .annotate(count=Count("id"))
        .order_by("-count", "reason", "reason_class")
    )


def drift_series(*, wallet_id: int, limit: int = 2000) -> dict[str, list[dict]]:
    """The wallet's latest drift records per currency, oldest first, for the drift charts."""

    records = drift_record_list(wallet_id=wallet_id).order_by("-ts", "-id")[:limit]
    series: dict[str, list[dict]] = {}
    for record in reversed(list(records)):
        series.setdefault(record.currency, []).append(
            {"ts": record.ts.isoformat(), "drift": str(record.drift), "breach": not record.within_threshold}
        )
    return dict(sorted(series.items()))


def symbol_events(*, symbol: str, types: list[str], limit: int = 300) -> list[dict]:
    """The newest events of these types about one symbol (fills and blocks marked on the chart)."""
    events = Event.objects.filter(type__in=types, payload__symbol=symbol).order_by("-ts", "-id")[:limit]
    return [
        {
            "id": e.id,
            "event_id": str(e.event_id),
            "ts": e.ts.isoformat(),
            "type": e.type,
            "side": e.payload.get("side"),
            **_marker_text(e),
        }
        for e in events
    ]


def _marker_text(event: Event) -> dict:
    return {"text": types.summarize(event.type, event.payload), "correlation_id": str(event.correlation_id)}
