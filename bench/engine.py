"""Decision-engine micro-benchmark: an SMA-cross backtest over 1,000,000 synthetic 1m bars.

Run: ``.venv/bin/python bench/engine.py [--bars 1000000] [--fast 10] [--slow 20]``
Prints bars/s of ``run_backtest`` (indicators + rules + state machine + equity curve, best of
``--repeat`` runs) and the peak traced memory of one run. Synthetic bars: seeded geometric
Brownian motion, so every run sees the same prices.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from decimal import Decimal  # noqa: E402

from agents.engine import Bars, Instrument, RiskLimits, run_backtest, sma_cross  # noqa: E402

REFERENCE_BARS_PER_S = 130_000  # backtesting.py 0.6.6 on the same work, per issue 5


def synthetic_bars(n: int, seed: int = 7) -> Bars:
    """Seeded GBM 1m candles: open = previous close, high/low around the body."""
    rng = np.random.default_rng(seed)
    returns = rng.normal(0.0, 0.001, n)
    close = 100.0 * np.exp(np.cumsum(returns))
    open_ = np.empty(n)
    open_[0] = 100.0
    open_[1:] = close[:-1]
    wick = np.abs(rng.normal(0.0, 0.0005, n))
    high = np.maximum(open_, close) * (1 + wick)
    low = np.minimum(open_, close) * (1 - wick)
    ts = 1_700_000_000 - 1_700_000_000 % 86_400 + 60 * np.arange(n, dtype=np.int64)
    return Bars(ts, open_, high, low, close, rng.uniform(1, 100, n), 60)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--fast", type=int, default=10)
    parser.add_argument("--slow", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    bars = synthetic_bars(args.bars)
    plan = sma_cross(args.fast, args.slow, symbols="SYN")
    # All-in long with no commission and a fine lot, like backtesting.py's defaults; caps off so the
    # run measures the engine (every crossing trades), not the caps.
    limits = RiskLimits(
        daily_risk_budget=None,
        risk_per_trade=None,
        max_trades_per_day=None,
        max_trades_per_symbol_per_day=None,
        max_open_positions=None,
        min_notional=0,
        max_cost_to_reward=None,
        fee_rate=0.0,
        slippage_bps=0,
    )
    instruments = {"SYN": Instrument("SYN", Decimal("0.00000001"))}
    best = best_cpu = float("inf")
    result = None
    for _ in range(args.repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        result = run_backtest(plan, bars, limits, initial_cash=1_000_000, instruments=instruments)
        best = min(best, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    tracemalloc.start()
    run_backtest(plan, bars, limits, initial_cash=1_000_000, instruments=instruments)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rate = args.bars / best
    print(
        f"bars: {args.bars:,}  plan: {plan.name}  trades: {len(result.trades):,}  decisions: {len(result.decisions):,}"
    )
    print(
        f"wall: {best:.3f} s (best of {args.repeat})  bars/s: {rate:,.0f}  "
        f"vs backtesting.py's 130,000: {rate / REFERENCE_BARS_PER_S:.1f}x   (cpu {best_cpu:.3f} s)"
    )
    print(f"peak traced memory (one run): {peak / 2**20:.0f} MB   peak RSS of the process: {rss_mb:.0f} MB")
    print(f"final equity: {result.final_equity:.2f}")


if __name__ == "__main__":
    main()
