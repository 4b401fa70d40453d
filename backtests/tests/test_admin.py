"""Admin: runs listed by status with their results; rerun and cancel go through the services; the
reaper's schedule comes with the migrations."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.test import Client
from django_celery_beat.models import PeriodicTask

from backtests import services, worker
from backtests.models import BacktestRun, RunStatus

from .conftest import sma_config


@pytest.fixture
def admin_client(make_user):
    client = Client()
    client.force_login(make_user("root", "admin", is_staff=True, is_superuser=True))
    return client


def test_run_pages_show_status_and_results(sol_candles, admin_client):
    run = services.backtest_run_create(data=sma_config(name="shown"))
    worker.backtest_execute(run_id=run.pk)
    run.refresh_from_db()

    listing = admin_client.get("/admin/backtests/backtestrun/?status__exact=completed")
    assert listing.status_code == 200
    assert "shown" in listing.content.decode()
    assert f"{run.results['total_return']:.2%}" in listing.content.decode()
    page = admin_client.get(f"/admin/backtests/backtestrun/{run.pk}/change/").content.decode()
    assert run.results["final_equity"] in page
    for url in ("/admin/backtests/backtesttrade/", "/admin/backtests/backtestblock/", "/admin/backtests/dailyreport/",
                "/admin/backtests/sweep/"):  # fmt: skip
        assert admin_client.get(url).status_code == 200


def test_rerun_action_queues_a_new_run_of_the_same_config(sol_candles, admin_client):
    run = services.backtest_run_create(data=sma_config(name="again"))
    worker.backtest_execute(run_id=run.pk)

    response = admin_client.post(
        "/admin/backtests/backtestrun/", {"action": "rerun", ACTION_CHECKBOX_NAME: [str(run.pk)]}, follow=True
    )
    assert response.status_code == 200
    rerun = BacktestRun.objects.get(rerun_of=run)
    assert rerun.status == RunStatus.QUEUED
    assert rerun.config == BacktestRun.objects.get(pk=run.pk).config
    assert rerun.name == "again"


def test_cancel_action_cancels_queued_runs_and_says_why_not_for_finished_ones(sol_candles, admin_client):
    queued = services.backtest_run_create(data=sma_config(name="waiting"))
    done = services.backtest_run_create(data=sma_config(name="done"))
    worker.backtest_execute(run_id=done.pk)

    response = admin_client.post(
        "/admin/backtests/backtestrun/",
        {"action": "cancel", ACTION_CHECKBOX_NAME: [str(queued.pk), str(done.pk)]},
        follow=True,
    )
    assert "the run is completed: only queued or running runs can be cancelled" in response.content.decode()
    assert BacktestRun.objects.get(pk=queued.pk).status == RunStatus.CANCELLED
    assert BacktestRun.objects.get(pk=done.pk).status == RunStatus.COMPLETED


def test_the_reaper_is_scheduled_every_minute_by_a_migration(db):
    task = PeriodicTask.objects.get(task="backtests.tasks.backtest_reap_task")
    assert task.enabled
    assert (task.interval.every, task.interval.period) == (1, "minutes")
