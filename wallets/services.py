"""Every write of the wallets app.

- ``ledger_post`` / ``ledger_post_many`` / ``ledger_post_fill``: the one way into the ledger. They
  join the caller's transaction (the agents' fill projector calls them inside ``emit``), are
  idempotent by ``dedupe_key``, and move ``WalletBalance`` in the same transaction by one
  upsert-increment per batch, rows taken in a fixed order so concurrent posters never deadlock.
- ``paper_exchange_move`` / ``paper_exchange_settle_fill``: the paper exchange's side.
- ``wallet_reconcile``: start (under a Postgres advisory lock: a second run while one is going
  is refused, not queued) then execute (balances from the other side, drift records, events,
  alerts).
- ``drift_correct``: an admin books an ``adjustment`` with a reason; it is an event of its own.
"""

import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import partial
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Sum
from django.utils import timezone

from events.services import EventDraft, emit, emit_many
from tradingops.db import LockKey, sql_param, try_advisory_xact_lock, upsert_increment
from tradingops.errors import Conflict
from tradingops.fields import DECIMAL_PLACES, MAX_DIGITS, quantize
from tradingops.idempotency import Idempotency
from tradingops.idempotency import claim as idempotency_claim
from tradingops.idempotency import complete as idempotency_complete
from tradingops.roles import SYSTEM_SOURCE, Role, has_role, user_source

from . import alerts, drift, providers
from .models import (
    CURRENCY_MAX_LENGTH,
    DriftRecord,
    LedgerEntry,
    PaperExchangeBalance,
    PaperExchangeMovement,
    ReconciliationRun,
    Wallet,
    WalletBalance,
)

logger = logging.getLogger(__name__)


# The sign each kind may carry: deposits credit, withdrawals and fees debit.
_SIGN_RULES = {
    LedgerEntry.Kind.DEPOSIT: (1, "A deposit must be positive."),
    LedgerEntry.Kind.WITHDRAWAL: (-1, "A withdrawal must be negative."),
    LedgerEntry.Kind.FEE: (-1, "A fee must be negative (it debits the wallet)."),
}


# --- Wallets ------------------------------------------------------------------------------------


@transaction.atomic
def wallet_create(
    *, name: str, kind: str, exchange_id: str = "", credentials_ref: str = "", source: str = SYSTEM_SOURCE
) -> Wallet:
    """Add a wallet; a ``wallet_created`` event names who did (``source``)."""
    wallet = Wallet(name=name, kind=kind, exchange_id=exchange_id, credentials_ref=credentials_ref)
    wallet.full_clean()
    if kind == Wallet.Kind.EXCHANGE and not exchange_id:
        raise ValidationError({"exchange_id": ["An exchange wallet needs a ccxt exchange id."]})
    wallet.save()
    emit(
        "wallet_created",
        {"wallet_id": wallet.pk, "name": wallet.name, "kind": wallet.kind, "exchange_id": wallet.exchange_id},
        source=source,
    )
    return wallet


def wallet_update(*, wallet_id: int, source: str = SYSTEM_SOURCE, **changes: Any) -> Wallet:
    """Edit name, exchange id, credentials reference or status (e.g. disable) from the admin; a
    ``wallet_changed`` event records each change and who made it (``source``)."""
    allowed = {"name", "exchange_id", "credentials_ref", "status", "status_reason"}
    if unknown := set(changes) - allowed:
        raise ValidationError({field: ["This field cannot be changed."] for field in sorted(unknown)})
    with transaction.atomic():
        wallet = Wallet.objects.select_for_update().get(pk=wallet_id)
        if "status" in changes and changes["status"] != wallet.status:
            wallet.status_changed_at = timezone.now()
        diff = {}
        for name, value in changes.items():
            old = getattr(wallet, name)
            if old != value:
                shown = name != "credentials_ref"
                diff[name] = {"old": str(old) if shown else "(set)", "new": str(value) if shown else "(changed)"}
            setattr(wallet, name, value)
        wallet.full_clean()
        wallet.save()
        if diff:
            emit("wallet_changed", {"wallet_id": wallet.pk, "wallet": wallet.name, "changes": diff}, source=source)
    return wallet


# --- Ledger -------------------------------------------------------------------------------------


