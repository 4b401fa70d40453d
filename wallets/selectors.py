"""Reads of the wallets app: querysets with their joins applied."""

from django.contrib.postgres.expressions import ArraySubquery
from django.db.models import OuterRef, Prefetch, QuerySet, TextField
from django.db.models.functions import Cast

from tradingops.db import is_postgres

from .models import DriftRecord, LedgerEntry, ReconciliationRun, Wallet, WalletBalance


def wallet_names(*, limit: int) -> list[tuple[int, str, str]]:
    """(id, name, kind) of the first ``limit`` wallets by name: a picker's options."""
    return list(Wallet.objects.order_by("name").values_list("id", "name", "kind")[:limit])


def wallet_list() -> QuerySet[Wallet]:
    """Wallets with ``balance_currencies`` and ``balance_amounts`` (decimal strings rendered by
    Postgres, in currency order) from two indexed array subqueries: a page of 100 wallets and
    its 2,000 balances is one query, without a model instance per balance."""
    wallets = Wallet.objects.order_by("id").defer("created_at")  # not shown; each timestamp costs a parse
    if not is_postgres():
        return wallets  # embedded SQLite: wallet_attach_balances fills them in
    balances = WalletBalance.objects.filter(wallet=OuterRef("pk")).order_by("currency")
    return wallets.annotate(
        balance_currencies=ArraySubquery(balances.values("currency")),
        balance_amounts=ArraySubquery(
            balances.annotate(amount_text=Cast("amount", output_field=TextField())).values("amount_text")
        ),
    )


def wallet_attach_balances(wallets: list[Wallet]) -> list[Wallet]:
    """Where ``wallet_list`` could not annotate (SQLite), one query for the page's balances."""
    missing = [wallet for wallet in wallets if not hasattr(wallet, "balance_currencies")]
    if missing:
        rows: dict[int, list[tuple[str, str]]] = {wallet.pk: [] for wallet in missing}
        for wallet_id, currency, amount in (
            WalletBalance.objects.filter(wallet_id__in=list(rows))
            .order_by("wallet_id", "currency")
            .values_list("wallet_id", "currency", "amount")
        ):
            rows[wallet_id].append((currency, f"{amount:f}"))
        for wallet in missing:
            wallet.balance_currencies = [currency for currency, _ in rows[wallet.pk]]
            wallet.balance_amounts = [amount for _, amount in rows[wallet.pk]]
    return wallets


def wallet_get(*, wallet_id: int) -> Wallet | None:
    """A wallet with its balances and the drift records of the last run that covered it."""
    wallet = (
        Wallet.objects.prefetch_related(Prefetch("balances", queryset=WalletBalance.objects.order_by("currency")))
        .filter(pk=wallet_id)
        .first()
    )
    if wallet is None:
        return None
    wallet.latest_drift = (
        list(
            DriftRecord.objects.filter(run_id=wallet.last_run_id, wallet_id=wallet.pk)
            .select_related("wallet")
            .order_by("currency")
        )
        if wallet.last_run_id
        else []
    )
    return wallet


def wallet_exists(*, wallet_id: int) -> bool:
    return Wallet.objects.filter(pk=wallet_id).exists()


def ledger_entry_list(*, wallet_id: int) -> QuerySet[LedgerEntry]:
    return LedgerEntry.objects.filter(wallet_id=wallet_id).select_related("created_by")


def ledger_entry_get(*, entry_id: int) -> LedgerEntry:
    return LedgerEntry.objects.select_related("created_by").get(pk=entry_id)


def drift_record_list(*, wallet_id: int) -> QuerySet[DriftRecord]:
    return DriftRecord.objects.filter(wallet_id=wallet_id).select_related("wallet")


def reconciliation_run_list() -> QuerySet[ReconciliationRun]:
    return ReconciliationRun.objects.select_related("started_by")


def reconciliation_run_get(*, run_id: int) -> ReconciliationRun | None:
    return (
        reconciliation_run_list()
        .prefetch_related(
            Prefetch(
                "drift_records",
                queryset=DriftRecord.objects.select_related("wallet").order_by("wallet_id", "currency"),
            )
        )
        .filter(pk=run_id)
        .first()
    )


def drift_record_breaches(*, run_id: int) -> list[DriftRecord]:
    return list(
        DriftRecord.objects.filter(run_id=run_id, within_threshold=False)
        .select_related("wallet")
        .order_by("wallet_id", "currency")
    )


def reconciliation_run_latest() -> ReconciliationRun | None:
    return reconciliation_run_list().order_by("-started_at", "-id").first()


def paper_wallet_get(*, name: str = "paper") -> Wallet | None:
    """The paper wallet the agents book paper fills into (see ``services.paper_wallet_ensure``)."""
    return Wallet.objects.filter(name=name, kind=Wallet.Kind.PAPER).first()
