"""Shadow trades of blocked entries: their numbers, that they never touch the real books, and that the
live stepper and the backtest give the same outcomes for the same blocks."""

import pickle
from collections import Counter

import numpy as np
import pytest

from agents.engine import LiveEngine, RiskLimits, Sizing, run_backtest

from .test_engine_runner import PARITY_CASES, T0, H, _other_symbols, _sol, limits, make_bars, plan

# min_notional 1000 blocks every 1-unit order at ~100: each entry signal opens a shadow
BLOCKING = {"min_notional": 1000.0, "fee_rate": 0.001, "slippage_bps": 10}
SLIP = 10 / 10_000


def _run_both(p, bars, lim, cash=10_000.0):
    result = run_backtest(p, bars, lim, initial_cash=cash)
    live = LiveEngine(p, lim, initial_cash=cash, timeframe_s=bars.timeframe_s)
    live.run(bars)
    assert live.decisions == result.decisions
    assert live.block_outcomes == result.block_outcomes
    return result


def test_a_blocked_entry_whose_shadow_hits_its_stop_records_the_stops_loss():
    bars = make_bars(
        [
            (100, 100, 100, 100),  # entry signal, blocked (min_notional): shadow waits for the next open
            (101, 102, 99, 99.5),  # shadow fills at 101 + slippage; stop = entry - 5 not touched
            (100, 100, 94, 97),  # stop touched (the open is above it): sells at the stop, with slippage
            (97, 98, 96, 97),
        ]
    )
    result = _run_both(plan("close >= 100", stop="entry - 5"), bars, limits(**BLOCKING))
    blocks = [d for d in result.decisions if d.kind == "block"]
    assert [(d.bar, d.block.reason) for d in blocks] == [(0, "min_notional")]
    assert result.trades == []
    assert result.equity.tolist() == [10_000.0] * 4
    (d,) = result.block_outcomes
    o = d.outcome
    entry = 101 * (1 + SLIP)
    stop = entry - 5
    exit_ = stop * (1 - SLIP)
    fees = entry * 0.001 + exit_ * 0.001
    assert (d.kind, d.chain, d.symbol, d.bar, d.ts, d.rule) == (
        "block_outcome",
        blocks[0].chain,
        "TEST",
        2,
        T0 + 2 * H,
        "stop",
    )
    assert (o.status, o.exit_reason, o.reason, o.reason_class) == ("closed", "stop", "min_notional", "risk_valid")
    assert (o.entry_bar, o.entry_ts, o.entry_price, o.exit_price, o.stop) == (1, T0 + H, entry, exit_, stop)
    assert o.fees == fees
    assert o.pnl == (exit_ - entry) - fees
    assert o.pnl < 0
    assert o.pnl_pct == pytest.approx(o.pnl / entry * 100)
    assert o.holding_s == H
    assert o.mae == entry - exit_  # the worst price held: the stop's fill (below bar 1's low of 99)
    payload = d.payload()
    assert payload["outcome"]["exit_reason"] == "stop"
    assert payload["outcome"]["pnl"] == repr(o.pnl)


def test_a_blocked_entry_whose_shadow_hits_its_target_records_the_gain():
    bars = make_bars(
        [
            (100, 100, 100, 100),  # blocked
            (101, 102, 98, 99),  # fills at 101+; target entry + 3 not reached; the low is the MAE
            (101, 105, 100, 99),  # target touched: a limit order, filled at the target without slippage
        ]
    )
    result = _run_both(plan("close >= 100", stop="entry - 5", target="entry + 3"), bars, limits(**BLOCKING))
    (d,) = result.block_outcomes
    o = d.outcome
    entry = 101 * (1 + SLIP)
    target = entry + 3
    fees = entry * 0.001 + target * 0.001
    assert (o.status, o.exit_reason, o.exit_bar, o.exit_price) == ("closed", "target", 2, target)
    assert o.pnl == 3 - fees
    assert o.pnl > 0
    assert o.mae == entry - 98