@dataclass
class LedgerDraft:
    wallet_id: int
    currency: str
    amount: Decimal
    kind: str
    reference: str = ""
    dedupe_key: str | None = None
    event_id: uuid.UUID | None = None
    correlation_id: uuid.UUID | None = None
    ts: datetime | None = None
    note: str = ""
    created_by_id: int | None = None
    errors: dict[str, list[str]] = field(default_factory=dict, repr=False)


def ledger_post(
    *,
    wallet_id: int,
    currency: str,
    amount: Decimal | str,
    kind: str,
    reference: str = "",
    dedupe_key: str | None = None,
    event_id: uuid.UUID | None = None,
    correlation_id: uuid.UUID | None = None,
    ts: datetime | None = None,
    note: str = "",
    created_by=None,
) -> LedgerEntry:
    """Book one entry and move the balance with it. A repeated ``dedupe_key`` books nothing and
    returns the entry stored first (``entry.created`` tells which)."""
    draft = LedgerDraft(
        wallet_id=wallet_id,
        currency=currency,
        amount=amount,  # type: ignore[arg-type]  # validated below
        kind=kind,
        reference=reference,
        dedupe_key=dedupe_key,
        event_id=event_id,
        correlation_id=correlation_id,
        ts=ts,
        note=note,
        created_by_id=created_by.pk if created_by is not None else None,
    )
    return ledger_post_many([draft])[0]


def ledger_post_many(drafts: Sequence[LedgerDraft]) -> list[LedgerEntry]:
    """Book a batch all or nothing, one entry per draft in order; batch-friendly for projectors."""
    if not drafts:
        return []
    _validate_drafts(drafts)
    now = timezone.now()
    entries = [
        LedgerEntry(
            wallet_id=d.wallet_id,
            currency=d.currency,
            amount=d.amount,
            kind=d.kind,
            reference=d.reference,
            dedupe_key=d.dedupe_key or None,
            event_id=d.event_id,
            correlation_id=d.correlation_id,
            note=d.note,
            created_by_id=d.created_by_id,
            ts=d.ts or now,
            recorded_at=now,
        )
        for d in drafts
    ]
    with transaction.atomic():
        stored = _insert_entries(entries)
        created = [entry for entry in stored if entry.created]
        _increment_balances(created, now)
    return stored


def _validate_drafts(drafts: Sequence[LedgerDraft]) -> None:
    errors: list[dict[str, list[str]]] = []
    for d in drafts:
        error: dict[str, list[str]] = {}
        if not isinstance(d.currency, str) or not d.currency.isalnum() or not d.currency.isupper():
            error["currency"] = ["Currency codes are 1-16 upper-case letters or digits."]
        elif len(d.currency) > CURRENCY_MAX_LENGTH:
            error["currency"] = [f"At most {CURRENCY_MAX_LENGTH} characters."]
        try:
            d.amount = Decimal(str(d.amount))
            if not d.amount.is_finite():
                raise InvalidOperation
        except (InvalidOperation, ValueError):
            error["amount"] = ["A valid number is required."]
        else:
            if d.amount == 0:
                error["amount"] = ["Must not be zero."]
            elif d.amount.as_tuple().exponent < -DECIMAL_PLACES:  # type: ignore[operator]
                error["amount"] = [f"At most {DECIMAL_PLACES} decimal places."]
            elif d.amount.adjusted() >= MAX_DIGITS - DECIMAL_PLACES:
                error["amount"] = ["Too large."]
            elif d.kind in _SIGN_RULES and (d.amount > 0) != (_SIGN_RULES[d.kind][0] > 0):
                error["amount"] = [_SIGN_RULES[d.kind][1]]
        if d.kind not in LedgerEntry.Kind.values:
            error["kind"] = [f"Must be one of {', '.join(LedgerEntry.Kind.values)}."]
        if d.ts is not None and timezone.is_naive(d.ts):
            error["ts"] = ["Must carry a time zone (UTC)."]
        if d.dedupe_key is not None and len(d.dedupe_key) > 200:
            error["dedupe_key"] = ["At most 200 characters."]
        errors.append(error)
    wallet_ids = {d.wallet_id for d in drafts}
    known = set(Wallet.objects.filter(id__in=wallet_ids).values_list("id", flat=True))
    for d, error in zip(drafts, errors, strict=True):
        if d.wallet_id not in known:
            error["wallet_id"] = [f"No wallet {d.wallet_id}."]
    if any(errors):
        raise ValidationError(errors[0] if len(errors) == 1 else {"entries": [str(e) for e in errors]})


