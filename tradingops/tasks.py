"""Project-level Celery tasks: the outbox sweeper."""

import logging

from celery import shared_task
from celery.signals import worker_ready

from . import idempotency, outbox
from .outbox import sweep


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90, ignore_result=True)
def outbox_sweep_task() -> int:
    """Send what the broker missed; forget what was sent (and idempotency keys) a week ago."""

    sent = outbox.sweep()
    outbox.prune()
    idempotency.prune()
    return sent


@worker_ready.connect
def _sweep_at_worker_start(sender=None, **kwargs) -> None:
    """A worker that starts (after an outage, say) sends what was committed while the broker was down."""

    try:
        sweep(older_than_s=0)
    except Exception:  # a worker starts even if the database is not there yet
        logging.getLogger(__name__).exception("outbox sweep at worker start failed")
