"""The plan rule language: parsing, refusals with positions, and the two evaluators agreeing."""

import math

import numpy as np
import pytest

from agents.engine.rules import RuleError, compute_columns, parse_rule
from market.indicators import IndicatorSpec


@pytest.fixture(scope="module")
def env():
    rng = np.random.default_rng(42)
    n = 400
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.concatenate([[100.0], close[:-1]])
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.003, n)))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.003, n)))
    close[50] = close[49]  # an exact tie for crosses/==
    rules = [parse_rule(t) for t in CONDITIONS] + [parse_rule(t, "level") for t in LEVELS]
    return compute_columns(rules, open_, high, low, close, rng.uniform(1, 10, n))


CONDITIONS = [
    "close > sma_50 and rsi_14 < 70",
    "crosses_above(sma_20, sma_50)",
    "crosses_below(ema_12, sma_26) or rsi_14 > 65",
    "close < low_20[1]",
    "close > high_20[1] and not (rsi_14 >= 80)",
    "not close > sma_20",
    "close == close[1]",
    "close != open",
    "crosses_above(close, bb_20_2_upper)",
    "macd_12_26_9 > macd_12_26_9_signal and macd_12_26_9_hist[2] < 0",
    "abs(close - sma_20) / atr_14 > 1.5",
    "min(open, close) - low > 0.5 * atr_14",
    "max(open, close) < high and volume > 5",
    "close / (close - close) > 0",  # x/0: inf on both paths
    "(close - close) / (open - open) < 1",  # 0/0: nan on both paths
    "-close < -sma_20 or false",
    "true",
    "crosses_above(rsi_14[1], 30)",
    "close > 1e2 and close < 1.5e2",
]

LEVELS = [
    "entry - 2 * atr_14",
    "2 * atr_14",
    "low_20[1]",
    "entry * 0.98",
    "max(entry - 3 * atr_14, low_20)",
    "entry + (high_20 - low_20) / 2",
]


@pytest.mark.parametrize("text", CONDITIONS)
def test_vectorised_and_per_bar_conditions_agree_on_every_bar(env, text):
    rule = parse_rule(text)
    whole = rule.evaluate(env)
    assert whole.dtype == bool
    one_at_a_time = [rule.evaluate_at(env, i) for i in range(len(env["close"]))]
    assert whole.tolist() == one_at_a_time
    assert all(type(v) is bool for v in one_at_a_time)
    # not vacuous: every rule but the 0/0 one fires somewhere
    assert whole.any() or text.startswith("(close - close)")


@pytest.mark.parametrize("text", LEVELS)
def test_vectorised_and_per_bar_levels_agree_bit_for_bit(env, text):
    rule = parse_rule(text, "level")
    whole = rule.evaluate(env, entry=123.456)
    one_at_a_time = np.array([rule.evaluate_at(env, i, entry=123.456) for i in range(len(env["close"]))])
    assert np.array_equal(np.isnan(whole), np.isnan(one_at_a_time))
    defined = ~np.isnan(whole)
    assert defined.sum() > 300
    assert whole[defined].tobytes() == one_at_a_time[defined].tobytes()


def test_condition_is_false_during_warm_up_and_true_after():
    close = np.arange(1.0, 31.0)
    env = compute_columns([parse_rule("close > sma_20[1]")], close, close, close, close)
    values = parse_rule("close > sma_20[1]").evaluate(env)
    # sma_20 first defined at index 19, so sma_20[1] at index 20
    assert values[:20].tolist() == [False] * 20
    assert values[20:].tolist() == [True] * 10
    assert parse_rule("not close > sma_20[1]").evaluate(env)[:20].tolist() == [False] * 20


def test_crosses_above_fires_only_on_the_crossing_bar():
    a = np.array([1.0, 2.0, 3.0, 3.0, 5.0, 4.0, 6.0])
    env = {"open": a, "high": a, "low": a, "close": a, "volume": a}
    rule = parse_rule("crosses_above(close, 3)")
    assert rule.evaluate(env).tolist() == [False, False, False, False, True, False, False]
    assert parse_rule("crosses_below(close, 4.5)").evaluate(env).tolist() == [False] * 5 + [True, False]


