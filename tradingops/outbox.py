"""The transactional outbox: ``dispatch_on_commit(task, *args)`` instead of ``task.delay_on_commit``.

``delay_on_commit`` sends after the commit: with the broker down the row is committed, the send
raises, the request answers 500 and the work (a ``pause``, a ``flatten``) is never carried out.
Here the message is a row written in the caller's transaction; after the commit it is sent at once
when the broker answers (failing fast, no retry loop in a request), and otherwise stays pending
until :func:`sweep` sends it: from beat every few seconds and at every worker start.

Each message is sent while its row is locked (``SKIP LOCKED``) and marked in the same transaction,
so two sweepers never send the same one. A process that dies between the send and the commit
would send it again: the tasks behind it are idempotent (dedupe keys, state checks).
"""

import logging
from collections.abc import Iterable, Sequence
from datetime import timedelta

from celery import current_app
from django.conf import settings
from django.db import connection as db_connection
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from .models import OutboxMessage

logger = logging.getLogger(__name__)


def dispatch_on_commit(task, *args, **kwargs) -> OutboxMessage:
    """Record ``task(*args, **kwargs)`` in the current transaction; send it after the commit."""
    message = OutboxMessage.objects.create(task=task.name, args=list(args), kwargs=kwargs)
    transaction.on_commit(lambda: _send_pending([message.pk]))
    return message


def dispatch_each_on_commit(task, calls: Iterable[Sequence]) -> list[OutboxMessage]:
    """``task(*args)`` for each ``args`` in ``calls``: one message each, written in one statement."""
    messages = OutboxMessage.objects.bulk_create(OutboxMessage(task=task.name, args=list(args)) for args in calls)
    if messages:
        transaction.on_commit(lambda: _send_pending([message.pk for message in messages]))
    return messages


def sweep(*, older_than_s: float | None = None, limit: int = 500) -> int:
    """Send the pending messages (older than ``older_than_s``, so that a commit's own send goes
    first); stops at the first broker error. Returns how many were sent."""
    if older_than_s is None:
        older_than_s = settings.OUTBOX_SWEEP_AFTER_S
    cutoff = timezone.now() - timedelta(seconds=older_than_s)
    ids = list(
        OutboxMessage.objects.filter(dispatched_at__isnull=True, created_at__lte=cutoff)
        .order_by("id")
        .values_list("id", flat=True)[:limit]
    )
    return _send_pending(ids) if ids else 0


def _send_pending(ids: list[int]) -> int:
    if current_app.conf.task_always_eager:
        return _run_eagerly(ids)
    sent = 0
    try:
        with current_app.connection_for_write() as connection:
            # Fail fast: redis-py and kombu would otherwise retry the connect for ~6 s per send,
            # inside a request; the sweeper is the retry.
            connection.ensure_connection(max_retries=0)
            for pk in ids:
                with transaction.atomic():
                    pending = OutboxMessage.objects.filter(pk=pk, dispatched_at__isnull=True)
                    if db_connection.features.has_select_for_update_skip_locked:
                        pending = pending.select_for_update(skip_locked=True)
                    message = pending.first()
                    if message is None:
                        continue  # sent already, or being sent by another process
                    _publish(message, connection)
                    message.dispatched_at = timezone.now()
                    message.attempts += 1
                    message.last_error = ""
                    message.save(update_fields=["dispatched_at", "attempts", "last_error"])
                sent += 1
    except Exception as exc:  # noqa: BLE001 - the broker is down (or slow): leave the rest for the sweeper
        logger.warning("outbox: %d message(s) not sent (%s: %s); they stay pending", len(ids) - sent,
                       type(exc).__name__, exc)  # fmt: skip
        OutboxMessage.objects.filter(pk__in=ids, dispatched_at__isnull=True).update(
            attempts=F("attempts") + 1, last_error=f"{type(exc).__name__}: {exc}"[:500]
        )
    return sent


def _run_eagerly(ids: list[int]) -> int:
    """Embedded (no broker): the task runs here and now; its failure is the task's, not a send's,
    so the message is marked sent first and never replayed."""
    ran = 0
    for pk in ids:
        with transaction.atomic():
            claimed = OutboxMessage.objects.filter(pk=pk, dispatched_at__isnull=True).update(
                dispatched_at=timezone.now(), attempts=F("attempts") + 1
            )
        if not claimed:
            continue
        message = OutboxMessage.objects.get(pk=pk)
        try:
            _publish(message)
        except Exception:
            logger.exception("outbox: %s failed in-process", message)
        ran += 1
    return ran


def _publish(message: OutboxMessage, connection=None) -> None:
    task = current_app.tasks[message.task]
    # No publish retries: a request must not wait for a broker that is down; the sweeper retries.
    task.apply_async(args=message.args, kwargs=message.kwargs, retry=False, connection=connection)


def prune(*, older_than: timedelta = timedelta(days=7)) -> int:
    """Forget messages sent more than ``older_than`` ago (the table would only grow)."""
    deleted, _ = OutboxMessage.objects.filter(dispatched_at__lt=timezone.now() - older_than).delete()
    return deleted
