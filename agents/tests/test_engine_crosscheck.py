"""Cross-check: the engine against backtesting.py 0.6.6 on the shipped real SOL/USDT candles.

Settings matched: both fill a signal on a bar's close at the next bar's open; a fixed size of 50
whole units (backtesting.py sizes "all equity" at the fill price in whole units, the engine sizes on
the signal close, so a fixed size is the like-for-like setting); commission 0.1% of the filled
value on entry and on exit (backtesting.py ``commission=0.001``, engine ``fee_rate=0.001``); no
spread/slippage (backtesting.py 0.6.6 applies ``spread`` to entries only, the engine's slippage works
on both sides); every risk cap off; cash large enough that no order is refused. backtesting.py's
``crossover`` is strict on the previous bar (``<``) where the rule language's ``crosses_above`` is
``<=``: they differ only on an exact tie of the two SMAs, which these candles do not have.

With a stop: the plan's ``stop="low_N"`` (a price level read on the signal bar) against
``buy(sl=low_N[-1])``; both fill a touched stop at the stop price, or at the open when the bar
gaps through it, checked from the entry bar on.
"""

from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from backtesting import Backtest, Strategy
from backtesting.lib import crossover

from agents.engine import Bars, Instrument, RiskLimits, Sizing, run_backtest, sma_cross

pytestmark = pytest.mark.filterwarnings("ignore:DatetimeIndex.dayofweek is deprecated")

SOL = Path(__file__).resolve().parents[2] / "market" / "data" / "SOLUSDT-1h.csv"  # shipped with the product
SIZE = 50


def _sma(values, n):
    return pd.Series(values).rolling(n).mean()


def _low(values, n):
    return pd.Series(values).rolling(n).min()


def _reference(fast: int, slow: int, stop_lookback: int | None = None):
    class SmaCross(Strategy):
        def init(self):
            self.fast = self.I(_sma, self.data.Close, fast)
            self.slow = self.I(_sma, self.data.Close, slow)
            if stop_lookback:
                self.low = self.I(_low, self.data.Low, stop_lookback)

        def next(self):
            if crossover(self.fast, self.slow):
                if not self.position:
                    self.buy(size=SIZE, sl=self.low[-1] if stop_lookback else None)
            elif crossover(self.slow, self.fast):
                self.position.close()

    frame = pd.read_csv(SOL, index_col=0, parse_dates=True)
    bt = Backtest(frame, SmaCross, cash=100_000, commission=0.001, spread=0.0, finalize_trades=False)
    return bt.run()


@pytest.mark.parametrize(
    ("fast", "slow", "stop_lookback"), [(10, 30, None), (5, 20, None), (20, 50, None), (10, 30, 3), (10, 30, 10)]
)
def test_sma_cross_matches_backtesting_py_trade_for_trade_and_in_final_equity(fast, slow, stop_lookback):
    stats = _reference(fast, slow, stop_lookback)
    ref = stats._trades
    limits = RiskLimits(
        daily_risk_budget=None,
        risk_per_trade=None,
        max_trades_per_day=None,
        max_trades_per_symbol_per_day=None,
        max_open_positions=None,
        min_notional=0,
        max_cost_to_reward=None,
        fee_rate=0.001,
        slippage_bps=0,
    )
    stop = f"low_{stop_lookback}" if stop_lookback else None
    ours = run_backtest(
        sma_cross(fast, slow, sizing=Sizing("fixed_qty", SIZE), stop=stop),
        Bars.from_csv(SOL),
        limits,
        initial_cash=100_000,
        instruments={"SOLUSDT": Instrument("SOLUSDT", Decimal(1))},
    )
    assert len(ref) >= 5
    assert len(ours.trades) == len(ref)
    for trade, (_, row) in zip(ours.trades, ref.iterrows(), strict=True):
        assert (trade.entry_bar, trade.exit_bar, trade.qty) == (row.EntryBar, row.ExitBar, row.Size)
        assert trade.entry_price == pytest.approx(row.EntryPrice, rel=1e-12)
        assert trade.exit_price == pytest.approx(row.ExitPrice, rel=1e-12)
        assert trade.pnl == pytest.approx(row.PnL, rel=1e-9)
    assert ours.final_equity == pytest.approx(stats["Equity Final [$]"], rel=1e-6)
    stops = sum(t.exit_reason == "stop" for t in ours.trades)
    assert stops >= 3 if stop_lookback else stops == 0
    # a position still open at the end is marked at the last close by both
    assert bool(ours.state.positions) == bool(stats._strategy.position)


# --- all-in at the fill, closed at the end ---------------------------------------------------------
# backtesting.py's default ``buy()`` sizes "all equity" (1 - epsilon) in whole units at the fill price,
# commission included; ``finalize_trades=True`` closes what is still open at the last bar's open. The
# engine's ``Sizing("equity_fraction", 1, price="fill")`` and ``close_at_end=True`` say the same.
def _low_priced_series(n: int = 3000, seed: int = 11) -> pd.DataFrame:
    """A random walk near 0.002 quote (a meme-coin price): millions of units per all-in trade."""
    rng = np.random.default_rng(seed)
    close = 0.002 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.r_[0.002, close[:-1]] * np.exp(rng.normal(0, 0.002, n))  # small gaps at the open
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.004, n)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.004, n)))
    index = pd.date_range("2024-01-01", periods=n, freq="1h", name="timestamp")
    frame = pd.DataFrame({"Open": open_, "High": high, "Low": low, "Close": close, "Volume": 1e9}, index=index)
    return frame.round(10)  # prices as an exchange would quote them