def test_rule_reports_the_indicators_and_lookback_it_needs():
    rule = parse_rule("crosses_above(sma_20, sma_50) and close < low_20[3]")
    assert set(rule.specs) == {IndicatorSpec("sma", (20,)), IndicatorSpec("sma", (50,)), IndicatorSpec("low", (20,))}
    assert rule.lookback == 3
    assert ("sma_20", 1) in rule.needs
    assert ("low_20", 3) in rule.needs
    assert ("close", 0) in rule.needs
    level = parse_rule("entry - 2 * atr_14", "level")
    assert level.uses_entry
    assert level.specs == (IndicatorSpec("atr", (14,)),)


@pytest.mark.parametrize(
    ("text", "kind", "position", "message"),
    [
        ("close > smaa_20", "condition", 8, "unknown name 'smaa_20'"),
        ("close > ", "condition", 8, "expected a number, a name or '(' but found the end of the rule"),
        ("close >> 3", "condition", 7, "expected a number, a name or '('"),
        ("close $ 3", "condition", 6, "unexpected character '$'"),
        ("crosses_above(sma_20)", "condition", 20, "crosses_above() takes 2 argument(s), got 1"),
        ("sma_20 + 1", "condition", 7, "an entry/exit rule must be a condition"),
        ("close > sma_20", "level", 6, "a stop/target rule must be a number"),
        ("entry > 3", "condition", 0, "'entry' (the fill price) can only be used in stop and target rules"),
        ("close > 3 and 4", "condition", 14, "'and' needs a condition, found a number"),
        ("__import__(close)", "condition", 0, "unknown function '__import__'"),
        ("__import__('os')", "condition", 11, 'unexpected character "\'"'),
        ("close < low_20[x]", "condition", 15, "expected a whole number of bars inside [ ]"),
        ("1 < close < 3", "condition", 10, "chained comparisons are not allowed"),
        ("sma_0 > 1", "condition", 0, "period must be between 1 and 1000"),
        ("bb_20_2 > close", "condition", 0, "bb_20_2 has several outputs"),
        ("close > sma_20)", "condition", 14, "unexpected ')'"),
        ("(close > sma_20", "condition", 15, "expected ')' but found the end of the rule"),
        ("foo(close)", "condition", 0, "unknown function 'foo'"),
        ("   ", "condition", 0, "the rule is empty"),
        ("close.__class__", "condition", 5, "unexpected character '.'"),
    ],
)
def test_bad_rules_are_refused_with_the_position_of_the_error(text, kind, position, message):
    with pytest.raises(RuleError) as caught:
        parse_rule(text, kind)
    assert caught.value.position == position
    assert message in caught.value.message
    assert str(caught.value).startswith(f"position {position}: ")


def test_evaluate_at_before_the_first_bar_of_a_lookback_is_false_or_nan():
    a = np.array([1.0, 2.0])
    env = {"open": a, "high": a, "low": a, "close": a, "volume": a}
    assert parse_rule("close[1] < close").evaluate_at(env, 0) is False
    assert parse_rule("close[1] < close").evaluate_at(env, 1) is True
    assert math.isnan(parse_rule("entry - close[1]", "level").evaluate_at(env, 0, entry=5.0))
    assert parse_rule("entry - close[1]", "level").evaluate_at(env, 1, entry=5.0) == 4.0


