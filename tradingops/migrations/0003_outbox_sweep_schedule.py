"""The outbox sweeper: every 15 seconds, messages committed while the broker was down are sent.
Editable (or disabled) in the admin under Periodic tasks."""

from django.db import migrations

from tradingops.schedules import periodic_task


class Migration(migrations.Migration):
    dependencies = [
        ("tradingops", "0002_outbox"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        periodic_task(
            "tradingops: send the outbox's pending messages every 15 seconds",
            "tradingops.tasks.outbox_sweep_task",
            every=15,
            period="seconds",
            queue="default",
            description="Send Celery messages the outbox holds because the broker was down at commit.",
        )
    ]
