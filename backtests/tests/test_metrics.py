"""backtests.metrics against values computed by hand."""

import math

import numpy as np
import pytest

from agents.engine.machine import Trade
from backtests import metrics, portfolio
from backtests.results import summarize

DAY = 86_400


def small_run(**overrides):
    args = {
        "equity": np.array([110.0, 99.0, 121.0]),
        "ts": np.array([0, DAY, 2 * DAY]),
        "timeframe_s": DAY,
        "initial_cash": 100.0,
        "pnls": [10.0, -5.0, 20.0, -5.0],
        "entry_values": [100.0, 100.0, 200.0, 50.0],
        "fees": 1.5,
        "bars_in_position": 2,
    }
    args.update(overrides)
    return metrics.compute(**args)


def test_return_risk_and_drawdown_metrics():
    m = small_run()
    r = [0.1, -0.1, 121 / 99 - 1]  # each bar against the one before, the first against the cash
    mean = sum(r) / 3
    std = math.sqrt(sum((x - mean) ** 2 for x in r) / 2)
    downside = math.sqrt(0.1**2 / 3)

    assert m["total_return"] == pytest.approx(0.21)
    assert m["final_equity"] == 121.0
    assert m["span_days"] == 3
    assert m["cagr"] == pytest.approx(1.21 ** (365 / 3) - 1)
    assert m["volatility"] == pytest.approx(std * math.sqrt(365))
    assert m["sharpe"] == pytest.approx(mean / std * math.sqrt(365))
    assert m["sortino"] == pytest.approx(mean / downside * math.sqrt(365))
    assert m["max_drawdown"] == pytest.approx(-0.1)  # 110 -> 99
    assert m["max_drawdown_duration_bars"] == 1
    assert m["max_drawdown_duration_s"] == 2 * DAY  # peak at bar 0's close, regained at bar 2's close
    assert m["calmar"] == pytest.approx((1.21 ** (365 / 3) - 1) / 0.1)
    assert m["exposure"] == pytest.approx(2 / 3)
    assert m["fees"] == 1.5


def test_trade_metrics():
    m = small_run()
    assert m["trades"] == 4
    assert m["win_rate"] == 0.5
    assert m["gross_profit"] == 30.0
    assert m["gross_loss"] == 10.0
    assert m["profit_factor"] == 3.0
    assert m["expectancy"] == m["avg_trade"] == 5.0
    assert m["best_trade"] == 20.0
    assert m["worst_trade"] == -5.0
    assert m["avg_trade_return"] == pytest.approx((0.1 - 0.05 + 0.1 - 0.1) / 4)
    assert m["best_trade_return"] == pytest.approx(0.1)
    assert m["worst_trade_return"] == pytest.approx(-0.1)


def test_undefined_metrics_are_none_not_nan():
    m = small_run(equity=np.array([100.0, 100.0, 100.0]), pnls=[], entry_values=[], bars_in_position=0)
    assert m["total_return"] == 0.0
    assert m["sharpe"] is None
    assert m["sortino"] is None
    assert m["calmar"] is None
    assert m["profit_factor"] is None
    assert m["win_rate"] is None
    assert m["max_drawdown"] == 0.0
    assert m["max_drawdown_duration_bars"] == 0


def test_a_drawdown_never_regained_lasts_to_the_end():
    equity = np.array([100.0, 120.0, 90.0, 95.0, 110.0])
    ts = np.arange(5) * 3600
    bars, seconds = metrics.drawdown_duration(equity, ts, 100.0, 3600)
    assert bars == 3
    assert seconds == 5 * 3600 - 2 * 3600  # from bar 1's close to the last bar's close
    assert metrics.drawdown(equity, 100.0).min() == pytest.approx(90 / 120 - 1)


def test_lttb_keeps_the_ends_and_the_spike():
    y = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 9.0, 1.0, 1.0, 1.0, 1.0])
    x = np.arange(10, dtype=float)
    assert metrics.lttb(x, y, 3).tolist() == [0, 5, 9]
    assert metrics.lttb(x, y, 50).tolist() == list(range(10))
    picked = metrics.lttb(np.arange(100_000, dtype=float), np.sin(np.arange(100_000) / 5000), 1000)
    assert len(picked) == 1000
    assert picked[0] == 0
    assert picked[-1] == 99_999
    assert np.all(np.diff(picked) > 0)


