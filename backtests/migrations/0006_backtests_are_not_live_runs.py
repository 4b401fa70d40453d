"""Backtest events used to carry the backtest's id as ``run_id``, which made a run summary: /runs and
the Overview listed every backtest as a "paper" run. New events use the correlation id instead; this
removes the summaries the old ones made (a projection: the event log itself is left as it is)."""

from django.db import migrations

BATCH = 1000


def drop_backtest_summaries(apps, schema_editor):
    BacktestRun = apps.get_model("backtests", "BacktestRun")
    RunSummary = apps.get_model("events", "RunSummary")
    ids = [str(pk) for pk in BacktestRun.objects.values_list("pk", flat=True)]
    for i in range(0, len(ids), BATCH):
        RunSummary.objects.filter(run_id__in=ids[i : i + BATCH]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("backtests", "0005_run_enqueued_at_reaper_queue"),
        ("events", "0001_initial"),
    ]

    operations = [migrations.RunPython(drop_backtest_summaries, migrations.RunPython.noop)]