_ENTRY_COLUMNS = (
    "wallet_id",
    "currency",
    "amount",
    "kind",
    "reference",
    "dedupe_key",
    "event_id",
    "correlation_id",
    "note",
    "created_by_id",
    "ts",
    "recorded_at",
)


def _insert_entries(entries: list[LedgerEntry]) -> list[LedgerEntry]:
    """Entries without a dedupe key are plain inserts. Keyed ones go in with ON CONFLICT DO
    NOTHING, so a concurrent poster of the same key waits on the unique index and then books
    nothing; every repeated key maps to the entry stored first."""
    plain = [e for e in entries if not e.dedupe_key]
    keyed: dict[str, LedgerEntry] = {}
    for entry in entries:
        if entry.dedupe_key and entry.dedupe_key not in keyed:
            keyed[entry.dedupe_key] = entry
    if plain:
        LedgerEntry.objects.bulk_create(plain)
        for entry in plain:
            entry.created = True
    stored_by_key: dict[str, LedgerEntry] = {}
    if keyed:
        table = LedgerEntry._meta.db_table
        columns = ", ".join(_ENTRY_COLUMNS)
        row = "(" + ", ".join(["%s"] * len(_ENTRY_COLUMNS)) + ")"
        fresh = list(keyed.values())
        params = [sql_param(getattr(entry, column)) for entry in fresh for column in _ENTRY_COLUMNS]
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} ({columns}) VALUES {', '.join([row] * len(fresh))} "  # noqa: S608 - no input in SQL
                "ON CONFLICT (dedupe_key) DO NOTHING RETURNING id, dedupe_key",
                params,
            )
            landed = {key: pk for pk, key in cursor.fetchall()}
        for key, entry in keyed.items():
            if key in landed:
                entry.pk = landed[key]
                entry.created = True
                stored_by_key[key] = entry
        missing = set(keyed) - set(landed)
        for existing in LedgerEntry.objects.filter(dedupe_key__in=missing):
            existing.created = False
            stored_by_key[existing.dedupe_key] = existing
    return [stored_by_key[e.dedupe_key] if e.dedupe_key else e for e in entries]


def _increment_balances(entries: Sequence[LedgerEntry], now: datetime) -> None:
    totals: dict[tuple[int, str], Decimal] = defaultdict(Decimal)
    for entry in entries:
        totals[(entry.wallet_id, entry.currency)] += entry.amount
    _upsert_increment(WalletBalance._meta.db_table, totals, now)


def _upsert_increment(table: str, totals: Mapping[tuple[int, str], Decimal], now: datetime) -> None:
    """``amount += delta`` per (wallet, currency), inserting missing rows, in one statement.

    Rows are sorted so that concurrent batches lock them in the same order; ON CONFLICT DO
    UPDATE re-reads the committed row, so no increment is ever lost.
    """
    upsert_increment(
        table,
        keys=("wallet_id", "currency"),
        add=("amount",),
        replace=("updated_at",),
        rows=[(wallet_id, currency, amount, now) for (wallet_id, currency), amount in sorted(totals.items()) if amount],
    )


@dataclass(frozen=True)
class FillLeg:
    currency: str
    amount: Decimal
    kind: str
    leg: str


