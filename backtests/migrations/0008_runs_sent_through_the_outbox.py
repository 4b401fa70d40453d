"""Runs are sent to the workers through the transactional outbox (tradingops/outbox.py), which
retries its own messages: ``enqueued_at`` (the reaper's way to find runs the broker never took) goes.
A queued run that the broker never took when this migrates gets its outbox message instead."""

from django.db import migrations

TASK = "backtests.tasks.backtest_run_task"


def unsent_runs_to_the_outbox(apps, schema_editor):
    BacktestRun = apps.get_model("backtests", "BacktestRun")
    OutboxMessage = apps.get_model("tradingops", "OutboxMessage")
    unsent = BacktestRun.objects.filter(status="queued", enqueued_at__isnull=True).values_list("pk", flat=True)
    OutboxMessage.objects.bulk_create(
        (OutboxMessage(task=TASK, args=[str(pk)], kwargs={}) for pk in unsent.iterator()), batch_size=1000
    )


class Migration(migrations.Migration):
    dependencies = [
        ("backtests", "0007_curve_blobs_uncompressed"),
        ("tradingops", "0002_outbox"),
    ]

    operations = [
        migrations.RunPython(unsent_runs_to_the_outbox, migrations.RunPython.noop),
        migrations.RemoveField(model_name="backtestrun", name="enqueued_at"),
    ]
