from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from wallets import services


class Command(BaseCommand):
    help = "Create the paper wallet and fund it once on both sides (ledger and paper exchange)."

    def add_arguments(self, parser):
        parser.add_argument("--name", default="paper")
        parser.add_argument("--fund", action="append", default=[], metavar="CUR=AMOUNT", help="e.g. USDT=100000")

    def handle(self, *args, name, fund, **options):
        funds = {}
        for item in fund:
            currency, _, amount = item.partition("=")
            try:
                funds[currency.strip().upper()] = Decimal(amount)
            except InvalidOperation:
                raise CommandError(f"--fund {item!r}: expected CUR=AMOUNT") from None
        try:
            wallet = services.paper_wallet_ensure(name=name, funds=funds, source="command:wallets_paper_setup")
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        balances = ", ".join(f"{b.amount.normalize():f} {b.currency}" for b in wallet.balances.order_by("currency"))
        self.stdout.write(f"paper wallet {wallet.name} (id {wallet.pk}): {balances or 'no balances'}")