def test_an_exit_signal_closes_the_shadow_at_the_next_open_and_an_unfinished_one_stays_open_marked():
    bars = make_bars(
        [
            (100, 100, 100, 100),  # blocked: shadow A
            (101, 103, 100.5, 101),  # A fills; a new signal is blocked: shadow B
            (102, 103, 96, 97),  # exit signal (close < 98): A and B exit at the next open
            (96, 97, 95, 96),  # both exit at 96 - slippage
            (100, 101, 99, 100),  # blocked again: shadow C fills at the next open
            (99, 104, 98, 103),  # C still held at the end: open, marked at the last close
        ]
    )
    result = _run_both(plan("close >= 100", "close < 98"), bars, limits(**BLOCKING))
    a, b, c = result.block_outcomes
    exit_ = 96 * (1 - SLIP)
    assert [(x.outcome.status, x.outcome.exit_reason, x.bar) for x in (a, b)] == [("closed", "exit", 3)] * 2
    assert a.outcome.exit_price == b.outcome.exit_price == exit_
    assert a.chain < b.chain
    assert (c.outcome.status, c.outcome.exit_reason, c.outcome.exit_price) == ("open", "open", 103.0)
    assert c.outcome.pnl == 103 - 99 * (1 + SLIP) - 99 * (1 + SLIP) * 0.001


@pytest.mark.parametrize("name", sorted(PARITY_CASES))
def test_live_and_backtest_give_the_same_outcomes_for_the_same_blocks_on_the_shipped_candles(name):
    p, lim = PARITY_CASES[name]
    bars = _sol()
    result = _run_both(p, bars, RiskLimits(**lim))
    blocked = {d.chain for d in result.decisions if d.kind == "block"}
    assert {d.chain for d in result.block_outcomes} <= blocked


def test_shadows_never_change_the_real_decisions_trades_or_equity():
    bars = _sol()
    for p, lim in PARITY_CASES.values():
        with_ = run_backtest(p, bars, RiskLimits(**lim), initial_cash=10_000.0)
        without = run_backtest(p, bars, RiskLimits(**lim), initial_cash=10_000.0, shadows=False)
        assert with_.decisions == without.decisions
        assert with_.trades == without.trades
        assert with_.equity.tobytes() == without.equity.tobytes()
        assert without.block_outcomes == []


def _closed(outcomes):
    return [d for d in outcomes if d.outcome.status == "closed"]


def test_stop_and_target_outcomes_on_the_shipped_candles_follow_the_candles():
    """Each closed shadow re-derived from the raw candles: nothing touched its levels before the exit
    bar, the exit bar did, and the P&L is the fills' difference less both fees."""
    bars = _sol()
    exits = Counter()
    for name in ("breakout_cost_gate", "breakout_budget", "rsi_reversion_cooldown"):
        p, lim = PARITY_CASES[name]
        result = run_backtest(p, bars, RiskLimits(**lim), initial_cash=10_000.0)
        for d in _closed(result.block_outcomes):
            o = d.outcome
            held = slice(o.entry_bar, o.exit_bar)
            if o.stop is not None:
                assert not (bars.low[held] <= o.stop).any()
            if o.target is not None:
                assert not (bars.high[held] >= o.target).any()
            if o.exit_reason == "stop":
                assert bars.low[o.exit_bar] <= o.stop
                assert o.exit_price <= o.stop
                assert o.pnl < 0
            elif o.exit_reason == "target":
                assert bars.high[o.exit_bar] >= o.target
                assert o.exit_price >= o.target > o.entry_price
            gross = (o.exit_price - o.entry_price) * o.qty
            assert o.pnl == pytest.approx(gross - o.fees, abs=1e-9)
            assert o.mae >= 0
            assert o.mae >= -min(0.0, gross)
            exits[o.exit_reason] += 1
    assert exits["stop"] > 10
    assert exits["target"] > 10
    assert exits["exit"] > 5