def _bars(frame: pd.DataFrame) -> Bars:
    ts = (frame.index.asi8 // 10**9).astype(np.int64)
    cols = [frame[c].to_numpy(dtype=np.float64) for c in ("Open", "High", "Low", "Close", "Volume")]
    return Bars(ts, *cols, 3600)


def _reference_all_in(frame: pd.DataFrame, fast: int, slow: int, cash: float, stop_lookback: int | None):
    class SmaCrossAllIn(Strategy):
        def init(self):
            self.fast = self.I(_sma, self.data.Close, fast)
            self.slow = self.I(_sma, self.data.Close, slow)
            if stop_lookback:
                self.low = self.I(_low, self.data.Low, stop_lookback)

        def next(self):
            if crossover(self.fast, self.slow):
                if not self.position:
                    self.buy(sl=self.low[-1] if stop_lookback else None)
            elif crossover(self.slow, self.fast):
                self.position.close()

    bt = Backtest(frame, SmaCrossAllIn, cash=cash, commission=0.001, spread=0.0, finalize_trades=True)
    return bt.run()


NO_LIMITS = {
    "daily_risk_budget": None,
    "risk_per_trade": None,
    "max_trades_per_day": None,
    "max_trades_per_symbol_per_day": None,
    "max_open_positions": None,
    "min_notional": 0,
    "max_cost_to_reward": None,
    "fee_rate": 0.001,
    "slippage_bps": 0,
}


@pytest.mark.parametrize(
    ("data", "fast", "slow", "stop_lookback", "cash"),
    [
        ("sol", 10, 30, None, 100_000),
        ("sol", 5, 20, None, 100_000),
        ("sol", 10, 30, 10, 100_000),
        ("sol", 20, 50, None, 12_345.67),
        ("low", 10, 30, None, 10_000),
        ("low", 5, 20, None, 10_000),
        ("low", 10, 30, 10, 10_000),
    ],
)
def test_all_in_at_the_fill_closed_at_the_end_matches_backtesting_py(data, fast, slow, stop_lookback, cash):
    frame = pd.read_csv(SOL, index_col=0, parse_dates=True) if data == "sol" else _low_priced_series()
    stats = _reference_all_in(frame, fast, slow, cash, stop_lookback)
    ref = stats._trades
    plan = sma_cross(
        fast,
        slow,
        symbols=["X"],
        sizing=Sizing("equity_fraction", 1, price="fill"),
        stop=f"low_{stop_lookback}" if stop_lookback else None,
    )
    ours = run_backtest(
        plan,
        _bars(frame),
        RiskLimits(**NO_LIMITS),
        initial_cash=cash,
        instruments={"X": Instrument("X", Decimal(1))},
        close_at_end=True,
    )
    # backtesting.py's finalize would also fill an entry ordered on the very last close; none here
    assert not any(d.kind == "order" and d.intent == "entry" and d.bar == len(frame) - 1 for d in ours.decisions)
    assert len(ref) >= 5
    assert len(ours.trades) == len(ref)
    if data == "low":
        assert min(t.qty for t in ours.trades) > 1_000_000  # millions of units: floats near their limits
        assert ours.trades[-1].exit_reason == "end_of_data"  # the series ends in a position: finalize closes it
    for trade, (_, row) in zip(ours.trades, ref.iterrows(), strict=True):
        assert (trade.entry_bar, trade.exit_bar, trade.qty) == (row.EntryBar, row.ExitBar, row.Size)
        assert trade.entry_price == pytest.approx(row.EntryPrice, rel=1e-12)
        assert trade.exit_price == pytest.approx(row.ExitPrice, rel=1e-12)
        assert trade.pnl == pytest.approx(row.PnL, rel=1e-9, abs=1e-9 * cash)
    assert ours.final_equity == pytest.approx(stats["Equity Final [$]"], rel=1e-9)
    assert not ours.state.positions
    assert not stats._strategy.position
    assert ours.equity[-1] == pytest.approx(stats._equity_curve["Equity"].iloc[-1], rel=1e-9)
    stops = sum(t.exit_reason == "stop" for t in ours.trades)
    assert stops >= 1 if stop_lookback else stops == 0


def test_close_at_end_closes_at_the_last_open_with_its_fee():
    bars = _bars(_low_priced_series())
    plan = sma_cross(10, 30, symbols=["X"], sizing=Sizing("equity_fraction", 1, price="fill"))
    limits = RiskLimits(**NO_LIMITS)
    instruments = {"X": Instrument("X", Decimal(1))}
    kept = run_backtest(plan, bars, limits, initial_cash=100_000, instruments=instruments)
    closed = run_backtest(plan, bars, limits, initial_cash=100_000, instruments=instruments, close_at_end=True)
    assert kept.state.positions  # the series ends while in a position
    pos = kept.state.positions["X"]
    last = closed.trades[-1]
    assert last.exit_reason == "end_of_data"
    assert last.exit_bar == len(bars) - 1
    assert last.exit_price == bars.open[-1]
    assert last.qty == pos.qty
    fee = bars.open[-1] * pos.qty * 0.001
    assert last.fees == pytest.approx(pos.entry_fee + fee, rel=1e-12)
    assert closed.final_equity == pytest.approx(kept.state.cash + pos.qty * bars.open[-1] - fee, rel=1e-12)
    assert closed.trades[:-1] == kept.trades
    assert closed.equity[:-1].tolist() == kept.equity[:-1].tolist()  # only the last point changes
