"""Sizing rounds down to the lot; the fill model's numbers; plans and presets refuse bad input by field."""

from decimal import Decimal

import numpy as np
import pytest

from agents.engine import ConfigError, Instrument, Plan, Sizing, build_preset, sma_cross
from agents.engine.fills import market_fill, stop_fill, target_fill
from agents.engine.presets import breakout, rsi_reversion
from agents.engine.rules import parse_rule
from agents.engine.sizing import round_to_lot, size_order
from agents.engine.strategy import level_price

LOT = Instrument("SOLUSDT", Decimal("0.001"))


def test_fixed_quantity_is_rounded_down_to_the_lot():
    assert size_order(Sizing("fixed_qty", 0.0015), instrument=LOT, equity=1e6, price=10) == Decimal("0.001")
    assert size_order(Sizing("fixed_qty", 0.0009), instrument=LOT, equity=1e6, price=10) == Decimal("0.000")


def test_rounding_goes_through_the_shortest_repr_so_exact_lots_stay_exact():
    # 0.3 as a float is 0.29999999999999998...: flooring its binary value would give 0.2
    assert round_to_lot(0.3, Decimal("0.1")) == Decimal("0.3")
    assert round_to_lot(0.1 + 0.2, Decimal("0.1")) == Decimal("0.3")  # 0.30000000000000004
    assert round_to_lot(2.999999, Decimal("1")) == Decimal("2")
    assert round_to_lot(-1.0, Decimal("0.01")) == Decimal("0.00")


def test_fixed_notional_divides_by_the_expected_price():
    qty = size_order(Sizing("fixed_notional", 100), instrument=LOT, equity=1e6, price=3.0)
    assert qty == Decimal("33.333")
    assert str(qty) == "33.333"


def test_equity_fraction_leaves_room_for_the_fee():
    qty = size_order(Sizing("equity_fraction", 1.0), instrument=LOT, equity=1000.0, price=10.0, fee_rate=0.001)
    assert qty == Decimal("99.900")  # 1000 / (10 * 1.001) = 99.9000999...
    assert float(qty) * 10.0 * 1.001 <= 1000.0


def test_risk_sizing_risks_the_fraction_between_entry_and_stop():
    sizing = Sizing("risk", 0.01)
    assert size_order(sizing, instrument=LOT, equity=10_000.0, price=100.0, stop=98.0) == Decimal("50.000")
    # value None: the limits' risk_per_trade
    assert size_order(
        Sizing("risk", None), instrument=LOT, equity=10_000.0, price=100.0, stop=97.0, risk_per_trade=0.02
    ) == Decimal("66.666")
    assert size_order(sizing, instrument=LOT, equity=10_000.0, price=100.0, stop=None) == Decimal("0.000")


@pytest.mark.parametrize(
    ("method", "value", "field"),
    [("martingale", 1, "sizing.method"), ("equity_fraction", 1.5, "sizing.value"), ("fixed_qty", 0, "sizing.value")],
)
def test_bad_sizing_is_refused_naming_the_field(method, value, field):
    with pytest.raises(ConfigError) as caught:
        Sizing(method, value)
    assert field in caught.value.errors


def test_buy_fills_higher_and_sell_lower_by_the_slippage_with_the_fee_on_the_notional():
    buy = market_fill("buy", 100.0, 2.0, slippage_bps=5, fee_rate=0.001)
    assert buy.price == 100.0 * (1 + 5 / 10_000)
    assert abs(buy.price - 100.05) < 1e-12
    assert buy.fee == buy.price * 2.0 * 0.001
    assert abs(buy.fee - 0.2001) < 1e-12
    assert (buy.price_decimal, buy.qty_decimal) == (Decimal(repr(buy.price)), Decimal("2.0"))
    sell = market_fill("sell", 100.0, 2.0, slippage_bps=5, fee_rate=0.001)
    assert abs(sell.price - 99.95) < 1e-12
    assert sell.side == "sell"


def test_stop_fills_at_the_stop_or_at_a_worse_gap_open():
    inside = stop_fill("long", 95.0, 99.0, 1.0, slippage_bps=10, fee_rate=0.0)
    assert inside.price == 95.0 * (1 - 10 / 10_000)
    gapped = stop_fill("long", 95.0, 90.0, 1.0, slippage_bps=10, fee_rate=0.0)
    assert gapped.price == 90.0 * (1 - 10 / 10_000)
    short = stop_fill("short", 105.0, 110.0, 1.0, slippage_bps=0, fee_rate=0.0)
    assert (short.side, short.price) == ("buy", 110.0)


def test_target_fills_at_the_limit_or_a_better_open_without_slippage():
    assert target_fill("long", 110.0, 105.0, 1.0, fee_rate=0.001).price == 110.0
    assert target_fill("long", 110.0, 112.0, 1.0, fee_rate=0.001).price == 112.0
    assert target_fill("short", 90.0, 88.0, 1.0, fee_rate=0.0).price == 88.0


