"""The state machine over a history (backtest) and one candle at a time (live): numbers, parity, determinism."""

import hashlib
import os
import subprocess
import sys
from collections import Counter
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from agents.engine import (
    Bars,
    ConfigError,
    Instrument,
    LiveEngine,
    Plan,
    RiskLimits,
    Sizing,
    SymbolPlan,
    breakout,
    rsi_reversion,
    run_backtest,
    sma_cross,
)

ROOT = Path(__file__).resolve().parents[2]
SOL = Path(__file__).resolve().parents[2] / "market" / "data" / "SOLUSDT-1h.csv"  # shipped with the product
H = 3600
T0 = 1_726_790_400  # 2024-09-20 00:00:00 UTC, a midnight
NO_CAPS = {"daily_risk_budget": None, "risk_per_trade": None, "max_trades_per_day": None}
NO_CAPS |= {"max_trades_per_symbol_per_day": None, "max_open_positions": None, "min_notional": 0.0}
NO_CAPS |= {"max_cost_to_reward": None, "fee_rate": 0.0, "slippage_bps": 0.0}


def limits(**kw) -> RiskLimits:
    return RiskLimits(**(NO_CAPS | kw))


def make_bars(rows, start=T0, tf=H) -> Bars:
    """rows: (open, high, low, close)."""
    a = np.array(rows, dtype=float)
    return Bars(start + tf * np.arange(len(rows)), a[:, 0], a[:, 1], a[:, 2], a[:, 3], np.ones(len(rows)), tf)


ONE = Sizing("fixed_qty", 1)


def plan(entry, exit=None, stop=None, target=None, sizing=ONE, side="long") -> Plan:
    return Plan("t", (SymbolPlan("TEST", entry, exit, stop, target, side, sizing),))


def both(p: Plan, bars: Bars, lim: RiskLimits, cash=10_000.0, instruments=None):
    """Run the backtest and the live stepper; they must agree exactly. Returns the backtest result."""
    result = run_backtest(p, bars, lim, initial_cash=cash, instruments=instruments)
    live = LiveEngine(p, lim, initial_cash=cash, timeframe_s=bars.timeframe_s, instruments=instruments)
    live.run(bars)
    assert live.decisions == result.decisions
    assert np.array(live.equity).tobytes() == result.equity.tobytes()
    return result


def brief(decisions):
    return [(d.kind, d.bar, d.rule or d.intent or d.block.reason) for d in decisions]


def test_signal_on_close_fills_at_next_open_with_slippage_and_fee():
    bars = make_bars(
        [
            (100, 101, 99, 100),
            (100.5, 101.5, 100, 101),
            (102, 105.5, 101.5, 105),  # entry signal: close > 102
            (104.5, 106, 103.5, 104),  # entry fill at this open; the signal on this close is ignored (in position)
            (103, 103.5, 98.5, 99),  # exit signal: close < 100
            (98.5, 99, 97, 98),  # exit fill at this open
        ]
    )
    lim = limits(fee_rate=0.001, slippage_bps=10)
    result = both(plan("close > 102", "close < 100", sizing=Sizing("fixed_qty", 2)), bars, lim)
    d = result.decisions
    assert brief(d) == [
        ("trigger", 2, "entry"),
        ("order", 2, "entry"),
        ("fill", 3, "entry"),
        ("trigger", 4, "exit"),
        ("order", 4, "exit"),
        ("fill", 5, "exit"),
    ]
    buy = 104.5 * (1 + 10 / 10_000)
    sell = 98.5 * (1 - 10 / 10_000)
    fee_in, fee_out = buy * 2 * 0.001, sell * 2 * 0.001
    assert (d[1].ts, d[1].side, d[1].qty, d[1].price) == (T0 + 3 * H, "buy", 2.0, 105 * (1 + 10 / 10_000))
    assert (d[2].ts, d[2].side, d[2].qty, d[2].price, d[2].fee) == (T0 + 3 * H, "buy", 2.0, buy, fee_in)
    assert (d[5].ts, d[5].side, d[5].price, d[5].fee) == (T0 + 5 * H, "sell", sell, fee_out)
    pnl = (sell - buy) * 2 - fee_in - fee_out
    assert d[5].pnl == pnl
    assert abs(pnl - (-12.812012)) < 1e-9
    assert [x.chain for x in d] == [1, 1, 1, 2, 2, 2]
    assert d[2].decimal("price") == Decimal(repr(buy))
    assert d[2].payload()["price"] == repr(buy)
    assert d[2].payload()["ts"] == "2024-09-20T03:00:00+00:00"
    cash_in = 10_000 - (buy * 2 + fee_in)
    assert result.equity.tolist() == [
        10_000.0,
        10_000.0,
        10_000.0,
        cash_in + 2 * 104,
        cash_in + 2 * 99,
        cash_in + (sell * 2 - fee_out),
    ]
    (trade,) = result.trades
    assert (trade.entry_bar, trade.exit_bar, trade.pnl, trade.exit_reason) == (3, 5, pnl, "exit")


