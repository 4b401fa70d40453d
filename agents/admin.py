"""Admin: every read model read-only; the runtime configuration is edited through the services,
so each change is an event naming the admin; actions call services too."""

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from events.admin import ReadOnlyAdmin
from events.selectors import event_decision_path, event_get

from . import services
from .models import (
    AgentStatus,
    BlockEvent,
    ExecutionStep,
    Fill,
    FlattenRequest,
    Intent,
    Judgement,
    Order,
    Portfolio,
    Position,
    PositionSnapshot,
    RiskAllocation,
    RiskBudgetDay,
    RuntimeConfig,
    StrategyPlan,
)


def _decision_path(event_id) -> list:
    event = event_get(event_id=event_id)
    return event_decision_path(event=event).steps if event else []


def _chain_link(obj) -> str:
    url = reverse("admin:events_event_changelist")
    return format_html('<a href="{}?q={}&o=1">decision chain</a>', url, obj.correlation_id)


class RuntimeConfigForm(forms.ModelForm):
    confirmation = forms.CharField(
        required=False, help_text=f"Type {settings.LIVE_CONFIRMATION_WORD} to switch to live mode."
    )
    reason = forms.CharField(required=False, help_text="Why (recorded in the event; required for the kill switch).")

    class Meta:
        model = RuntimeConfig
        fields = ["mode", "kill_switch", *services.LIMIT_FIELDS]


@admin.register(RuntimeConfig)
class RuntimeConfigAdmin(admin.ModelAdmin):
    form = RuntimeConfigForm
    list_display = ("__str__", "mode", "kill_switch", "daily_risk_budget", "risk_per_trade", "updated_by", "updated_at")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        """Through the services, never a raw save: each part is its own event naming the admin."""
        data, reason = form.cleaned_data, form.cleaned_data.get("reason", "")
        limits = {f: data[f] for f in services.LIMIT_FIELDS if f in form.changed_data}
        try:
            if limits:
                services.runtime_limits_update(user=request.user, changes=limits, reason=reason)
            if "kill_switch" in form.changed_data:
                services.kill_switch_set(user=request.user, engaged=data["kill_switch"], reason=reason)
            if "mode" in form.changed_data:
                services.runtime_mode_switch(user=request.user, mode=data["mode"],
                                             confirmation=data.get("confirmation", ""), reason=reason)  # fmt: skip
        except (ValidationError, PermissionDenied) as exc:
            self.message_user(request, f"Not saved: {'; '.join(_messages(exc))}", messages.ERROR)

    actions = ["engage_kill_switch", "release_kill_switch"]

    @admin.action(description="Engage the kill switch (blocks every new order)")
    def engage_kill_switch(self, request, queryset):
        self._kill_switch(request, engaged=True)

    @admin.action(description="Release the kill switch")
    def release_kill_switch(self, request, queryset):
        self._kill_switch(request, engaged=False)

    def _kill_switch(self, request, *, engaged: bool) -> None:
        try:
            services.kill_switch_set(user=request.user, engaged=engaged, reason="from the admin")
        except (ValidationError, PermissionDenied) as exc:
            self.message_user(request, "; ".join(_messages(exc)), messages.ERROR)
        else:
            self.message_user(request, f"Kill switch {'engaged' if engaged else 'released'}.")


def _messages(exc) -> list[str]:
    if isinstance(exc, ValidationError) and hasattr(exc, "error_dict"):
        return [f"{field}: {' '.join(errors)}" for field, errors in exc.message_dict.items()]
    return [str(getattr(exc, "message", exc))]


@admin.register(Position)
class PositionAdmin(ReadOnlyAdmin):
    list_display = ("symbol", "qty", "avg_entry_price", "mark_price", "unrealized_pnl", "realized_pnl", "updated_at")
    actions = ["flatten"]

    @admin.action(description="Flatten the selected positions (operator intent)")
    def flatten(self, request, queryset):
        for symbol in queryset.values_list("symbol", flat=True):
            try:
                services.intent_submit(user=request.user, action="flatten", symbol=symbol, note="admin action")
            except (ValidationError, PermissionDenied) as exc:
                self.message_user(request, f"{symbol}: {'; '.join(_messages(exc))}", messages.ERROR)
                return
        self.message_user(request, "Flatten requested: the execution agent exits at its next candle.")


