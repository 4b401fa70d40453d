"""The runtime configuration row and the agents' beat schedules (editable in the admin)."""

from django.db import migrations

SCHEDULES = [
    # (name, task, every, period)
    ("agents: strategy planner", "agents.tasks.planner_run_task", 6, "hours"),
    ("agents: judge", "agents.tasks.judge_run_task", 1, "hours"),
    ("agents: position snapshots", "agents.tasks.positions_snapshot_task", 15, "minutes"),
    ("agents: expire stale risk claims", "agents.tasks.risk_expire_task", 1, "hours"),
]


def create(apps, schema_editor):
    apps.get_model("agents", "RuntimeConfig").objects.get_or_create(pk=1)
    interval_model = apps.get_model("django_celery_beat", "IntervalSchedule")
    task_model = apps.get_model("django_celery_beat", "PeriodicTask")
    for name, task, every, period in SCHEDULES:
        interval, _ = interval_model.objects.get_or_create(every=every, period=period)
        task_model.objects.get_or_create(
            name=name, defaults={"task": task, "interval": interval, "queue": "agents", "enabled": True}
        )


def remove(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name__in=[s[0] for s in SCHEDULES]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("agents", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create, remove)]