def fill_legs(
    *, symbol: str, side: str, qty: Decimal | str, price: Decimal | str, fee: Decimal | str = 0, fee_currency=None
) -> list[FillLeg]:
    """What a fill moves: base and quote in opposite directions, and the fee out."""
    separator = "-" if "-" in symbol else "/"
    parts = symbol.upper().split(separator)
    if len(parts) != 2 or not all(parts):
        raise ValidationError({"symbol": [f"Expected BASE-QUOTE or BASE/QUOTE, got {symbol!r}."]})
    if side not in ("buy", "sell"):
        raise ValidationError({"side": ["Must be 'buy' or 'sell'."]})
    base, quote = parts
    # Rounded to the ledger's 18 places here, once, so that the venue and the ledger move the
    # same amounts and a fee computed in floats upstream never makes a fill unbookable.
    qty, price, fee = quantize(Decimal(str(qty))), Decimal(str(price)), quantize(Decimal(str(fee)))
    notional = quantize(qty * price)
    sign = 1 if side == "buy" else -1
    legs = [
        FillLeg(base, sign * qty, LedgerEntry.Kind.FILL, "base"),
        FillLeg(quote, -sign * notional, LedgerEntry.Kind.FILL, "quote"),
    ]
    if fee:
        legs.append(FillLeg((fee_currency or quote).upper(), -fee, LedgerEntry.Kind.FEE, "fee"))
    return legs


def ledger_post_fill(
    *,
    wallet_id: int,
    fill_id: str,
    symbol: str,
    side: str,
    qty: Decimal | str,
    price: Decimal | str,
    fee: Decimal | str = 0,
    fee_currency: str | None = None,
    event_id: uuid.UUID | None = None,
    correlation_id: uuid.UUID | None = None,
    ts: datetime | None = None,
) -> list[LedgerEntry]:
    """Book a fill's legs (base, quote, fee); idempotent by ``fill_id``."""
    legs = fill_legs(symbol=symbol, side=side, qty=qty, price=price, fee=fee, fee_currency=fee_currency)
    return ledger_post_many(
        [
            LedgerDraft(
                wallet_id=wallet_id,
                currency=leg.currency,
                amount=leg.amount,
                kind=leg.kind,
                reference=f"fill:{fill_id}",
                dedupe_key=f"fill:{fill_id}:{leg.leg}",
                event_id=event_id,
                correlation_id=correlation_id,
                ts=ts,
            )
            for leg in legs
        ]
    )


def wallet_balances_rebuild(*, wallet_ids: Sequence[int] | None = None) -> int:
    """Recompute balances from the entries (after a bulk load, or to repair); returns row count."""
    with transaction.atomic():
        entries = LedgerEntry.objects.all()
        balances = WalletBalance.objects.all()
        if wallet_ids is not None:
            entries, balances = entries.filter(wallet_id__in=wallet_ids), balances.filter(wallet_id__in=wallet_ids)
        balances.delete()
        now = timezone.now()
        sums = entries.order_by().values("wallet_id", "currency").annotate(total=Sum("amount"))
        rows = [
            WalletBalance(wallet_id=row["wallet_id"], currency=row["currency"], amount=row["total"], updated_at=now)
            for row in sums
        ]
        WalletBalance.objects.bulk_create(rows, batch_size=5000)
    return len(rows)


# --- The paper exchange -------------------------------------------------------------------------


def paper_exchange_move(*, wallet_id: int, deltas: Mapping[str, Decimal | str], reference: str) -> bool:
    """Settle movements on the paper exchange's account; a repeated ``reference`` does nothing.
    Returns whether it moved anything."""
    if not reference:
        raise ValidationError({"reference": ["This field is required."]})
    clean = {currency.upper(): Decimal(str(amount)) for currency, amount in deltas.items()}
    if not Wallet.objects.filter(pk=wallet_id, kind=Wallet.Kind.PAPER).exists():
        raise ValidationError({"wallet_id": [f"No paper wallet {wallet_id}."]})
    now = timezone.now()
    with transaction.atomic():
        _, created = PaperExchangeMovement.objects.get_or_create(
            reference=reference,
            defaults={"wallet_id": wallet_id, "deltas": {c: str(a) for c, a in clean.items()}, "ts": now},
        )
        if created:
            _upsert_increment(PaperExchangeBalance._meta.db_table, {(wallet_id, c): a for c, a in clean.items()}, now)
    return created


def paper_exchange_settle_fill(
    *,
    wallet_id: int,
    fill_id: str,
    symbol: str,
    side: str,
    qty: Decimal | str,
    price: Decimal | str,
    fee: Decimal | str = 0,
    fee_currency: str | None = None,
) -> bool:
    """The paper broker's side of a fill: the venue moves the same legs the ledger will book."""
    deltas: dict[str, Decimal] = defaultdict(Decimal)
    for leg in fill_legs(symbol=symbol, side=side, qty=qty, price=price, fee=fee, fee_currency=fee_currency):
        deltas[leg.currency] += leg.amount
    return paper_exchange_move(wallet_id=wallet_id, deltas=deltas, reference=f"fill:{fill_id}")