def _random_number_expr(rng, depth):
    names = ["close", "open", "high", "low", "volume", "sma_5", "ema_10", "rsi_14", "atr_14", "high_20", "low_20"]
    names += ["macd_12_26_9_hist", "bb_20_2_lower"]
    pick = rng.integers(0, 6 if depth > 0 else 2)
    if pick == 0:
        return repr(round(float(rng.normal(0, 50)), 3))
    if pick == 1:
        name = names[rng.integers(len(names))]
        return f"{name}[{rng.integers(0, 3)}]" if rng.random() < 0.3 else name
    if pick == 2:
        op = "+-*/"[rng.integers(4)]
        return f"({_random_number_expr(rng, depth - 1)} {op} {_random_number_expr(rng, depth - 1)})"
    if pick == 3:
        return f"-{_random_number_expr(rng, depth - 1)}"
    if pick == 4:
        fn = ["abs", "min", "max"][rng.integers(3)]
        args = [_random_number_expr(rng, depth - 1) for _ in range(1 if fn == "abs" else 2)]
        return f"{fn}({', '.join(args)})"
    return f"(close - close) / {_random_number_expr(rng, depth - 1)}"  # zeros and 0/0


def _random_condition(rng, depth):
    pick = rng.integers(0, 5 if depth > 0 else 2)
    if pick == 0:
        op = ["<", "<=", ">", ">=", "==", "!="][rng.integers(6)]
        return f"{_random_number_expr(rng, 2)} {op} {_random_number_expr(rng, 2)}"
    if pick == 1:
        fn = ["crosses_above", "crosses_below"][rng.integers(2)]
        return f"{fn}({_random_number_expr(rng, 1)}, {_random_number_expr(rng, 1)})"
    if pick == 2:
        return f"not ({_random_condition(rng, depth - 1)})"
    op = ["and", "or"][rng.integers(2)]
    return f"({_random_condition(rng, depth - 1)}) {op} ({_random_condition(rng, depth - 1)})"


def test_random_rules_evaluate_the_same_vectorised_and_bar_by_bar():
    rng = np.random.default_rng(7)
    n = 120
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))
    close[40:43] = close[39]  # flat stretch: ties, zero differences
    open_ = np.concatenate([[100.0], close[:-1]])
    high, low = np.maximum(open_, close) * 1.01, np.minimum(open_, close) * 0.99
    fired = 0
    for _ in range(200):
        cond = parse_rule(_random_condition(rng, 3))
        level = parse_rule(_random_number_expr(rng, 3) + " + entry", "level")
        env = compute_columns([cond, level], open_, high, low, close, rng.uniform(0, 10, n))
        whole = cond.evaluate(env)
        assert whole.tolist() == [cond.evaluate_at(env, i) for i in range(n)], cond.text
        fired += int(whole.any())
        lv = level.evaluate(env, entry=101.5)
        per = np.array([level.evaluate_at(env, i, entry=101.5) for i in range(n)])
        assert np.array_equal(lv, per, equal_nan=True), level.text
    assert fired > 50


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("(" * 41 + "close > 1" + ")" * 41, "nested too deeply"),
        ("-" * 41 + "close > 1", "nested too deeply"),
        ("not " * 41 + "close > 1", "nested too deeply"),
        ("abs(" * 41 + "close" + ")" * 41 + " > 1", "nested too deeply"),
        ("+".join(["1"] * 300) + " > close", "too many terms in a row"),
    ],
)
def test_pathological_rules_are_refused_with_a_rule_error_not_a_crash(text, message):
    with pytest.raises(RuleError) as caught:
        parse_rule(text)
    assert message in caught.value.message


def test_forty_levels_of_nesting_still_parse_and_evaluate():
    rule = parse_rule("(" * 40 + "close > 1" + ")" * 40)
    a = np.array([0.5, 2.0])
    assert rule.evaluate({"open": a, "high": a, "low": a, "close": a, "volume": a}).tolist() == [False, True]


def test_a_long_but_allowed_chain_evaluates_on_both_paths():
    rule = parse_rule("+".join(["close"] * 150) + " > 150 * open")
    a = np.array([1.0, 2.0, 3.0])
    b = np.array([1.0, 1.0, 4.0])
    env = {"open": b, "high": a, "low": a, "close": a, "volume": a}
    assert rule.evaluate(env).tolist() == [rule.evaluate_at(env, i) for i in range(3)] == [False, True, False]
