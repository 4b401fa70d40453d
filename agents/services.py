"""Writes of the agents app: runtime control and operator intents. Every change is an event that
names the user (``source="user:<username>"``, `tradingops.roles.user_source`)."""

import uuid
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from events.models import Event
from events.services import emit
from market.models import Instrument
from tradingops.idempotency import Idempotency
from tradingops.idempotency import claim as idempotency_claim
from tradingops.idempotency import complete as idempotency_complete
from tradingops.outbox import dispatch_on_commit
from tradingops.roles import Role, has_role, user_source

from .engine.errors import ConfigError
from .engine.presets import PRESETS
from .engine.strategy import Plan
from .limits import limits_from_config
from .market_data import trading_symbols
from .models import RuntimeConfig, StrategyPlan
from .planner import LIVE_PLAN_OPTIONS, build_live_plan, plan_rules
from .tasks import intent_execute_task

LIMIT_FIELDS = (
    "daily_risk_budget",
    "risk_per_trade",
    "risk_multiplier",
    "max_trades_per_day",
    "max_trades_per_symbol_per_day",
    "max_open_positions",
    "min_notional",
    "cooldown_after_loss_minutes",
    "fee_rate",
    "slippage_bps",
)
INTENT_ACTIONS = ("pause", "resume", "flatten", "replan", "set_risk_multiplier", "note")
RISK_MULTIPLIER_RANGE = (Decimal("0.1"), Decimal("2"))
LIVE_RUN_ID = "live"


def _require(user, role: Role) -> None:
    if not has_role(user, role):
        raise PermissionDenied(f"This needs the {role} role.")


def _locked_config() -> RuntimeConfig:
    RuntimeConfig.objects.get_or_create(pk=1)
    return RuntimeConfig.objects.select_for_update().get(pk=1)


def _validate_limits(config: RuntimeConfig) -> None:
    """The engine's own validation (contradictions included), plus the multiplier's range."""
    low, high = RISK_MULTIPLIER_RANGE
    if not low <= config.risk_multiplier <= high:
        raise ValidationError({"risk_multiplier": f"Must be between {low} and {high}."})
    limits_from_config(config, apply_multiplier=False)


def runtime_config_change(
    *, changes: dict[str, Any], source: str, reason: str = "", correlation_id=None, causation_id=None
) -> RuntimeConfig:
    """Apply changes to the runtime configuration under its row lock and record them as one
    ``runtime_changed`` event. Joins the caller's transaction; callers check permissions."""
    config = _locked_config()
    diff = {}
    for field, value in changes.items():
        old = getattr(config, field)
        if old != value:
            diff[field] = {"old": str(old), "new": str(value)}
            setattr(config, field, value)
    if not diff:
        return config
    _validate_limits(config)
    config.updated_by = source
    config.save()
    emit(
        "runtime_changed",
        {"changes": diff, "reason": reason or None},
        source=source,
        correlation_id=correlation_id,
        causation_id=causation_id,
    )
    return config


# Not durable: the admin's change form calls it inside its own transaction.
@transaction.atomic
def runtime_limits_update(*, user, changes: dict[str, Any], reason: str = "") -> RuntimeConfig:
    """Change risk limits (admin). Limits that contradict each other are refused, field by field."""
    _require(user, Role.ADMIN)
    unknown = set(changes) - set(LIMIT_FIELDS)
    if unknown:
        raise ValidationError(dict.fromkeys(sorted(unknown), "Not a risk limit."))
    return runtime_config_change(changes=changes, source=user_source(user), reason=reason)


def live_mode_missing_conditions(*, confirmation: str) -> dict[str, str]:
    missing = {}
    if not settings.LIVE_TRADING_ALLOWED:
        missing["mode"] = "Live trading is not allowed on this installation (set LIVE_TRADING_ALLOWED)."
    if not (settings.EXCHANGE_API_KEY and settings.EXCHANGE_API_SECRET):
        missing["exchange"] = "Exchange credentials are not configured (EXCHANGE_API_KEY, EXCHANGE_API_SECRET)."
    if confirmation != settings.LIVE_CONFIRMATION_WORD:
        missing["confirmation"] = f"Type {settings.LIVE_CONFIRMATION_WORD} to confirm live trading."
    return missing


# Not durable: the admin's change form calls it inside its own transaction.
@transaction.atomic
def runtime_mode_switch(*, user, mode: str, confirmation: str = "", reason: str = "") -> RuntimeConfig:
    """Switch paper/live (admin). Live needs the setting, credentials and the typed word."""
    _require(user, Role.ADMIN)
    if mode not in RuntimeConfig.Mode.values:
        raise ValidationError({"mode": f"Must be one of: {', '.join(RuntimeConfig.Mode.values)}."})
    if mode == RuntimeConfig.Mode.LIVE:
        missing = live_mode_missing_conditions(confirmation=confirmation)
        if missing:
            raise ValidationError(missing)
    return runtime_config_change(changes={"mode": mode}, source=user_source(user), reason=reason)


