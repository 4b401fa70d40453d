"""Decision-engine benchmark: an SMA-cross backtest over 1,000,000 synthetic 1m bars, ours vs backtesting.py.

Run: ``.venv/bin/python bench/engine.py [--bars 1000000] [--fast 10] [--slow 20] [--no-reference]``

Each side runs in its own subprocess on the same seeded GBM candles (so peak RSS is per side):
``agents.engine.run_backtest`` (indicators + rules + state machine + equity curve; best of
``--repeat`` wall times, then one run under tracemalloc) and backtesting.py 0.6.6 with the same
strategy (next-open fills, no commission, all-in long). Prints bars/s, the ratio and peak memory;
then the live path's candles/s (``LiveEngine.step`` for 20 symbols on a bounded history: the
execution agent's engine work per candle, without the database).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import tracemalloc
from decimal import Decimal
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import warnings  # noqa: E402

import pandas as pd  # noqa: E402
from backtesting import Backtest, Strategy  # noqa: E402
from backtesting.lib import crossover  # noqa: E402

from agents.engine import (  # noqa: E402
    Bars,
    Instrument,
    LiveEngine,  # noqa: E402
    RiskLimits,
    run_backtest,
    sma_cross,
)


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


def run_ours(args) -> dict:
    bars = synthetic_bars(args.bars)
    plan = sma_cross(args.fast, args.slow, symbols="SYN")
    # All-in long, no commission, a fine lot; caps off so every crossing trades (the engine's worst case).
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
    return {
        "seconds": best,
        "cpu_seconds": best_cpu,
        "trades": len(result.trades),
        "decisions": len(result.decisions),
        "final_equity": result.final_equity,
        "peak_traced_mb": peak / 2**20,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def run_live(args) -> dict:
    """The live path: 20 symbols, each candle stepped through LiveEngine on a bounded history."""

    symbols = [f"S{i:02d}" for i in range(20)]
    plan = sma_cross(10, 30, symbols=symbols, stop="2 * atr_14")
    limits = RiskLimits(daily_risk_budget=None, risk_per_trade=None, max_open_positions=None, min_notional=0)
    bars = synthetic_bars(args.live_history + args.live_steps)
    engine = LiveEngine(plan, limits, initial_cash=1_000_000, timeframe_s=60, max_history=args.live_history)
    warm = bars.slice(0, args.live_history)
    for symbol in symbols:
        engine.prime(symbol, warm)
    steps = 0
    t0 = time.perf_counter()
    for i in range(args.live_history, len(bars)):
        candle = bars.candle(i)
        for symbol in symbols:
            engine.step(symbol, candle)
            steps += 1
    seconds = time.perf_counter() - t0
    return {"steps": steps, "seconds": seconds, "decisions": len(engine.decisions)}


def run_reference(args) -> dict:

    warnings.filterwarnings("ignore")
    parquet = getattr(args, "parquet", None)
    if not parquet:
        bars = synthetic_bars(args.bars)
        frame = pd.DataFrame(
            {"Open": bars.open, "High": bars.high, "Low": bars.low, "Close": bars.close, "Volume": bars.volume},
            index=pd.to_datetime(bars.ts, unit="s"),
        )
    fast, slow = args.fast, args.slow

    def sma(values, n):
        return pd.Series(values).rolling(n).mean()

    class SmaCross(Strategy):
        def init(self):
            self.fast = self.I(sma, self.data.Close, fast)
            self.slow = self.I(sma, self.data.Close, slow)

        def next(self):
            if crossover(self.fast, self.slow):
                if not self.position:
                    self.buy()
            elif crossover(self.slow, self.fast):
                self.position.close()

    t0, c0 = time.perf_counter(), time.process_time()
    read_s = 0.0
    if parquet:  # the same candles from a Parquet file into backtesting.py's DataFrame, timed with it
        frame = pd.read_parquet(parquet)
        frame.index = pd.to_datetime(frame.pop("ts"), unit="s")
        read_s = time.perf_counter() - t0
    stats = Backtest(frame, SmaCross, cash=1_000_000, commission=0.0, finalize_trades=False).run()
    return {
        "read_seconds": read_s,
        "seconds": time.perf_counter() - t0,
        "cpu_seconds": time.process_time() - c0,
        "trades": len(stats._trades),
        "final_equity": float(stats["Equity Final [$]"]),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--fast", type=int, default=10)
    parser.add_argument("--slow", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-reference", action="store_true", help="skip backtesting.py")
    parser.add_argument("--live-history", type=int, default=500, help="candles each live symbol keeps")
    parser.add_argument("--live-steps", type=int, default=100, help="candles stepped per live symbol")
    parser.add_argument("--only", choices=("ours", "reference", "live"), help=argparse.SUPPRESS)
    parser.add_argument("--parquet", help="reference side: read the candles from this Parquet file (timed)")
    args = parser.parse_args()
    if args.only:
        runners = {"ours": run_ours, "reference": run_reference, "live": run_live}
        print(json.dumps(runners[args.only](args)))
        return

    def side(name: str) -> dict:
        cmd = [sys.executable, __file__, "--only", name, "--bars", str(args.bars), "--fast", str(args.fast)]
        cmd += ["--slow", str(args.slow), "--repeat", str(args.repeat)]
        cmd += ["--live-history", str(args.live_history), "--live-steps", str(args.live_steps)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])

    ours = side("ours")
    rate = args.bars / ours["seconds"]
    print(f"SMA cross ({args.fast}/{args.slow}) over {args.bars:,} synthetic 1m bars (seeded GBM)")
    print(
        f"agents.engine    : {ours['seconds']:.3f} s wall (best of {args.repeat}), cpu {ours['cpu_seconds']:.3f} s, "
        f"{rate:,.0f} bars/s, {ours['trades']:,} trades, {ours['decisions']:,} decisions, "
        f"peak traced {ours['peak_traced_mb']:.0f} MB, peak RSS {ours['peak_rss_mb']:.0f} MB, "
        f"final equity {ours['final_equity']:,.2f}"
    )
    if not args.no_reference:
        ref = side("reference")
        ref_rate = args.bars / ref["seconds"]
        print(
            f"backtesting.py   : {ref['seconds']:.3f} s wall, cpu {ref['cpu_seconds']:.3f} s, {ref_rate:,.0f} bars/s, "
            f"{ref['trades']:,} trades, peak RSS {ref['peak_rss_mb']:.0f} MB, final equity {ref['final_equity']:,.2f}"
        )
        print(f"ratio            : {rate / ref_rate:.1f}x the bars/s of backtesting.py (target >= 10x)")
    live = side("live")
    print(
        f"live path        : {live['steps'] / live['seconds']:,.0f} candles/s through LiveEngine.step "
        f"(20 symbols, {args.live_history}-candle history each, {live['steps']:,} steps, "
        f"{live['decisions']:,} decisions, {1000 * live['seconds'] / live['steps']:.2f} ms a candle)"
    )


if __name__ == "__main__":
    main()
