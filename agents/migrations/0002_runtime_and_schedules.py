"""The runtime configuration row and the agents' beat schedules (editable in the admin)."""

from django.db import migrations

from tradingops.schedules import periodic_task


def create_runtime_config(apps, schema_editor):
    apps.get_model("agents", "RuntimeConfig").objects.get_or_create(pk=1)


class Migration(migrations.Migration):
    dependencies = [
        ("agents", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.RunPython(create_runtime_config, migrations.RunPython.noop),
        periodic_task("agents: strategy planner", "agents.tasks.planner_run_task", every=6, period="hours", queue="agents"),
        periodic_task("agents: judge", "agents.tasks.judge_run_task", every=1, period="hours", queue="agents"),
        periodic_task(
            "agents: position snapshots",
            "agents.tasks.positions_snapshot_task",
            every=15,
            period="minutes",
            queue="agents",
        ),
        periodic_task(
            "agents: expire stale risk claims", "agents.tasks.risk_expire_task", every=1, period="hours", queue="agents"
        ),
    ]
