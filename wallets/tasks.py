import logging

from celery import shared_task
from django.db import InterfaceError, OperationalError

from . import services

logger = logging.getLogger(__name__)

SCHEDULE_NAME = "wallets: reconcile every 15 minutes"


@shared_task(
    acks_late=True,
    soft_time_limit=300,
    time_limit=360,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    max_retries=3,
)
def wallet_reconcile_task(
    threshold_abs: str | None = None,
    threshold_rel: str | None = None,
    wallet_ids: list[int] | None = None,
    schedule_name: str = SCHEDULE_NAME,
) -> int | None:
    """The scheduled reconciliation. A run already going means this one is skipped, not queued."""
    try:
        outcome = services.wallet_reconcile(
            threshold_abs=threshold_abs, threshold_rel=threshold_rel, wallet_ids=wallet_ids, schedule_name=schedule_name
        )
    except services.ReconciliationBusy as busy:
        logger.info("scheduled reconciliation skipped: %s", busy)
        return None
    return outcome.run.pk
