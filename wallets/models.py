"""Wallets, their ledger and per-currency balances, the paper exchange's own accounts, and the
history of every reconciliation between the two.

All writes go through ``wallets.services``. Balances are never computed by summing the ledger on
a read path: ``WalletBalance`` is kept current in the transaction that writes each entry.
"""

import uuid

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from tradingops.fields import MoneyField

CURRENCY_MAX_LENGTH = 16
currency_validator = RegexValidator(r"^[A-Z0-9]{1,16}$", "Currency codes are 1-16 upper-case letters or digits.")


class Wallet(models.Model):
    """An account we hold somewhere: on the paper exchange or on a real exchange through ccxt.

    ``credentials_ref`` names where the API key lives (the prefix of environment variables
    ``<REF>_API_KEY``, ``<REF>_SECRET``, ``<REF>_PASSWORD``); the secret itself never enters the
    database or the logs.
    """

    class Kind(models.TextChoices):
        PAPER = "paper", "paper"
        EXCHANGE = "exchange", "exchange"

    class Status(models.TextChoices):
        ACTIVE = "active", "active"
        ERROR = "error", "error"
        DISABLED = "disabled", "disabled"

    class DriftStatus(models.TextChoices):
        NEVER = "never", "never reconciled"
        OK = "ok", "within threshold"
        BREACH = "breach", "drift over threshold"
        ERROR = "error", "balance not fetched"

    name = models.CharField(max_length=64, unique=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    exchange_id = models.CharField(
        max_length=64, blank=True, default="", help_text="The ccxt exchange id (e.g. 'kraken'); empty for paper."
    )
    credentials_ref = models.CharField(
        max_length=64,
        blank=True,
        default="",
        validators=[RegexValidator(r"^[A-Z][A-Z0-9_]*$", "An environment variable prefix, e.g. KRAKEN_MAIN.")],
        help_text="Prefix of the environment variables holding the API key (<REF>_API_KEY, <REF>_SECRET).",
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    status_reason = models.CharField(max_length=500, blank=True, default="")
    status_changed_at = models.DateTimeField(default=timezone.now)
    # Denormalised by the reconciliation that last covered the wallet, so that the wallet list
    # shows drift status without a per-wallet query.
    last_run = models.ForeignKey(
        "ReconciliationRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_reconciled_at = models.DateTimeField(null=True, blank=True)
    drift_status = models.CharField(max_length=16, choices=DriftStatus.choices, default=DriftStatus.NEVER)
    drift_breaches = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("name",)
        indexes = [
            models.Index(fields=["kind", "id"], name="wallet_kind"),
            models.Index(fields=["status", "id"], name="wallet_status"),
            models.Index(fields=["drift_status", "id"], name="wallet_drift_status"),
            models.Index(fields=["exchange_id", "id"], name="wallet_exchange"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind="paper") | ~Q(exchange_id=""), name="wallet_exchange_has_exchange_id"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class LedgerEntry(models.Model):
    """One signed movement of one currency in one wallet. Append-only."""

    class Kind(models.TextChoices):
        DEPOSIT = "deposit", "deposit"
        WITHDRAWAL = "withdrawal", "withdrawal"
        FILL = "fill", "fill"
        FEE = "fee", "fee"
        TRANSFER = "transfer", "transfer"
        ADJUSTMENT = "adjustment", "adjustment"

    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="entries")
    currency = models.CharField(max_length=CURRENCY_MAX_LENGTH, validators=[currency_validator])
    amount = MoneyField(help_text="Signed: positive credits the wallet, negative debits it.")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    reference = models.CharField(
        max_length=200, blank=True, default="", help_text="What caused it: a fill id, an event id, a transfer id."
    )
    event_id = models.UUIDField(null=True, blank=True, help_text="The event that caused this entry, if any.")
    correlation_id = models.UUIDField(null=True, blank=True)
    dedupe_key = models.CharField(max_length=200, null=True, blank=True, unique=True)
    note = models.CharField(max_length=1000, blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    ts = models.DateTimeField(default=timezone.now)
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "ledger entries"
        ordering = ("-ts", "-id")
        indexes = [
            models.Index(fields=["wallet", "ts", "id"], name="ledger_wallet_ts"),
            models.Index(fields=["wallet", "currency", "ts", "id"], name="ledger_wallet_currency_ts"),
            models.Index(fields=["wallet", "kind", "ts", "id"], name="ledger_wallet_kind_ts"),
            models.Index(fields=["correlation_id"], name="ledger_correlation"),
            models.Index(fields=["reference"], name="ledger_reference"),
        ]
        constraints = [models.CheckConstraint(condition=~Q(amount=0), name="ledger_amount_not_zero")]

    def __str__(self) -> str:
        return f"{self.wallet_id} {self.kind} {self.amount} {self.currency}"


class WalletBalance(models.Model):
    """The ledger balance of one currency in one wallet: the sum of its entries, kept by
    upsert-increment in the same statement batch as the entries themselves."""

    wallet = models.ForeignKey(Wallet, on_delete=models.CASCADE, related_name="balances")
    currency = models.CharField(max_length=CURRENCY_MAX_LENGTH)
    amount = MoneyField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("wallet", "currency")
        constraints = [models.UniqueConstraint(fields=["wallet", "currency"], name="wallet_balance_unique")]

    def __str__(self) -> str:
        return f"{self.wallet_id} {self.amount} {self.currency}"


class PaperExchangeBalance(models.Model):
    """The paper exchange's own account for a paper wallet: the "other side" that reconciliation
    compares the ledger against. The paper broker settles fills here; tests make it drift."""

    wallet = models.ForeignKey(Wallet, on_delete=models.CASCADE, related_name="paper_exchange_balances")
    currency = models.CharField(max_length=CURRENCY_MAX_LENGTH)
    amount = MoneyField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["wallet", "currency"], name="paper_exchange_balance_unique")]

    def __str__(self) -> str:
        return f"paper:{self.wallet_id} {self.amount} {self.currency}"


class PaperExchangeMovement(models.Model):
    """One settlement on the paper exchange; ``reference`` makes a retried settlement a no-op."""

    wallet = models.ForeignKey(Wallet, on_delete=models.CASCADE, related_name="+")
    reference = models.CharField(max_length=200, unique=True)
    deltas = models.JSONField(help_text="{currency: signed amount as a string}")
    ts = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.reference


class ReconciliationRun(models.Model):
    """One comparison of ledger balances with balances from the other side."""

    class Trigger(models.TextChoices):
        USER = "user", "user"
        SCHEDULE = "schedule", "schedule"

    class Status(models.TextChoices):
        RUNNING = "running", "running"
        SUCCEEDED = "succeeded", "succeeded"
        PARTIAL = "partial", "some wallets failed"
        FAILED = "failed", "failed"

    trigger = models.CharField(max_length=16, choices=Trigger.choices)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    schedule_name = models.CharField(max_length=200, blank=True, default="")
    threshold_abs = MoneyField()
    threshold_rel = MoneyField()
    wallet_ids = models.JSONField(null=True, blank=True, help_text="The wallets asked for; null means all.")
    idempotency_key = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001 - null = no key
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    wallets_checked = models.PositiveIntegerField(default=0)
    wallets_failed = models.PositiveIntegerField(default=0)
    breaches = models.PositiveIntegerField(default=0)
    summary = models.JSONField(default=dict, blank=True)
    correlation_id = models.UUIDField(default=uuid.uuid4, editable=False)

    class Meta:
        ordering = ("-started_at", "-id")
        indexes = [
            models.Index(fields=["started_at", "id"], name="recon_started"),
            models.Index(fields=["status", "started_at"], name="recon_status_started"),
            models.Index(fields=["trigger", "started_at"], name="recon_trigger_started"),
        ]
        constraints = [
            # Belt and braces under the advisory lock: at most one run is ever "running".
            models.UniqueConstraint(fields=["status"], condition=Q(status="running"), name="recon_one_running"),
            models.UniqueConstraint(
                fields=["started_by", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="recon_idempotency_key",
            ),
        ]

    def __str__(self) -> str:
        return f"reconciliation #{self.pk} {self.status}"


class DriftRecord(models.Model):
    """Ledger against exchange for one wallet and currency in one run.

    ``drift`` is exchange minus ledger; ``relative_drift`` is drift over |ledger| (null when the
    ledger is zero). Within threshold when |drift| <= abs + rel * |ledger|.
    """

    run = models.ForeignKey(ReconciliationRun, on_delete=models.CASCADE, related_name="drift_records")
    wallet = models.ForeignKey(Wallet, on_delete=models.CASCADE, related_name="drift_records")
    currency = models.CharField(max_length=CURRENCY_MAX_LENGTH)
    ts = models.DateTimeField(help_text="When the run compared the balances.")
    ledger_balance = MoneyField()
    exchange_balance = MoneyField()
    drift = MoneyField()
    relative_drift = MoneyField(null=True, blank=True)
    within_threshold = models.BooleanField()
    correction = models.ForeignKey(
        LedgerEntry, null=True, blank=True, on_delete=models.PROTECT, related_name="+", help_text="The adjustment."
    )

    class Meta:
        ordering = ("-ts", "-id")
        indexes = [
            models.Index(fields=["wallet", "currency", "ts", "id"], name="drift_wallet_currency_ts"),
            models.Index(fields=["wallet", "ts", "id"], name="drift_wallet_ts"),
            models.Index(fields=["run", "within_threshold"], name="drift_run_breach"),
        ]
        constraints = [models.UniqueConstraint(fields=["run", "wallet", "currency"], name="drift_unique")]

    def __str__(self) -> str:
        return f"run {self.run_id} wallet {self.wallet_id} {self.currency} drift {self.drift}"
