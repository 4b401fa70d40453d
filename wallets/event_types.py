"""Event types the wallets app writes; registered at ``WalletsConfig.ready()``."""

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field

from events import formatting as fmt
from events.types import EventType, NonNegativeDecimal, Payload, register

Currency = Annotated[str, Field(pattern=r"^[A-Z0-9]{1,16}$")]
Reason = Annotated[str, Field(min_length=1, max_length=1000)]


class ReconciliationCompletedPayload(Payload):
    run_id: int
    trigger: Literal["user", "schedule"]
    status: Literal["succeeded", "partial", "failed"]
    threshold_abs: NonNegativeDecimal
    threshold_rel: NonNegativeDecimal
    wallets_checked: Annotated[int, Field(ge=0)]
    wallets_failed: Annotated[int, Field(ge=0)]
    records: Annotated[int, Field(ge=0)]
    breaches: Annotated[int, Field(ge=0)]
    errors: dict[str, str] = Field(default_factory=dict, description="wallet name -> reason")
    duration_ms: Annotated[int, Field(ge=0)]


class DriftDetectedPayload(Payload):
    run_id: int
    drift_record_id: int
    wallet_id: int
    wallet: str
    currency: Currency
    ledger_balance: Decimal
    exchange_balance: Decimal
    drift: Decimal
    relative_drift: Decimal | None = None
    threshold_abs: NonNegativeDecimal
    threshold_rel: NonNegativeDecimal


class LedgerAdjustedPayload(Payload):
    entry_id: int
    wallet_id: int
    wallet: str
    currency: Currency
    amount: Decimal
    reason: Reason
    drift_record_id: int | None = None


def _reconciliation_summary(p: dict) -> str:
    return (
        f"Reconciliation #{p['run_id']} {p['status']}: {p['wallets_checked']} checked, "
        f"{p['wallets_failed']} failed, {p['breaches']} breaches"
    )


def _drift_summary(p: dict) -> str:
    currency = p["currency"]
    return (
        f"Drift {p['wallet']} {currency}: {fmt.money(p['drift'], currency)} "
        f"(ledger {fmt.money(p['ledger_balance'], currency)}, exchange {fmt.money(p['exchange_balance'], currency)})"
    )


def _adjusted_summary(p: dict) -> str:
    amount = fmt.money(p["amount"], p["currency"], sign=True)
    return f"Ledger {p['wallet']} adjusted by {amount} {p['currency']}: {p['reason']}"


def register_all() -> None:
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
