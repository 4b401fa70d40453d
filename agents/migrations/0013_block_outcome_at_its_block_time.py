"""Outcomes are counted at their block's time, the clock blocks are counted on.

Until now an outcome was tallied and windowed at its payload's ``blocked_at`` (the blocked bar's time)
while its block was at its event's time: in a replay (the demo) the bar is history, so the last
24 hours showed blocks but no closed shadow. ``block_ts`` holds the block event's time; it is filled
from the log (an outcome whose block is not there keeps its bar's time, as the projector does), and
the tallies are refilled from the raw rows with it."""

import importlib

from django.db import migrations, models
from django.db.models import F, OuterRef, Subquery
from django.db.models.functions import Coalesce

_TALLIES = importlib.import_module("agents.migrations.0010_block_tally")


def fill_block_times(apps, schema_editor):
    """One UPDATE: each outcome's block event's time, looked up in the log."""
    Event = apps.get_model("events", "Event")
    BlockOutcome = apps.get_model("agents", "BlockOutcome")
    recorded = Event.objects.filter(event_id=OuterRef("block_event_id"), type="trade_blocked").values("ts")[:1]
    BlockOutcome.objects.update(block_ts=Coalesce(Subquery(recorded), F("blocked_at")))


def refill_tallies(apps, schema_editor):
    """The tallies as agents.projectors.project_block_tallies now adds them: outcomes at ``block_ts``."""
    apps.get_model("agents", "BlockTally").objects.all().delete()
    _TALLIES.fill_tallies(apps, schema_editor, outcome_at="block_ts")


class Migration(migrations.Migration):
    dependencies = [
        ("agents", "0012_cooldown_default_four_hours"),
        ("events", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="blockoutcome",
            name="block_ts",
            field=models.DateTimeField(null=True),
        ),
        migrations.RunPython(fill_block_times, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="blockoutcome",
            name="block_ts",
            field=models.DateTimeField(
                help_text="When its block was recorded (the trade_blocked event's time, as BlockEvent.ts): the time "
                "the scorecard counts the outcome at, with its block."
            ),
        ),
        migrations.AlterField(
            model_name="blockoutcome",
            name="blocked_at",
            field=models.DateTimeField(help_text="The blocked bar's time (in a replay, a historical candle's)."),
        ),
        migrations.RemoveIndex(
            model_name="blockoutcome",
            name="blockout_blocked_at",
        ),
        migrations.AddIndex(
            model_name="blockoutcome",
            index=models.Index(
                fields=["block_ts"],
                include=("reason", "reason_class", "rule", "symbol", "pnl"),
                name="blockout_block_ts",
            ),
        ),
        migrations.RunPython(refill_tallies, migrations.RunPython.noop),
    ]
