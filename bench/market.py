"""Market data benchmarks (issue 3), against Postgres and Redis, in one run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tradingops_market_bench REDIS_URL=redis://127.0.0.1:6379/3 \\
        .venv/bin/python bench/market.py [--rows 1000000]

1. load_candles: a 1,000,000-row 1m CSV (seeded GBM, written first) into an empty range, through the
   management command (parse + check every row, COPY into a temp table, INSERT ... ON CONFLICT in
   100k chunks); then the same file again (every row an unchanged upsert) -> rows/s.
2. GET /api/v1/market/candles: 2,000 1m bars + 5 indicators (sma_20, rsi_14, macd_12_26_9, bb_20_2,
   atr_14) at random positions in the 1,000,000 stored bars, p50/p95/p99, over real HTTP (uvicorn,
   token auth, keep-alive) and in-process (DRF test client).
3. Feed path: seeded synthetic ticks through MarketFeed: COPY ticks + upsert the 1m..1d bars they
   touch + publish one frame per batch over the Redis channel layer to a subscribed channel -> ticks/s.

The database named in DATABASE_URL is migrated and the BENCH-USD instrument's rows are deleted first:
give it its own database.
"""

import argparse
import asyncio
import http.client
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["DJANGO_SETTINGS_MODULE"] = "tradingops.settings"
# a benchmark is one client at full speed: the API throttles (tradingops/api/throttles.py) would answer 429
os.environ.setdefault("API_THROTTLE_USER", "")
os.environ.setdefault("API_THROTTLE_ANON", "")
os.environ["DEBUG"] = "0"
os.environ.setdefault("SECRET_KEY", "bench-only-not-a-secret")
os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")

if not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")) or not os.environ.get(
    "REDIS_URL"
):
    sys.exit("Set DATABASE_URL (Postgres, a database of its own) and REDIS_URL.")

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402
from channels.layers import get_channel_layer  # noqa: E402
from django.contrib.auth.models import Group, User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from rest_framework.authtoken.models import Token  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402

from events import realtime  # noqa: E402
from market.feed import MarketFeed  # noqa: E402
from market.models import Candle, Instrument, Tick  # noqa: E402
from market.sources.synthetic import SyntheticSource  # noqa: E402

SYMBOL = "BENCH-USD"
INDICATORS = "sma_20,rsi_14,macd_12_26_9,bb_20_2,atr_14"
START = datetime(2022, 1, 1, tzinfo=UTC)


def write_csv(path: Path, rows: int, seed: int = 1) -> None:
    """1m bars from a seeded GBM (60% annual volatility), prices to the cent, volumes to 1e-4."""
    rng = np.random.default_rng(seed)
    dt = 1 / (365 * 24 * 60)
    closes = 30000 * np.exp(np.cumsum(rng.normal(-0.5 * 0.36 * dt, 0.6 * np.sqrt(dt), rows)))
    opens = np.concatenate([[30000.0], closes[:-1]])
    wiggle = np.abs(rng.normal(0, 0.0005, (2, rows))) * closes
    highs = np.maximum(opens, closes) + wiggle[0]
    lows = np.minimum(opens, closes) - wiggle[1]
    volumes = rng.lognormal(0, 1, rows)
    epochs = int(START.timestamp()) + 60 * np.arange(rows)
    with path.open("w") as fh:
        fh.write("timestamp,open,high,low,close,volume\n")
        for i in range(0, rows, 100_000):
            j = min(i + 100_000, rows)
            block = np.column_stack([epochs[i:j], opens[i:j], highs[i:j], lows[i:j], closes[i:j], volumes[i:j]])
            np.savetxt(fh, block, fmt=["%d", "%.2f", "%.2f", "%.2f", "%.2f", "%.4f"], delimiter=",")


def reset() -> Instrument:
    call_command("migrate", verbosity=0)
    instrument, _ = Instrument.objects.get_or_create(
        symbol=SYMBOL,
        defaults={"base": "BENCH", "quote": "USD", "price_tick": "0.01", "lot_size": "0.0001", "min_notional": "1"},
    )
    Tick.objects.filter(instrument=instrument).delete()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM market_candle WHERE instrument_id = %s", [instrument.pk])
        cursor.execute("VACUUM ANALYZE market_candle")
    return instrument


