"""The beat schedules the apps ship: a data migration per schedule, so that it exists from the first
``migrate`` and an operator edits (or disables) it in the admin under Periodic tasks.

Migrations import this module: keep ``periodic_task``'s meaning and arguments as they are (a change
would rewrite history); a new need is a new argument with a default, or a new function."""

import json
from typing import Any

from django.db import migrations
from django.utils import timezone


def periodic_task(
    name: str,
    task: str,
    *,
    every: int,
    period: str,
    queue: str | None = None,
    kwargs: dict[str, Any] | None = None,
    description: str = "",
) -> migrations.RunPython:
    """A ``RunPython`` that creates (or resets) the enabled ``PeriodicTask`` ``name`` running ``task``
    every ``every`` ``period`` (django-celery-beat's units: "seconds", "minutes", "hours", "days"),
    on ``queue`` (the task's own routing when None), and deletes it when migrated backwards."""

    def create(apps, schema_editor):
        interval, _ = apps.get_model("django_celery_beat", "IntervalSchedule").objects.get_or_create(
            every=every, period=period
        )
        defaults: dict[str, Any] = {"task": task, "interval": interval, "enabled": True, "description": description}
        if queue is not None:
            defaults["queue"] = queue
        if kwargs is not None:
            defaults["kwargs"] = json.dumps(kwargs)
        apps.get_model("django_celery_beat", "PeriodicTask").objects.update_or_create(name=name, defaults=defaults)
        # Tell a running beat that the schedule changed (what PeriodicTask's save signal does).
        apps.get_model("django_celery_beat", "PeriodicTasks").objects.update_or_create(
            ident=1, defaults={"last_update": timezone.now()}
        )

    def remove(apps, schema_editor):
        apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=name).delete()

    return migrations.RunPython(create, remove)