@admin.register(StrategyPlan)
class StrategyPlanAdmin(ReadOnlyAdmin):
    list_display = ("plan_id", "version", "strategy", "origin", "regime", "active", "created_at", "chain")
    list_filter = ("active", "origin", "strategy")
    actions = ["replan"]

    @admin.display(description="chain")
    def chain(self, obj):
        return _chain_link(obj)

    @admin.action(description="Ask the planner for a new plan (operator intent)")
    def replan(self, request, queryset):
        services.intent_submit(user=request.user, action="replan", note="admin action")
        self.message_user(request, "Replan requested.")


@admin.register(BlockEvent)
class BlockEventAdmin(ReadOnlyAdmin):
    list_display = ("ts", "symbol", "side", "reason", "reason_class", "plan_id", "chain")
    list_filter = ("reason_class", "reason", "symbol")
    search_fields = ("=correlation_id", "=run_id", "=plan_id")
    date_hierarchy = "ts"
    readonly_fields = ["ts", "symbol", "side", "reason", "reason_class", "detail", "plan_id", "run_id",
                       "correlation_id", "event_id", "whole_chain"]  # fmt: skip

    @admin.display(description="chain")
    def chain(self, obj):
        return _chain_link(obj)

    @admin.display(description="decision chain")
    def whole_chain(self, obj):
        rows = [
            (e.ts.strftime("%Y-%m-%d %H:%M:%S"), e.type, e.source, str(e.payload)[:300],
             "← " + e.cause.type if e.cause else "")
            for e in _decision_path(obj.event_id)
        ]  # fmt: skip
        body = format_html_join(
            "", "<tr><td>{}</td><td><b>{}</b></td><td>{}</td><td><code>{}</code></td><td>{}</td></tr>", rows
        )
        return format_html(
            "<table><tr><th>ts (UTC)</th><th>type</th><th>source</th><th>payload</th><th>cause</th></tr>{}</table>",
            body,
        )


@admin.register(Fill)
class FillAdmin(ReadOnlyAdmin):
    list_display = ("ts", "symbol", "side", "qty", "price", "fee", "realized_pnl", "order_id", "chain")
    list_filter = ("symbol", "side")
    search_fields = ("=order_id", "=fill_id", "=correlation_id")

    @admin.display(description="chain")
    def chain(self, obj):
        return _chain_link(obj)


@admin.register(Order)
class OrderAdmin(ReadOnlyAdmin):
    list_display = ("ts", "order_id", "symbol", "side", "qty", "status", "filled_qty")
    list_filter = ("status", "symbol", "side")
    search_fields = ("=order_id", "=correlation_id")


@admin.register(RiskAllocation)
class RiskAllocationAdmin(ReadOnlyAdmin):
    list_display = ("allocation_id", "day", "symbol", "amount", "status", "claimed_at", "updated_at")
    list_filter = ("status", "day")


@admin.register(RiskBudgetDay)
class RiskBudgetDayAdmin(ReadOnlyAdmin):
    list_display = ("day", "budget", "claimed", "used", "released", "expired")


@admin.register(Portfolio)
class PortfolioAdmin(ReadOnlyAdmin):
    list_display = ("cash", "initial_cash", "realized_pnl", "fees_paid", "day", "day_start_equity", "updated_at")
    actions = None

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "title": "Portfolio (paper or live)"}
        return super().changelist_view(request, extra_context)


@admin.register(Judgement)
class JudgementAdmin(ReadOnlyAdmin):
    list_display = ("ts", "plan_id", "overall_score", "recommendations")


@admin.register(Intent)
class IntentAdmin(ReadOnlyAdmin):
    list_display = ("ts", "action", "symbol", "source", "note")
    list_filter = ("action",)


@admin.register(AgentStatus)
class AgentStatusAdmin(ReadOnlyAdmin):
    list_display = ("agent", "last_status", "last_run_at", "runs", "errors", "last_error")


for model in (PositionSnapshot, ExecutionStep, FlattenRequest):
    admin.site.register(model, ReadOnlyAdmin)
