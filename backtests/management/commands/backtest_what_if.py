"""What-if on one risk rule from the shell: the same runs as ``POST /api/v1/backtests/<id>/what-if``,
executed in this process (no worker needed), then the table of each value against the base run."""

import json

from django.core.management.base import BaseCommand, CommandError

from backtests import selectors, services, worker
from backtests.models import BacktestRun
from tradingops.errors import AppError


def _value(text: str):
    """``2``, ``0.05``, ``null`` as JSON; anything else as the string it is."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


class Command(BaseCommand):
    help = "Rerun a completed backtest once per value of one risk limit and compare each with it."

    def add_arguments(self, parser):
        parser.add_argument("run_id", help="The completed run to vary.")
        parser.add_argument("--rule", required=True, help="The risk limit, e.g. max_trades_per_day.")
        parser.add_argument("--values", required=True, nargs="+", help="Values of the limit; null switches it off.")

    def handle(self, *args, run_id, rule, values, **options):
        if not BacktestRun.objects.filter(pk=run_id).exists():
            raise CommandError(f"No backtest {run_id}.")
        try:
            sweep = services.what_if_create(run_id=run_id, rule=rule, values=[_value(v) for v in values], enqueue=False)
        except AppError as error:
            raise CommandError(json.dumps(error.detail)) from error
        for run in sweep.runs.order_by("created_at", "id"):
            worker.backtest_execute(run_id=run.pk, worker="manage.py backtest_what_if")
        table = selectors.what_if_table(sweep=selectors.sweep_list().select_related("base_run").get(pk=sweep.pk))
        base = f"base run {table['base_run_id']}, {rule}={json.dumps(table['base']['value'])}"
        self.stdout.write(f"what-if {sweep.pk}: {rule} ({base})")
        columns = ("final_equity", "return_pct", "trades", "blocks", "closed", "saved", "forgone", "net")
        self.stdout.write("\t".join(("value", "status", *columns)))
        self.stdout.write("\t".join(("base", "completed", *(str(table["base"].get(c)) for c in columns))))
        for row in table["runs"]:
            change = row["change"] or {}
            cells = [f"{row.get(c)} ({change.get(c)})" if c in change else str(row.get(c)) for c in columns]
            self.stdout.write("\t".join((json.dumps(row["value"]), str(row["status"]), *cells)))
