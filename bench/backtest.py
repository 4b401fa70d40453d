"""Backtests benchmark: an SMA-cross backtest over 1,000,000 synthetic 1m bars end to end through the
backtests service (the Celery task's body: candles from Postgres, engine, results written), against the
raw engine and backtesting.py 0.6.6 in the same run; peak memory; /equity and /state?at= latency on
that run; a parameter sweep on 1 vs 2 Celery workers.

Run (Postgres and Redis up; the bench uses, migrates and keeps the database named in DATABASE_URL, and
reuses its candles on the next run):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tradingops_backtests_bench REDIS_URL=redis://127.0.0.1:6379/8 \\
        .venv/bin/python bench/backtest.py [--bars 1000000] [--requests 300] [--sweep-bars 200000]

The candles are ``bench/engine.py``'s seeded GBM bars (the same the engine benchmark uses), stored
through the market app's COPY upsert. The raw engine and backtesting.py sides are ``bench/engine.py
--only ours|reference`` (same strategy, next-open fills, no commission, all-in long), each in its own
process; ours end to end runs in its own process too, so each peak RSS is that side's alone.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import django
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradingops.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key")
django.setup()  # before the models are imported; nothing connects until main() has created the database

from django.contrib.auth.models import Group, User
from django.test import Client

from backtests import services, worker
from backtests.models import BacktestRun, CurveChunk, RunStatus
from bench.engine import synthetic_bars
from market.files import Row
from market.models import Candle, CandleBlock, Instrument
from market.services import candle_rows_upsert
from tradingops.celery import app

SYMBOL = "BENCH-USD"
OPEN_LIMITS = {
    "daily_risk_budget": None, "risk_per_trade": None, "max_trades_per_day": None,
    "max_trades_per_symbol_per_day": None, "max_open_positions": None, "max_cost_to_reward": None, "min_notional": "0",
}  # fmt: skip


def ensure_database() -> None:

    url = os.environ["DATABASE_URL"]
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, check=True, env={**os.environ, "DEBUG": "1"}
    )


def ensure_candles(n: int) -> None:
    instrument, _ = Instrument.objects.get_or_create(
        symbol=SYMBOL,
        defaults={"base": "BENCH", "quote": "USD", "price_tick": Decimal("1e-12"), "lot_size": Decimal("1e-8"),
                  "min_notional": Decimal(0)},
    )  # fmt: skip
    if Candle.objects.filter(instrument=instrument, timeframe="1m").count() == n:
        return
    Candle.objects.filter(instrument=instrument).delete()
    bars = synthetic_bars(n)
    t0 = time.perf_counter()
    cols = [bars.ts.tolist(), bars.open.tolist(), bars.high.tolist(), bars.low.tolist(), bars.close.tolist()]
    volume = bars.volume.tolist()
    for start in range(0, n, 100_000):
        rows = [
            Row(i, cols[0][i], repr(cols[1][i]), repr(cols[2][i]), repr(cols[3][i]), repr(cols[4][i]), repr(volume[i]))
            for i in range(start, min(n, start + 100_000))
        ]
        candle_rows_upsert(instrument_id=instrument.pk, timeframe="1m", rows=rows)
    print(f"(loaded {n:,} candles in {time.perf_counter() - t0:.0f} s; kept for the next run)", flush=True)


def config(fast: int, slow: int, end: str | None = None) -> dict:
    return {
        "symbols": [SYMBOL], "timeframe": "1m", "initial_cash": "1000000", "fee_rate": "0", "slippage_bps": "0",
        "sizing": {"method": "equity_fraction", "value": "1"}, "risk": OPEN_LIMITS, "end": end,
        "strategy": {"preset": "sma_cross", "params": {"fast": fast, "slow": slow}},
    }  # fmt: skip


def run_service(args) -> dict:
    """One backtest through backtests.services (what the Celery task runs), phases timed."""

    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    phases: dict[str, float] = {}

    def timed(name, fn):
        def wrapper(*a, **k):
            t0 = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                phases[name] = phases.get(name, 0.0) + time.perf_counter() - t0

        return wrapper

    if not args.cold:
        # a process that has served before, as a web server and a worker are: connections to the broker and
        # the channel layer open, code paths run once (backtesting.py's side imports before its clock starts)
        end = datetime.fromtimestamp(Candle.objects.filter(instrument__symbol=SYMBOL).earliest("open_time")
                                     .open_time.timestamp() + 20_000 * 60, tz=UTC).isoformat()  # fmt: skip
        warm = services.backtest_run_create(data=config(args.fast, args.slow, end=end))
        worker.backtest_execute(run_id=warm.pk, worker="bench-warm-up")
        if args.cold_cache:
            cache_state(cold=True)  # the warm-up built the first blocks
    worker.load_bars = timed("load", worker.load_bars)
    worker.run_backtest = timed("engine", worker.run_backtest)
    worker.write_results = timed("write", worker.write_results)
    t0, c0 = time.perf_counter(), time.process_time()
    # from the POST (validation: the config resolved, the candles counted; the run stored) to stored results
    run = services.backtest_run_create(data=config(args.fast, args.slow))
    phases["post"] = time.perf_counter() - t0
    status = worker.backtest_execute(run_id=run.pk, worker="bench")
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    run = BacktestRun.objects.get(pk=run.pk)
    return {
        "status": status,
        "error": run.error,
        "run_id": str(run.pk),
        "seconds": seconds,
        "cpu_seconds": cpu,
        "phases": phases,
        "trades": run.results["trades"],
        "final_equity": float(run.results["final_equity"]),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "base_rss_mb": base_rss,
    }


def cache_state(*, cold: bool) -> str:
    """The bench candles' columnar cache before the run (PostgreSQL): how many blocks are built; with
    ``cold`` every block is first marked stale, so the run reads the rows and builds them."""

    blocks = CandleBlock.objects.filter(instrument=Instrument.objects.get(symbol=SYMBOL), timeframe="1m")
    if cold:
        blocks.update(data=None, count=0)
    built = blocks.filter(data__isnull=False).count()
    return f"{'cold' if not built else 'warm'} ({built} of {blocks.count()} blocks built before the run)"


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def bench_reads(run_id: str, requests: int) -> dict:

    user, _ = User.objects.get_or_create(username="bench-viewer")
    user.groups.add(Group.objects.get_or_create(name="viewer")[0])
    client = Client(SERVER_NAME="localhost")
    client.force_login(user)
    first = CurveChunk.objects.filter(run_id=run_id).order_by("seq").values_list("start_ts", flat=True).first()
    last = CurveChunk.objects.filter(run_id=run_id).order_by("-seq").values_list("end_ts", flat=True).first()
    rng = random.Random(5)
    out = {}
    for name, path in (("equity", "equity"), ("state", "state")):
        times, cpu = [], []
        for i in range(requests + 10):
            params = {}
            if name == "state":
                params["at"] = datetime.fromtimestamp(rng.randint(first, last), tz=UTC).isoformat()
            t0, c0 = time.perf_counter(), time.process_time()
            response = client.get(f"/api/v1/backtests/{run_id}/{path}", params)
            elapsed, used = time.perf_counter() - t0, time.process_time() - c0
            assert response.status_code == 200, response.content[:300]
            if i >= 10:  # the first requests warm connections and caches
                times.append(elapsed * 1000)
                cpu.append(used * 1000)
        out[name] = {"p50": statistics.median(times), "p95": percentile(times, 0.95), "max": max(times),
                     "cpu_p95": percentile(cpu, 0.95)}  # fmt: skip
    return out


def start_workers(count: int, env: dict) -> list[subprocess.Popen]:

    procs, names = [], []
    for i in range(count):
        name = f"bench-{os.getpid()}-{i}@localhost"
        names.append(name)
        cmd = [sys.executable, "-m", "celery", "-A", "tradingops", "worker", "--pool", "solo", "-Q", "backtests",
               "-n", name, "--without-gossip", "--without-mingle", "--loglevel", "WARNING"]  # fmt: skip
        procs.append(subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    deadline = time.monotonic() + 60
    pending = set(names)
    while pending and time.monotonic() < deadline:
        for reply in app.control.ping(destination=list(pending), timeout=0.5):
            pending -= set(reply)
    if pending:
        raise RuntimeError(f"workers did not start: {pending}")
    return procs


def bench_sweep(workers: int, sweep_bars: int, grid: dict) -> tuple[float, int]:

    app.control.purge()
    end = datetime.fromtimestamp(int(synthetic_bars(sweep_bars + 1).ts[-1]), tz=UTC).isoformat()
    procs = start_workers(workers, {**os.environ})
    try:
        t0 = time.perf_counter()
        sweep = services.sweep_create(data=config(10, 20, end=end), grid=grid, metric="sharpe")
        total = sweep.runs.count()
        while BacktestRun.objects.filter(sweep=sweep, status__in=[RunStatus.QUEUED, RunStatus.RUNNING]).exists():
            time.sleep(0.05)
        seconds = time.perf_counter() - t0
        failed = BacktestRun.objects.filter(sweep=sweep).exclude(status=RunStatus.COMPLETED).count()
        if failed:
            raise RuntimeError(f"{failed} sweep runs did not complete")
        runs = list(BacktestRun.objects.filter(sweep=sweep).values_list("worker", "started_at", "finished_at"))
        busy = sum((f - s).total_seconds() for _, s, f in runs)
        per_worker = sorted(Counter(w for w, _, _ in runs).values())
        return seconds, total, {"runs_per_worker": per_worker, "run_seconds_mean": busy / len(runs),
                                "concurrency": busy / seconds}  # fmt: skip
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)


def write_parquet(n: int) -> str:
    """The bench candles as a Parquet file (ts, Open, High, Low, Close, Volume): backtesting.py's side reads it."""

    path = Path(tempfile.gettempdir()) / f"bench-candles-{n}.parquet"
    if not path.exists():
        bars = synthetic_bars(n)
        table = pa.table({"ts": bars.ts, "Open": bars.open, "High": bars.high, "Low": bars.low, "Close": bars.close,
                          "Volume": bars.volume})  # fmt: skip
        pq.write_table(table, path)
    return str(path)


