"""backtests.metrics against values computed by hand."""

import math

import numpy as np
import pytest

from backtests import metrics

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


def test_lttb_python_and_numpy_scans_pick_the_same_points(monkeypatch):
    rng = np.random.default_rng(1)
    x = np.arange(20_000, dtype=float)
    y = np.cumsum(rng.normal(size=20_000))
    for threshold in (3, 100, 1000, 5000):
        monkeypatch.setattr(metrics, "SMALL_BUCKET", 0)
        numpy_scan = metrics.lttb(x, y, threshold)
        monkeypatch.setattr(metrics, "SMALL_BUCKET", 10**9)
        python_scan = metrics.lttb(x, y, threshold)
        assert np.array_equal(numpy_scan, python_scan)
        assert len(numpy_scan) == threshold
