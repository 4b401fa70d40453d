"""A reaped backtest stays failed: the heartbeat and the final writes are status-guarded, so a worker
that was frozen past the stale limit and then resumes writes nothing. The reaper has its own queue.
(A run the broker never took waits in the outbox: tests/test_operator_events.py.)"""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from backtests import services, worker
from backtests.models import BacktestRun, BacktestTrade, CurveChunk, RunStatus
from backtests.tasks import backtest_reap_task, backtest_run_task
from events.models import Event
from tradingops.celery import app

from .conftest import sma_config


def freeze_past_the_stale_limit(run_id):
    """What the reaper sees when a worker is SIGSTOPped: the last heartbeat is old; then it reaps."""
    BacktestRun.objects.filter(pk=run_id).update(heartbeat_at=timezone.now() - timedelta(seconds=600))
    assert worker.backtest_runs_reap(stale_after_s=60) == [run_id]


def finished_events(run_id):
    return list(
        Event.objects.filter(type="backtest_finished", correlation_id=run_id).values_list("payload__status", flat=True)
    )


@pytest.mark.parametrize("phase", ["engine", "load"])
def test_a_run_reaped_while_its_worker_was_frozen_never_comes_back_completed(sol_candles, monkeypatch, phase):
    run = services.backtest_run_create(data=sma_config())
    target = "run_backtest" if phase == "engine" else "load_bars"
    real = getattr(worker, target)

    def frozen_then_resumed(*args, **kwargs):
        out = real(*args, **kwargs)
        freeze_past_the_stale_limit(run.pk)
        return out

    monkeypatch.setattr(worker, target, frozen_then_resumed)
    assert worker.backtest_execute(run_id=run.pk, worker="w") == RunStatus.FAILED

    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert "presumed dead" in run.error
    assert run.results is None
    assert not BacktestTrade.objects.filter(run=run).exists()
    assert not CurveChunk.objects.filter(run=run).exists()
    assert finished_events(run.pk) == ["failed"]  # the event log and the row agree


def test_a_run_reaped_during_its_final_write_is_rolled_back(sol_candles, monkeypatch):
    run = services.backtest_run_create(data=sma_config())
    real = worker.write_results

    def reaped_meanwhile(*args, **kwargs):
        out = real(*args, **kwargs)
        # another connection would skip the locked row; this one holds the lock, so force the status
        BacktestRun.objects.filter(pk=run.pk).update(status=RunStatus.FAILED, error="reaped")
        return out

    monkeypatch.setattr(worker, "write_results", reaped_meanwhile)
    assert worker.backtest_execute(run_id=run.pk) != RunStatus.COMPLETED
    assert not BacktestTrade.objects.filter(run=run).exists()  # the whole write rolled back
    assert finished_events(run.pk) == []


def test_a_failure_after_the_reaper_keeps_the_reapers_verdict(sol_candles, monkeypatch):
    run = services.backtest_run_create(data=sma_config())

    def reaped_then_crashes(*args, **kwargs):
        freeze_past_the_stale_limit(run.pk)
        raise RuntimeError("boom")

    monkeypatch.setattr(worker, "run_backtest", reaped_then_crashes)
    assert worker.backtest_execute(run_id=run.pk) == RunStatus.FAILED
    run.refresh_from_db()
    assert "presumed dead" in run.error  # not overwritten by the worker's own error
    assert finished_events(run.pk) == ["failed"]


def test_the_reaper_has_its_own_queue():

    router = app.amqp.router
    assert router.route({}, backtest_reap_task.name)["queue"].name == "maintenance"
    assert router.route({}, backtest_run_task.name)["queue"].name == "backtests"


def test_the_reaper_schedule_sends_to_the_maintenance_queue(db):

    task = PeriodicTask.objects.get(task="backtests.tasks.backtest_reap_task")
    assert task.queue == "maintenance"


def test_a_bulk_write_refused_by_the_database_fails_the_run_and_leaves_nothing(sol_candles, monkeypatch):
    """The results' COPYs run on a thread while the worker computes: an error there still reaches the
    worker, which fails the run, and the transaction rolls every table back."""
    run = services.backtest_run_create(data=sma_config())
    real = worker.write_results

    def written_twice(*args, **kwargs):
        real(*args, **kwargs)
        return real(*args, **kwargs)  # the same trades again: (run, seq) is unique

    monkeypatch.setattr(worker, "write_results", written_twice)
    assert worker.backtest_execute(run_id=run.pk, worker="w") == RunStatus.FAILED

    run.refresh_from_db()
    assert "internal error" in run.error
    assert run.results is None
    assert not BacktestTrade.objects.filter(run=run).exists()
    assert not CurveChunk.objects.filter(run=run).exists()
    assert finished_events(run.pk) == ["failed"]
