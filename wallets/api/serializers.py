from django.utils import timezone
from drf_spectacular.utils import OpenApiExample, extend_schema_field, extend_schema_serializer
from rest_framework import serializers
from rest_framework.fields import iter_options

from tradingops.api.serializers import StrictInputSerializer
from tradingops.fields import DECIMAL_PLACES, MAX_DIGITS

from .. import selectors
from ..models import DriftRecord, LedgerEntry, ReconciliationRun, Wallet, WalletBalance


class BalanceSerializer(serializers.ModelSerializer):
    class Meta:
        model = WalletBalance
        fields = ["currency", "amount", "updated_at"]


class BalanceBriefSerializer(serializers.Serializer):
    currency = serializers.CharField()
    amount = serializers.DecimalField(max_digits=MAX_DIGITS, decimal_places=DECIMAL_PLACES)


_PLAIN_WALLET_FIELDS = (
    "id",
    "name",
    "kind",
    "exchange_id",
    "credentials_ref",
    "status",
    "status_reason",
    "drift_status",
    "drift_breaches",
)


class _WalletPageSerializer(serializers.ListSerializer):
    """A page of wallets with their balances (``selectors.wallet_list``), rendered without a serializer field
    per value: 100 wallets carry 2,000 balances, and GET /wallets must stay under 25 ms at p95.
    The output is exactly ``WalletSerializer``'s (a test holds them together)."""

    def to_representation(self, data):
        wallets = selectors.wallet_attach_balances(list(data.all() if hasattr(data, "all") else data))
        # One time zone lookup per page, not one per value (it goes through asgiref's Local).
        stamp = serializers.DateTimeField(default_timezone=timezone.get_current_timezone()).to_representation
        return [
            {
                **{name: getattr(wallet, name) for name in _PLAIN_WALLET_FIELDS},
                "status_changed_at": stamp(wallet.status_changed_at),
                "last_run": wallet.last_run_id,
                "last_reconciled_at": stamp(wallet.last_reconciled_at) if wallet.last_reconciled_at else None,
                "balances": _balances(wallet),
            }
            for wallet in wallets
        ]


def _balances(wallet) -> list[dict[str, str]]:
    return [
        {"currency": currency, "amount": amount}
        for currency, amount in zip(wallet.balance_currencies, wallet.balance_amounts, strict=True)
    ]


class WalletSerializer(serializers.ModelSerializer):
    """A wallet in a list: balances as ``{"currency", "amount"}``, the amount a decimal string."""

    balances = serializers.SerializerMethodField()

    class Meta:
        model = Wallet
        list_serializer_class = _WalletPageSerializer
        fields = [
            "id",
            "name",
            "kind",
            "exchange_id",
            "credentials_ref",
            "status",
            "status_reason",
            "status_changed_at",
            "drift_status",
            "drift_breaches",
            "last_run",
            "last_reconciled_at",
            "balances",
        ]

    @extend_schema_field(BalanceBriefSerializer(many=True))
    def get_balances(self, wallet) -> list[dict[str, str]]:
        return _balances(selectors.wallet_attach_balances([wallet])[0])


class DriftRecordSerializer(serializers.ModelSerializer):
    wallet_name = serializers.CharField(source="wallet.name", read_only=True)

    class Meta:
        model = DriftRecord
        fields = [
            "id",
            "run",
            "wallet",
            "wallet_name",
            "currency",
            "ts",
            "ledger_balance",
            "exchange_balance",
            "drift",
            "relative_drift",
            "within_threshold",
            "correction",
        ]


class WalletDetailSerializer(WalletSerializer):
    """One wallet: balances with their ``updated_at``, and the drift of its last reconciliation."""

    balances = BalanceSerializer(many=True, read_only=True)
    latest_drift = DriftRecordSerializer(many=True, read_only=True)

    class Meta(WalletSerializer.Meta):
        fields = [*WalletSerializer.Meta.fields, "latest_drift"]


class LedgerEntrySerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = LedgerEntry
        fields = [
            "id",
            "wallet",
            "currency",
            "amount",
            "kind",
            "reference",
            "event_id",
            "correlation_id",
            "note",
            "created_by",
            "ts",
            "recorded_at",
        ]


class ReconciliationRunSerializer(serializers.ModelSerializer):
    started_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = ReconciliationRun
        fields = [
            "id",
            "trigger",
            "started_by",
            "schedule_name",
            "threshold_abs",
            "threshold_rel",
            "wallet_ids",
            "status",
            "started_at",
            "finished_at",
            "wallets_checked",
            "wallets_failed",
            "breaches",
            "summary",
            "correlation_id",
        ]


class ReconciliationRunDetailSerializer(ReconciliationRunSerializer):
    drift_records = DriftRecordSerializer(many=True, read_only=True)

    class Meta(ReconciliationRunSerializer.Meta):
        fields = [*ReconciliationRunSerializer.Meta.fields, "drift_records"]


def _threshold_field(help_text: str) -> serializers.DecimalField:
    return serializers.DecimalField(
        max_digits=MAX_DIGITS, decimal_places=DECIMAL_PLACES, min_value=0, required=False, help_text=help_text
    )


class WalletIdsField(serializers.ListField):
    """Wallet ids, as a JSON list or, in the browsable API's form, a multiple select of the wallets
    (DRF draws a ListField with no HTML input). Which ids exist is the service's check."""

    html_cutoff = 1000
    html_cutoff_text = "More than {count} wallets: post their ids as JSON"

    def __init__(self, **kwargs):
        kwargs.setdefault("child", serializers.IntegerField(min_value=1))
        kwargs.setdefault("style", {"base_template": "select_multiple.html"})
        super().__init__(**kwargs)

    def iter_options(self):
        wallets = selectors.wallet_names(limit=self.html_cutoff + 1)
        choices = {pk: f"{name} ({kind}, #{pk})" for pk, name, kind in wallets}
        return iter_options(choices, cutoff=self.html_cutoff, cutoff_text=self.html_cutoff_text)


@extend_schema_serializer(
    examples=[
        OpenApiExample("Every wallet, default tolerances", value={}, request_only=True),
        OpenApiExample(
            "Two wallets, tolerance 0.01 or 0.01 %",
            value={"wallet_ids": [1, 2], "threshold_abs": "0.01", "threshold_rel": "0.0001"},
            request_only=True,
        ),
    ]
)
class ReconcileInputSerializer(StrictInputSerializer):
    threshold_abs = _threshold_field("Absolute tolerance per currency; default from WALLETS_DRIFT_ABS.")
    threshold_rel = _threshold_field("Tolerance relative to |ledger balance|; default from WALLETS_DRIFT_REL.")
    threshold = _threshold_field("Shorthand for threshold_abs.")
    wallet_ids = WalletIdsField(
        required=False,
        allow_empty=False,
        max_length=10_000,
        help_text="The wallets to reconcile, e.g. [1, 2]; default: every wallet that is not disabled.",
    )

    def validate(self, attrs):
        if "threshold" in attrs:
            if "threshold_abs" in attrs:
                raise serializers.ValidationError({"threshold": ["Give threshold or threshold_abs, not both."]})
            attrs["threshold_abs"] = attrs.pop("threshold")
        return attrs


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "Book the exchange's balance",
            value={"reason": "Exchange credited a 0.42 USDT rebate we had not booked"},
            request_only=True,
        )
    ]
)
class DriftCorrectInputSerializer(StrictInputSerializer):
    reason = serializers.CharField(
        max_length=1000,
        trim_whitespace=True,
        help_text="Why the ledger is corrected to the provider's balance; kept with the correcting entry.",
    )
