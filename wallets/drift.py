"""The comparison itself: plain Python over decimals, no ORM."""

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from tradingops.fields import quantize

ZERO = Decimal(0)
RELATIVE_CAP = Decimal(10) ** 17


@dataclass(frozen=True)
class Drift:
    currency: str
    ledger_balance: Decimal
    exchange_balance: Decimal
    drift: Decimal
    relative_drift: Decimal | None
    within_threshold: bool


def within(drift: Decimal, ledger: Decimal, threshold_abs: Decimal, threshold_rel: Decimal) -> bool:
    """numpy.isclose's rule: a small absolute floor plus a tolerance proportional to the balance."""
    return abs(drift) <= threshold_abs + threshold_rel * abs(ledger)


def compare(
    ledger: Mapping[str, Decimal],
    exchange: Mapping[str, Decimal],
    *,
    threshold_abs: Decimal,
    threshold_rel: Decimal,
) -> list[Drift]:
    """One row per currency the ledger knows or the exchange holds (a zero the exchange lists
    for a currency we never touched is not a row), in currency order."""
    currencies = set(ledger) | {currency for currency, amount in exchange.items() if amount}
    rows = []
    for currency in sorted(currencies):
        ledger_balance = ledger.get(currency, ZERO)
        exchange_balance = exchange.get(currency, ZERO)
        drift = exchange_balance - ledger_balance
        relative = quantize(drift / abs(ledger_balance)) if ledger_balance else None
        if relative is not None and abs(relative) >= RELATIVE_CAP:
            relative = None  # too large to mean anything, and to fit the column
        rows.append(
            Drift(
                currency=currency,
                ledger_balance=ledger_balance,
                exchange_balance=exchange_balance,
                drift=drift,
                relative_drift=relative,
                within_threshold=within(drift, ledger_balance, threshold_abs, threshold_rel),
            )
        )
    return rows
