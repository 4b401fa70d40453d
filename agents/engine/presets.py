"""Built-in strategies, written in the plan rule language so they run like any user plan."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .errors import ConfigError
from .sizing import Sizing
from .strategy import Plan, SymbolPlan

__all__ = ["PRESETS", "Param", "Preset", "breakout", "build_preset", "rsi_reversion", "sma_cross"]


def _symbol_plans(symbols, **rules) -> tuple[SymbolPlan, ...]:
    if isinstance(symbols, str):
        symbols = (symbols,)
    return tuple(SymbolPlan(symbol=s, **rules) for s in symbols)


def _check_int(name: str, value, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError({name: f"must be a whole number between {low} and {high}, got {value!r}"})
    return value


def _check_num(name: str, value, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ConfigError({name: f"must be a number between {low:g} and {high:g}, got {value!r}"})
    return float(value)


def sma_cross(
    fast: int = 10,
    slow: int = 20,
    *,
    symbols: str | Sequence[str] = ("SOLUSDT",),
    side: str = "long",
    sizing: Sizing | None = None,
    stop: str | None = None,
    target: str | None = None,
) -> Plan:
    """Trend following: in when the fast SMA crosses above the slow one, out when it crosses back."""
    fast = _check_int("fast", fast, 1, 999)
    slow = _check_int("slow", slow, 2, 1000)
    if fast >= slow:
        raise ConfigError({"fast": f"fast ({fast}) must be shorter than slow ({slow})"})
    up, down = f"crosses_above(sma_{fast}, sma_{slow})", f"crosses_below(sma_{fast}, sma_{slow})"
    entry, exit_ = (up, down) if side == "long" else (down, up)
    return Plan(
        name=f"sma_cross({fast},{slow})",
        symbols=_symbol_plans(
            symbols, entry=entry, exit=exit_, stop=stop, target=target, side=side, sizing=sizing or Sizing()
        ),
    )


def rsi_reversion(
    period: int = 14,
    lower: float = 30,
    upper: float = 70,
    *,
    symbols: str | Sequence[str] = ("SOLUSDT",),
    sizing: Sizing | None = None,
    stop: str | None = None,
    target: str | None = None,
) -> Plan:
    """Mean reversion: buy when RSI is below ``lower``, sell when it is back above ``upper``."""
    period = _check_int("period", period, 2, 1000)
    lower = _check_num("lower", lower, 0, 100)
    upper = _check_num("upper", upper, 0, 100)
    if lower >= upper:
        raise ConfigError({"lower": f"lower ({lower:g}) must be below upper ({upper:g})"})
    return Plan(
        name=f"rsi_reversion({period},{lower:g},{upper:g})",
        symbols=_symbol_plans(
            symbols,
            entry=f"rsi_{period} < {lower!r}",
            exit=f"rsi_{period} > {upper!r}",
            stop=stop,
            target=target,
            sizing=sizing or Sizing(),
        ),
    )


def breakout(
    lookback: int = 20,
    *,
    symbols: str | Sequence[str] = ("SOLUSDT",),
    sizing: Sizing | None = None,
    stop: str | None = "2 * atr_14",
    target: str | None = None,
) -> Plan:
    """Breakout: buy a close above the previous ``lookback`` bars' high; out below their low or at the stop."""
    lookback = _check_int("lookback", lookback, 2, 1000)
    return Plan(
        name=f"breakout({lookback})",
        symbols=_symbol_plans(
            symbols,
            entry=f"close > high_{lookback}[1]",
            exit=f"close < low_{lookback}[1]",
            stop=stop,
            target=target,
            sizing=sizing or Sizing(),
        ),
    )


@dataclass(frozen=True)
class Param:
    name: str
    type: type
    default: float
    low: float
    high: float


@dataclass(frozen=True)
class Preset:
    name: str
    build: Callable[..., Plan]
    params: tuple[Param, ...]
    description: str


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            "sma_cross",
            sma_cross,
            (Param("fast", int, 10, 1, 999), Param("slow", int, 20, 2, 1000)),
            "trend following: fast SMA crossing the slow one",
        ),
        Preset(
            "rsi_reversion",
            rsi_reversion,
            (Param("period", int, 14, 2, 1000), Param("lower", float, 30, 0, 100), Param("upper", float, 70, 0, 100)),
            "mean reversion: buy oversold RSI, sell overbought",
        ),
        Preset(
            "breakout",
            breakout,
            (Param("lookback", int, 20, 2, 1000),),
            "breakout of the previous N bars' high, out below their low or at a 2 ATR stop",
        ),
    )
}


def build_preset(name: str, params: dict | None = None, **options) -> Plan:
    """``build_preset("sma_cross", {"fast": 10, "slow": 30}, symbols=["SOLUSDT"])``; ConfigError names the field."""
    if name not in PRESETS:
        raise ConfigError({"preset": f"unknown preset {name!r}: use one of {', '.join(PRESETS)}"})
    params = dict(params or {})
    preset = PRESETS[name]
    known = {p.name for p in preset.params}
    unknown = sorted(set(params) - known)
    if unknown:
        raise ConfigError({unknown[0]: f"{name} has no parameter {unknown[0]!r} (it has {', '.join(sorted(known))})"})
    return preset.build(**params, **options)
