import importlib
import json
import os
import subprocess
import sys
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import redis
from django.apps import apps as django_apps
from django.db import connection
from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from django_celery_beat.schedulers import ModelEntry

from events.models import Event
from wallets import services
from wallets.models import ReconciliationRun
from wallets.tasks import SCHEDULE_NAME, wallet_reconcile_task

ROOT = Path(__file__).resolve().parents[2]
migration = importlib.import_module("wallets.migrations.0002_reconcile_schedule")


def test_migration_creates_a_15_minute_reconciliation_schedule(db):
    task = PeriodicTask.objects.select_related("interval").get(name=SCHEDULE_NAME)
    assert task.task == "wallets.tasks.wallet_reconcile_task"
    assert (task.interval.every, task.interval.period) == (15, "minutes")
    assert task.enabled is True
    assert json.loads(task.kwargs) == {"schedule_name": SCHEDULE_NAME}


def test_the_scheduler_finds_the_entry_due_15_minutes_after_its_last_run(db):
    task = PeriodicTask.objects.get(name=SCHEDULE_NAME)
    task.last_run_at = timezone.now() - timedelta(minutes=14)
    due, next_check = ModelEntry(task).is_due()
    assert due is False
    assert 50 <= next_check <= 61
    task.last_run_at = timezone.now() - timedelta(minutes=15, seconds=1)
    assert ModelEntry(task).is_due()[0] is True


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_beat_fires_the_scheduled_reconciliation_on_a_real_worker(paper_wallet, settings):
    # A transactional test before this one may have truncated the table: make the entry exactly
    # as the migration does, then let ops' "last run" be 16 minutes ago so that it is due now.
    migration.RECONCILE_SCHEDULE.code(django_apps, None)
    PeriodicTask.objects.exclude(name=SCHEDULE_NAME).update(enabled=False)
    PeriodicTask.objects.filter(name=SCHEDULE_NAME).update(last_run_at=timezone.now() - timedelta(minutes=16))
    wallet = paper_wallet("paper", USDT="100")
    services.paper_exchange_move(wallet_id=wallet.pk, deltas={"USDT": "-1"}, reference="drift")
    redis.Redis.from_url(settings.REDIS_URL).delete("default")  # this test's own Redis db

    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tradingops.tests.settings",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        "CONN_MAX_AGE": "0",
    }
    celery = [sys.executable, "-m", "celery", "-A", "tradingops"]
    worker = subprocess.Popen(
        [*celery, "worker", "-Q", "default", "--pool=solo", "--without-gossip", "--without-mingle", "-l", "warning"],
        cwd=ROOT,
        env=env,
    )
    beat = subprocess.Popen([*celery, "beat", "--max-interval", "1", "-l", "warning", "--pidfile="], cwd=ROOT, env=env)
    try:
        deadline = time.monotonic() + 90
        run = None
        while time.monotonic() < deadline:
            run = ReconciliationRun.objects.exclude(status="running").first()
            if run is not None:
                break
            assert worker.poll() is None, "the worker exited"
            assert beat.poll() is None, "beat exited"
            time.sleep(0.2)
        assert run is not None, "beat did not get the task run within 90 s"
    finally:
        for process in (beat, worker):
            process.terminate()
        for process in (beat, worker):
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
    assert (run.trigger, run.schedule_name, run.status, run.breaches) == ("schedule", SCHEDULE_NAME, "succeeded", 1)
    assert ReconciliationRun.objects.count() == 1
    completed = Event.objects.get(type="reconciliation_completed")
    assert completed.source == f"schedule:{SCHEDULE_NAME}"
    assert PeriodicTask.objects.get(name=SCHEDULE_NAME).last_run_at > timezone.now() - timedelta(minutes=2)


def test_the_task_skips_when_a_run_is_going_and_runs_otherwise(paper_wallet):

    paper_wallet("w", USDT="1")
    going = services.reconciliation_start().run
    assert wallet_reconcile_task.run() is None  # refused, not queued
    assert ReconciliationRun.objects.count() == 1
    services.reconciliation_execute(run_id=going.pk)
    run_id = wallet_reconcile_task.run(threshold_abs="0.5")
    run = ReconciliationRun.objects.get(pk=run_id)
    assert (run.trigger, run.schedule_name, run.threshold_abs, run.status) == (
        "schedule",
        SCHEDULE_NAME,
        Decimal("0.5"),
        "succeeded",
    )
    assert wallet_reconcile_task.acks_late is True
    assert (wallet_reconcile_task.soft_time_limit, wallet_reconcile_task.time_limit) == (300, 360)