def phase_load(path: Path, rows: int) -> tuple[float, float]:
    started = time.perf_counter()
    call_command("load_candles", SYMBOL, "--file", str(path), "--timeframe", "1m", "--no-progress", "--no-resume")
    first = time.perf_counter() - started
    assert Candle.objects.filter(instrument__symbol=SYMBOL, timeframe="1m").count() == rows
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE market_candle")
    started = time.perf_counter()
    call_command("load_candles", SYMBOL, "--file", str(path), "--timeframe", "1m", "--no-progress", "--no-resume")
    again = time.perf_counter() - started
    return rows / first, rows / again


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server() -> tuple[subprocess.Popen, int]:
    port = free_port()
    # The web process as deployed on Postgres: a connection pool (each ASGI request runs in a thread
    # of its own, so without it every request would open a new connection).
    env = {**os.environ, "DATABASE_POOL": "true", "LOG_LEVEL": "WARNING"}
    command = [sys.executable, "-m", "uvicorn", "tradingops.asgi:application", "--port", str(port)]
    process = subprocess.Popen([*command, "--log-level", "warning", "--lifespan", "off"], cwd=ROOT, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process, port
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("uvicorn did not start")


def percentiles(samples: list[float]) -> tuple[float, float, float]:
    cuts = statistics.quantiles(samples, n=100)
    return statistics.median(samples), cuts[94], cuts[98]


def candle_queries(rows: int, n: int, seed: int = 2) -> list[str]:
    rng = random.Random(seed)
    queries = []
    for _ in range(n):
        start = START.timestamp() + 60 * rng.randrange(0, rows - 2000)
        iso = datetime.fromtimestamp(start, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        queries.append(
            f"/api/v1/market/candles?symbol={SYMBOL}&timeframe=1m&start={iso}&limit=2000&indicators={INDICATORS}"
        )
    return queries


def phase_api_http(token: str, queries: list[str]) -> list[float]:
    process, port = start_server()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        headers = {"Authorization": f"Token {token}", "Accept": "application/json"}
        samples = []
        for i, query in enumerate(queries):
            started = time.perf_counter()
            conn.request("GET", query, headers=headers)
            response = conn.getresponse()
            body = response.read()
            elapsed = time.perf_counter() - started
            if response.status != 200 or body.count(b'"open_time"') != 2000:
                raise RuntimeError(f"{query} -> {response.status} {body[:200]!r}")
            if i >= 10:  # the first requests warm the worker (imports, connection)
                samples.append(elapsed * 1000)
        conn.close()
        return samples
    finally:
        process.terminate()
        process.wait(timeout=10)


def phase_api_inprocess(user: User, queries: list[str]) -> tuple[list[float], list[float]]:
    """Wall and CPU milliseconds per request (CPU: this process only, i.e. Django + DRF + numpy +
    rendering, without the PostgreSQL server's share): the CPU figure does not move with the load."""
    client = APIClient()
    client.force_authenticate(user)
    wall, cpu = [], []
    for i, query in enumerate(queries):
        started, started_cpu = time.perf_counter(), time.process_time()
        response = client.get(query)
        _ = response.content
        elapsed, elapsed_cpu = time.perf_counter() - started, time.process_time() - started_cpu
        assert response.status_code == 200
        if i >= 10:
            wall.append(elapsed * 1000)
            cpu.append(elapsed_cpu * 1000)
    return wall, cpu


class ListedSource:
    name = "listed"

    def __init__(self, updates):
        self.updates = updates

    def stream(self):
        return iter(self.updates)

    def close(self):
        pass


def _subscribed_listener(group: str):
    """A channel in the group, on a loop of its own in a thread (a Pub/Sub layer's channels belong to
    the loop that made them), never read: returns the function that unsubscribes it and stops."""
    layer = get_channel_layer()
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, name="bench-listener", daemon=True).start()
    listener = asyncio.run_coroutine_threadsafe(layer.new_channel(), loop).result(10)
    asyncio.run_coroutine_threadsafe(layer.group_add(group, listener), loop).result(10)

    def stop() -> None:
        asyncio.run_coroutine_threadsafe(layer.group_discard(group, listener), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)

    return stop


def phase_feed(instrument: Instrument, ticks: int) -> tuple[float, int, int]:
    unsubscribe = _subscribed_listener(realtime.market_symbol_group(SYMBOL))
    start = datetime(2030, 1, 1, tzinfo=UTC)  # after the loaded 1m range: fresh bars
    source = SyntheticSource([SYMBOL], seed=9, ticks_per_second=20, speed=0, start=start, limit=ticks)
    updates = list(source.stream())  # generated before the clock starts: the source is not the feed
    feed = MarketFeed(ListedSource(updates), instrument_ids={SYMBOL: instrument.pk}, flush_seconds=0.2)
    started = time.perf_counter()
    stats = feed.run()
    elapsed = time.perf_counter() - started
    unsubscribe()
    assert stats.ticks == ticks
    assert Tick.objects.filter(instrument=instrument).count() == ticks
    return ticks / elapsed, stats.flushes, stats.published


def load() -> str:
    return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=210)
    parser.add_argument("--ticks", type=int, default=50_000)
    args = parser.parse_args()

    instrument = reset()
    user, _ = User.objects.get_or_create(username="bench-viewer")
    user.groups.add(Group.objects.get_or_create(name="viewer")[0])
    token = Token.objects.get_or_create(user=user)[0].key

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench-1m.csv"
        started = time.perf_counter()
        write_csv(path, args.rows)
        print(f"wrote {args.rows:,} rows ({path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - started:.1f} s")
        fresh, again = phase_load(path, args.rows)
    print(load())
    print(f"load_candles {args.rows:,} rows: {fresh:,.0f} rows/s into an empty range; {again:,.0f} rows/s re-run")

    queries = candle_queries(args.rows, args.requests)
    http_ms = phase_api_http(token, queries)
    local_ms, local_cpu_ms = phase_api_inprocess(user, queries)
    for label, samples in (("HTTP (uvicorn)", http_ms), ("in-process", local_ms), ("in-process CPU", local_cpu_ms)):
        p50, p95, p99 = percentiles(samples)
        print(
            f"GET candles 2,000 bars + 5 indicators, {label}: "
            f"p50 {p50:.1f} ms, p95 {p95:.1f} ms, p99 {p99:.1f} ms (n={len(samples)})"
        )

    print(load())
    rate, flushes, frames = phase_feed(instrument, args.ticks)
    print(
        f"feed {args.ticks:,} ticks (store + roll up 1m..1d + publish): "
        f"{rate:,.0f} ticks/s, {flushes} batches, {frames} frames"
    )
    print(load())


if __name__ == "__main__":
    main()