def test_stops_targets_gaps_and_the_cooldown_after_a_loss():
    bars = make_bars(
        [
            (100, 101, 99, 100),
            (101, 103, 100.5, 103),  # 1 signal
            (103.5, 104, 102.5, 103.8),  # 2 fill 103.5: stop 101.5, target 106.5
            (103, 103.2, 100, 101),  # 3 low touches the stop: filled at 101.5 (loss 2)
            (101, 104, 100.8, 103),  # 4 signal inside the cooldown: blocked, 1 second left
            (103, 103, 102, 102.5),  # 5 signal after the cooldown: ordered
            (99, 100, 98, 99.5),  # 6 fill 99: stop 97, target 102
            (100, 103, 99.5, 102.5),  # 7 high reaches the target: filled at 102; signal on close
            (104, 106.5, 104, 106),  # 8 fill 104: stop 102, target 107; nothing touched
            (100, 101, 99, 100.5),  # 9 gaps below the stop: filled at the open, 100
        ]
    )
    lim = limits(cooldown_after_loss_s=2 * H + 1)
    result = both(plan("close > 102", stop="entry - 2", target="entry + 3"), bars, lim)
    assert brief(result.decisions) == [
        ("trigger", 1, "entry"),
        ("order", 1, "entry"),
        ("fill", 2, "entry"),
        ("trigger", 3, "stop"),
        ("order", 3, "exit"),
        ("fill", 3, "exit"),
        ("trigger", 4, "entry"),
        ("block", 4, "cooldown"),
        ("trigger", 5, "entry"),
        ("order", 5, "entry"),
        ("fill", 6, "entry"),
        ("trigger", 7, "target"),
        ("order", 7, "exit"),
        ("fill", 7, "exit"),
        ("trigger", 7, "entry"),
        ("order", 7, "entry"),
        ("fill", 8, "entry"),
        ("trigger", 9, "stop"),
        ("order", 9, "exit"),
        ("fill", 9, "exit"),
    ]
    block = result.decisions[7].block
    assert block.detail == {"last_loss_ts": T0 + 3 * H, "cooldown_s": 2 * H + 1, "seconds_left": 1}
    assert [(t.entry_price, t.exit_price, t.pnl, t.exit_reason) for t in result.trades] == [
        (103.5, 101.5, -2.0, "stop"),
        (99.0, 102.0, 3.0, "target"),
        (104.0, 100.0, -4.0, "stop"),
    ]
    fill = result.decisions[2]
    assert (fill.stop, fill.target) == (101.5, 106.5)
    assert result.final_equity == 10_000 - 2 + 3 - 4


