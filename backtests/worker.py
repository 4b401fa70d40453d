"""The worker side of a run: claim it, load the candles, run the engine, store the results, with a
throttled heartbeat that carries progress and the cancel check; and the reaper that fails runs
whose heartbeat stopped. Called by the Celery tasks in :mod:`backtests.tasks`."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from agents.engine import Bars, run_backtest
from events.services import emit

from . import config as cfg
from .loading import load_bars
from .models import BacktestRun, RunStatus
from .notify import emit_finished, publish, publish_on_commit, run_frame
from .results import write_results

logger = logging.getLogger(__name__)

# the engine calls back at most this often (in bars); then progress is written at most every interval
PROGRESS_EVERY_BARS = settings.BACKTESTS_PROGRESS_EVERY_BARS
PROGRESS_MIN_INTERVAL_S = settings.BACKTESTS_PROGRESS_INTERVAL_S  # written and pushed at most this often


class Cancelled(Exception):
    pass


class RunFailed(Exception):
    """A reason a run cannot go on that the user can act on: its message is shown as it is."""


class Stopped(Exception):
    """The run is no longer this worker's: the reaper failed it (or it was deleted). Stop, write nothing."""


class _Progress:
    """Throttled progress writes + pushes, heartbeat, and the cancel check.

    The heartbeat is status-guarded (``WHERE status = 'running'``): once the reaper has failed the
    run (a worker frozen past the stale limit, then resumed), no beat lands and the worker stops
    at its next check instead of finishing a run the event log already calls failed. The ORM
    writes it, so it binds the run id as the database stores it (PostgreSQL and SQLite alike)."""

    def __init__(self, run_id):
        self.run_id = run_id
        self.last = 0.0
        self.total = 0
        self.offset = 0  # warm-up bars before the range

    def engine(self, bars_done: int) -> None:
        """The engine's callback: bars handled, warm-up included."""
        self(min(max(bars_done - self.offset, 0), self.total))

    def __call__(self, done: int, *, force: bool = False) -> None:
        # Throttle on the stamp that is stored, so stored heartbeats are never closer than the interval.
        beat = timezone.now()
        if not force and beat.timestamp() - self.last < PROGRESS_MIN_INTERVAL_S:
            return
        self.last = beat.timestamp()
        beaten = BacktestRun.objects.filter(pk=self.run_id, status=RunStatus.RUNNING, cancel_requested=False).update(
            candles_processed=done, heartbeat_at=beat
        )
        if not beaten:
            check_still_mine(self.run_id)
        publish(
            {
                "type": "progress",
                "id": str(self.run_id),
                "status": RunStatus.RUNNING,
                "candles_total": self.total,
                "candles_processed": done,
                "error": "",
                "heartbeat_at": beat.isoformat(),
            }
        )


def check_still_mine(run_id) -> None:
    """Raise :class:`Cancelled` (an operator asked) or :class:`Stopped` (reaped, deleted): why no beat landed."""
    row = BacktestRun.objects.filter(pk=run_id).values_list("status", "cancel_requested").first()
    if row is not None and row[0] == RunStatus.RUNNING and row[1]:
        raise Cancelled
    raise Stopped(f"run {run_id} is {row[0] if row else 'gone'}: reaped while this worker was not heard from")