@transaction.atomic
def paper_wallet_fund(
    *, wallet_id: int, currency: str, amount: Decimal | str, reference: str, created_by=None, source: str = ""
) -> LedgerEntry:
    """A deposit into a paper wallet: the venue credits it, the ledger books it and a
    ``paper_deposited`` event names who did (``source``, else ``created_by``), together; a
    repeated ``reference`` does none of them twice."""
    paper_exchange_move(wallet_id=wallet_id, deltas={currency: amount}, reference=f"deposit:{reference}")
    entry = ledger_post(
        wallet_id=wallet_id,
        currency=currency,
        amount=amount,
        kind=LedgerEntry.Kind.DEPOSIT,
        reference=reference,
        dedupe_key=f"deposit:{reference}",
        created_by=created_by,
    )
    emit(
        "paper_deposited",
        {
            "wallet_id": wallet_id,
            "wallet": entry.wallet.name,
            "currency": entry.currency,
            "amount": f"{entry.amount.normalize():f}",
            "reference": reference,
            "entry_id": entry.pk,
        },
        source=source or user_source(created_by),
        dedupe_key=f"paper_deposited:{reference}",
    )
    return entry


def paper_wallet_ensure(
    *, name: str = "paper", funds: Mapping[str, Decimal | str] | None = None, source: str = SYSTEM_SOURCE
) -> Wallet:
    """The paper wallet the agents trade from, created and funded once (safe to call at every
    start: the funding deposits are deduplicated by wallet name and currency)."""
    wallet = Wallet.objects.filter(name=name).first()
    if wallet is None:
        try:
            with transaction.atomic():
                wallet = wallet_create(name=name, kind=Wallet.Kind.PAPER, source=source)
        except ValidationError:
            wallet = Wallet.objects.filter(name=name).first()  # created concurrently
            if wallet is None:
                raise
    if wallet.kind != Wallet.Kind.PAPER:
        raise ValidationError({"name": [f"Wallet {name!r} exists and is not a paper wallet."]})
    for currency, amount in (funds or {}).items():
        paper_wallet_fund(
            wallet_id=wallet.pk,
            currency=currency,
            amount=amount,
            reference=f"initial:{name}:{currency.upper()}",
            source=source,
        )
    return wallet


# --- Reconciliation -----------------------------------------------------------------------------


class ReconciliationBusy(Conflict):
    """Another reconciliation is running; this one was refused, not queued (409)."""

    def __init__(self, running_run_id: int | None):
        which = f"reconciliation #{running_run_id}" if running_run_id else "another reconciliation"
        super().__init__(f"{which} is running")
        self.running_run_id = running_run_id
        self.errors = {
            "detail": "A reconciliation is already running; try again when it has finished.",
            "running_run": running_run_id,
        }

    @property
    def detail(self):
        return dict(self.errors)


@dataclass(frozen=True)
class ReconcileOutcome:
    run: ReconciliationRun
    replayed: bool = False


def _threshold(value: Any, default: Decimal, name: str) -> Decimal:
    if value is None:
        return default
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ValidationError({name: ["A valid number is required."]}) from None
    if not number.is_finite() or number < 0:
        raise ValidationError({name: ["Must be a number greater than or equal to 0."]})
    return quantize(number)