def test_short_positions_profit_when_the_price_falls():
    bars = make_bars([(100, 100, 100, 100), (100, 100, 97, 98), (98, 98, 95, 96), (96, 97, 95, 96.5), (96, 96, 96, 96)])
    result = both(plan("close < 99", "close > 96.2", side="short", stop="3"), bars, limits())
    assert brief(result.decisions)[:3] == [("trigger", 1, "entry"), ("order", 1, "entry"), ("fill", 2, "entry")]
    assert result.decisions[1].side == "sell"
    assert result.decisions[2].stop == 98 + 3
    (trade,) = result.trades
    assert (trade.side, trade.entry_price, trade.exit_price, trade.pnl) == ("short", 98.0, 96.0, 2.0)
    assert result.equity.tolist() == [10_000.0, 10_000.0, 10_002.0, 10_001.5, 10_002.0]


def test_daily_trade_cap_blocks_every_further_signal_that_day_and_resets_at_midnight():
    # 23:00 bar then a new day: pattern up (signal), down (exit signal), repeated
    closes = [101, 103, 99] * 10
    rows = [(c, c + 0.5, c - 0.5, c) for c in closes]
    lim = limits(max_trades_per_day=2, max_trades_per_symbol_per_day=2)
    result = both(plan("close > 102", "close < 100"), make_bars(rows), lim)
    blocks = [(d.bar, d.block.reason, d.block.detail) for d in result.decisions if d.kind == "block"]
    # signals on bars 1, 4, 7, ...: bars 1 and 4 trade on day one, 7..22 blocked, 25 and 28 trade on day two
    assert [b for b, _, _ in blocks] == [7, 10, 13, 16, 19, 22]
    assert {r for _, r, _ in blocks} == {"daily_trade_cap"}
    assert blocks[0][2] == {"trades_today": 2, "max_trades_per_day": 2}
    # day two trades on bars 25 and 28; the last position's exit signal (bar 29) has no next bar to fill on
    assert [t.entry_bar for t in result.trades] == [2, 5, 26]
    assert brief(result.decisions[-3:]) == [("fill", 29, "entry"), ("trigger", 29, "exit"), ("order", 29, "exit")]
    assert result.state.positions["TEST"].qty == 1.0


def test_a_gap_up_at_the_open_buys_only_what_the_cash_allows():
    bars = make_bars([(90, 90, 90, 90), (100, 100, 100, 100), (110, 110, 110, 110)])
    lim = limits(fee_rate=0.001)
    result = both(plan("close >= 100", "close < 50", sizing=Sizing("equity_fraction", 1)), bars, lim, cash=1000.0)
    order, fill = result.decisions[1], result.decisions[2]
    assert order.qty == 9.99  # 1000 / (100 * 1.001) = 9.99000999 -> 9.990
    assert fill.qty == 9.081  # 1000 / (110 * 1.001) = 9.0818... -> 9.081
    assert fill.price == 110.0
    assert result.state.cash == 1000.0 - (9.081 * 110.0 + 9.081 * 110.0 * 0.001)


def test_an_order_that_cannot_be_afforded_at_the_gapped_open_is_blocked_at_the_fill():
    bars = make_bars([(90, 90, 90, 90), (100, 100, 100, 100), (5000, 5000, 5000, 5000)])
    inst = {"TEST": Instrument("TEST", Decimal("1"))}
    p = plan("close >= 100", "close < 50", sizing=Sizing("fixed_qty", 5))
    result = both(p, bars, limits(min_notional=500.0), cash=1000.0, instruments=inst)
    assert brief(result.decisions) == [
        ("trigger", 1, "entry"),
        ("order", 1, "entry"),
        ("block", 2, "insufficient_cash"),  # at the fill: 5 x 5000 > 1000 and 0.2 rounds down to 0 lots
        ("trigger", 2, "entry"),
        ("block", 2, "insufficient_cash"),  # the new signal, refused by the pre-trade check
    ]
    assert result.decisions[2].block.detail == {"cash": 1000.0, "needed": 25_000.0, "at": "fill"}
    assert result.decisions[4].block.detail["needed"] == 25_000.0
    assert result.state.positions == {}
    assert result.state.pending_claims == {}
    assert result.state.trades_today == 1  # the submitted order counted, the refused one did not


