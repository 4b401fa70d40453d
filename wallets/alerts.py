"""Telling people about a finished reconciliation: the wallets WebSocket group and e-mail.

Called on commit. A failure is logged and loses nothing: the run, its drift records and its
events are stored, and the admin and the API show them.
"""

import logging

from django.conf import settings
from django.core.mail import send_mail

from events import realtime

from . import selectors
from .api.serializers import DriftRecordSerializer, ReconciliationRunSerializer

logger = logging.getLogger(__name__)

MESSAGE_TYPE = "wallets.alert"
MAX_MAIL_LINES = 50


def run_frame(run) -> dict:
    """The frame the wallets socket sends: the same JSON as ``GET /wallets/reconcile/{id}``
    without the records that were within threshold."""

    breaches = selectors.drift_record_breaches(run_id=run.pk)
    return {
        "type": "reconciliation_completed",
        "run": ReconciliationRunSerializer(run).data,
        "breaches": DriftRecordSerializer(breaches, many=True).data,
    }


def announce(run_id: int) -> None:
    run = selectors.reconciliation_run_list().filter(pk=run_id).first()
    if run is None:
        return
    frame = run_frame(run)
    try:
        realtime.group_send(realtime.wallets_alerts_group(), {"type": MESSAGE_TYPE, "frame": frame})
    except Exception:
        logger.exception("publishing reconciliation %s failed; it is stored", run_id)
    if settings.WALLETS_ALERT_EMAILS and (run.breaches or run.wallets_failed):
        _mail(run, frame["breaches"])


def _mail(run, breaches: list[dict]) -> None:
    subject = f"[TradingOps] reconciliation #{run.pk}: {run.breaches} drift breach(es), {run.wallets_failed} failed"
    lines = [
        f"Reconciliation #{run.pk} ({run.trigger}) finished {run.finished_at:%Y-%m-%d %H:%M:%S} UTC: {run.status}.",
        f"Threshold: abs {run.threshold_abs.normalize():f} + rel {run.threshold_rel.normalize():f}.",
        "",
    ]
    for record in breaches[:MAX_MAIL_LINES]:
        lines.append(
            f"{record['wallet_name']} {record['currency']}: ledger {record['ledger_balance']} "
            f"exchange {record['exchange_balance']} drift {record['drift']}"
        )
    if len(breaches) > MAX_MAIL_LINES:
        lines.append(f"... and {len(breaches) - MAX_MAIL_LINES} more.")
    for wallet, reason in run.summary.get("errors", {}).items():
        lines.append(f"{wallet}: balance not fetched: {reason}")
    try:
        send_mail(subject, "\n".join(lines), settings.DEFAULT_FROM_EMAIL, settings.WALLETS_ALERT_EMAILS)
    except Exception:
        logger.exception("mailing reconciliation %s failed", run.pk)
