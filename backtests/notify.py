"""What the backtests app tells the rest of the world about a run: progress frames pushed to the
run's Channels group (through events.realtime.group_send, the one seam) and its ``backtest_finished`` event."""

from __future__ import annotations

import logging
import uuid

from django.db import transaction

from events import realtime
from events.services import emit

from .models import BacktestRun

logger = logging.getLogger(__name__)

PROGRESS_MESSAGE_TYPE = "backtest.progress"

# --- realtime --------------------------------------------------------------------------------------
# Progress frames queued in one tick go out as one message (the consumer sends each, in order).
realtime.register_merge(PROGRESS_MESSAGE_TYPE, realtime.merge_lists("frames"))


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
    try:
        realtime.group_send(
            realtime.backtest_run_group(frame["id"]), {"type": PROGRESS_MESSAGE_TYPE, "frames": [frame]}
        )
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