def test_lot_size_comes_from_the_instrument():
    bars = make_bars([(100, 100, 100, 100), (100, 100, 100, 100), (100, 100, 100, 100)])
    inst = {"TEST": Instrument("TEST", Decimal("0.5"))}
    result = both(
        plan("close >= 100", "close < 50", sizing=Sizing("fixed_notional", 190)), bars, limits(), instruments=inst
    )
    assert result.decisions[1].qty == 1.5  # 1.9 rounded down to the 0.5 lot


def sol_bars():
    return Bars.from_csv(SOL)


PARITY_CASES = {
    "sma_cross_risk_sized_stop_target": (
        sma_cross(10, 30, sizing=Sizing("risk", 0.01), stop="2 * atr_14", target="4 * atr_14"),
        {},
    ),
    "rsi_reversion_cooldown": (
        rsi_reversion(14, 35, 65, stop="entry * 0.97", sizing=Sizing("equity_fraction", 0.5)),
        {"cooldown_after_loss_s": 86_400, "daily_risk_budget": 0.1, "risk_per_trade": 0.05, "max_cost_to_reward": None},
    ),
    "short_breakdown": (
        Plan(
            "short",
            (
                SymbolPlan(
                    "SOLUSDT",
                    "close < low_20[1]",
                    "close > high_10[1]",
                    "3 * atr_14",
                    None,
                    "short",
                    Sizing("risk", 0.005),
                ),
            ),
        ),
        {},
    ),
    "sma_cross_symbol_cap": (
        sma_cross(5, 15, sizing=Sizing("fixed_notional", 2000)),
        {"max_trades_per_day": 2, "max_trades_per_symbol_per_day": 1, "daily_risk_budget": 0.5, "risk_per_trade": 0.25},
    ),
    "breakout_cost_gate": (
        breakout(10, stop="entry - 2 * atr_14", target="0.5 * atr_14", sizing=Sizing("equity_fraction", 0.3)),
        {"daily_risk_budget": 0.5, "risk_per_trade": 0.1},
    ),
    "breakout_budget": (
        breakout(10, stop="entry - 1 * atr_14", target="6 * atr_14", sizing=Sizing("risk", 0.01)),
        {"daily_risk_budget": 0.015, "risk_per_trade": 0.01},
    ),
    "min_notional": (sma_cross(5, 15, sizing=Sizing("fixed_qty", 0.05)), {"daily_risk_budget": None}),
}


def test_live_candle_by_candle_gives_the_same_orders_fills_and_blocks_as_the_backtest_on_real_candles():
    bars = sol_bars()
    assert len(bars) == 1000
    reasons, exits = Counter(), Counter()
    for _name, (p, lim) in PARITY_CASES.items():
        limits_ = RiskLimits(**lim)
        result = run_backtest(p, bars, limits_, initial_cash=10_000.0)
        live = LiveEngine(p, limits_, initial_cash=10_000.0, timeframe_s=bars.timeframe_s)
        for i in range(len(bars)):
            live.step("SOLUSDT", bars.candle(i))
        assert live.decisions == result.decisions
        assert np.array(live.equity).tobytes() == result.equity.tobytes()
        reasons.update(d.block.reason for d in result.decisions if d.kind == "block")
        exits.update(t.exit_reason for t in result.trades)
    # the cases exercise blocks of many kinds and every way out, so the parity is not vacuous
    assert set(reasons) >= {
        "cooldown",
        "symbol_trade_cap",
        "cost_gate",
        "risk_budget_exhausted",
        "insufficient_cash",
        "min_notional",
    }
    assert set(exits) == {"exit", "stop", "target"}
    assert sum(exits.values()) > 80


def test_live_steps_return_only_the_decisions_of_that_candle():
    bars = sol_bars()
    p = sma_cross(10, 30)
    live = LiveEngine(p, RiskLimits(daily_risk_budget=None, risk_per_trade=None), initial_cash=10_000, timeframe_s=H)
    per_step = [live.step("SOLUSDT", bars.candle(i)) for i in range(200)]
    assert [d for step in per_step for d in step] == live.decisions
    assert any(per_step)
    with pytest.raises(ValueError, match="is not after the last one"):
        live.step("SOLUSDT", bars.candle(10))


