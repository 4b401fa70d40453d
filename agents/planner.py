"""The strategy planner: measures the market regime, picks a template (or asks an LLM), emits
``plan_generated``. An LLM answer that is not a valid plan falls back to the template and the plan
says why."""

import json
import time
import uuid
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

import numpy as np
from django.conf import settings
from django.db import transaction

from events.services import emit
from market import indicators
from market.selectors import candle_window, instrument_ids
from market.timeframes import duration

from . import llm
from .engine.errors import ConfigError
from .engine.presets import PRESETS, build_preset
from .engine.sizing import Sizing
from .market_data import trading_symbols
from .models import StrategyPlan
from .selectors import plan_active, portfolio_summary

SOURCE = "agent:planner"
REGIME_LOOKBACK = 48
# Live plans size every entry by risk (the limits' risk per trade) against a volatility stop.
LIVE_PLAN_OPTIONS = {"stop": "2 * atr_14", "sizing": {"method": "risk", "value": None}}
TEMPLATES = {
    "trending": ("sma_cross", {"fast": 10, "slow": 30}),
    "ranging": ("rsi_reversion", {"period": 14, "lower": 30, "upper": 70}),
    "volatile": ("breakout", {"lookback": 20}),
}


@dataclass(frozen=True)
class Regime:
    name: str
    efficiency: float
    volatility_ratio: float


def plan_rules(plan) -> dict:
    """What the execution agent needs besides the strategy to run a stored plan."""
    return {
        "plans": [sp.to_dict() for sp in plan.symbols],
        "timeframe": settings.AGENT_TIMEFRAME,
        "timeframe_s": int(duration(settings.AGENT_TIMEFRAME).total_seconds()),
        # the engine starts from the cash the portfolio holds when the plan is made
        "cash": str(portfolio_summary()["cash"] or Decimal(settings.PAPER_INITIAL_CASH)),
    }


def build_live_plan(preset: str, params: dict, symbols: list[str], options: dict):
    """The engine plan of a stored live plan (the execution agent rebuilds it the same way)."""
    sizing = Sizing(options["sizing"]["method"], options["sizing"]["value"])
    return build_preset(preset, params, symbols=symbols, sizing=sizing, stop=options.get("stop"))


def measure_regime(close: np.ndarray, high: np.ndarray, low: np.ndarray) -> Regime:
    """Kaufman's efficiency ratio says trend vs noise; ATR now vs its average says expansion."""
    if len(close) < REGIME_LOOKBACK + 15:
        return Regime("ranging", 0.0, 1.0)
    window = close[-REGIME_LOOKBACK:]
    path = float(np.abs(np.diff(window)).sum())
    efficiency = abs(float(window[-1] - window[0])) / path if path else 0.0
    atr = indicators.atr(high, low, close, 14)
    recent = float(np.nanmean(atr[-REGIME_LOOKBACK:]))
    volatility_ratio = float(atr[-1]) / recent if recent else 1.0
    if volatility_ratio > 1.3:
        name = "volatile"
    elif efficiency > 0.3:
        name = "trending"
    else:
        name = "ranging"
    return Regime(name, round(efficiency, 4), round(volatility_ratio, 4))


def _ask_llm(regime: Regime, symbols: list[str], *, correlation_id, causation_id) -> tuple[str, dict] | str:
    """The LLM's (preset, params), or the reason its answer was refused."""
    catalogue = {name: [p.name for p in preset.params] for name, preset in PRESETS.items()}
    messages = [
        {
            "role": "system",
            "content": (
                "You pick a trading strategy preset. Answer with JSON only: "
                '{"preset": <name>, "params": {<param>: <number>}, "reason": <text>}. '
                f"Presets and their parameters: {json.dumps(catalogue)}."
            ),
        },
        {
            "role": "user",
            "content": json.dumps(
                {
                    "symbols": symbols,
                    "regime": regime.name,
                    "efficiency_ratio": regime.efficiency,
                    "volatility_ratio": regime.volatility_ratio,
                }
            ),
        },
    ]
    answer = llm.chat(messages)
    refusal = ""
    choice = None
    if answer.outcome == "ok":
        try:
            data = json.loads(answer.content)
            choice = (data["preset"], dict(data.get("params") or {}))
            build_live_plan(choice[0], choice[1], symbols, LIVE_PLAN_OPTIONS)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            detail = exc.errors if isinstance(exc, ConfigError) else str(exc)
            refusal = f"LLM answer is not a valid plan: {detail}"
            choice = None
    else:
        refusal = f"LLM call failed ({answer.outcome}): {answer.error}"
    emit(
        "llm_call",
        {
            "model": answer.model,
            "agent": "planner",
            "prompt_hash": answer.prompt_hash,
            "tokens_in": answer.tokens_in,
            "tokens_out": answer.tokens_out,
            "cost": answer.cost,
            "latency_ms": answer.latency_ms,
            "outcome": "invalid_answer" if answer.outcome == "ok" and choice is None else answer.outcome,
        },
        source=SOURCE,
        correlation_id=correlation_id,
        causation_id=causation_id,
    )
    return choice if choice is not None else refusal[:500]


