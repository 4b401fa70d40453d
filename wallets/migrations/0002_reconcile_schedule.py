"""The scheduled reconciliation: every 15 minutes, editable (or disabled) in the admin under
Periodic tasks. Thresholds left out of the kwargs use the WALLETS_DRIFT_* settings."""

from django.db import migrations

from tradingops.schedules import periodic_task

NAME = "wallets: reconcile every 15 minutes"
RECONCILE_SCHEDULE = periodic_task(
    NAME,
    "wallets.tasks.wallet_reconcile_task",
    every=15,
    period="minutes",
    kwargs={"schedule_name": NAME},
    description="Compare every wallet's ledger with the balances the exchange reports.",
)


class Migration(migrations.Migration):
    dependencies = [
        ("wallets", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [RECONCILE_SCHEDULE]