def side(script: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, script, *args], capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--fast", type=int, default=10)
    parser.add_argument("--slow", type=int, default=20)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--sweep-bars", type=int, default=200_000)
    parser.add_argument("--no-sweep", action="store_true")
    parser.add_argument("--sweep-only", action="store_true", help="only the 1 vs 2 worker sweep")
    parser.add_argument(
        "--cold-cache", action="store_true", help="mark the candles' columnar cache stale first (the first read)"
    )
    parser.add_argument(
        "--cold", action="store_true", help="time the service's first run in a fresh process (no warm-up run)"
    )
    parser.add_argument("--only", choices=("service", "candles"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.only == "service":
        print(json.dumps(run_service(args)))
        return
    if args.only == "candles":
        ensure_candles(args.bars)
        print(json.dumps({"bars": args.bars}))
        return

    ensure_database()
    # In its own process: Linux keeps a process's peak RSS across exec, so the sides started below would
    # report this one's (1M Row objects) as theirs.
    subprocess.run([sys.executable, __file__, "--only", "candles", "--bars", str(args.bars)], check=True, cwd=ROOT)
    if args.sweep_only:
        bench_sweeps(args)
        return
    common = ["--bars", str(args.bars), "--fast", str(args.fast), "--slow", str(args.slow)]
    cache = cache_state(cold=args.cold_cache)
    flags = [flag for flag, on in (("--cold", args.cold), ("--cold-cache", args.cold_cache)) if on]
    ours = side(__file__, "--only", "service", *common, *flags)
    if ours["status"] != "completed":
        raise SystemExit(f"the run did not complete: {ours['error']}")
    engine = side("bench/engine.py", "--only", "ours", "--repeat", "1", *common)
    ref = side(
        "bench/engine.py", "--only", "reference", "--repeat", "1", "--parquet", write_parquet(args.bars), *common
    )
    rate = args.bars / ours["seconds"]
    ref_rate = args.bars / ref["seconds"]
    ph = ours["phases"]
    print(f"SMA cross ({args.fast}/{args.slow}) over {args.bars:,} synthetic 1m bars (bench/engine.py's seeded GBM)")
    print(
        f"backtests service, end to end{' (cold process)' if args.cold else ''}: {ours['seconds']:.2f} s wall, "
        f"cpu {ours['cpu_seconds']:.2f} s, "
        f"{rate:,.0f} bars/s (post {ph['post']:.2f} s, read {ph['load']:.2f} s, engine {ph['engine']:.2f} s, "
        f"write {ph['write']:.2f} s), "
        f"{ours['trades']:,} trades, peak RSS {ours['peak_rss_mb']:.0f} MB "
        f"(Django alone {ours['base_rss_mb']:.0f} MB); candle cache {cache}"
    )
    print(
        f"raw engine (bench/engine.py)  : {engine['seconds']:.2f} s, {args.bars / engine['seconds']:,.0f} bars/s, "
        f"{engine['trades']:,} trades, peak RSS {engine['peak_rss_mb']:.0f} MB"
    )
    print(
        f"backtesting.py 0.6.6          : {ref['seconds']:.2f} s (Parquet read {ref['read_seconds']:.2f} s included), "
        f"cpu {ref['cpu_seconds']:.2f} s, {ref_rate:,.0f} bars/s, {ref['trades']:,} trades, "
        f"peak RSS {ref['peak_rss_mb']:.0f} MB"
    )
    same = ours["final_equity"] == engine["final_equity"]
    print(
        f"ratio (end to end / reference): {rate / ref_rate:.1f}x wall, "
        f"{ref['cpu_seconds'] / ours['cpu_seconds']:.1f}x CPU "
        f"(ours: this process only, Postgres's work not counted); "
        f"engine alone {(ref['seconds'] - ref['read_seconds']) / engine['seconds']:.1f}x (reference without its read); "
        f"final equity service {ours['final_equity']:,.6f} vs engine {engine['final_equity']:,.6f} "
        f"({'identical' if same else 'DIFFERENT'}) vs backtesting.py {ref['final_equity']:,.6f}"
    )
    reads = bench_reads(ours["run_id"], args.requests)
    for name, label in (("equity", "/equity (1,000 points)"), ("state", "/state?at= (random moments)")):
        r = reads[name]
        print(
            f"GET {label:28}: p50 {r['p50']:.1f} ms, p95 {r['p95']:.1f} ms, max {r['max']:.1f} ms, "
            f"CPU p95 {r['cpu_p95']:.1f} ms (this process; Postgres not included) "
            f"over {args.requests} requests (target p95 < 30 ms: {'PASS' if r['p95'] < 30 else 'FAIL'})"
        )
    if not args.no_sweep:
        bench_sweeps(args)
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end (shared)")


def bench_sweeps(args) -> None:
    grid = {"fast": [5, 10, 15, 20], "slow": [30, 50]}
    load_before = os.getloadavg()[0]
    one, runs, one_info = bench_sweep(1, args.sweep_bars, grid)
    two, _, two_info = bench_sweep(2, args.sweep_bars, grid)
    print(
        f"sweep of {runs} runs x {args.sweep_bars:,} bars: 1 worker {one:.1f} s, 2 workers {two:.1f} s, "
        f"speedup {one / two:.2f}x (target >= 1.7x; load average before {load_before:.1f} on "
        f"{os.cpu_count()} CPUs)"
    )
    for label, info in (("1 worker ", one_info), ("2 workers", two_info)):
        print(
            f"  {label}: runs per worker {info['runs_per_worker']}, mean run {info['run_seconds_mean']:.2f} s, "
            f"runs in flight on average {info['concurrency']:.2f}"
        )


if __name__ == "__main__":
    main()
