"""The engine runner's optional progress callback: reports bars handled, never changes the result,
and an exception raised inside it stops the run (how a cancel reaches a running backtest)."""

import numpy as np
import pytest

from agents.engine import Bars, RiskLimits, run_backtest, sma_cross

from .conftest import OPEN_LIMITS


def gbm_bars(n: int) -> Bars:
    rng = np.random.default_rng(3)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.002, n)))
    open_ = np.concatenate(([100.0], close[:-1]))
    ts = 1_700_006_400 + 60 * np.arange(n, dtype=np.int64)
    return Bars(ts, open_, np.maximum(open_, close) * 1.001, np.minimum(open_, close) * 0.999, close, np.ones(n), 60)


LIMITS = RiskLimits.from_mapping({**OPEN_LIMITS, "fee_rate": "0.001", "slippage_bps": "5"})


def test_progress_reports_growing_bar_counts_and_leaves_the_result_unchanged():
    bars = gbm_bars(100_000)
    plan = sma_cross(5, 20, symbols="SYN")
    plain = run_backtest(plan, bars, LIMITS, initial_cash=10_000.0)
    seen = []
    watched = run_backtest(plan, bars, LIMITS, initial_cash=10_000.0, progress=seen.append, progress_every=10_000)

    assert len(seen) >= 9
    assert seen == sorted(seen)
    assert all(b - a >= 10_000 for a, b in zip(seen, seen[1:], strict=False))
    assert seen[0] >= 10_000
    assert seen[-1] < 100_000
    assert np.array_equal(plain.equity, watched.equity)
    assert plain.trades == watched.trades


def test_an_exception_in_progress_stops_the_run():
    class Stop(Exception):
        pass

    calls = []

    def stop_at_half(done):
        calls.append(done)
        if done >= 50_000:
            raise Stop

    with pytest.raises(Stop):
        run_backtest(
            sma_cross(5, 20, symbols="SYN"), gbm_bars(100_000), LIMITS, initial_cash=10_000.0,
            progress=stop_at_half, progress_every=5_000,
        )  # fmt: skip
    assert 50_000 <= calls[-1] < 60_000
