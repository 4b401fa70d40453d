"""The reaper: every minute, runs whose worker stopped sending heartbeats are marked failed.
Editable (or disabled) in the admin under Periodic tasks."""

from django.db import migrations

from tradingops.schedules import periodic_task


class Migration(migrations.Migration):
    dependencies = [
        ("backtests", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        periodic_task(
            "backtests: reap runs with a stale heartbeat every minute",
            "backtests.tasks.backtest_reap_task",
            every=1,
            period="minutes",
            queue="backtests",
            description="Mark running backtests whose heartbeat is older than BACKTESTS_STALE_AFTER_S as failed.",
        )
    ]
