from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.template.response import TemplateResponse
from django.utils.html import format_html

from tradingops.admin import ReadOnlyAdminMixin
from tradingops.roles import Role, has_role, user_source

from . import services
from .models import DriftRecord, LedgerEntry, ReconciliationRun, Wallet, WalletBalance


class WalletBalanceInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = WalletBalance
    fields = ["currency", "amount", "updated_at"]
    readonly_fields = fields
    extra = 0


def _drift_badge(wallet: Wallet) -> str:
    colours = {"ok": "#2e7d32", "breach": "#c62828", "error": "#ef6c00", "never": "#757575"}
    label = wallet.get_drift_status_display()
    if wallet.drift_status == Wallet.DriftStatus.BREACH:
        label = f"{wallet.drift_breaches} over threshold"
    return format_html('<strong style="color:{}">{}</strong>', colours[wallet.drift_status], label)


@admin.register(Wallet)
class WalletAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "exchange_id", "status", "drift", "balances_summary", "last_reconciled_at"]
    list_filter = ["kind", "status", "drift_status", "exchange_id"]
    search_fields = ["name", "exchange_id"]
    readonly_fields = [
        "status_changed_at",
        "drift_status",
        "drift_breaches",
        "last_run",
        "last_reconciled_at",
        "created_at",
    ]
    inlines = [WalletBalanceInline]
    actions = ["reconcile_now"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("balances")

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "kind"] if obj else self.readonly_fields

    @admin.display(description="drift", ordering="drift_status")
    def drift(self, wallet):
        return _drift_badge(wallet)

    @admin.display(description="balances")
    def balances_summary(self, wallet):
        return ", ".join(f"{b.amount.normalize():f} {b.currency}" for b in wallet.balances.all()[:6])

    def has_delete_permission(self, request, obj=None):
        return False  # a wallet with a ledger is disabled, never deleted

    def save_model(self, request, obj, form, change):
        data = {name: form.cleaned_data[name] for name in form.changed_data if name in form.cleaned_data}
        try:
            if change:
                saved = services.wallet_update(wallet_id=obj.pk, source=user_source(request.user), **data)
            else:
                saved = services.wallet_create(
                    name=obj.name,
                    kind=obj.kind,
                    exchange_id=obj.exchange_id,
                    credentials_ref=obj.credentials_ref,
                    source=user_source(request.user),
                )
        except ValidationError as exc:
            self.message_user(request, f"Not saved: {exc}", messages.ERROR)
            return
        obj.pk = saved.pk

    @admin.action(description="Reconcile the selected wallets now")
    def reconcile_now(self, request, queryset):
        if not has_role(request.user, Role.OPERATOR):
            self.message_user(request, "Only operators may start a reconciliation.", messages.ERROR)
            return
        try:
            wallet_ids = list(queryset.values_list("id", flat=True))
            outcome = services.wallet_reconcile(wallet_ids=wallet_ids, user=request.user)
        except services.ReconciliationBusy as busy:
            self.message_user(request, f"Refused: {busy}.", messages.WARNING)
            return
        run = outcome.run
        level = messages.WARNING if run.breaches or run.wallets_failed else messages.SUCCESS
        self.message_user(
            request,
            f"Reconciliation #{run.pk}: {run.status}, {run.breaches} drift breach(es), {run.wallets_failed} wallet(s) "
            "not fetched.",
            level,
        )


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["ts", "wallet", "currency", "amount", "kind", "reference", "created_by"]
    list_filter = ["kind", "currency", "wallet"]
    search_fields = ["reference", "dedupe_key", "note"]
    date_hierarchy = "ts"
    list_select_related = ["wallet", "created_by"]
    show_full_result_count = False


class DriftRecordInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = DriftRecord
    fields = ["wallet", "currency", "ledger_balance", "exchange_balance", "drift", "relative_drift", "within_threshold"]
    readonly_fields = fields
    extra = 0

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("wallet").order_by("within_threshold", "wallet", "currency")


@admin.register(ReconciliationRun)
class ReconciliationRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "trigger", "started_by", "status", "alert", "wallets_checked", "started_at", "finished_at"]
    list_filter = ["status", "trigger"]
    list_select_related = ["started_by"]
    search_fields = ["=id", "started_by__username", "status", "schedule_name", "=correlation_id"]
    search_help_text = "Run number, who started it, status, schedule name, or an exact correlation id."
    inlines = [DriftRecordInline]

    @admin.display(description="breaches / failed")
    def alert(self, run):
        colour = "#c62828" if run.breaches or run.wallets_failed else "#2e7d32"
        return format_html('<strong style="color:{}">{} / {}</strong>', colour, run.breaches, run.wallets_failed)


class CorrectionForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "cols": 80}), max_length=1000)


@admin.register(DriftRecord)
class DriftRecordAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "ts",
        "run",
        "wallet",
        "currency",
        "ledger_balance",
        "exchange_balance",
        "drift",
        "within_threshold",
        "correction",
    ]
    list_filter = ["within_threshold", "currency", "wallet"]
    list_select_related = ["wallet", "run"]
    search_fields = ["wallet__name", "currency", "=run__id"]
    search_help_text = "Wallet name, currency, or a reconciliation run number."
    actions = ["correct_drift"]

    @admin.action(description="Correct drift: book an adjustment (admins, with a reason)")
    def correct_drift(self, request, queryset):
        if not has_role(request.user, Role.ADMIN):
            self.message_user(request, "Only an admin may correct a drift.", messages.ERROR)
            return None
        records = list(queryset.select_related("wallet"))
        form = CorrectionForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            booked = []
            for record in records:
                try:
                    entry = services.drift_correct(
                        drift_record_id=record.pk, user=request.user, reason=form.cleaned_data["reason"]
                    )
                except ValidationError as exc:
                    self.message_user(request, f"{record}: {'; '.join(exc.messages)}", messages.WARNING)
                else:
                    booked.append(entry.pk)
            if booked:
                self.message_user(request, f"Booked adjustment entries {booked}.", messages.SUCCESS)
            return None
        context = {**self.admin_site.each_context(request), "records": records, "form": form, "title": "Correct drift"}
        return TemplateResponse(request, "admin/wallets/driftrecord/correct.html", context)
