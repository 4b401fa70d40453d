import json

from django.core.management.base import BaseCommand
from django.core.serializers.json import DjangoJSONEncoder

from agents.books import books_check


class Command(BaseCommand):
    help = (
        "Verify the books' invariants (entry fills and risk claims, blocked triggers, sells against positions, "
        "positions = paper ledger = paper exchange, portfolio = ledger cash + marks, risk budget = claims). "
        "Prints each violation by id; exits 1 when there is any, 0 with a one-line summary when clean."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--json", action="store_true", dest="as_json", help="Print the whole report as one JSON object."
        )

    def handle(self, *args, as_json: bool = False, **options):
        report = books_check()
        if as_json:
            self.stdout.write(json.dumps(report.as_dict(), cls=DjangoJSONEncoder, indent=2))
        else:
            for violation in report.violations:
                self.stdout.write(str(violation))
            style = self.style.SUCCESS if report.ok else self.style.ERROR
            (self.stdout if report.ok else self.stderr).write(style(report.summary()))
        if not report.ok:
            raise SystemExit(1)
