from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from tradingops.admin import ReadOnlyAdmin

from . import types
from .models import Event, LLMCall, RunSummary


class EventTypeListFilter(admin.SimpleListFilter):
    """Choices from the registry: no DISTINCT over the whole log to draw the sidebar."""

    title = "type"
    parameter_name = "type"

    def lookups(self, request, model_admin):
        return types.choices()

    def queryset(self, request, queryset):
        return queryset.filter(type=self.value()) if self.value() else queryset


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ("ts", "type", "source", "run_id", "chain_link", "dedupe_key")
    list_filter = (EventTypeListFilter, "source", "ts")
    search_fields = ("=run_id", "=correlation_id", "=event_id")
    search_help_text = "Exact run id, correlation id or event id."
    date_hierarchy = "ts"
    show_full_result_count = False
    readonly_fields = [f.name for f in Event._meta.fields] + ["chain_link"]

    @admin.display(description="chain")
    def chain_link(self, event):
        changelist = reverse("admin:events_event_changelist")
        api = reverse("events:event-chain", args=[event.correlation_id])
        return format_html(
            '<a href="{}?q={}&o=1">chain</a> · <a href="{}">API</a>', changelist, event.correlation_id, api
        )


@admin.register(RunSummary)
class RunSummaryAdmin(ReadOnlyAdmin):
    list_display = ("run_id", "mode", "control_state", "first_event_at", "last_event_at", "event_count")
    list_filter = ("mode", "control_state")
    search_fields = ("=run_id",)


@admin.register(LLMCall)
class LLMCallAdmin(ReadOnlyAdmin):
    list_display = ("ts", "model", "agent", "tokens_in", "tokens_out", "cost", "latency_ms", "outcome")
    list_filter = ("model", "agent", "outcome")
    search_fields = ("=correlation_id", "=run_id")
