from django.core.management.base import BaseCommand, CommandError
from django.db.models import Sum

from wallets import services
from wallets.models import LedgerEntry, WalletBalance


class Command(BaseCommand):
    help = (
        "Compare every kept balance with the sum of its ledger entries; with --repair, rebuild "
        "the balances from the entries. Exits non-zero when they differ and were not repaired."
    )

    def add_arguments(self, parser):
        parser.add_argument("--repair", action="store_true")

    def handle(self, *args, repair, **options):
        sums = {
            (row["wallet_id"], row["currency"]): row["total"]
            for row in LedgerEntry.objects.order_by().values("wallet_id", "currency").annotate(total=Sum("amount"))
        }
        kept = {(w, c): a for w, c, a in WalletBalance.objects.values_list("wallet_id", "currency", "amount")}
        differ = sorted(key for key in sums.keys() | kept.keys() if sums.get(key, 0) != kept.get(key, 0))
        for wallet_id, currency in differ:
            self.stdout.write(
                f"wallet {wallet_id} {currency}: kept {kept.get((wallet_id, currency), 0)}, "
                f"entries sum to {sums.get((wallet_id, currency), 0)}"
            )
        if not differ:
            self.stdout.write(f"{len(kept)} balances match their entries.")
            return
        if not repair:
            raise CommandError(f"{len(differ)} balance(s) differ from their entries; run with --repair.")
        rows = services.wallet_balances_rebuild()
        self.stdout.write(f"rebuilt {rows} balances from the entries.")
