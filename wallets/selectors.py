"""Reads of the wallets app: querysets with their joins applied."""

from django.db.models import Prefetch, QuerySet

from .models import DriftRecord, LedgerEntry, ReconciliationRun, Wallet, WalletBalance


def wallet_list() -> QuerySet[Wallet]:
    """Wallets with their balances: two queries whatever the number of wallets."""
    return Wallet.objects.prefetch_related(
        Prefetch("balances", queryset=WalletBalance.objects.order_by("currency"))
    ).order_by("id")


def wallet_get(*, wallet_id: int) -> Wallet | None:
    """A wallet with its balances and the drift records of the last run that covered it."""
    wallet = wallet_list().filter(pk=wallet_id).first()
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