def test_sma_cross_with_fast_not_below_slow_is_refused_naming_fast():
    with pytest.raises(ConfigError) as caught:
        sma_cross(50, 20)
    assert caught.value.errors == {"fast": "fast (50) must be shorter than slow (20)"}
    with pytest.raises(ConfigError) as caught:
        build_preset("sma_cross", {"fast": 20, "slow": 20})
    assert list(caught.value.errors) == ["fast"]


@pytest.mark.parametrize(
    ("name", "params", "field"),
    [
        ("sma_crossover", {}, "preset"),
        ("sma_cross", {"fast": "ten"}, "fast"),
        ("sma_cross", {"speed": 3}, "speed"),
        ("rsi_reversion", {"lower": 80, "upper": 70}, "lower"),
        ("rsi_reversion", {"period": 1}, "period"),
        ("breakout", {"lookback": 5000}, "lookback"),
    ],
)
def test_bad_preset_parameters_are_refused_naming_the_field(name, params, field):
    with pytest.raises(ConfigError) as caught:
        build_preset(name, params)
    assert field in caught.value.errors


def test_presets_are_plans_in_the_rule_language():
    plan = sma_cross(10, 30, symbols=["solusdt", "BTCUSDT"])
    assert [sp.symbol for sp in plan.symbols] == ["SOLUSDT", "BTCUSDT"]
    assert plan.symbols[0].entry == "crosses_above(sma_10, sma_30)"
    assert plan.symbols[0].exit == "crosses_below(sma_10, sma_30)"
    assert rsi_reversion(14, 25, 75).symbols[0].entry == "rsi_14 < 25.0"
    br = breakout(55).symbols[0]
    assert (br.entry, br.exit, br.stop) == ("close > high_55[1]", "close < low_55[1]", "2 * atr_14")
    assert sma_cross(10, 30).warmup_bars == 31
    assert Plan.from_dict(plan.to_dict()) == plan


def test_a_plan_with_a_bad_rule_is_refused_with_the_field_and_the_position():
    data = {
        "name": "mine",
        "symbols": [
            {"symbol": "SOLUSDT", "entry": "close > sma_50 and rsi_14 < 70", "exit": "close < sma_5O"},
            {"symbol": "BTCUSDT", "entry": "close > 1", "stop": "entry -", "sizing": {"method": "risk", "value": 0.01}},
        ],
    }
    with pytest.raises(ConfigError) as caught:
        Plan.from_dict(data)
    errors = caught.value.errors
    assert set(errors) == {"symbols.0.exit", "symbols.1.stop"}
    assert errors["symbols.0.exit"].startswith("position 8: unknown name 'sma_5O'")
    assert errors["symbols.1.stop"].startswith("position 7: expected a number, a name or '('")


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ({"symbol": "SOLUSDT", "entry": "close > 1"}, "symbols.0.exit"),  # no way out
        ({"symbol": "SOLUSDT", "entry": "close > 1", "exit": "close < 1", "side": "sideways"}, "symbols.0.side"),
        ({"symbol": "SOLUSDT", "exit": "close < 1"}, "symbols.0.entry"),
        ({"symbol": "SOLUSDT", "entry": "close > 1", "exit": "x", "sizing": {"method": "risk"}}, "symbols.0.exit"),
        (
            {"symbol": "SOLUSDT", "entry": "close > 1", "exit": "close < 1", "sizing": {"method": "risk"}},
            "symbols.0.sizing.method",
        ),
        ({"symbol": "", "entry": "close > 1", "exit": "close < 1"}, "symbols.0.symbol"),
        ({"symbol": "SOLUSDT", "entry": 5, "exit": "close < 1"}, "symbols.0.entry"),
        ({"symbol": "SOLUSDT", "entry": "close > 1", "exit": "close < 1", "leverage": 5}, "symbols.0.leverage"),
    ],
)
def test_invalid_plans_are_refused_naming_the_field(item, field):
    with pytest.raises(ConfigError) as caught:
        Plan.from_dict({"name": "p", "symbols": [item]})
    assert field in caught.value.errors


@pytest.mark.parametrize(
    ("text", "kind", "side", "expected"),
    [
        ("entry - 2 * atr_14", "stop", "long", 100.0 - 2 * 1.5),  # reads entry: a price
        ("low_20[1]", "stop", "long", 95.0),  # a rolling low: a price
        ("sma_20 - atr_14", "stop", "long", 99.0 - 1.5),  # a moving average: a price
        ("2 * atr_14", "stop", "long", 100.0 - 3.0),  # ATR only: a distance below a long's entry
        ("2 * atr_14", "stop", "short", 100.0 + 3.0),  # ... above a short's
        ("4 * atr_14", "target", "long", 100.0 + 6.0),
        ("4 * atr_14", "target", "short", 100.0 - 6.0),
        ("3", "stop", "long", 97.0),
    ],
)
def test_stop_and_target_rules_are_prices_when_they_read_a_price_and_distances_otherwise(text, kind, side, expected):

    n = 30
    ones = np.ones(n)
    env = {"open": ones, "high": ones, "low": ones, "close": ones, "volume": ones}
    env |= {"atr_14": ones * 1.5, "low_20": ones * 95.0, "sma_20": ones * 99.0}
    assert level_price(parse_rule(text, "level"), kind, side, env, 25, 100.0) == expected
