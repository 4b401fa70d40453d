"""Event types the wallets app writes; registered at ``WalletsConfig.ready()``."""

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field

from events import formatting
from events.types import BoundedDecimal, Count, EventType, Id64, NonNegativeDecimal, Payload, register

Currency = Annotated[str, Field(pattern=r"^[A-Z0-9]{1,16}$")]
Reason = Annotated[str, Field(min_length=1, max_length=1000)]


class ReconciliationCompletedPayload(Payload):
    run_id: Id64
    trigger: Literal["user", "schedule"]
    status: Literal["succeeded", "partial", "failed"]
    threshold_abs: NonNegativeDecimal
    threshold_rel: NonNegativeDecimal
    wallets_checked: Count
    wallets_failed: Count
    records: Count
    breaches: Count
    errors: dict[str, str] = Field(default_factory=dict, description="wallet name -> reason")
    duration_ms: Count


class DriftDetectedPayload(Payload):
    run_id: Id64
    drift_record_id: Id64
    wallet_id: Id64
    wallet: str
    currency: Currency
    ledger_balance: BoundedDecimal
    exchange_balance: BoundedDecimal
    drift: BoundedDecimal
    relative_drift: Decimal | None = None
    threshold_abs: NonNegativeDecimal
    threshold_rel: NonNegativeDecimal


class LedgerAdjustedPayload(Payload):
    entry_id: Id64
    wallet_id: Id64
    wallet: str
    currency: Currency
    amount: BoundedDecimal
    reason: Reason
    drift_record_id: Id64 | None = None


WalletName = Annotated[str, Field(min_length=1, max_length=200)]


class WalletCreatedPayload(Payload):
    wallet_id: Id64
    name: WalletName
    kind: Literal["paper", "exchange"]
    exchange_id: Annotated[str, Field(max_length=64)] = ""


class WalletChangedPayload(Payload):
    """Each changed field with its old and new value (a credentials reference is named, not shown)."""

    wallet_id: Id64
    wallet: WalletName
    changes: dict[str, dict[Literal["old", "new"], str]] = Field(min_length=1)


class PaperDepositedPayload(Payload):
    wallet_id: Id64
    wallet: WalletName
    currency: Currency
    amount: BoundedDecimal
    reference: Annotated[str, Field(min_length=1, max_length=200)]
    entry_id: Id64


def _reconciliation_summary(p: dict) -> str:
    return (
        f"Reconciliation #{p['run_id']} {p['status']}: {p['wallets_checked']} checked, "
        f"{p['wallets_failed']} failed, {p['breaches']} breaches"
    )


def _drift_summary(p: dict) -> str:
    currency = p["currency"]
    return (
        f"Drift {p['wallet']} {currency}: {formatting.money(p['drift'], currency)} "
        f"(ledger {formatting.money(p['ledger_balance'], currency)}, "
        f"exchange {formatting.money(p['exchange_balance'], currency)})"
    )


def _adjusted_summary(p: dict) -> str:
    amount = formatting.money(p["amount"], p["currency"], sign=True)
    return f"Ledger {p['wallet']} adjusted by {amount} {p['currency']}: {p['reason']}"


def register_all() -> None:
    register(
        EventType(
            "wallet_created",
            WalletCreatedPayload,
            description="A person (or the system) added a wallet.",
            summary=lambda p: (
                f"Wallet {p['name']} created ({p['kind']}{', ' + p['exchange_id'] if p.get('exchange_id') else ''})"
            ),
        )
    )
    register(
        EventType(
            "wallet_changed",
            WalletChangedPayload,
            description="A wallet was edited, disabled or enabled.",
            summary=lambda p: (
                f"Wallet {p['wallet']}: "
                + ", ".join(f"{field} {c.get('old')} → {c.get('new')}" for field, c in sorted(p["changes"].items()))
            ),
        )
    )
    register(
        EventType(
            "paper_deposited",
            PaperDepositedPayload,
            description="Funds paid into a paper wallet.",
            summary=lambda p: (
                f"Deposited {formatting.money(p['amount'], p['currency'])} {p['currency']} into {p['wallet']}"
            ),
        )
    )
    register(
        EventType(
            "reconciliation_completed",
            ReconciliationCompletedPayload,
            description="A reconciliation run finished; its drift records are under /api/v1/wallets/reconcile/{id}.",
            summary=_reconciliation_summary,
        )
    )
    register(
        EventType(
            "drift_detected", DriftDetectedPayload, description="Ledger and exchange disagree.", summary=_drift_summary
        )
    )
    register(
        EventType(
            "ledger_adjusted",
            LedgerAdjustedPayload,
            description="A person booked a correction.",
            summary=_adjusted_summary,
        )
    )
