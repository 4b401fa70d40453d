"""The project's FilterSet, whose every filter says what it does in the OpenAPI docs and the browsable API's
filter form; and the time window the list endpoints filter by: ``since`` (at or after) and ``until``
(before), ISO 8601 times with a zone, and ``until`` not before ``since`` (a 400 naming ``until``)."""

import django_filters as filters
from django import forms

from .fields import AwareIsoDateTimeFilter

UNTIL_BEFORE_SINCE = "Must not be before 'since'."

# What the query parameters that recur across endpoints mean. A filter declared without a help_text takes
# its name's entry (tradingops/tests/test_openapi_parameters.py fails on any query parameter left without one).
PARAMETER_HELP = {
    "symbol": "Instrument symbol, exactly as listed (e.g. SOL-USDT).",
    "side": "Order side (buy, sell).",
    "run_id": "Only what belongs to this trading run (UUID, GET /api/v1/runs).",
    "correlation_id": "Only this decision chain: the UUID shared by an intent, its plan, orders, fills and blocks.",
    "plan_id": "Only this strategy plan (its plan_id, e.g. from GET /api/v1/agents/plans).",
    "order_id": "Only this order's fills (its order_id).",
    "source": "Who emitted it: an agent (planner, judge, execution, broker...) or user:<username>.",
    "action": "The intent's action, e.g. buy_dip.",
    "reason": "Block reason code, e.g. cooldown or trade_risk_limit (GET /api/v1/live/block-reasons lists them).",
    "reason_class": "Block reason class: risk_valid, quality_gate or infra.",
    "rule": "Only blocks stopped by this rule (the limit's name).",
    "exit_reason": "Why the trade closed: exit (the plan's exit rule), stop, target or end_of_data.",
    "strategy": "Strategy name, e.g. sma_cross.",
    "origin": "Where the plan came from: llm (the planner's choice), template (its fallback) or operator.",
    "active": "true: only active ones; false: only inactive ones.",
    "agent": "The agent that made the call (planner, judge...).",
    "model": "The LLM model's name, as the provider reports it.",
    "outcome": "ok, or the kind of failure the call ended with.",
    "exchange": "Exchange id, e.g. binance.",
    "exchange_id": "Exchange id, e.g. binance (ccxt's name).",
    "base": "Base asset, e.g. SOL.",
    "quote": "Quote currency, e.g. USDT.",
    "currency": "Currency code, e.g. USDT (any case).",
    "name": "Part of the name (case-insensitive).",
    "reference": "The entry's reference, exactly (e.g. an exchange transaction id).",
    "within_threshold": "true: only drifts within the alert threshold; false: only those over it.",
    "run": "Only the drifts of this reconciliation run (its id).",
    "sweep": "Only the runs of this sweep (its id).",
    "mode": "Run mode: paper or live.",
}


class FilterSet(filters.FilterSet):
    """Every filter with a help text: its own, or :data:`PARAMETER_HELP`'s entry for its name."""

    @classmethod
    def get_filters(cls):
        found = super().get_filters()
        for name, found_filter in found.items():
            if not found_filter.extra.get("help_text") and name in PARAMETER_HELP:
                found_filter.extra["help_text"] = PARAMETER_HELP[name]
        return found


def since_filter(field_name: str = "ts", *, help_text: str = "At or after (ISO 8601).") -> AwareIsoDateTimeFilter:
    return AwareIsoDateTimeFilter(field_name=field_name, lookup_expr="gte", help_text=help_text)


def until_filter(field_name: str = "ts", *, help_text: str = "Before (ISO 8601).") -> AwareIsoDateTimeFilter:
    return AwareIsoDateTimeFilter(field_name=field_name, lookup_expr="lt", help_text=help_text)


class TimeWindowForm(forms.Form):
    def clean(self):
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            self.add_error("until", UNTIL_BEFORE_SINCE)
        return data


class TimeWindowFilterSet(FilterSet):
    """``since``/``until`` over ``ts``. A subclass names its model and fields in
    ``class Meta(TimeWindowFilterSet.Meta)`` (which carries the form that checks the order); a model
    whose time is another field redeclares both: ``since = since_filter("created_at")``."""

    since = since_filter()
    until = until_filter()

    class Meta:
        form = TimeWindowForm