def backtest_execute(*, run_id, worker: str = "") -> str:
    """Run one queued backtest to the end (the task's body); returns the final status.

    Only a queued run is claimed (a redelivered message of a run already taken is a no-op). Failures
    are recorded with their error; a cancel request stops it at the next progress check.
    """
    now = timezone.now()
    claimed = BacktestRun.objects.filter(pk=run_id, status=RunStatus.QUEUED).update(
        status=RunStatus.RUNNING, started_at=now, heartbeat_at=now, worker=worker[:200]
    )
    if not claimed:
        return BacktestRun.objects.filter(pk=run_id).values_list("status", flat=True).first() or "missing"
    run = BacktestRun.objects.get(pk=run_id)

    emit(
        "backtest_started",
        {"backtest_id": str(run.pk), "name": run.name, "symbols": run.config["symbols"],
         "timeframe": run.config["timeframe"], "candles": run.candles_total, "worker": run.worker},
        source="backtests",
        correlation_id=uuid.UUID(str(run.pk)),  # one chain per backtest; no run_id: it is not a live run
        dedupe_key=f"backtest:{run.pk}:started",
    )  # fmt: skip
    publish(run_frame(run))
    progress = _Progress(run.pk)
    progress.total = run.candles_total
    try:
        config = run.config
        rows = cfg.instrument_rows(config["symbols"])
        missing = [sym for sym in config["symbols"] if sym not in rows]
        if missing:
            raise RunFailed(f"instrument {', '.join(missing)} no longer exists")
        plan, limits, instruments = cfg.engine_parts(config, rows)
        bars: dict[str, Bars] = {}
        warm: dict[str, int] = {}
        for sp in plan.symbols:
            bars[sp.symbol], warm[sp.symbol] = load_bars(config, rows[sp.symbol]["id"], plan.warmup_bars, progress)
            if len(bars[sp.symbol]) <= warm[sp.symbol]:
                raise RunFailed(f"no candles of {sp.symbol} in the run's range any more")
        total = sum(len(b) for b in bars.values()) - sum(warm.values())
        progress.total = total
        progress.offset = sum(warm.values())
        BacktestRun.objects.filter(pk=run.pk).update(candles_total=total)
        result = run_backtest(
            plan,
            bars,
            limits,
            initial_cash=float(config["initial_cash"]),
            instruments=instruments,
            trade_from=warm,
            progress=progress.engine,
            progress_every=PROGRESS_EVERY_BARS,
            close_at_end=bool(config.get("close_at_end", False)),
        )
        progress(total, force=True)  # last cancel check before writing
        with transaction.atomic():
            # Lock the run while writing: the reaper skips locked rows, so it cannot fail it half-way, and a
            # run it failed before this point is not ours to complete (Stopped rolls the write back).
            locked = BacktestRun.objects.select_for_update().filter(pk=run.pk, status=RunStatus.RUNNING)
            if not locked.exists():
                check_still_mine(run.pk)
            results = write_results(run, result, bars, warm, check=lambda: progress(total))
            results["candles"] = total
            quotes = {row["quote"] for row in rows.values()}
            results["quote"] = quotes.pop() if len(quotes) == 1 else None  # money is shown to its precision
            completed = BacktestRun.objects.filter(pk=run.pk, status=RunStatus.RUNNING).update(
                status=RunStatus.COMPLETED,
                candles_processed=total,
                finished_at=timezone.now(),
                heartbeat_at=timezone.now(),
                results=results,
            )
            if not completed:
                check_still_mine(run.pk)  # raises: the whole write rolls back
            emit_finished(run.pk, RunStatus.COMPLETED, processed=total, results=results)
            publish_on_commit(run.pk)
        return RunStatus.COMPLETED
    except Cancelled:
        return _finish(run.pk, RunStatus.CANCELLED, "cancelled by an operator")
    except Stopped as exc:
        logger.warning("backtest %s: %s; its results are not written", run.pk, exc)
        return BacktestRun.objects.filter(pk=run.pk).values_list("status", flat=True).first() or "missing"
    except RunFailed as failure:
        logger.info("backtest %s failed: %s", run.pk, failure)
        return _finish(run.pk, RunStatus.FAILED, str(failure))
    except Exception:
        # The user gets a sentence; the exception and its traceback go to the log, under the run's id.
        logger.exception("backtest %s failed", run.pk)
        return _finish(
            run.pk,
            RunStatus.FAILED,
            f"This backtest stopped on an internal error, so it has no results. The details are in the "
            f"server log under backtest {run.pk}; please report it to the operators.",
        )


def _finish(run_id, status: str, error: str) -> str:
    """Cancelled or failed by this worker; a run already finished (the reaper failed it) keeps its status."""
    with transaction.atomic():
        finished = BacktestRun.objects.filter(pk=run_id, status=RunStatus.RUNNING).update(
            status=status, finished_at=timezone.now(), error=error
        )
        if not finished:
            return BacktestRun.objects.filter(pk=run_id).values_list("status", flat=True).first() or "missing"
        processed = BacktestRun.objects.filter(pk=run_id).values_list("candles_processed", flat=True).get()
        emit_finished(run_id, status, error=error, processed=processed)
        publish_on_commit(run_id)
    return status


# --- reaper ---------------------------------------------------------------------------------------------------
def backtest_runs_reap(*, stale_after_s: int | None = None) -> list:
    """Mark running runs whose heartbeat stopped as failed, with the reason; returns their ids.

    A run the reaper failed stays failed: the worker's heartbeat and final writes are status-guarded.
    (A queued run the broker never took is not the reaper's: its message waits in the outbox.)"""
    stale_after_s = stale_after_s or settings.BACKTESTS_STALE_AFTER_S
    cutoff = timezone.now() - timedelta(seconds=stale_after_s)
    reaped = []
    with transaction.atomic():
        for run in BacktestRun.objects.select_for_update(skip_locked=True).filter(
            status=RunStatus.RUNNING, heartbeat_at__lt=cutoff
        ):
            run.status = RunStatus.FAILED
            run.finished_at = timezone.now()
            run.error = (
                f"worker {run.worker or '?'} stopped sending heartbeats: the last was at "
                f"{run.heartbeat_at:%Y-%m-%d %H:%M:%S} UTC, more than {stale_after_s} s ago; presumed dead"
            )
            run.save(update_fields=["status", "finished_at", "error"])
            emit_finished(run.pk, run.status, error=run.error, processed=run.candles_processed)
            reaped.append(run.pk)
            publish_on_commit(run.pk)
    return reaped
