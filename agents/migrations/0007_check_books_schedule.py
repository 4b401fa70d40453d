"""The hourly books check (``check_books``), editable or disabled in the admin under Periodic tasks.
On the ``default`` queue: a long check must not hold up the execution agent's candles on ``agents``."""

from django.db import migrations
from django.utils import timezone

NAME = "agents: check the books"
TASK = "agents.tasks.check_books_task"


def create(apps, schema_editor):
    interval_model = apps.get_model("django_celery_beat", "IntervalSchedule")
    task_model = apps.get_model("django_celery_beat", "PeriodicTask")
    hourly, _ = interval_model.objects.get_or_create(every=1, period="hours")
    task_model.objects.update_or_create(
        name=NAME,
        defaults={
            "task": TASK,
            "interval": hourly,
            "queue": "default",
            "enabled": True,
            "description": "Verify claims, fills, positions, ledger, portfolio and risk budget; alert on violations.",
        },
    )
    # Tell a running beat that the schedule changed (what PeriodicTask's save signal does).
    apps.get_model("django_celery_beat", "PeriodicTasks").objects.update_or_create(
        ident=1, defaults={"last_update": timezone.now()}
    )


def remove(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("agents", "0006_allocation_order_index"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create, remove)]