def test_the_kill_switch_blocks_every_new_entry_in_the_live_path():
    bars = sol_bars()
    lim = RiskLimits(daily_risk_budget=None, risk_per_trade=None)
    live = LiveEngine(sma_cross(5, 15), lim, initial_cash=10_000, timeframe_s=H)
    live.state.kill_switch = True
    for i in range(300):
        live.step("SOLUSDT", bars.candle(i))
    blocks = [d for d in live.decisions if d.kind == "block"]
    assert blocks
    assert {d.block.reason for d in blocks} == {"kill_switch"}
    assert not [d for d in live.decisions if d.kind in ("order", "fill")]


_HASH_SCRIPT = """
import hashlib, sys
sys.path.insert(0, {root!r})
from agents.engine import Bars, RiskLimits, Sizing, sma_cross, run_backtest
bars = Bars.from_csv({sol!r})
p = sma_cross(10, 30, sizing=Sizing("risk", 0.01), stop="2 * atr_14", target="4 * atr_14")
r = run_backtest(p, bars, RiskLimits(), initial_cash=10_000.0)
h = hashlib.sha256(repr(r.decisions).encode() + repr(r.trades).encode() + r.equity.tobytes())
print(h.hexdigest())
"""


def test_same_input_gives_bit_identical_output_across_processes():
    script = _HASH_SCRIPT.format(root=str(ROOT), sol=str(SOL))
    digests = set()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True)
        digests.add(out.stdout.strip())
    p = sma_cross(10, 30, sizing=Sizing("risk", 0.01), stop="2 * atr_14", target="4 * atr_14")
    r = run_backtest(p, sol_bars(), RiskLimits(), initial_cash=10_000.0)
    here = hashlib.sha256(repr(r.decisions).encode() + repr(r.trades).encode() + r.equity.tobytes()).hexdigest()
    assert digests == {here}
    assert len(r.trades) == 18


def other_symbols():
    """Two more symbols on the real SOL timeline: one moving against SOL, one with a third of its candles missing."""
    sol = sol_bars()
    inverse = 20_000.0 / sol.close
    inv = Bars(sol.ts, np.r_[inverse[0], inverse[:-1]], inverse * 1.004, inverse * 0.996, inverse, sol.volume, H)
    keep = np.arange(len(sol)) % 3 != 1
    gappy = Bars(
        sol.ts[keep],
        sol.open[keep] * 3,
        sol.high[keep] * 3,
        sol.low[keep] * 3,
        sol.close[keep] * 3,
        sol.volume[keep],
        H,
    )
    return {"SOLUSDT": sol, "INVUSDT": inv, "GAPUSDT": gappy}


def test_several_symbols_share_one_portfolio_and_the_live_feed_gives_the_same_decisions():
    bars = other_symbols()
    sizing = Sizing("equity_fraction", 0.5)
    p = Plan(
        "three",
        (
            SymbolPlan(
                "SOLUSDT",
                "crosses_above(sma_5, sma_15)",
                "crosses_below(sma_5, sma_15)",
                "2 * atr_14",
                None,
                "long",
                sizing,
            ),
            SymbolPlan(
                "INVUSDT",
                "crosses_above(sma_8, sma_21)",
                "crosses_below(sma_8, sma_21)",
                None,
                "3 * atr_14",
                "long",
                sizing,
            ),
            SymbolPlan(
                "GAPUSDT", "close < low_10[1]", "close > sma_10", "2 * atr_14", None, "short", Sizing("risk", 0.01)
            ),
        ),
    )
    lim = RiskLimits(max_open_positions=2, max_trades_per_day=6, max_trades_per_symbol_per_day=3, daily_risk_budget=0.5,
                     risk_per_trade=0.5, cooldown_after_loss_s=3 * H)  # fmt: skip
    result = run_backtest(p, bars, lim, initial_cash=10_000.0)
    live = LiveEngine(p, lim, initial_cash=10_000.0, timeframe_s=H)
    live.run(bars)
    assert live.decisions == result.decisions
    live_ts, live_equity = live.equity_by_time()
    assert live_ts.tolist() == result.ts.tolist()
    assert live_equity.tobytes() == result.equity.tobytes()
    reasons = Counter(d.block.reason for d in result.decisions if d.kind == "block")
    traded = Counter(t.symbol for t in result.trades)
    assert set(traded) == {"SOLUSDT", "INVUSDT", "GAPUSDT"}
    assert reasons["max_positions"] > 0  # a limit that only bites across symbols
    assert {"cooldown", "insufficient_cash", "risk_budget_exhausted"} <= set(reasons)
    # decisions come in time order, and within one timestamp in the plan's symbol order
    order = {"SOLUSDT": 0, "INVUSDT": 1, "GAPUSDT": 2}
    fills = [(d.ts, order[d.symbol]) for d in result.decisions if d.kind == "fill"]
    assert fills == sorted(fills)