@transaction.atomic(durable=True)
def reconciliation_start(
    *,
    threshold_abs: Any = None,
    threshold_rel: Any = None,
    wallet_ids: Sequence[int] | None = None,
    user=None,
    schedule_name: str = "",
    idempotency_key: str | None = None,
) -> ReconcileOutcome:
    """Record a run as running, or refuse: one run at a time, decided under an advisory lock."""
    abs_ = _threshold(threshold_abs, settings.WALLETS_DRIFT_ABS, "threshold_abs")
    rel = _threshold(threshold_rel, settings.WALLETS_DRIFT_REL, "threshold_rel")
    ids = sorted(set(wallet_ids)) if wallet_ids is not None else None
    if ids is not None:
        if not ids:
            raise ValidationError({"wallet_ids": ["Give at least one wallet id, or leave it out for all."]})
        known = set(Wallet.objects.filter(id__in=ids).values_list("id", flat=True))
        if unknown := [i for i in ids if i not in known]:
            raise ValidationError({"wallet_ids": [f"Unknown wallet ids: {', '.join(map(str, unknown))}."]})
    if idempotency_key is not None and not (0 < len(idempotency_key) <= 200):
        raise ValidationError({"idempotency_key": ["Between 1 and 200 characters."]})

    # SQLite (embedded) serialises writers instead; the partial unique index holds on both.
    if not try_advisory_xact_lock(LockKey.RECONCILE):
        raise ReconciliationBusy(None)
    now = timezone.now()
    if idempotency_key:
        previous = ReconciliationRun.objects.filter(started_by=user, idempotency_key=idempotency_key).first()
        if previous is not None:
            if (previous.threshold_abs, previous.threshold_rel, previous.wallet_ids) != (abs_, rel, ids):
                raise ValidationError({"idempotency_key": ["Already used for a reconciliation with other parameters."]})
            return ReconcileOutcome(previous, replayed=True)
    stale = now - timedelta(seconds=settings.WALLETS_RECONCILE_STALE_SECONDS)
    ReconciliationRun.objects.filter(status=ReconciliationRun.Status.RUNNING, started_at__lt=stale).update(
        status=ReconciliationRun.Status.FAILED,
        finished_at=now,
        summary={"error": "The run died: still running after the stale limit."},
    )
    running = ReconciliationRun.objects.filter(status=ReconciliationRun.Status.RUNNING).first()
    if running is not None:
        raise ReconciliationBusy(running.pk)
    try:
        with transaction.atomic():
            run = ReconciliationRun.objects.create(
                trigger=ReconciliationRun.Trigger.SCHEDULE if schedule_name else ReconciliationRun.Trigger.USER,
                started_by=user,
                schedule_name=schedule_name,
                threshold_abs=abs_,
                threshold_rel=rel,
                wallet_ids=ids,
                idempotency_key=idempotency_key or None,
                started_at=now,
            )
    except IntegrityError:
        raise ReconciliationBusy(None) from None
    return ReconcileOutcome(run)


