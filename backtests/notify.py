"""What the backtests app tells the rest of the world about a run: progress frames pushed to the
run's Channels group (through one long-lived publisher) and its ``backtest_finished`` event."""

from __future__ import annotations

import logging
import uuid

from django.db import transaction

from events import realtime
from events.publisher import Publisher
from events.services import emit

from .models import BacktestRun

logger = logging.getLogger(__name__)

PROGRESS_MESSAGE_TYPE = "backtest.progress"

# --- realtime --------------------------------------------------------------------------------------
_publisher = Publisher(lambda frames: {"type": PROGRESS_MESSAGE_TYPE, "frames": frames})


def run_frame(run: BacktestRun) -> dict:
    return {
        "type": "progress",
        "id": str(run.pk),
        "status": run.status,
        "candles_total": run.candles_total,
        "candles_processed": run.candles_processed,
        "error": run.error,
        "heartbeat_at": run.heartbeat_at.isoformat() if run.heartbeat_at else None,
    }


def publish(frame: dict) -> None:
    """Send a frame to the run's group (called outside transactions or on commit; failures are logged)."""
    from asgiref.sync import async_to_sync
    from channels.layers import InMemoryChannelLayer, get_channel_layer

    group = realtime.backtest_run_group(frame["id"])
    try:
        layer = get_channel_layer()
        if layer is None:
            return
        if isinstance(layer, InMemoryChannelLayer):
            async_to_sync(layer.group_send)(group, {"type": PROGRESS_MESSAGE_TYPE, "frames": [frame]})
        else:
            _publisher.submit(layer, {group: [frame]}, 1)
    except Exception:
        logger.exception("publishing progress of backtest %s failed; the API shows it", frame["id"])


def publish_on_commit(run_id) -> None:
    def send():
        run = BacktestRun.objects.filter(pk=run_id).first()
        if run is not None:
            publish(run_frame(run))

    transaction.on_commit(send)


# --- events -----------------------------------------------------------------------------------------------
def emit_finished(run_id, status: str, *, error: str = "", processed: int = 0, results: dict | None = None) -> None:
    results = results or {}
    emit(
        "backtest_finished",
        {
            "backtest_id": str(run_id),
            "status": str(status),
            "error": error[:5000],
            "candles_processed": processed,
            "trades": results.get("trades"),
            "blocks": results.get("blocks"),
            "total_return": results.get("total_return"),
            "final_equity": results.get("final_equity"),
        },
        source="backtests",
        correlation_id=uuid.UUID(str(run_id)),  # one chain per backtest; no run_id: it is not a live run
        dedupe_key=f"backtest:{run_id}:finished",
    )
