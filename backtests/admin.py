"""Runs by status with their results on the page; rerun and cancel go through the services."""

import json

from django.contrib import admin, messages
from django.utils.html import format_html

from . import services
from .models import BacktestBlock, BacktestRun, BacktestTrade, DailyReport, Sweep


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(BacktestRun)
class BacktestRunAdmin(_ReadOnly):
    list_display = ["name", "status", "progress_pct", "total_return", "sharpe", "trades", "created_at", "finished_at"]
    list_filter = ["status", "created_at"]
    search_fields = ["name", "id"]
    date_hierarchy = "created_at"
    readonly_fields = ["id", "name", "status", "candles_total", "candles_processed", "created_at", "started_at",
                       "finished_at", "heartbeat_at", "worker", "error", "cancel_requested", "created_by", "sweep",
                       "params", "rerun_of", "config_pretty", "results_pretty"]  # fmt: skip
    exclude = ["config", "results"]
    actions = ["rerun", "cancel"]

    @admin.display(description="progress")
    def progress_pct(self, run):
        return f"{run.progress:.0%}"

    def _metric(self, run, key):
        return (run.results or {}).get(key)

    @admin.display(description="total return")
    def total_return(self, run):
        value = self._metric(run, "total_return")
        return "" if value is None else f"{value:.2%}"

    @admin.display(description="Sharpe")
    def sharpe(self, run):
        value = self._metric(run, "sharpe")
        return "" if value is None else f"{value:.2f}"

    @admin.display(description="trades")
    def trades(self, run):
        return self._metric(run, "trades")

    @admin.display(description="config")
    def config_pretty(self, run):
        return format_html("<pre>{}</pre>", json.dumps(run.config, indent=2))

    @admin.display(description="results")
    def results_pretty(self, run):
        return format_html("<pre>{}</pre>", json.dumps(run.results, indent=2)) if run.results else "-"

    @admin.action(description="Rerun the selected runs (same config, validated again)")
    def rerun(self, request, queryset):
        started = 0
        for run in queryset:
            try:
                services.backtest_run_rerun(run_id=run.pk, user=request.user)
                started += 1
            except Exception as exc:  # a config no longer valid (e.g. candles removed): say which
                self.message_user(request, f"{run.name}: {exc}", messages.ERROR)
        if started:
            self.message_user(request, f"{started} run(s) queued.", messages.SUCCESS)

    @admin.action(description="Cancel the selected runs")
    def cancel(self, request, queryset):
        for run in queryset:
            try:
                services.backtest_run_cancel(run_id=run.pk, user=request.user)
            except services.RunStateError as exc:
                self.message_user(request, f"{run.name}: {exc}", messages.WARNING)


@admin.register(Sweep)
class SweepAdmin(_ReadOnly):
    list_display = ["name", "metric", "combinations", "created_at"]
    readonly_fields = ["id", "name", "base_config", "grid", "metric", "combinations", "skipped", "created_at",
                       "created_by"]  # fmt: skip


@admin.register(BacktestTrade)
class BacktestTradeAdmin(_ReadOnly):
    list_display = ["run", "seq", "symbol", "side", "qty", "entry_ts", "exit_ts", "pnl", "exit_reason"]
    list_filter = ["side", "exit_reason"]
    list_select_related = ["run"]
    raw_id_fields = ["run"]


@admin.register(BacktestBlock)
class BacktestBlockAdmin(_ReadOnly):
    list_display = ["run", "seq", "ts", "symbol", "reason", "reason_class"]
    list_filter = ["reason_class", "reason"]
    list_select_related = ["run"]
    raw_id_fields = ["run"]


@admin.register(DailyReport)
class DailyReportAdmin(_ReadOnly):
    list_display = ["run", "day", "pnl", "entries", "exits", "blocks", "risk_used"]
    list_select_related = ["run"]
    raw_id_fields = ["run"]