def test_several_symbols_give_the_same_outcomes_live_and_in_the_backtest():
    bars = _other_symbols()
    from agents.engine import Plan, SymbolPlan

    sizing = Sizing("equity_fraction", 0.5)
    p = Plan(
        "three",
        (
            SymbolPlan("SOLUSDT", "crosses_above(sma_5, sma_15)", "crosses_below(sma_5, sma_15)", "2 * atr_14"),
            SymbolPlan("INVUSDT", "crosses_above(sma_8, sma_21)", "crosses_below(sma_8, sma_21)", None, "3 * atr_14"),
            SymbolPlan("GAPUSDT", "close < low_10[1]", "close > sma_10", "2 * atr_14", None, "short", sizing),
        ),
    )
    lim = RiskLimits(max_open_positions=1, max_trades_per_day=4, daily_risk_budget=0.5, risk_per_trade=0.5)
    result = run_backtest(p, bars, lim, initial_cash=10_000.0)
    live = LiveEngine(p, lim, initial_cash=10_000.0, timeframe_s=H)
    live.run(bars)
    assert live.block_outcomes == result.block_outcomes
    assert len({d.symbol for d in result.block_outcomes}) == 3
    assert any(d.outcome.side == "short" for d in result.block_outcomes)


def test_a_checkpointed_live_engine_keeps_following_its_shadows():
    """The execution agent pickles the engine after every candle and keeps no log: the outcomes each
    step returns are still exactly the backtest's."""
    p, lim = PARITY_CASES["breakout_cost_gate"]
    lim = RiskLimits(**lim)
    bars = _sol()
    result = run_backtest(p, bars, lim, initial_cash=10_000.0)
    engine = LiveEngine(p, lim, initial_cash=10_000.0, timeframe_s=H, max_history=p.warmup_bars, keep_log=False)
    returned = []
    for i in range(len(bars)):
        returned += [d for d in engine.step("SOLUSDT", bars.candle(i)) if d.kind == "block_outcome"]
        if i % 7 == 0:
            engine = pickle.loads(pickle.dumps(engine))  # noqa: S301 - our own bytes
    assert returned == _closed(result.block_outcomes)
    assert len(returned) > 50
    assert np.isfinite([d.pnl for d in returned]).all()


def test_what_if_on_one_limit_puts_the_scorecard_beside_the_equity():
    from agents.engine.errors import ConfigError
    from agents.engine.whatif import sweep_limit

    p, lim = PARITY_CASES["sma_cross_symbol_cap"]
    lim = RiskLimits(**lim)
    bars = _sol()
    out = sweep_limit(p, bars, lim, "max_trades_per_symbol_per_day", [2, None], initial_cash=10_000.0)
    base = run_backtest(p, bars, lim, initial_cash=10_000.0)
    assert out["baseline"]["final_equity"] == base.final_equity
    assert out["baseline"]["blocks"] == sum(1 for d in base.decisions if d.kind == "block") > 0
    closed = [d.outcome for d in base.block_outcomes if d.outcome.status == "closed"]
    assert out["baseline"]["net"] == sum(-o.pnl for o in closed if o.pnl < 0) - sum(o.pnl for o in closed if o.pnl > 0)
    relaxed, uncapped = out["runs"]
    assert relaxed["blocks"] < out["baseline"]["blocks"]
    uncapped_run = run_backtest(
        p, bars, RiskLimits(**(PARITY_CASES["sma_cross_symbol_cap"][1] | {"max_trades_per_symbol_per_day": None})),
        initial_cash=10_000.0,
    )  # fmt: skip
    assert uncapped["final_equity"] == uncapped_run.final_equity
    assert uncapped["change"]["equity"] == uncapped_run.final_equity - base.final_equity
    assert uncapped["change"]["net"] == uncapped["net"] - out["baseline"]["net"]
    with pytest.raises(ConfigError):
        sweep_limit(p, bars, lim, "no_such_limit", [1], initial_cash=10_000.0)


def _run_both_with(p, bars, lim, *, cash, instruments):
    result = run_backtest(p, bars, lim, initial_cash=cash, instruments=instruments)
    live = LiveEngine(p, lim, initial_cash=cash, timeframe_s=bars.timeframe_s, instruments=instruments)
    live.run(bars)
    assert live.decisions == result.decisions
    assert live.block_outcomes == result.block_outcomes
    return result


