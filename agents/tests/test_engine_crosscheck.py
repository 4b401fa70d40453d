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