def reconciliation_execute(
    *, run_id: int, balance_providers: Mapping[str, providers.BalanceProvider] | None = None
) -> ReconciliationRun:
    """Fetch, compare, record, announce. Balances are fetched outside any transaction; the
    results are written in one."""
    clock = time.monotonic()
    run = ReconciliationRun.objects.get(pk=run_id)
    if run.status != ReconciliationRun.Status.RUNNING:
        return run
    wallets = Wallet.objects.exclude(status=Wallet.Status.DISABLED).order_by("id")
    if run.wallet_ids is not None:
        wallets = wallets.filter(id__in=run.wallet_ids)
    wallets = list(wallets)
    refs = [providers.WalletRef.of(wallet) for wallet in wallets]
    results = providers.fetch_all(refs, timeout=settings.WALLETS_EXCHANGE_TIMEOUT, providers=balance_providers)
    ledger: dict[int, dict[str, Decimal]] = defaultdict(dict)
    for wallet_id, currency, amount in WalletBalance.objects.filter(wallet__in=wallets).values_list(
        "wallet_id", "currency", "amount"
    ):
        ledger[wallet_id][currency] = amount

    now = timezone.now()
    records: list[DriftRecord] = []
    errors: dict[str, str] = {}
    failed_by_reason: dict[str, list[int]] = defaultdict(list)
    fetched: list[int] = []
    for wallet in wallets:
        result = results[wallet.id]
        wallet.last_run_id = run.pk
        wallet.last_reconciled_at = now
        if not result.ok:
            errors[wallet.name] = result.error
            failed_by_reason[result.error[:500]].append(wallet.id)
            wallet.drift_status, wallet.drift_breaches = Wallet.DriftStatus.ERROR, 0
            continue
        rows = drift.compare(
            ledger[wallet.id], result.balances, threshold_abs=run.threshold_abs, threshold_rel=run.threshold_rel
        )
        breaches = sum(1 for row in rows if not row.within_threshold)
        fetched.append(wallet.id)
        wallet.drift_status = Wallet.DriftStatus.BREACH if breaches else Wallet.DriftStatus.OK
        wallet.drift_breaches = breaches
        records.extend(
            DriftRecord(
                run_id=run.pk,
                wallet_id=wallet.id,
                currency=row.currency,
                ts=now,
                ledger_balance=row.ledger_balance,
                exchange_balance=row.exchange_balance,
                drift=row.drift,
                relative_drift=row.relative_drift,
                within_threshold=row.within_threshold,
            )
            for row in rows
        )

    breach_records = [record for record in records if not record.within_threshold]
    failed = len(errors)
    if failed and failed == len(wallets):
        status = ReconciliationRun.Status.FAILED
    elif failed:
        status = ReconciliationRun.Status.PARTIAL
    else:
        status = ReconciliationRun.Status.SUCCEEDED
    with transaction.atomic(durable=True):
        run = ReconciliationRun.objects.select_for_update().get(pk=run_id)
        if run.status != ReconciliationRun.Status.RUNNING:
            return run  # reaped as stale meanwhile: its results are not ours to write
        DriftRecord.objects.bulk_create(records, batch_size=2000)
        # Only the columns a run owns: a name or a status an admin changed meanwhile stays.
        Wallet.objects.bulk_update(
            wallets, ["last_run", "last_reconciled_at", "drift_status", "drift_breaches"], batch_size=500
        )
        for reason, ids in failed_by_reason.items():
            Wallet.objects.filter(id__in=ids).exclude(status=Wallet.Status.DISABLED).exclude(
                status=Wallet.Status.ERROR, status_reason=reason
            ).update(status=Wallet.Status.ERROR, status_reason=reason, status_changed_at=now)
        Wallet.objects.filter(id__in=fetched, status=Wallet.Status.ERROR).update(
            status=Wallet.Status.ACTIVE, status_reason="", status_changed_at=now
        )
        run.status = status
        run.finished_at = timezone.now()
        run.wallets_checked = len(wallets)
        run.wallets_failed = failed
        run.breaches = len(breach_records)
        run.summary = {
            "records": len(records),
            "currencies": len({record.currency for record in records}),
            "errors": errors,
            "duration_ms": int((time.monotonic() - clock) * 1000),
        }
        run.save(update_fields=["status", "finished_at", "wallets_checked", "wallets_failed", "breaches", "summary"])
        _emit_run_events(run, breach_records, {wallet.id: wallet.name for wallet in wallets})
        transaction.on_commit(partial(alerts.announce, run.pk))
    return run


def _source(run: ReconciliationRun) -> str:
    if run.trigger == ReconciliationRun.Trigger.SCHEDULE:
        return f"schedule:{run.schedule_name}"[:128]
    return user_source(run.started_by if run.started_by_id else None)


def _emit_run_events(run: ReconciliationRun, breaches: list[DriftRecord], names: dict[int, str]) -> None:
    completed = emit(
        "reconciliation_completed",
        {
            "run_id": run.pk,
            "trigger": run.trigger,
            "status": run.status,
            "threshold_abs": run.threshold_abs,
            "threshold_rel": run.threshold_rel,
            "wallets_checked": run.wallets_checked,
            "wallets_failed": run.wallets_failed,
            "records": run.summary["records"],
            "breaches": run.breaches,
            "errors": run.summary["errors"],
            "duration_ms": run.summary["duration_ms"],
        },
        source=_source(run),
        correlation_id=run.correlation_id,
        dedupe_key=f"reconciliation_completed:{run.pk}",
        ts=run.finished_at,
    )
    drafts = [
        EventDraft(
            type="drift_detected",
            payload={
                "run_id": run.pk,
                "drift_record_id": record.pk,
                "wallet_id": record.wallet_id,
                "wallet": names[record.wallet_id],
                "currency": record.currency,
                "ledger_balance": record.ledger_balance,
                "exchange_balance": record.exchange_balance,
                "drift": record.drift,
                "relative_drift": record.relative_drift,
                "threshold_abs": run.threshold_abs,
                "threshold_rel": run.threshold_rel,
            },
            source=_source(run),
            correlation_id=run.correlation_id,
            causation_id=completed.event_id,
            dedupe_key=f"drift_detected:{record.pk}",
            ts=record.ts,
        )
        for record in breaches
    ]
    for start in range(0, len(drafts), 1000):
        emit_many(drafts[start : start + 1000])


