"""Every Celery task of ours stops before the broker would hand it to a second worker.

With ``acks_late`` a task still unacknowledged when Redis's visibility timeout passes is redelivered
while it runs (STYLE §5, convention 8), so every task's hard time limit must be below that timeout.
"""

from django.conf import settings

from tradingops.celery import app

APPS = ("tradingops.", "events.", "market.", "wallets.", "agents.", "backtests.", "dashboard.")


def _our_tasks():
    app.loader.import_default_modules()
    return {name: task for name, task in app.tasks.items() if name.startswith(APPS)}


def test_every_task_has_a_time_limit_below_the_visibility_timeout():
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    tasks = _our_tasks()
    assert "backtests.tasks.backtest_run_task" in tasks
    limits = {name: task.time_limit or settings.CELERY_TASK_TIME_LIMIT for name, task in tasks.items()}
    assert {name: limit for name, limit in limits.items() if limit >= visibility} == {}


def test_a_backtest_gets_its_soft_limit_a_minute_before_the_hard_one():
    task = _our_tasks()["backtests.tasks.backtest_run_task"]
    assert (task.soft_time_limit, task.time_limit) == (20 * 60, 21 * 60)
