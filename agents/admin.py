"""Admin: every read model read-only; the runtime configuration is edited through the services,
so each change is an event naming the admin; actions call services too."""

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from events.admin import ReadOnlyAdmin
from events.models import Event
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
    """Its own decision path on the dashboard when it is an event's projection (fill, block,
    intent), else the whole correlation chain."""
    if getattr(obj, "event_id", None):
        return format_html('<a href="{}">decision chain</a>', reverse("dashboard:event", args=[obj.event_id]))
    return format_html('<a href="{}">decision chain</a>', reverse("dashboard:chain", args=[obj.correlation_id]))


def _search_link(model: str, value: str, text: str) -> str:
    """A link to another admin list searched for this exact value: no query per row."""
    if not value:
        return "—"
    return format_html('<a href="{}?q={}">{}</a>', reverse(f"admin:agents_{model}_changelist"), value, text)


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
        """Through the services, never a raw save: each part is its own event naming the admin.
        All or nothing: a refusal rolls back the parts before it, and the change is neither
        logged nor announced as saved (``log_change``, ``response_change``)."""
        data, reason = form.cleaned_data, form.cleaned_data.get("reason", "")
        limits = {f: data[f] for f in services.LIMIT_FIELDS if f in form.changed_data}
        try:
            with transaction.atomic():
                if limits:
                    services.runtime_limits_update(user=request.user, changes=limits, reason=reason)
                if "kill_switch" in form.changed_data:
                    services.kill_switch_set(user=request.user, engaged=data["kill_switch"], reason=reason)
                if "mode" in form.changed_data:
                    services.runtime_mode_switch(user=request.user, mode=data["mode"],
                                                 confirmation=data.get("confirmation", ""), reason=reason)  # fmt: skip
        except (ValidationError, PermissionDenied) as exc:
            request.runtime_refusal = "; ".join(_messages(exc))

    def save_related(self, request, form, formsets, change):
        if not getattr(request, "runtime_refusal", None):
            super().save_related(request, form, formsets, change)

    def log_change(self, request, obj, message):
        if getattr(request, "runtime_refusal", None):
            return None  # nothing changed: no "Changed ..." line in the history
        return super().log_change(request, obj, message)

    def response_change(self, request, obj):
        refusal = getattr(request, "runtime_refusal", None)
        if refusal:
            self.message_user(request, f"Not saved: {refusal}", messages.ERROR)
            return HttpResponseRedirect(request.path)  # back to the form, nothing announced as saved
        return super().response_change(request, obj)

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
    search_fields = ("plan_id", "strategy", "regime", "=correlation_id")
    search_help_text = "Plan id, strategy or regime (part of it), or an exact correlation id."
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
    list_display = ("ts", "symbol", "side", "qty", "price", "fee", "realized_pnl", "order", "chain")
    list_filter = ("symbol", "side")
    search_fields = ("=order_id", "=fill_id", "=correlation_id")

    @admin.display(description="order", ordering="order_id")
    def order(self, obj):
        return _search_link("order", obj.order_id, obj.order_id)

    @admin.display(description="chain (trigger, order, fill)")
    def chain(self, obj):
        return _chain_link(obj)


@admin.register(Order)
class OrderAdmin(ReadOnlyAdmin):
    list_display = ("ts", "order_id", "symbol", "side", "qty", "status", "filled_qty", "fills", "claim", "chain")
    list_filter = ("status", "symbol", "side")
    search_fields = ("=order_id", "=correlation_id")
    readonly_fields = ("trigger",)

    @admin.display(description="fills")
    def fills(self, obj):
        return _search_link("fill", obj.order_id, "fills")

    @admin.display(description="risk claim")
    def claim(self, obj):
        return _search_link("riskallocation", obj.order_id, "claim")

    @admin.display(description="chain")
    def chain(self, obj):
        return _chain_link(obj)

    @admin.display(description="trigger")
    def trigger(self, obj):
        """The trigger that caused the order (its order_submitted event's cause), with its own chain."""

        submitted = Event.objects.filter(
            type="order_submitted", correlation_id=obj.correlation_id, payload__order_id=obj.order_id
        ).first()
        if submitted is None or submitted.causation_id is None:
            return "—"
        return format_html(
            '<a href="{}">trigger {}</a>',
            reverse("dashboard:event", args=[submitted.causation_id]),
            submitted.causation_id,
        )


@admin.register(RiskAllocation)
class RiskAllocationAdmin(ReadOnlyAdmin):
    list_display = ("allocation_id", "day", "symbol", "amount", "status", "claimed_at", "updated_at", "order")
    list_filter = ("status", "day")
    search_fields = ("allocation_id", "order_id", "symbol", "=correlation_id")
    search_help_text = "Allocation id, order id or symbol (part of it), or an exact correlation id."

    @admin.display(description="order")
    def order(self, obj):
        return _search_link("order", obj.order_id, obj.order_id)


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
    list_display = ("ts", "action", "symbol", "source", "note", "chain")
    list_filter = ("action",)
    search_fields = ("action", "symbol", "source", "note", "=correlation_id")
    search_help_text = "Action, symbol, source (user:<name>) or note, or an exact correlation id."

    @admin.display(description="chain")
    def chain(self, obj):
        return _chain_link(obj)


@admin.register(AgentStatus)
class AgentStatusAdmin(ReadOnlyAdmin):
    list_display = ("agent", "last_status", "last_run_at", "runs", "errors", "last_error")


for model in (PositionSnapshot, ExecutionStep, FlattenRequest):
    admin.site.register(model, ReadOnlyAdmin)