def reference_lttb(x: list, y: list, threshold: int) -> list[int]:
    """Steinarsson's algorithm as written in the thesis (bucket i spans floor(i*every)+1 up to the next)."""
    n = len(x)
    every = (n - 2) / (threshold - 2)
    picked, a = [0], 0
    for i in range(threshold - 2):
        lo, hi = math.floor(i * every) + 1, math.floor((i + 1) * every) + 1
        nlo, nhi = hi, min(math.floor((i + 2) * every) + 1, n)
        avg_x, avg_y = sum(x[nlo:nhi]) / (nhi - nlo), sum(y[nlo:nhi]) / (nhi - nlo)
        areas = [abs((x[a] - avg_x) * (y[j] - y[a]) - (x[a] - x[j]) * (avg_y - y[a])) for j in range(lo, hi)]
        a = lo + areas.index(max(areas))
        picked.append(a)
    return [*picked, n - 1]


def test_lttb_picks_the_reference_algorithms_points():
    rng = np.random.default_rng(1)
    for n, threshold in ((20_000, 3), (20_000, 1000), (20_000, 5000), (4_321, 50), (100_003, 997)):
        x = np.arange(n, dtype=float) * 60 + 1.7e9  # epoch seconds, as the curves are drawn
        y = np.cumsum(rng.normal(size=n)) * 1234.5678 + 1e6
        assert metrics.lttb(x, y, threshold).tolist() == reference_lttb(x.tolist(), y.tolist(), threshold)


def test_snapshots_taken_in_one_pass_equal_a_chain_of_fills():

    rng = np.random.default_rng(3)
    fills, bar = [], 0
    for k in range(400):
        bar += int(rng.integers(0, 5))
        symbol = ("A", "B")[k // 2 % 2]
        price, qty, fee = float(rng.uniform(1, 2)), float(rng.uniform(0.1, 9)), float(rng.uniform(0, 0.01))
        side = "long" if k % 3 else "short"
        if k % 2 == 0:
            fills.append(portfolio.Fill(bar, bar * 60, symbol, "entry", side, qty, price, fee))
        else:
            fills.append(portfolio.Fill(bar, bar * 60, symbol, "exit", side, qty, price, fee, float(rng.normal())))
    starts = list(range(0, bar + 10, 7))
    kept, final = portfolio.states_before(1000.0, fills, starts)
    state, k, expected = portfolio.empty(1000.0), 0, []
    for start in starts:
        while k < len(fills) and fills[k].bar < start:
            state = portfolio.apply_fill(state, fills[k])
            k += 1
        expected.append(state)
    for fill in fills[k:]:
        state = portfolio.apply_fill(state, fill)
    assert kept == expected  # floats compared exactly
    assert [list(s) for s in kept] == [list(s) for s in expected]  # and the keys in the stored order
    assert final == state
    assert any(s["positions"] for s in kept)


def test_the_summary_sums_as_a_loop_over_the_trades_does():
    """Per symbol and per exit reason: Python's sums in trade order, to the last bit (numpy adds otherwise)."""

    rng = np.random.default_rng(11)
    trades = []
    for k in range(3000):
        entry_ts = 1_700_000_000 + 60 * k
        pnl = float(rng.normal() * 10.0 ** int(rng.integers(-3, 4)))
        trades.append(Trade(("A-USD", "B-USD", "C-USD")[k % 3], "long", k, k, k + 1, entry_ts,
                            entry_ts + 60 * int(rng.integers(1, 90)), float(rng.uniform(0.01, 5)),
                            float(rng.uniform(1, 100)), 1.0, 0.0, pnl if k % 17 else 0.0,
                            ("exit", "stop", "target")[int(rng.integers(0, 3))]))  # fmt: skip
    summary = summarize(trades, [], 1000.0)
    for column, key in (("per_symbol", "symbol"), ("per_exit_reason", "exit_reason")):
        for row in summary[column]:
            group = [t for t in trades if getattr(t, key) == row["key"]]
            returns = [t.pnl / (t.entry_price * t.qty) for t in group]
            assert row["trades"] == len(group)
            assert row["wins"] == sum(t.pnl > 0 for t in group)
            assert row["losses"] == sum(t.pnl < 0 for t in group)
            assert row["return"] == float(sum(t.pnl for t in group)) / 1000.0
            assert row["avg_trade_return"] == sum(returns) / len(returns)
            assert row["avg_duration_s"] == sum(t.exit_ts - t.entry_ts for t in group) / len(group)
    best = max(range(len(trades)), key=lambda i: trades[i].pnl)
    assert summary["best_trade"]["seq"] == best + 1
    assert summary["avg_duration_s"] == sum(t.exit_ts - t.entry_ts for t in trades) / len(trades)
