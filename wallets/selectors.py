"""Reads of the wallets app: querysets with their joins applied."""

from django.db.models import Prefetch, QuerySet, TextField
from django.db.models.functions import Cast

from .models import DriftRecord, LedgerEntry, ReconciliationRun, Wallet, WalletBalance


def wallet_list() -> QuerySet[Wallet]:
    """Wallets; the API attaches a page's balances with ``wallet_balance_rows`` (one query)."""
    return Wallet.objects.order_by("id")


def wallet_balance_rows(*, wallet_ids: list[int]) -> dict[int, list[tuple[str, str]]]:
    """(currency, amount as a decimal string) per wallet, in currency order. One query, no model
    instances, and Postgres renders the numeric itself (the same digits DRF would print): a page
    of 100 wallets carries 2,000 balances."""
    rows: dict[int, list[tuple[str, str]]] = {wallet_id: [] for wallet_id in wallet_ids}
    for wallet_id, currency, amount in (
        WalletBalance.objects.filter(wallet_id__in=wallet_ids)
        .annotate(amount_text=Cast("amount", output_field=TextField()))
        .order_by("wallet_id", "currency")
        .values_list("wallet_id", "currency", "amount_text")
    ):
        rows[wallet_id].append((currency, amount))
    return rows


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


def reconciliation_run_latest() -> ReconciliationRun | None:
    return reconciliation_run_list().order_by("-started_at", "-id").first()