def test_candles_for_a_symbol_the_plan_does_not_trade_are_refused():
    with pytest.raises(ConfigError) as caught:
        run_backtest(sma_cross(10, 30, symbols=["SOLUSDT"]), {"BTCUSDT": sol_bars()}, RiskLimits(), initial_cash=1000.0)
    assert list(caught.value.errors) == ["symbols"]
    with pytest.raises(ConfigError) as caught:
        run_backtest(sma_cross(10, 30, symbols=["SOLUSDT", "BTCUSDT"]), sol_bars(), RiskLimits(), initial_cash=1000.0)
    assert list(caught.value.errors) == ["symbols"]


def test_the_engine_imports_without_django():
    code = (
        "import sys\n"
        "sys.modules['django'] = None  # any 'import django...' now raises ImportError\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "import agents.engine, agents.engine.runner, agents.engine.step\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('django', 'rest_framework', 'celery', 'channels')"
        " and sys.modules[m] is not None)\n"
        "print(bad)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "[]"


def _sma_plan():
    return sma_cross(10, 30, sizing=Sizing("equity_fraction", 0.5), stop="2 * atr_14")


def test_priming_history_then_stepping_matches_a_backtest_that_trades_from_the_same_bar():
    bars = sol_bars()
    lim = RiskLimits(daily_risk_budget=0.5, risk_per_trade=0.5)
    result = run_backtest(_sma_plan(), bars, lim, initial_cash=10_000.0, trade_from=300)
    primed = LiveEngine(_sma_plan(), lim, initial_cash=10_000.0, timeframe_s=H)
    primed.prime("SOLUSDT", bars.slice(0, 300))
    for i in range(300, len(bars)):
        primed.step("SOLUSDT", bars.candle(i))
    assert primed.decisions == result.decisions
    assert min(d.bar for d in result.decisions) >= 300
    assert len(result.trades) >= 5
    assert np.array(primed.equity).tobytes() == result.equity[300:].tobytes()
    # stepping the warm-up with entries off (what the execution agent does) is the same thing
    gated = LiveEngine(_sma_plan(), lim, initial_cash=10_000.0, timeframe_s=H)
    for i in range(len(bars)):
        gated.step("SOLUSDT", bars.candle(i), allow_entry=i >= 300)
    assert gated.decisions == result.decisions


def test_trimmed_live_history_keeps_bar_numbers_and_decisions_for_windowed_indicators():
    bars = sol_bars()
    p = sma_cross(10, 30, sizing=Sizing("equity_fraction", 0.5), stop="low_20[1]")  # windowed only: exact
    lim = RiskLimits(daily_risk_budget=None, risk_per_trade=None)
    result = run_backtest(p, bars, lim, initial_cash=10_000.0)
    trimmed = LiveEngine(p, lim, initial_cash=10_000.0, timeframe_s=H, max_history=p.warmup_bars)
    trimmed.run(bars)
    assert trimmed.machine.bar_offset["SOLUSDT"] > 900  # it really dropped old candles
    assert trimmed.decisions == result.decisions
    with pytest.raises(ConfigError) as caught:
        LiveEngine(p, lim, initial_cash=1.0, timeframe_s=H, max_history=p.warmup_bars - 1)
    assert list(caught.value.errors) == ["max_history"]


def test_force_exit_closes_the_position_at_the_next_open_and_blocks_nothing():
    bars = make_bars([(100, 100, 100, 100), (101, 101, 101, 101), (102, 102, 102, 102), (103, 103, 103, 103)])
    live = LiveEngine(plan("close >= 100", "close < 50"), limits(), initial_cash=1000.0, timeframe_s=H)
    live.step("TEST", bars.candle(0))
    live.step("TEST", bars.candle(1))  # entry fill at 101
    assert "TEST" in live.state.positions
    decided = live.step("TEST", bars.candle(2), force_exit=True, allow_entry=False)
    assert brief(decided) == [("trigger", 2, "exit"), ("order", 2, "exit")]
    decided = live.step("TEST", bars.candle(3), allow_entry=False)
    assert brief(decided) == [("fill", 3, "exit")]
    assert (decided[0].price, decided[0].pnl) == (103.0, 2.0)
    assert live.state.positions == {}


def test_limits_changed_between_candles_take_effect_at_once():
    bars = make_bars([(100, 100, 100, 100)] * 4)
    live = LiveEngine(plan("close >= 100", "close < 50"), limits(), initial_cash=1000.0, timeframe_s=H)
    live.machine.limits = limits(min_notional=1_000_000.0)
    decided = live.step("TEST", bars.candle(0))
    assert brief(decided) == [("trigger", 0, "entry"), ("block", 0, "min_notional")]
    live.machine.mode = "live"
    assert brief(live.step("TEST", bars.candle(1)))[1] == ("block", 1, "live_mode_not_confirmed")


def test_a_live_engine_without_a_log_returns_the_same_decisions_and_keeps_none():
    bars = sol_bars()
    lim = RiskLimits(daily_risk_budget=None, risk_per_trade=None)
    p = sma_cross(10, 30, stop="low_20[1]")
    logged = LiveEngine(p, lim, initial_cash=10_000.0, timeframe_s=H)
    bounded = LiveEngine(p, lim, initial_cash=10_000.0, timeframe_s=H, keep_log=False, max_history=p.warmup_bars)
    returned = []
    for i in range(len(bars)):
        logged.step("SOLUSDT", bars.candle(i))
        returned += bounded.step("SOLUSDT", bars.candle(i))
    assert returned == logged.decisions
    assert len(returned) > 50
    assert (bounded.decisions, bounded.machine.trades, bounded.machine.ledger, bounded.equity) == ([], [], [], [])
    assert bounded.state.cash == logged.state.cash


class _Stop(Exception):
    pass


def test_progress_reports_growing_bar_counts_without_changing_the_result_and_can_stop_the_run():
    bars = sol_bars()
    p = sma_cross(5, 15, stop="2 * atr_14")
    lim = RiskLimits(daily_risk_budget=None, risk_per_trade=None)
    seen = []
    with_progress = run_backtest(p, bars, lim, initial_cash=10_000.0, progress=seen.append, progress_every=100)
    assert with_progress.decisions == run_backtest(p, bars, lim, initial_cash=10_000.0).decisions
    assert len(seen) >= 5
    assert seen == sorted(seen)
    assert all(b - a >= 100 for a, b in zip(seen, seen[1:], strict=False))

    def cancel(done):
        raise _Stop(done)

    with pytest.raises(_Stop):
        run_backtest(p, bars, lim, initial_cash=10_000.0, progress=cancel, progress_every=100)
    multi = other_symbols()
    several = sma_cross(5, 15, symbols=list(multi))
    seen.clear()
    run_backtest(several, multi, lim, initial_cash=10_000.0, progress=seen.append, progress_every=300)
    assert seen
    assert seen == sorted(seen)