@transaction.atomic(durable=True)
def planner_run(*, correlation_id: str | None = None, causation_id: str | None = None, dedupe_key: str | None = None):
    """Make a new plan for every active symbol. Returns the ``plan_generated`` event (``created`` False,
    and nothing else recorded, when ``dedupe_key`` names a plan made already)."""
    started = time.monotonic()
    correlation_id = uuid.UUID(str(correlation_id)) if correlation_id else uuid.uuid4()
    symbols = trading_symbols(timeframe=settings.AGENT_TIMEFRAME)
    if not symbols:
        return None
    ids = instrument_ids(symbols=symbols[:1])
    window = candle_window(
        instrument_id=ids[symbols[0]],
        timeframe=settings.AGENT_TIMEFRAME,
        start=None,
        end=None,
        limit=REGIME_LOOKBACK * 4,
    )
    values = window.bars.values
    regime = measure_regime(values["close"], values["high"], values["low"])
    preset, params = TEMPLATES[regime.name]
    origin, fallback_reason = "template", None
    if llm.configured():
        choice = _ask_llm(regime, symbols, correlation_id=correlation_id, causation_id=causation_id)
        if isinstance(choice, tuple):
            (preset, params), origin = choice, "llm"
        else:
            fallback_reason = choice
    plan = build_live_plan(preset, params, symbols, LIVE_PLAN_OPTIONS)
    previous = StrategyPlan.objects.filter(plan_id=preset).order_by("-version").values_list("version", flat=True)
    event = emit(
        "plan_generated",
        {
            "plan_id": preset,
            "version": (previous.first() or 0) + 1,
            "strategy": preset,
            "symbols": symbols,
            "rules": {"preset": preset, "params": params, "options": LIVE_PLAN_OPTIONS, **plan_rules(plan)},
            "origin": origin,
            "regime": regime.name,
            "fallback_reason": fallback_reason,
        },
        source=SOURCE,
        correlation_id=correlation_id,
        causation_id=uuid.UUID(str(causation_id)) if causation_id else None,
        dedupe_key=dedupe_key,
    )
    if not event.created:
        return event
    emit(
        "agent_run",
        {"agent": "planner", "status": "ok", "duration_ms": int((time.monotonic() - started) * 1000)},
        source=SOURCE,
        correlation_id=correlation_id,
        causation_id=event.event_id,
    )
    return event


FIRST_PLAN_DEDUPE_KEY = "planner:first-plan"


class FirstPlan(StrEnum):
    MADE = "made"
    EXISTS = "exists"
    NO_CANDLES = "no_candles"


def planner_first_plan() -> FirstPlan:
    """The plan a fresh stack trades on, made as soon as there are candles to plan on rather than at
    the planner's first scheduled run hours later. Every worker asks for it when it starts: the
    plan's dedupe key makes it once, however many workers start together (the event store's unique
    key decides), and a stack that has an active plan gets none."""
    if plan_active() is not None:
        return FirstPlan.EXISTS
    if not trading_symbols(timeframe=settings.AGENT_TIMEFRAME):
        return FirstPlan.NO_CANDLES
    event = planner_run(dedupe_key=FIRST_PLAN_DEDUPE_KEY)
    if event is None:
        return FirstPlan.NO_CANDLES
    return FirstPlan.MADE if event.created else FirstPlan.EXISTS