# Not durable: the admin's change form calls it inside its own transaction.
@transaction.atomic
def kill_switch_set(*, user, engaged: bool, reason: str = "") -> RuntimeConfig:
    """Engage or release the kill switch (admin). Engaged, it blocks every new order at once."""
    _require(user, Role.ADMIN)
    if engaged and not reason:
        raise ValidationError({"reason": "Say why the kill switch is pulled."})
    return runtime_config_change(changes={"kill_switch": engaged}, source=user_source(user), reason=reason)


@transaction.atomic(durable=True)
def intent_submit(
    *,
    user,
    action: str,
    symbol: str = "",
    params: dict[str, Any] | None = None,
    note: str = "",
    idempotency: Idempotency | None = None,
) -> Event:
    """An operator intent: the first link of its chain. The broker agent carries it out. With an
    ``idempotency`` key seen before it raises ``Replay`` (nothing new is written)."""
    _require(user, Role.OPERATOR)
    idempotency_claim(idempotency)
    params = dict(params or {})
    errors = {}
    if action not in INTENT_ACTIONS:
        errors["action"] = f"Unknown action {action!r}. Allowed: {', '.join(INTENT_ACTIONS)}."
    if action == "set_risk_multiplier":
        low, high = RISK_MULTIPLIER_RANGE
        try:
            multiplier = Decimal(str(params.get("multiplier")))
        except ArithmeticError:
            errors["params.multiplier"] = "A number is required."
        else:
            if not multiplier.is_finite() or not low <= multiplier <= high:
                errors["params.multiplier"] = f"Must be between {low} and {high}."
            params["multiplier"] = str(multiplier)
    if symbol and not _known_symbol(symbol):
        errors["symbol"] = f"Unknown symbol {symbol!r}."
    if action == "note" and not note:
        errors["note"] = "A note needs text."
    if errors:
        raise ValidationError(errors)
    correlation_id = uuid.uuid4()
    event = emit(
        "intent",
        {"action": action, "symbol": symbol or None, "params": params, "note": note or None},
        source=user_source(user),
        correlation_id=correlation_id,
        run_id=LIVE_RUN_ID,
    )

    # Through the outbox: with the broker down the intent is still carried out once it is back.
    dispatch_on_commit(intent_execute_task, str(event.event_id))
    idempotency_complete(idempotency, event.event_id)
    return event


def _known_symbol(symbol: str) -> bool:
    return symbol in _active_symbols()


@transaction.atomic(durable=True)
def plan_submit(
    *,
    user,
    preset: str = "",
    params: dict[str, Any] | None = None,
    plan: dict[str, Any] | None = None,
    note: str = "",
    idempotency: Idempotency | None = None,
) -> Event:
    """An operator's plan: a preset with parameters, or a full plan in the rule language. Every
    rule is parsed now; a bad one is refused naming its field and the position of the error."""

    _require(user, Role.OPERATOR)
    idempotency_claim(idempotency)
    if bool(preset) == bool(plan):
        raise ValidationError({"non_field_errors": "Give either a preset (with params) or a full plan."})
    try:
        rules: dict[str, Any]
        if plan:
            built = Plan.from_dict(plan)
            symbols = [sp.symbol for sp in built.symbols]
            rules = {"plan": plan}
        else:
            symbols = trading_symbols(timeframe=settings.AGENT_TIMEFRAME)
            if not symbols:
                raise ValidationError({"preset": "No active instrument has candles to trade yet."})
            built = build_live_plan(preset, params or {}, symbols, LIVE_PLAN_OPTIONS)
            rules = {"preset": preset, "params": params or {}, "options": LIVE_PLAN_OPTIONS}
    except ConfigError as exc:
        prefix = "plan." if plan else "params." if preset in _presets() else ""
        raise ValidationError({f"{prefix}{field}": message for field, message in exc.errors.items()}) from None
    unknown = sorted(set(symbols) - _active_symbols())
    if unknown:
        raise ValidationError({"plan.symbols": f"Unknown symbols: {', '.join(unknown)}."})
    previous = (
        StrategyPlan.objects.filter(plan_id=built.name[:64]).order_by("-version").values_list("version", flat=True)
    )
    event = emit(
        "plan_generated",
        {
            "plan_id": built.name[:64],
            "version": (previous.first() or 0) + 1,
            "strategy": preset or "custom",
            "symbols": symbols,
            "rules": {**rules, **plan_rules(built)},
            "origin": "operator",
            "fallback_reason": None,
        },
        source=user_source(user),
    )
    idempotency_complete(idempotency, event.event_id)
    return event


def _active_symbols() -> set[str]:

    return set(Instrument.objects.filter(active=True).values_list("symbol", flat=True))


def _presets() -> set[str]:

    return set(PRESETS)
