"""Plans as data: per symbol, entry/exit conditions, stop/target levels, sizing and side.

A :class:`Plan` is validated when it is made: every rule is parsed (a bad rule raises
:class:`~agents.engine.errors.ConfigError` naming the field, e.g. ``symbols.0.entry``, with the
character position), so a Plan object is always runnable.

Stops and targets: a rule that reads a price (``entry``, ``open/high/low/close``, ``sma_N``,
``ema_N``, ``high_N``, ``low_N``, Bollinger bands) is a price LEVEL (``entry - 2 * atr_14``,
``entry * 0.97``, ``low_20[1]``, ``sma_50 - atr_14``); a rule built only from ATR, MACD, RSI,
volume and numbers is a DISTANCE from the entry (``2 * atr_14``, ``3``): the stop sits that far
below a long's entry (above a short's), the target that far above (below). (A percentage distance
is written from the entry: ``entry * 0.97``.)
Levels are evaluated with the signal bar's indicator values and ``entry`` = the actual fill price
(when sizing and checking, the expected fill price). A stop is checked against every bar's low/high
from the fill bar on; a target likewise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from market.indicators import warmup_bars

from .errors import ConfigError
from .rules import Rule, RuleError, parse_rule
from .sizing import Sizing

__all__ = ["Plan", "SymbolPlan", "level_price"]

SIDES = ("long", "short")
MAX_SYMBOLS = 100


@dataclass(frozen=True)
class SymbolPlan:
    symbol: str
    entry: str
    exit: str | None = None
    stop: str | None = None
    target: str | None = None
    side: str = "long"
    sizing: Sizing = field(default_factory=Sizing)
    # parsed rules, filled by Plan validation
    entry_rule: Rule | None = field(default=None, compare=False, repr=False)
    exit_rule: Rule | None = field(default=None, compare=False, repr=False)
    stop_rule: Rule | None = field(default=None, compare=False, repr=False)
    target_rule: Rule | None = field(default=None, compare=False, repr=False)

    @property
    def rules(self) -> tuple[Rule, ...]:
        return tuple(r for r in (self.entry_rule, self.exit_rule, self.stop_rule, self.target_rule) if r is not None)

    def to_dict(self) -> dict:
        return {
            "symbol": self.symbol,
            "entry": self.entry,
            "exit": self.exit,
            "stop": self.stop,
            "target": self.target,
            "side": self.side,
            "sizing": self.sizing.to_dict(),
        }


def _compile(sp: SymbolPlan, prefix: str) -> SymbolPlan:
    errors: dict[str, str] = {}
    if not isinstance(sp.symbol, str) or not sp.symbol.strip() or len(sp.symbol) > 40:
        errors[f"{prefix}symbol"] = "must be a symbol such as SOLUSDT"
    if sp.side not in SIDES:
        errors[f"{prefix}side"] = f"must be one of {', '.join(SIDES)}, got {sp.side!r}"
    parsed: dict[str, Rule | None] = {}
    for name, kind in (("entry", "condition"), ("exit", "condition"), ("stop", "level"), ("target", "level")):
        text = getattr(sp, name)
        if text is None or (name != "entry" and isinstance(text, str) and not text.strip()):
            if name == "entry":
                errors[f"{prefix}entry"] = "an entry rule is required"
            parsed[name] = None
            continue
        try:
            parsed[name] = parse_rule(text, kind)
        except RuleError as exc:
            errors[f"{prefix}{name}"] = str(exc)
    if "exit" not in errors and all(parsed.get(n) is None for n in ("exit", "stop", "target")) and not errors:
        errors[f"{prefix}exit"] = "a plan needs a way out: an exit rule, a stop or a target"
    if sp.sizing.method == "risk" and sp.stop is None:
        errors[f"{prefix}sizing.method"] = "risk sizing needs a stop rule"
    if errors:
        raise ConfigError(errors)
    return SymbolPlan(
        symbol=sp.symbol.strip().upper(),
        entry=sp.entry,
        exit=sp.exit,
        stop=sp.stop,
        target=sp.target,
        side=sp.side,
        sizing=sp.sizing,
        entry_rule=parsed["entry"],
        exit_rule=parsed["exit"],
        stop_rule=parsed["stop"],
        target_rule=parsed["target"],
    )


@dataclass(frozen=True)
class Plan:
    """A runnable strategy: one :class:`SymbolPlan` per symbol (validated and parsed on creation)."""

    name: str
    symbols: tuple[SymbolPlan, ...]

    def __post_init__(self):
        if not self.symbols:
            raise ConfigError({"symbols": "a plan needs at least one symbol"})
        if len(self.symbols) > MAX_SYMBOLS:
            raise ConfigError({"symbols": f"at most {MAX_SYMBOLS} symbols"})
        compiled, errors = [], {}
        for i, sp in enumerate(self.symbols):
            try:
                compiled.append(_compile(sp, f"symbols.{i}."))
            except ConfigError as exc:
                errors.update(exc.errors)
        seen: set[str] = set()
        for i, sp in enumerate(compiled):
            if sp.symbol in seen:
                errors[f"symbols.{i}.symbol"] = f"{sp.symbol} appears twice"
            seen.add(sp.symbol)
        if errors:
            raise ConfigError(errors)
        object.__setattr__(self, "symbols", tuple(compiled))

    def for_symbol(self, symbol: str) -> SymbolPlan:
        for sp in self.symbols:
            if sp.symbol == symbol:
                return sp
        raise KeyError(symbol)

    @property
    def warmup_bars(self) -> int:
        """Bars of history to feed before the first bar that should trade (indicators + lookback)."""
        worst = 0
        for sp in self.symbols:
            for rule in sp.rules:
                longest = max((warmup_bars(spec) for spec in rule.specs), default=0)
                worst = max(worst, longest + rule.lookback + 1)
        return worst

    def to_dict(self) -> dict:
        return {"name": self.name, "symbols": [sp.to_dict() for sp in self.symbols]}

    @classmethod
    def from_dict(cls, data) -> Plan:
        """Build from JSON-like data; every problem is a ConfigError naming its field."""
        if not isinstance(data, dict):
            raise ConfigError({"plan": "must be an object with name and symbols"})
        errors: dict[str, str] = {}
        unknown = set(data) - {"name", "symbols"}
        for key in sorted(unknown):
            errors[key] = "unknown field"
        name = data.get("name", "custom")
        if not isinstance(name, str) or not name.strip() or len(name) > 100:
            errors["name"] = "must be a non-empty name of at most 100 characters"
        raw = data.get("symbols")
        if not isinstance(raw, list) or not raw:
            errors["symbols"] = "must be a non-empty list of per-symbol rules"
            raise ConfigError(errors)
        items = []
        allowed = {"symbol", "entry", "exit", "stop", "target", "side", "sizing"}
        for i, item in enumerate(raw):
            if not isinstance(item, dict):
                errors[f"symbols.{i}"] = "must be an object"
                continue
            for key in sorted(set(item) - allowed):
                errors[f"symbols.{i}.{key}"] = "unknown field"
            for key in ("entry", "exit", "stop", "target"):
                if item.get(key) is not None and not isinstance(item[key], str):
                    errors[f"symbols.{i}.{key}"] = "must be text"
            try:
                sizing = Sizing.from_mapping(item.get("sizing", {"method": "equity_fraction", "value": 1.0}))
            except ConfigError as exc:
                errors.update({f"symbols.{i}.{k}": v for k, v in exc.errors.items()})
                continue
            items.append(
                SymbolPlan(
                    symbol=str(item.get("symbol", "")),
                    entry=item.get("entry"),  # type: ignore[arg-type]  # None is refused below, by field
                    exit=item.get("exit"),
                    stop=item.get("stop"),
                    target=item.get("target"),
                    side=item.get("side", "long"),
                    sizing=sizing,
                )
            )
        if errors:
            raise ConfigError(errors)
        return cls(name=name, symbols=tuple(items))


def level_price(rule: Rule | None, kind: str, side: str, env, i: int, entry: float) -> float | None:
    """Stop (``kind="stop"``) or target price for a position entered at ``entry`` on signal bar ``i``.

    ``None`` when the plan has no such rule; ``nan`` when it is undefined on that bar.
    """
    if rule is None:
        return None
    value = rule.evaluate_at(env, i, entry=entry)
    if rule.is_price_level or math.isnan(value):
        return value
    below = (kind == "stop") == (side == "long")
    return entry - value if below else entry + value
