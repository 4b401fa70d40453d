"""What the API (and the dashboard) call: start, cancel and rerun runs. Config validation raises
:class:`tradingops.errors.Invalid` naming the fields; state conflicts :class:`tradingops.errors.Conflict`."""

from __future__ import annotations

import logging
import uuid

from django.db import transaction
from django.utils import timezone

from events.services import emit
from tradingops import outbox
from tradingops.errors import Conflict, Invalid
from tradingops.idempotency import Idempotency
from tradingops.idempotency import claim as idempotency_claim
from tradingops.idempotency import complete as idempotency_complete
from tradingops.roles import user_source

from .. import config as cfg
from ..models import FINISHED, BacktestRun, RunStatus
from ..notify import emit_finished, publish_on_commit
from ..tasks import backtest_run_task

logger = logging.getLogger(__name__)


class RunStateError(Conflict):
    """An action the run's status does not allow (409 naming the status)."""

    def __init__(self, run: BacktestRun, message: str):
        self.run = run
        super().__init__(message, field="status")


def validated(data: dict) -> dict:
    """The POST body checked and resolved (engine and database), or :class:`Invalid` naming the fields."""
    serializer = cfg.BacktestConfigSerializer(data=data)
    if not serializer.is_valid():
        raise Invalid(serializer.errors)
    return serializer.validated_data


# --- start / cancel / rerun -----------------------------------------------------------------------
def dispatch_on_commit(runs: list[BacktestRun]) -> None:
    """Send each run to a worker through the transactional outbox: its message is written with the
    run, sent after the commit, and, with the broker down, sent by the outbox's sweeper once it is
    back. A second message of a run is harmless: a worker claims only a queued run."""
    outbox.dispatch_each_on_commit(backtest_run_task, ([str(run.pk)] for run in runs))


def backtest_run_create(
    *,
    data: dict,
    user=None,
    idempotency: Idempotency | None = None,
    rerun_of: BacktestRun | None = None,
) -> BacktestRun:
    """Validate ``data`` (the POST body), store a queued run, emit ``backtest_requested`` naming
    the user and send the run to a worker through the outbox, in one transaction.

    With an ``idempotency`` key seen before it raises :class:`~tradingops.idempotency.Replay`
    (nothing new is written); the same key with another body, :class:`~tradingops.errors.Conflict`.
    """
    attrs = validated(data)
    config = attrs["_config"]
    with transaction.atomic():
        idempotency_claim(idempotency)
        run = BacktestRun.objects.create(
            name=attrs.get("name") or _default_name(config),
            config=config,
            candles_total=attrs["_resolved"].candles,
            created_by=user if getattr(user, "is_authenticated", False) else None,
            rerun_of=rerun_of,
        )
        _emit_requested(run, user)
        dispatch_on_commit([run])
        idempotency_complete(idempotency, run.pk)
    return run


def _emit_requested(run: BacktestRun, user) -> None:
    emit(
        "backtest_requested",
        {
            "backtest_id": str(run.pk),
            "name": run.name,
            "symbols": run.config["symbols"],
            "timeframe": run.config["timeframe"],
            "candles": run.candles_total,
            "rerun_of": str(run.rerun_of_id) if run.rerun_of_id else None,
        },
        source=user_source(user),
        correlation_id=uuid.UUID(str(run.pk)),  # the run's chain; no run_id: it is not a live run
        dedupe_key=f"backtest:{run.pk}:requested",
    )


def _default_name(config: dict) -> str:
    strategy = config["strategy"]
    label = strategy.get("preset") or (strategy.get("plan") or {}).get("name", "plan")
    params = ",".join(f"{k}={v}" for k, v in (strategy.get("params") or {}).items())
    return f"{label}({params}) {','.join(config['symbols'])} {config['timeframe']}"[:200]


def backtest_run_cancel(*, run_id, user=None) -> BacktestRun:
    """Queued: cancelled at once. Running: flagged; the worker stops within a second and marks it.
    A ``backtest_cancel_requested`` event names who asked (once per run, however often asked).

    A finished run cannot be cancelled: :class:`RunStateError` names its status.
    """
    with transaction.atomic():
        run = BacktestRun.objects.select_for_update().get(pk=run_id)
        if run.status in FINISHED:
            raise RunStateError(run, f"the run is {run.status}: only queued or running runs can be cancelled")
        emit(
            "backtest_cancel_requested",
            {"backtest_id": str(run.pk), "status": run.status},
            source=user_source(user),
            correlation_id=uuid.UUID(str(run.pk)),
            dedupe_key=f"backtest:{run.pk}:cancel_requested",
        )
        if run.status == RunStatus.QUEUED:
            run.status = RunStatus.CANCELLED
            run.finished_at = timezone.now()
            run.error = "cancelled before it started"
        run.cancel_requested = True
        run.save(update_fields=["status", "finished_at", "error", "cancel_requested"])
        if run.status == RunStatus.CANCELLED:
            emit_finished(run.pk, run.status, error=run.error)
        publish_on_commit(run.pk)
    return run


def backtest_run_rerun(*, run_id, user=None) -> BacktestRun:
    """A new run of the same config (validated again: candles may have changed since)."""
    original = BacktestRun.objects.get(pk=run_id)
    return backtest_run_create(data={"name": original.name, **original.config}, user=user, rerun_of=original)
