"""The scheduled reconciliation: every 15 minutes, editable (or disabled) in the admin under
Periodic tasks. Thresholds left out of the kwargs use the WALLETS_DRIFT_* settings."""

import json

from django.db import migrations

NAME = "wallets: reconcile every 15 minutes"
TASK = "wallets.tasks.wallet_reconcile_task"


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    every_15, _ = IntervalSchedule.objects.get_or_create(every=15, period="minutes")
    PeriodicTask.objects.update_or_create(
        name=NAME,
        defaults={
            "task": TASK,
            "interval": every_15,
            "kwargs": json.dumps({"schedule_name": NAME}),
            "enabled": True,
            "description": "Compare every wallet's ledger with the balances the exchange reports.",
        },
    )
    # Tell a running beat that the schedule changed (what PeriodicTask's save signal does).
    from django.utils import timezone

    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("wallets", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