def reconciliation_fail(*, run_id: int, reason: str) -> None:
    """Mark a run failed after an unexpected error, so that it never stays "running"."""
    with transaction.atomic():
        ReconciliationRun.objects.filter(pk=run_id, status=ReconciliationRun.Status.RUNNING).update(
            status=ReconciliationRun.Status.FAILED, finished_at=timezone.now(), summary={"error": reason[:1000]}
        )


def wallet_reconcile(
    *,
    threshold_abs: Any = None,
    threshold_rel: Any = None,
    wallet_ids: Sequence[int] | None = None,
    user=None,
    schedule_name: str = "",
    idempotency_key: str | None = None,
    balance_providers: Mapping[str, providers.BalanceProvider] | None = None,
) -> ReconcileOutcome:
    """Reconcile now. Raises ``ReconciliationBusy`` when a run is going, ``ValidationError`` on
    bad input. A repeated idempotency key returns the first run (``replayed``)."""
    outcome = reconciliation_start(
        threshold_abs=threshold_abs,
        threshold_rel=threshold_rel,
        wallet_ids=wallet_ids,
        user=user,
        schedule_name=schedule_name,
        idempotency_key=idempotency_key,
    )
    if outcome.replayed:
        return outcome
    try:
        run = reconciliation_execute(run_id=outcome.run.pk, balance_providers=balance_providers)
    except BaseException:
        # The run shows a sentence; the exception and its traceback go to the log, under the run's id.
        logger.exception("reconciliation run %s failed", outcome.run.pk)
        reconciliation_fail(
            run_id=outcome.run.pk,
            reason=f"The reconciliation stopped on an internal error. The details are in the server log "
            f"under reconciliation run {outcome.run.pk}.",
        )
        raise
    return ReconcileOutcome(run)


# --- Corrections --------------------------------------------------------------------------------


@transaction.atomic(durable=True)
def drift_correct(*, drift_record_id: int, user, reason: str, idempotency: Idempotency | None = None) -> LedgerEntry:
    """Book the drift a run measured as an ``adjustment`` so the ledger matches the exchange.
    Admins only, with a reason; recorded as a ``ledger_adjusted`` event by that user. With an
    ``idempotency`` key seen before it raises ``Replay`` naming the entry booked first."""
    reason = (reason or "").strip()
    if not has_role(user, Role.ADMIN):
        raise PermissionDenied("Only an admin may correct a drift.")
    idempotency_claim(idempotency)
    if not reason:
        raise ValidationError({"reason": ["A correction needs a reason."]})
    record = DriftRecord.objects.select_for_update().select_related("wallet", "run").get(pk=drift_record_id)
    if record.correction_id:
        raise ValidationError({"drift_record": [f"Already corrected by ledger entry {record.correction_id}."]})
    if record.drift == 0:
        raise ValidationError({"drift_record": ["There is no drift to correct."]})
    entry = ledger_post(
        wallet_id=record.wallet_id,
        currency=record.currency,
        amount=record.drift,
        kind=LedgerEntry.Kind.ADJUSTMENT,
        reference=f"drift:{record.pk}",
        dedupe_key=f"drift-correction:{record.pk}",
        correlation_id=record.run.correlation_id,
        note=reason,
        created_by=user,
    )
    record.correction = entry
    record.save(update_fields=["correction"])
    idempotency_complete(idempotency, entry.pk)
    emit(
        "ledger_adjusted",
        {
            "entry_id": entry.pk,
            "wallet_id": record.wallet_id,
            "wallet": record.wallet.name,
            "currency": record.currency,
            "amount": entry.amount,
            "reason": reason,
            "drift_record_id": record.pk,
        },
        source=user_source(user),
        correlation_id=record.run.correlation_id,
        dedupe_key=f"ledger_adjusted:{entry.pk}",
    )
    return entry
