"""Backtest config: validated on submit, stored normalised, turned into the engine's inputs.

The stored config is plain JSON (decimals as strings, times as ISO UTC). :func:`engine_inputs`
builds the engine's plan, limits and instrument from it; validation calls the same function, so
a config that passes validation is exactly what runs. Engine :class:`ConfigError`\\ s are mapped
to DRF field errors under the request's own field names (``strategy.params.fast``,
``risk.risk_per_trade``, ``strategy.plan.symbols.0.entry``...).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from django.db.models import Max, Min
from drf_spectacular.utils import OpenApiExample, extend_schema_serializer
from rest_framework import serializers

from agents.api.serializers import RULE_PLAN_EXAMPLE
from agents.engine import PRESETS, ConfigError, Instrument, Plan, RiskLimits, build_preset
from agents.engine.sizing import METHODS, PRICES, Sizing
from market import timeframes
from market.models import Candle
from market.models import Instrument as MarketInstrument
from tradingops.errors import Invalid

from .selectors import candle_coverage

MAX_SWEEP_COMBINATIONS = 10_000
MAX_SYMBOLS = 20
FILL_TIMINGS = ("next_open",)  # the engine's fill model: a signal on a close fills at the next bar's open
METRICS = ("sharpe", "sortino", "calmar", "total_return", "cagr", "max_drawdown", "profit_factor", "win_rate",
           "expectancy", "trades", "final_equity")  # fmt: skip
RISK_FIELDS = ("daily_risk_budget", "risk_per_trade", "max_trades_per_day", "max_trades_per_symbol_per_day",
               "max_open_positions", "min_notional", "cooldown_after_loss_s", "max_cost_to_reward")  # fmt: skip


def nest(errors: dict[str, str], prefix: str = "") -> dict:
    """``{"strategy.params.fast": "msg"}`` -> ``{"strategy": {"params": {"fast": ["msg"]}}}`` (DRF's shape)."""
    out: dict = {}
    for path, message in errors.items():
        parts = f"{prefix}{path}".split(".")
        node = out
        for part in parts[:-1]:
            nxt = node.setdefault(part, {})
            if not isinstance(nxt, dict):  # a message already sits here: keep both readable
                nxt = node[part] = {"non_field_errors": nxt}
            node = nxt
        node.setdefault(parts[-1], [])
        if isinstance(node[parts[-1]], list):
            node[parts[-1]].append(str(message))
    return out


class StrictSerializer(serializers.Serializer):
    """Unknown keys are refused by name instead of silently ignored."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({key: ["unknown field"] for key in unknown})
        return super().to_internal_value(data)


def _dec(**kwargs):
    return serializers.DecimalField(max_digits=36, decimal_places=18, **kwargs)


class StrictBooleanField(serializers.BooleanField):
    """JSON ``true``/``false`` only: DRF's own field also takes ``"yes"``, ``1``, ``"on"``..., and a
    typo such as ``"flase"`` must not quietly become a setting (a form posts real booleans too)."""

    default_error_messages = {"invalid": "must be true or false, got {input!r}"}

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class SizingSerializer(StrictSerializer):
    method = serializers.ChoiceField(
        choices=METHODS,
        default="equity_fraction",
        help_text="fixed_qty (value: base units), fixed_notional (value: quote amount), equity_fraction "
        "(value: share of equity, default 1) or risk (value: share of equity lost at the stop).",
    )
    value = _dec(required=False, allow_null=True, help_text="The method's amount, a decimal string, e.g. 0.5.")
    price = serializers.ChoiceField(
        choices=PRICES, default="signal", help_text="Size at the signal bar's close or at the fill price."
    )


# The engine's RiskLimits defaults are the live runtime's (1% risk per trade, 2% a day): sized
# all-in with no stop, as every preset is by default, every entry would risk its whole notional
# and be blocked. A backtest measures the strategy, so the per-trade and daily risk limits start
# switched off; the caps stay on. These are shown on the form and stored with every run.
BACKTEST_RISK_DEFAULTS = {
    "daily_risk_budget": None,
    "risk_per_trade": None,
    "max_trades_per_day": 20,
    "max_trades_per_symbol_per_day": 5,
    "max_open_positions": 5,
    "cooldown_after_loss_s": 0,
    "max_cost_to_reward": "0.5",
}
# 0 in these is a limit of zero (the engine refuses every entry it applies to): in a backtest that
# is a run that cannot trade, so it is refused by name, pointing at null (switched off) instead.
ZERO_REFUSED = ("daily_risk_budget", "risk_per_trade", "max_trades_per_day", "max_trades_per_symbol_per_day",
                "max_open_positions", "max_cost_to_reward")  # fmt: skip


class RiskSerializer(StrictSerializer):
    """The live runtime's limits (``fee_rate`` and ``slippage_bps`` are top-level config fields).

    ``null`` switches a limit off; a missing field takes :data:`BACKTEST_RISK_DEFAULTS`."""

    daily_risk_budget = _dec(
        required=False, allow_null=True, help_text="Fraction of equity at risk per day, e.g. 0.02; null: off (default)."
    )
    risk_per_trade = _dec(
        required=False,
        allow_null=True,
        help_text="Fraction of equity risked by one trade, e.g. 0.005; null: off (default).",
    )
    max_trades_per_day = serializers.IntegerField(
        required=False, allow_null=True, max_value=100_000, help_text="Entries per UTC day (default 20); null: off."
    )
    max_trades_per_symbol_per_day = serializers.IntegerField(
        required=False, allow_null=True, max_value=100_000, help_text="Entries per UTC day in one symbol (default 5)."
    )
    max_open_positions = serializers.IntegerField(
        required=False, allow_null=True, max_value=100_000, help_text="Positions open at once (default 5); null: off."
    )
    min_notional = _dec(
        required=False, min_value=Decimal(0), help_text="Smallest order value in the quote currency, e.g. 10."
    )
    cooldown_after_loss_s = serializers.IntegerField(
        required=False,
        min_value=0,
        max_value=10**9,
        help_text="Seconds a symbol rests after a losing trade (default 0).",
    )
    max_cost_to_reward = _dec(
        required=False,
        allow_null=True,
        help_text="Refuse an entry whose round-trip costs pass this share of its target distance (default 0.5).",
    )

    def validate(self, attrs):
        zero = {
            name: [f"0 is a limit of zero: this run could never enter a trade. Send null to switch {name} off."]
            for name in ZERO_REFUSED
            if attrs.get(name) is not None and attrs[name] == 0
        }
        if zero:
            raise serializers.ValidationError(zero)
        return attrs


class StrategySerializer(StrictSerializer):
    preset = serializers.ChoiceField(
        choices=sorted(PRESETS), required=False, help_text="A strategy preset; give either a preset or a plan."
    )
    params = serializers.DictField(
        required=False, default=dict, help_text='The preset\'s parameters, e.g. {"fast": 10, "slow": 30}.'
    )
    side = serializers.ChoiceField(choices=("long", "short"), required=False, help_text="The preset's direction.")
    stop = serializers.CharField(
        required=False, allow_null=True, max_length=500, help_text="A preset's stop distance, e.g. 2 * atr_14."
    )
    target = serializers.CharField(
        required=False, allow_null=True, max_length=500, help_text="A preset's target distance, e.g. 3 * atr_14."
    )
    plan = serializers.DictField(
        required=False,
        help_text='A full plan: {"name": ..., "symbols": [{"symbol", "entry", "exit", "stop", "target", "sizing"}]}.',
    )

    def validate(self, attrs):
        if ("preset" in attrs) == ("plan" in attrs):
            raise serializers.ValidationError({"preset": ["give either a preset (with params) or a plan, not both"]})
        if "plan" in attrs:
            extra = sorted({"side", "stop", "target"} & set(attrs)) or (["params"] if attrs.get("params") else [])
            if extra:
                raise serializers.ValidationError({extra[0]: ["belongs in the plan's per-symbol rules"]})
        return attrs


SOL_SMA_EXAMPLE = {
    "name": "sol-sma-10-30",
    "symbols": ["SOL-USDT"],
    "timeframe": "1h",
    "start": "2024-09-20T00:00:00Z",
    "end": "2024-10-31T00:00:00Z",
    "initial_cash": "10000",
    "fee_rate": "0.001",
    "slippage_bps": "5",
    "sizing": {"method": "equity_fraction", "value": "0.5"},
    "risk": {"max_trades_per_day": 10, "max_open_positions": 1},
    "strategy": {"preset": "sma_cross", "params": {"fast": 10, "slow": 30}},
}


@extend_schema_serializer(
    examples=[
        OpenApiExample("SMA cross on SOL-USDT, 1h", value=SOL_SMA_EXAMPLE, request_only=True),
        OpenApiExample(
            "A full plan with a stop, risk-sized",
            value={
                "symbols": ["SOL-USDT"],
                "timeframe": "1h",
                "initial_cash": "10000",
                "risk": {"risk_per_trade": "0.005"},
                "strategy": {"plan": RULE_PLAN_EXAMPLE},
            },
            request_only=True,
        ),
    ]
)
class BacktestConfigSerializer(StrictSerializer):
    name = serializers.CharField(
        required=False, max_length=200, allow_blank=False, help_text="A label for the run, e.g. sol-sma-10-30."
    )
    symbols = serializers.ListField(
        child=serializers.CharField(max_length=32),
        min_length=1,
        help_text=f'Instruments with stored candles, e.g. ["SOL-USDT"] (at most {MAX_SYMBOLS}).',
    )
    timeframe = serializers.ChoiceField(choices=timeframes.ALL, help_text="The candles' timeframe, e.g. 1h.")
    start = serializers.DateTimeField(
        required=False, allow_null=True, help_text="First bar (UTC, inclusive); null: the first stored."
    )
    end = serializers.DateTimeField(
        required=False, allow_null=True, help_text="Bars before this time (UTC); null: up to the last stored."
    )
    initial_cash = _dec(
        min_value=Decimal(1), max_value=Decimal(10) ** 15, help_text="Starting cash in the quote currency, e.g. 10000."
    )
    fee_rate = _dec(
        default=Decimal("0.001"),
        min_value=Decimal(0),
        max_value=Decimal("0.1"),
        help_text="Fee per fill as a fraction of notional, e.g. 0.001 (0.1 %).",
    )
    slippage_bps = _dec(
        default=Decimal(5),
        min_value=Decimal(0),
        max_value=Decimal(1000),
        help_text="Price slippage per fill in basis points, e.g. 5.",
    )
    fill_timing = serializers.ChoiceField(
        choices=FILL_TIMINGS, default="next_open", help_text="A signal on a bar's close fills at the next bar's open."
    )
    sizing = SizingSerializer(required=False, help_text="How large each entry is; default: all equity.")
    risk = RiskSerializer(
        required=False, help_text="The live runtime's limits; a missing one takes the backtest default, null is off."
    )
    close_at_end = StrictBooleanField(
        required=False, default=False, help_text="Close what is still open at the last bar (true or false)."
    )
    strategy = StrategySerializer(help_text="What to trade: a preset with its params, or a full plan.")

    def validate(self, attrs):
        config = normalise(attrs)
        resolved = resolve(config)  # engine + database checks, field-named
        attrs["_config"] = config
        attrs["_resolved"] = resolved
        return attrs


def _plain(value):
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def normalise(attrs: dict) -> dict:
    """The JSON that is stored: every field present, decimals as strings, times ISO UTC."""
    sizing = attrs.get("sizing") or {"method": "equity_fraction", "value": Decimal(1)}
    if sizing.get("value") is None and sizing.get("method", "equity_fraction") == "equity_fraction":
        sizing = {**sizing, "value": Decimal(1)}
    strategy = dict(attrs["strategy"])
    config = {
        "symbols": [s.strip().upper() for s in attrs["symbols"]],
        "timeframe": attrs["timeframe"],
        "start": attrs.get("start"),
        "end": attrs.get("end"),
        "initial_cash": attrs["initial_cash"],
        "fee_rate": attrs["fee_rate"],
        "slippage_bps": attrs["slippage_bps"],
        "fill_timing": attrs["fill_timing"],
        "sizing": {
            "method": sizing.get("method", "equity_fraction"),
            "value": sizing.get("value"),
            "price": sizing.get("price", "signal"),
        },
        "risk": {**BACKTEST_RISK_DEFAULTS, **(attrs.get("risk") or {})},
        "close_at_end": attrs.get("close_at_end", False),
        "strategy": strategy,
    }
    return _plain(config)


@dataclass(frozen=True)
class Resolved:
    plan: Plan
    limits: RiskLimits
    instruments: dict[str, Instrument]
    candles: int


def _plan(config: dict) -> Plan:
    symbols = config["symbols"]
    sizing_data = {k: v for k, v in config["sizing"].items() if v is not None}
    try:
        sizing = Sizing.from_mapping(sizing_data)
    except ConfigError as exc:
        raise ConfigError({k if k.startswith("sizing") else f"sizing.{k}": v for k, v in exc.errors.items()}) from None
    strategy = config["strategy"]
    if "plan" in strategy:
        data = dict(strategy["plan"])
        items = data.get("symbols")
        if isinstance(items, list):
            data["symbols"] = [
                {**item, "sizing": item.get("sizing", config["sizing"])} if isinstance(item, dict) else item
                for item in items
            ]
        try:
            plan = Plan.from_dict(data)
        except ConfigError as exc:
            raise ConfigError({f"strategy.plan.{k}": v for k, v in exc.errors.items()}) from None
        planned = [sp.symbol for sp in plan.symbols]
        if sorted(planned) != sorted(symbols):
            raise ConfigError(
                {"strategy.plan.symbols": f"the plan must cover the run's symbols {symbols}, got {planned}"}
            )
        return plan
    options = {"symbols": list(symbols), "sizing": sizing}
    for key in ("side", "stop", "target"):
        if key in strategy:
            options[key] = strategy[key]
    name = strategy["preset"]
    if "side" in options and name != "sma_cross":
        raise ConfigError({"strategy.side": f"{name} trades long only; write a plan for shorts"})
    try:
        return build_preset(name, strategy.get("params") or {}, **options)
    except ConfigError as exc:
        mapped = {}
        for key, message in exc.errors.items():
            if key.startswith("symbols."):
                key = key.split(".", 2)[2]
                mapped[key if key.startswith("sizing") else f"strategy.{key}"] = message
            elif key in ("preset",):
                mapped["strategy.preset"] = message
            else:
                mapped[f"strategy.params.{key}"] = message
        raise ConfigError(mapped) from None
    except TypeError as exc:  # a parameter of the wrong kind reaching the preset builder
        raise ConfigError({"strategy.params": str(exc)}) from None


def _limits(config: dict, default_min_notional: Decimal) -> RiskLimits:
    risk = {**BACKTEST_RISK_DEFAULTS, **config["risk"]}  # runs stored before the defaults had them
    risk.setdefault("min_notional", str(default_min_notional))
    data = {**risk, "fee_rate": config["fee_rate"], "slippage_bps": config["slippage_bps"], "max_data_age_s": None}
    try:
        return RiskLimits.from_mapping(data)
    except ConfigError as exc:
        raise ConfigError(
            {(k if k in ("fee_rate", "slippage_bps") else f"risk.{k}"): v for k, v in exc.errors.items()}
        ) from None


def parse_time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value.replace("Z", "+00:00"))


def candle_range(config: dict, instrument_id: int):
    qs = Candle.objects.filter(instrument_id=instrument_id, timeframe=config["timeframe"])
    start, end = parse_time(config["start"]), parse_time(config["end"])
    if start is not None:
        qs = qs.filter(open_time__gte=start)
    if end is not None:
        qs = qs.filter(open_time__lt=end)
    return qs


def candles_in_range(config: dict, instrument_id: int) -> int:
    """How many candles the run will read, from the first and last in the range (two index probes, where
    counting 1M rows took a large share of a POST): exact when the range has no gap, more when it has;
    the worker stores the exact count when it has read them. Timeframes of varying length are counted."""

    qs = candle_range(config, instrument_id)
    step = timeframes.SECONDS.get(config["timeframe"])
    if step is None:
        return qs.count()
    span = qs.aggregate(first=Min("open_time"), last=Max("open_time"))
    if span["first"] is None:
        return 0
    return int((span["last"] - span["first"]).total_seconds()) // step + 1


def instrument_rows(symbols: list[str]) -> dict[str, dict]:
    rows = MarketInstrument.objects.filter(symbol__in=symbols).values(
        "id", "symbol", "lot_size", "min_notional", "quote"
    )
    return {row["symbol"]: row for row in rows}


def engine_parts(config: dict, rows: dict[str, dict]) -> tuple[Plan, RiskLimits, dict[str, Instrument]]:
    """Plan, limits and instruments (lot sizes from the market Instruments); ConfigError names the field.

    Without ``risk.min_notional`` the largest of the instruments' minimum notionals applies."""
    errors: dict[str, str] = {}
    plan = limits = None
    try:
        plan = _plan(config)
    except ConfigError as exc:
        errors.update(exc.errors)
    try:
        limits = _limits(config, max(row["min_notional"] for row in rows.values()))
    except ConfigError as exc:
        errors.update(exc.errors)
    if errors:
        raise ConfigError(errors)
    return plan, limits, {sym: Instrument(sym, row["lot_size"]) for sym, row in rows.items()}


def resolve(config: dict, *, count_candles: bool = True) -> Resolved:
    """Every semantic check (engine and database) at once; raises DRF ValidationError naming the fields."""
    errors: dict[str, str] = {}
    symbols = config["symbols"]
    if len(set(symbols)) != len(symbols):
        errors["symbols"] = "each symbol at most once"
    elif len(symbols) > MAX_SYMBOLS:
        errors["symbols"] = f"at most {MAX_SYMBOLS} symbols per run"
    start, end = parse_time(config["start"]), parse_time(config["end"])
    if start is not None and end is not None and end <= start:
        errors["end"] = f"end ({config['end']}) must be after start ({config['start']})"
    rows = instrument_rows(symbols)
    unknown = [sym for sym in symbols if sym not in rows]
    if unknown:
        errors["symbols"] = f"unknown symbol{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}"
    placeholder = {"id": None, "symbol": "", "lot_size": Decimal("0.001"), "min_notional": Decimal(0)}
    parts = None
    try:
        parts = engine_parts(config, {sym: rows.get(sym, {**placeholder, "symbol": sym}) for sym in symbols})
    except ConfigError as exc:
        errors.update(exc.errors)
    candles = 0
    if not errors and count_candles:
        counts = {sym: candles_in_range(config, rows[sym]["id"]) for sym in symbols}
        empty = [sym for sym, count in counts.items() if count == 0]
        if empty:
            span = f"between {config['start'] or 'the beginning'} and {config['end'] or 'now'}"
            errors["start"] = f"no {config['timeframe']} candles for {', '.join(empty)} {span}. " + _what_exists(empty)
        candles = sum(counts.values())
    if errors:
        raise serializers.ValidationError(nest(errors))
    plan, limits, instruments = parts
    return Resolved(plan, limits, instruments, candles)


def _what_exists(symbols: list[str]) -> str:
    """The candles these symbols do have (or which symbols have any): what to pick instead."""

    have = candle_coverage(symbols=symbols)
    parts = []
    for sym in symbols:
        spans = have.get(sym)
        if spans:
            listed = ", ".join(
                f"{c['timeframe']} from {c['first']:%Y-%m-%d %H:%M} to {c['last']:%Y-%m-%d %H:%M} UTC "
                f"({c['candles']:,})"
                for c in spans
            )
            parts.append(f"{sym} has {listed}")
    if parts:
        return "; ".join(parts) + "."
    with_data = sorted(candle_coverage())
    if with_data:
        return f"{', '.join(symbols)} has no candles at all; symbols with candles: {', '.join(with_data[:20])}."
    return "There are no candles at all: load some first (load_candles, or the Market page)."


# --- sweeps -------------------------------------------------------------------------------------------
def grid_combinations(config: dict, grid) -> tuple[list[dict], list[dict]]:
    """Valid combinations (param dicts) and the skipped ones with their reason; refuses bad grids."""
    if "preset" not in config["strategy"]:
        raise Invalid({"grid": ["a sweep varies a preset's parameters: the strategy needs a preset"]})
    if not isinstance(grid, dict) or not grid:
        raise Invalid({"grid": ["must map parameter names to lists of values"]})
    preset = PRESETS[config["strategy"]["preset"]]
    known = {p.name for p in preset.params}
    total = 1
    for key, values in grid.items():
        if key not in known:
            raise Invalid({"grid": {key: [f"{preset.name} has no parameter {key!r}"]}})
        if not isinstance(values, list) or not values:
            raise Invalid({"grid": {key: ["must be a non-empty list of values"]}})
        total *= len(values)
    if total > MAX_SWEEP_COMBINATIONS:
        raise Invalid({"grid": [f"{total:,} combinations: at most {MAX_SWEEP_COMBINATIONS:,} per sweep"]})
    keys = list(grid)
    valid, skipped = [], []
    base = config["strategy"].get("params") or {}
    for values in itertools.product(*(grid[k] for k in keys)):
        params = {**base, **dict(zip(keys, values, strict=True))}
        candidate = {**config, "strategy": {**config["strategy"], "params": params}}
        try:
            _plan(candidate)
        except ConfigError as exc:
            skipped.append({"params": params, "errors": exc.errors})
            continue
        valid.append(params)
    if not valid:
        raise Invalid({"grid": [f"none of the {total} combinations is valid: {skipped[0]['errors']}"]})
    return valid, skipped
