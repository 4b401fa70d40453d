"""Idempotency-Key for every POST that creates something (intents, plans, backtest runs and sweeps,
corrections).

The view reads the header into an :class:`Idempotency` (400 naming ``Idempotency-Key`` when it
is empty or longer than 200 characters) and hands it to the service, which calls
:meth:`Idempotency.claim` first thing inside its transaction and :meth:`Idempotency.complete` with
what it made. A key seen before raises :class:`Replay` (the view answers 200 with the first
result) or, with another body, :class:`~tradingops.errors.Conflict` (409). Concurrent duplicates
serialise on the unique index: the second insert waits for the first transaction and then finds
its record.
"""

import hashlib
import json
from dataclasses import dataclass, field

from django.db import connection
from django.utils import timezone

from .errors import Conflict, Invalid
from .models import IdempotencyRecord

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 200


class Replay(Exception):  # noqa: N818 - not an error: the answer is the first request's
    """This key already made ``resource``: answer with it."""

    def __init__(self, resource: str):
        super().__init__(resource)
        self.resource = resource


@dataclass
class Idempotency:
    scope: str
    user_id: int
    key: str
    fingerprint: str
    record_id: int | None = field(default=None)

    def claim(self) -> None:
        """Inside the service's transaction: take the key, or raise Replay / Conflict."""
        table = IdempotencyRecord._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (scope, user_id, key, fingerprint, resource, created_at) "  # noqa: S608
                "VALUES (%s, %s, %s, %s, '', %s) ON CONFLICT (scope, user_id, key) DO NOTHING RETURNING id",
                [self.scope, self.user_id, self.key, self.fingerprint, timezone.now()],
            )
            row = cursor.fetchone()
        if row is not None:
            self.record_id = row[0]
            return
        existing = IdempotencyRecord.objects.get(scope=self.scope, user_id=self.user_id, key=self.key)
        if existing.fingerprint != self.fingerprint:
            raise Conflict(f"This {HEADER} was used for a different request.", field=HEADER)
        raise Replay(existing.resource)

    def complete(self, resource: str) -> None:
        IdempotencyRecord.objects.filter(pk=self.record_id).update(resource=str(resource))


def from_request(request, *, scope: str, body=None) -> Idempotency | None:
    """The request's Idempotency-Key for ``scope``, or None without the header."""
    key = request.headers.get(HEADER)
    if key is None:
        return None
    key = key.strip()
    if not 0 < len(key) <= MAX_KEY_LENGTH:
        raise Invalid(f"Between 1 and {MAX_KEY_LENGTH} characters.", field=HEADER)
    payload = request.data if body is None else body
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return Idempotency(
        scope=scope,
        user_id=request.user.pk,
        key=key,
        fingerprint=hashlib.sha256(canonical.encode()).hexdigest(),
    )


def claim(idempotency: Idempotency | None) -> None:
    if idempotency is not None:
        idempotency.claim()


def complete(idempotency: Idempotency | None, resource) -> None:
    if idempotency is not None:
        idempotency.complete(str(resource))


def openapi_parameter():
    """The header, for ``extend_schema(parameters=[...])``."""
    from drf_spectacular.types import OpenApiTypes
    from drf_spectacular.utils import OpenApiParameter

    return OpenApiParameter(
        HEADER,
        OpenApiTypes.STR,
        OpenApiParameter.HEADER,
        required=False,
        description="Retries with the same key (and body) return the first result (200) instead of a new one.",
    )


def prune(*, older_than_days: int = 7) -> int:
    """Forget keys older than a week: a client retries within minutes, not days."""
    from datetime import timedelta

    cutoff = timezone.now() - timedelta(days=older_than_days)
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
