from pathlib import Path

import numpy as np
import pytest

from market.files import Row
from market.tests.factories import shipped_candles
from tradingops.celery import app

ROOT = Path(__file__).resolve().parents[2]
SOL_FILE = ROOT / "market" / "data" / "SOLUSDT-1h.csv"

# Every cap off: every crossing trades (the engine's numbers are then easy to hold against).
OPEN_LIMITS = {
    "daily_risk_budget": None,
    "risk_per_trade": None,
    "max_trades_per_day": None,
    "max_trades_per_symbol_per_day": None,
    "max_open_positions": None,
    "max_cost_to_reward": None,
    "min_notional": "0",
}


@pytest.fixture(autouse=True)
def tasks_go_to_the_broker():
    """Other apps' tests may leave tasks eager; here a task reaches a real worker (or, without one, is
    never sent: the ``db`` fixture's transaction never commits, so delay_on_commit does not fire)."""

    app.conf.task_always_eager = False
    return


@pytest.fixture
def sol_candles(sol):
    """The shipped real SOL/USDT 1h candles (1,000 bars), loaded through the market app's file loader."""
    assert len(shipped_candles(sol)) == 1000
    return sol


def sma_config(**overrides) -> dict:
    config = {
        "symbols": ["SOL-USDT"],
        "timeframe": "1h",
        "initial_cash": "10000",
        "fee_rate": "0.001",
        "slippage_bps": "5",
        "sizing": {"method": "equity_fraction", "value": "1"},
        "risk": dict(OPEN_LIMITS),
        "strategy": {"preset": "sma_cross", "params": {"fast": 10, "slow": 30}},
    }
    config.update(overrides)
    return config


def synthetic_rows(n: int, *, start_epoch: int = 1_700_006_400, step: int = 60, seed: int = 7):
    """Seeded GBM candles as market file rows (for ``market.services.candle_rows_upsert``)."""

    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.001, n)))
    open_ = np.concatenate(([100.0], close[:-1]))
    wick = np.abs(rng.normal(0.0, 0.0005, n))
    high = np.maximum(open_, close) * (1 + wick)
    low = np.minimum(open_, close) * (1 - wick)
    return [
        Row(i + 2, start_epoch + i * step, f"{o:.6f}", f"{h:.6f}", f"{lo:.6f}", f"{c:.6f}", "1")
        for i, (o, h, lo, c) in enumerate(zip(open_.tolist(), high.tolist(), low.tolist(), close.tolist(), strict=True))
    ]
