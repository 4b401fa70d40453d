"""A run's ``Idempotency-Key`` is kept where every POST keeps its key (tradingops.IdempotencyRecord,
per user and endpoint), not in a column of its own. Keys matter for minutes: the old ones are dropped."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("backtests", "0008_runs_sent_through_the_outbox")]

    operations = [migrations.RemoveField(model_name="backtestrun", name="idempotency_key")]
