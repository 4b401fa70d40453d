"""The hourly books check (``check_books``), editable or disabled in the admin under Periodic tasks.
On the ``default`` queue: a long check must not hold up the execution agent's candles on ``agents``."""

from django.db import migrations

from tradingops.schedules import periodic_task


class Migration(migrations.Migration):
    dependencies = [
        ("agents", "0006_allocation_order_index"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        periodic_task(
            "agents: check the books",
            "agents.tasks.check_books_task",
            every=1,
            period="hours",
            queue="default",
            description="Verify claims, fills, positions, ledger, portfolio and risk budget; alert on violations.",
        )
    ]