def test_an_entry_blocked_at_its_fill_is_followed_from_that_open():
    """The open gaps above what the cash buys (whole units): the order sized on the close is refused
    at the fill; its shadow fills at that open, as the order would have, and hits its stop there."""
    from decimal import Decimal

    from agents.engine import Instrument

    bars = make_bars(
        [
            (100, 100, 100, 100),  # entry signal: 1 unit at ~100 fits the 105 of cash
            (110, 111, 98, 99),  # the open gaps to 110: no whole unit fits; the stop is touched on this bar
            (99, 100, 98, 99),
        ]
    )
    lim = limits(fee_rate=0.001, slippage_bps=10)
    whole_units = {"TEST": Instrument("TEST", Decimal(1))}
    result = _run_both_with(plan("close >= 100", stop="entry - 5"), bars, lim, cash=105.0, instruments=whole_units)
    (block,) = [d for d in result.decisions if d.kind == "block"]
    assert (block.bar, block.block.reason, block.block.detail["at"]) == (1, "insufficient_cash", "fill")
    assert result.trades == []
    (d,) = result.block_outcomes
    o = d.outcome
    entry = 110 * (1 + SLIP)
    exit_ = (entry - 5) * (1 - SLIP)
    assert d.chain == block.chain
    assert (o.reason, o.block_ts, o.entry_bar, o.entry_ts, o.entry_price, o.qty) == (
        "insufficient_cash",
        T0 + H,
        1,
        T0 + H,
        entry,
        1.0,
    )
    assert (o.status, o.exit_reason, o.exit_bar, o.exit_price) == ("closed", "stop", 1, exit_)
    assert o.pnl == (exit_ - entry) - (entry + exit_) * 0.001


def test_an_entry_sized_at_the_fill_and_refused_there_is_followed_to_its_target():
    """``sizing.price == "fill"``: the order passes on the close (1 unit at 100 > min notional 50); at
    the fill the open has fallen to 40, under the minimum notional: blocked at the fill, followed."""
    from agents.engine import Sizing

    bars = make_bars(
        [
            (100, 100, 100, 100),  # entry signal
            (40, 41, 39, 40),  # 1 unit at 40 is under the minimum notional: blocked at the fill
            (41, 45, 40, 44),  # the shadow's target (entry + 3) is touched
        ]
    )
    p = plan("close >= 100", target="entry + 3", sizing=Sizing("fixed_qty", 1, "fill"))
    result = _run_both(p, bars, limits(min_notional=50.0, fee_rate=0.001, slippage_bps=10))
    (block,) = [d for d in result.decisions if d.kind == "block"]
    assert (block.bar, block.block.reason, block.block.detail["at"]) == (1, "min_notional", "fill")
    (d,) = result.block_outcomes
    o = d.outcome
    entry = 40 * (1 + SLIP)
    assert (o.reason, o.entry_bar, o.entry_price, o.exit_reason, o.exit_bar, o.exit_price) == (
        "min_notional",
        1,
        entry,
        "target",
        2,
        entry + 3,
    )
    assert o.pnl > 0


def test_with_close_at_end_a_shadow_still_held_is_closed_with_end_of_data():
    bars = make_bars(
        [
            (100, 100, 100, 100),  # blocked: fills at the next open
            (99, 104, 98, 103),  # still held after the last bar
            (105, 106, 104, 105),
        ]
    )
    p, lim = plan("close >= 100 and close < 101", stop="entry - 50"), limits(**BLOCKING)
    held = run_backtest(p, bars, lim, initial_cash=10_000.0)
    closed = run_backtest(p, bars, lim, initial_cash=10_000.0, close_at_end=True)
    assert [d.outcome.status for d in held.block_outcomes] == ["open"]
    (d,) = closed.block_outcomes
    o = d.outcome
    entry = 99 * (1 + SLIP)
    exit_ = 105 * (1 - SLIP)  # the last bar's open, as a real position is closed at the end
    assert (o.status, o.exit_reason, o.exit_bar) == ("closed", "end_of_data", 2)
    assert (o.entry_price, o.exit_price) == (entry, exit_)
    assert o.pnl == (exit_ - entry) - (entry + exit_) * 0.001
    assert (d.rule, d.bar, d.ts) == ("end_of_data", 2, T0 + 2 * H)
    assert closed.decisions == held.decisions  # the real run has nothing to close
