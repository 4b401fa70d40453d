"""Agents and live trading benchmark (issue 4), against Postgres, Redis and a real Celery worker, in one run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tradingops_benchagents REDIS_URL=redis://127.0.0.1:6379/9 \\
        .venv/bin/python bench/agents.py [--bars 2000] [--history 1000] [--steps 150] [--latency-bars 40]

1. Execution agent throughput: 20 instruments with seeded-GBM hourly candles (bulk-loaded through the
   market app's COPY upsert), a plan from ``agents.planner.planner_run`` over the 20 symbols, then
   ``agents.execution.execution_on_candle`` for every symbol in time order in this one process (one
   worker = one process): candles/s, decisions/s and events written/s. Then a real Celery worker (solo
   pool, Redis broker) fed by ``market.hooks.candle_closed`` as fast as the hook can be called, for a
   subset: the end-to-end rate (hook -> Redis -> worker -> decisions committed).
2. Reads with 1,000,000 events, 100,000 fills and 500,000 block events stored (COPY straight into the
   tables, 30 days of history), open positions, the portfolio row, 31 days of risk budget rows and
   today's allocations: p50/p95 of GET /api/v1/live/portfolio, /live/block-reasons (default 24 h
   window) and /live/risk-budget through uvicorn (connection pool, as deployed) with a DRF token.
3. Candle close -> ``fill`` event latency through the worker: a faster plan (operator preset
   sma_cross 3/8), the next candles announced through ``market.hooks.candle_closed`` at 10 candles/s;
   for every fill, from the hook call of the candle whose processing emitted it to the fill event's
   ``recorded_at`` (the engine fills at the NEXT bar's open, so that candle is the one after the signal).

The database named in DATABASE_URL is created if needed, migrated and EMPTIED (TRUNCATE): give it its own.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["DJANGO_SETTINGS_MODULE"] = "tradingops.settings"
# a benchmark is one client at full speed: the API throttles (tradingops/api/throttles.py) would answer 429
os.environ.setdefault("API_THROTTLE_USER", "")
os.environ.setdefault("API_THROTTLE_ANON", "")
os.environ["DEBUG"] = "0"
os.environ.setdefault("SECRET_KEY", "bench-only-not-a-secret")
os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
os.environ.setdefault("LOG_LEVEL", "WARNING")

if not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")) or not os.environ.get(
    "REDIS_URL"
):
    sys.exit("Set DATABASE_URL (Postgres, a database of its own: it is emptied) and REDIS_URL.")

SYMBOLS = [f"B{i:02d}-USD" for i in range(20)]
START = datetime(2026, 1, 1, tzinfo=UTC)
HOUR = 3600
# Open limits (admin-set, through the service): enough room that the plan actually trades all run,
# so fills (the heaviest decisions) are in the mix and phase 3 has samples.
LIMITS = {
    "daily_risk_budget": Decimal("1"),
    "risk_per_trade": Decimal("0.001"),
    "max_trades_per_day": 0,
    "max_trades_per_symbol_per_day": 0,
    "max_open_positions": 20,
    "cooldown_after_loss_minutes": 0,
}
REASONS = [
    ("risk_budget_exhausted", "risk_valid"),
    ("max_open_positions", "risk_valid"),
    ("max_trades_per_day", "risk_valid"),
    ("cooldown_after_loss", "risk_valid"),
    ("min_notional", "quality_gate"),
    ("cost_to_reward", "quality_gate"),
    ("kill_switch", "risk_valid"),
    ("paused", "infra"),
    ("stale_data", "infra"),
    ("broker_error", "infra"),
]


def ensure_database() -> None:

    url = os.environ["DATABASE_URL"]
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, check=True, env={**os.environ})


ensure_database()

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402
from django.contrib.auth.models import Group, User  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from rest_framework.authtoken.models import Token  # noqa: E402

from agents.execution import execution_on_candle  # noqa: E402
from agents.models import (  # noqa: E402  # noqa: E402
    BlockEvent,
    ExecutionStep,  # noqa: E402
    Fill,
    Portfolio,
    Position,
    RiskAllocation,
    RiskBudgetDay,
)
from agents.planner import planner_run  # noqa: E402
from agents.selectors import plan_active  # noqa: E402
from agents.services import (
    plan_submit,  # noqa: E402
    runtime_limits_update,  # noqa: E402
)
from events.models import Event  # noqa: E402
from market import hooks  # noqa: E402
from market.files import Row  # noqa: E402
from market.models import Candle, Instrument  # noqa: E402
from market.services import candle_rows_upsert  # noqa: E402
from tradingops.celery import app  # noqa: E402

EMPTIED = [
    "events_event", "events_runsummary", "events_runeventcount", "events_llmcall",
    "agents_strategyplan", "agents_judgement", "agents_intent", "agents_order", "agents_fill", "agents_position",
    "agents_positionsnapshot", "agents_portfolio", "agents_blockevent", "agents_riskbudgetday",
    "agents_riskallocation", "agents_agentstatus", "agents_executionstep", "agents_flattenrequest",
    "agents_runtimeconfig", "market_candle", "market_instrument",
]  # fmt: skip


def load() -> str:
    return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg())


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def truncate(tables: list[str]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")


def users() -> tuple[User, User, str]:
    admin, _ = User.objects.get_or_create(username="bench-admin")
    admin.groups.add(Group.objects.get_or_create(name="admin")[0])
    operator, _ = User.objects.get_or_create(username="bench-operator")
    operator.groups.add(Group.objects.get_or_create(name="operator")[0])
    viewer, _ = User.objects.get_or_create(username="bench-viewer")
    viewer.groups.add(Group.objects.get_or_create(name="viewer")[0])
    return admin, operator, Token.objects.get_or_create(user=viewer)[0].key


def load_candles(bars: int) -> float:
    """Seeded GBM hourly candles for the 20 symbols (1% hourly volatility), COPY-upserted."""
    started = time.perf_counter()
    for index, symbol in enumerate(SYMBOLS):
        instrument = Instrument.objects.create(
            symbol=symbol, base=symbol[:3], quote="USD", price_tick=Decimal("0.0001"), lot_size=Decimal("0.0001"),
            min_notional=Decimal("5"),
        )  # fmt: skip
        rng = np.random.default_rng(100 + index)
        close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, bars)))
        open_ = np.concatenate([[100.0], close[:-1]])
        wick = np.abs(rng.normal(0.0, 0.004, bars))
        high = np.maximum(open_, close) * (1 + wick)
        low = np.minimum(open_, close) * (1 - wick)
        volume = rng.uniform(10, 1000, bars)
        epoch0 = int(START.timestamp())
        rows = [
            Row(i, epoch0 + HOUR * i, f"{open_[i]:.4f}", f"{high[i]:.4f}", f"{low[i]:.4f}", f"{close[i]:.4f}",
                f"{volume[i]:.2f}")
            for i in range(bars)
        ]  # fmt: skip
        candle_rows_upsert(instrument_id=instrument.pk, timeframe="1h", rows=rows)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE market_candle")
    return time.perf_counter() - started


def bar_time(i: int) -> datetime:
    return START + timedelta(hours=i)


def closed(symbol: str, i: int) -> hooks.ClosedCandle:
    c = Candle.objects.get(instrument__symbol=symbol, timeframe="1h", open_time=bar_time(i))
    return hooks.ClosedCandle(symbol, "1h", c.open_time, c.open, c.high, c.low, c.close, c.volume)


# --- 1. throughput -------------------------------------------------------------------------------


def phase_inprocess(first: int, steps: int) -> dict:

    events_before = Event.objects.count()
    decisions = candles = 0
    per_candle = []
    started, cpu = time.perf_counter(), time.process_time()
    for i in range(first, first + steps):
        for symbol in SYMBOLS:
            t0 = time.perf_counter()
            decisions += execution_on_candle(symbol=symbol, timeframe="1h", open_time=bar_time(i))
            per_candle.append((time.perf_counter() - t0) * 1000)
            candles += 1
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    events = Event.objects.count() - events_before
    by_type = dict(
        Event.objects.filter(source="agent:execution")
        .values_list("type")
        .annotate(n=django.db.models.Count("id"))
        .values_list("type", "n")
    )
    # the first candle of each symbol warms its indicators up on history: reported apart
    warm = per_candle[: len(SYMBOLS)]
    steady = per_candle[len(SYMBOLS) :]
    return {
        "candles": candles, "decisions": decisions, "events": events, "seconds": seconds, "cpu": cpu,
        "by_type": by_type, "p50": statistics.median(steady), "p95": pct(steady, 95), "warm_ms": statistics.mean(warm),
    }  # fmt: skip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_worker() -> tuple[str, subprocess.Popen]:

    app.control.purge()
    name = f"bench-agents-{os.getpid()}@localhost"
    command = [sys.executable, "-m", "celery", "-A", "tradingops", "worker", "--pool", "solo", "-n", name,
               "-Q", "agents", "--without-gossip", "--without-mingle", "--loglevel", "WARNING"]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT, env={**os.environ})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if app.control.ping(destination=[name], timeout=0.5):
            return name, process
        if process.poll() is not None:
            raise RuntimeError("celery worker exited at start")
    process.kill()
    raise RuntimeError("celery worker did not answer a ping in 60 s")


def wait_bar(plan_event_id, symbols: list[str], i: int, timeout: float) -> None:
    """Until the worker has recorded bar ``i`` of every symbol (it takes the queue in order, so every
    candle announced before is done too). Counting steps would not do: a symbol's first candle under a
    plan records a step for each history bar it warms up on."""
    deadline = time.monotonic() + timeout
    steps = ExecutionStep.objects.filter(plan_event_id=plan_event_id, symbol__in=symbols, open_time=bar_time(i))
    while steps.count() < len(symbols):
        if time.monotonic() > deadline:
            raise RuntimeError(f"the worker did not reach bar {i} of {symbols} in {timeout:.0f} s")
        time.sleep(0.02)


def phase_worker_rate(plan, first: int, symbols: list[str], bars: int) -> dict:
    """The hook as fast as it can be called for ``symbols`` x ``bars``; the worker's end-to-end rate."""
    # warm-up (not timed): the worker rebuilds the plan's engine by replaying the steps done in-process
    t0 = time.perf_counter()
    hooks.candle_closed(closed(symbols[0], first))
    wait_bar(plan.event_id, symbols[:1], first, 120)
    rebuild = time.perf_counter() - t0
    announced = [closed(s, i) for i in range(first + 1, first + 1 + bars) for s in symbols]
    if len(symbols) > 1:  # the warm-up candle's bar for the rest of the subset
        announced = [closed(s, first) for s in symbols[1:]] + announced
    events_before = Event.objects.count()
    started = time.perf_counter()
    for candle in announced:
        hooks.candle_closed(candle)
    enqueued = time.perf_counter() - started
    wait_bar(plan.event_id, symbols, first + bars, 300)
    seconds = time.perf_counter() - started
    return {
        "candles": len(announced), "seconds": seconds, "enqueue_s": enqueued, "rebuild_s": rebuild,
        "events": Event.objects.count() - events_before,
    }  # fmt: skip


# --- 3. candle close -> fill latency -------------------------------------------------------------


def phase_latency(operator, first: int, bars: int, rate: float) -> dict:

    event = plan_submit(user=operator, preset="sma_cross", params={"fast": 3, "slow": 8})
    plan_event_id = event.event_id
    # untimed: each symbol's first candle under a new plan warms the indicators up on the history
    t0 = time.perf_counter()
    for symbol in SYMBOLS:
        hooks.candle_closed(closed(symbol, first))
    wait_bar(plan_event_id, SYMBOLS, first, 120)
    warmup = time.perf_counter() - t0
    calls: dict[tuple[str, datetime], datetime] = {}
    announced = [closed(s, i) for i in range(first + 1, first + 1 + bars) for s in SYMBOLS]
    interval = 1.0 / rate
    started = time.perf_counter()
    for n, candle in enumerate(announced):
        delay = started + n * interval - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        calls[(candle.symbol, candle.open_time)] = datetime.now(tz=UTC)
        hooks.candle_closed(candle)
    wait_bar(plan_event_id, SYMBOLS, first + bars, 120)
    steps = sorted(
        ExecutionStep.objects.filter(plan_event_id=plan_event_id).values_list("symbol", "processed_at", "open_time"),
        key=lambda s: s[1],
    )
    plan = __import__("agents.models", fromlist=["StrategyPlan"]).StrategyPlan.objects.get(event_id=plan_event_id)
    fills = list(
        Event.objects.filter(type="fill", correlation_id=plan.correlation_id).values_list("payload", "recorded_at")
    )
    samples = []
    for payload, recorded_at in fills:
        # the candle whose processing emitted the fill: the symbol's last step recorded before it
        # (same transaction as the fill, written just before the decisions)
        step = max((s for s in steps if s[0] == payload["symbol"] and s[1] <= recorded_at), key=lambda s: s[1])
        samples.append((recorded_at - calls[(payload["symbol"], step[2])]).total_seconds() * 1000)
    task = [(s[1] - calls[(s[0], s[2])]).total_seconds() * 1000 for s in steps if (s[0], s[2]) in calls]
    return {
        "candles": len(announced), "fills": len(samples), "samples": samples, "seconds": time.perf_counter() - started,
        "step_p50": statistics.median(task), "step_p95": pct(task, 95), "warmup_s": warmup,
    }  # fmt: skip


# --- 2. reads with a big store -------------------------------------------------------------------

EVENT_COLUMNS = "event_id, ts, recorded_at, type, source, run_id, correlation_id, causation_id, dedupe_key, " \
    "schema_version, payload"  # fmt: skip


def _copy(table: str, columns: str, lines) -> None:
    with connection.cursor() as cursor, cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        buffer = io.StringIO()
        for n, line in enumerate(lines, 1):
            buffer.write(line)
            if n % 50_000 == 0:
                copy.write(buffer.getvalue())
                buffer = io.StringIO()
        copy.write(buffer.getvalue())


def load_store(events: int, fills: int, blocks: int) -> float:
    """COPY a consistent store: every fill and block row has its event; 30 days of history."""
    started = time.perf_counter()
    truncate(["events_event", "events_runsummary", "events_runeventcount", "agents_order", "agents_fill",
              "agents_position", "agents_portfolio", "agents_blockevent", "agents_riskbudgetday",
              "agents_riskallocation", "agents_executionstep"])  # fmt: skip
    rng = random.Random(11)
    now = datetime.now(tz=UTC)
    span = 30 * 86400

    def moment() -> datetime:
        return now - timedelta(seconds=rng.uniform(0, span))

    event_lines, fill_lines, block_lines = [], [], []
    corr = str(uuid.uuid4())

    def event(ts: datetime, kind: str, dedupe: str, payload: dict, eid: str | None = None) -> None:
        stamp = ts.isoformat()
        line = f"{eid or uuid.uuid4()}\t{stamp}\t{stamp}\t{kind}\tagent:execution\tlive\t{corr}\t\\N\t{dedupe}\t1\t"
        event_lines.append((ts, line + json.dumps(payload) + "\n"))

    for n in range(fills):
        ts, eid, symbol = moment(), str(uuid.uuid4()), rng.choice(SYMBOLS)
        side, price, qty = rng.choice(("buy", "sell")), f"{rng.uniform(50, 150):.4f}", f"{rng.uniform(0.1, 50):.4f}"
        payload = {"fill_id": f"bf{n}", "order_id": f"bo{n}", "symbol": symbol, "side": side, "qty": qty,
                   "price": price, "fee": "0.05"}  # fmt: skip
        event(ts, "fill", f"bf{n}", payload, eid)
        fill_lines.append(
            (ts, f"bf{n}\tbo{n}\t{symbol}\t{side}\t{qty}\t{price}\t0.05\t0\t{ts.isoformat()}\tlive\t{corr}\t{eid}\n")
        )
    for n in range(blocks):
        ts, eid, symbol = moment(), str(uuid.uuid4()), rng.choice(SYMBOLS)
        reason, klass = rng.choice(REASONS)
        detail = {"limit": "5", "value": "6"}
        payload = {"symbol": symbol, "side": "buy", "reason": reason, "reason_class": klass, "detail": detail,
                   "plan_id": "sma_cross"}  # fmt: skip
        event(ts, "trade_blocked", f"bb{n}", payload, eid)
        block_lines.append(
            (
                ts,
                f"{ts.isoformat()}\t{symbol}\tbuy\t{reason}\t{klass}\t{json.dumps(detail)}\tsma_cross\tlive\t{corr}\t{eid}\n",
            )
        )
    for n in range(events - fills - blocks):
        kind = rng.choice(("trigger_fired", "order_submitted", "agent_run", "marks_updated"))
        event(moment(), kind, "\\N", {"symbol": rng.choice(SYMBOLS), "n": n})
    # an append-only log and its read models are written in time order: so are the stored rows
    for lines in (event_lines, fill_lines, block_lines):
        lines.sort(key=lambda row: row[0])
    _copy("events_event", EVENT_COLUMNS, (line for _, line in event_lines))
    _copy("agents_fill", "fill_id, order_id, symbol, side, qty, price, fee, realized_pnl, ts, run_id, correlation_id, "
          "event_id", (line for _, line in fill_lines))  # fmt: skip
    _copy("agents_blockevent", "ts, symbol, side, reason, reason_class, detail, plan_id, run_id, correlation_id, "
          "event_id", (line for _, line in block_lines))  # fmt: skip

    Position.objects.bulk_create(
        Position(symbol=s, qty=Decimal(rng.choice([0, 0, 1, 2, 5])), avg_entry_price=Decimal("100"),
                 mark_price=Decimal("101.5"), realized_pnl=Decimal("12.3"), opened_at=now, updated_at=now)
        for s in SYMBOLS
    )  # fmt: skip
    Portfolio.objects.create(pk=1, cash=Decimal("98000"), initial_cash=Decimal("100000"), realized_pnl=Decimal("55"),
                             fees_paid=Decimal("12"), day=now.date(), day_start_equity=Decimal("99500"),
                             updated_at=now)  # fmt: skip
    allocations = []
    for back in range(31):
        day = now.date() - timedelta(days=back)
        RiskBudgetDay.objects.create(day=day, budget=Decimal("2000"), claimed=Decimal("100"), used=Decimal("300"),
                                     released=Decimal("400"), expired=Decimal("50"))  # fmt: skip
        for k in range(40):
            allocations.append(
                RiskAllocation(allocation_id=f"ba-{back}-{k}", day=day, symbol=SYMBOLS[k % 20], amount=Decimal("20"),
                               status=rng.choice(["claimed", "used", "released", "expired"]), order_id=f"bo-{back}-{k}",
                               correlation_id=corr, claimed_at=now - timedelta(days=back), updated_at=now)
            )  # fmt: skip
    RiskAllocation.objects.bulk_create(allocations)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE events_event, agents_fill, agents_blockevent, agents_riskallocation")
    return time.perf_counter() - started


def start_server() -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = {**os.environ, "DATABASE_POOL": "true"}
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


def phase_reads(token: str, requests: int) -> dict:
    process, port = start_server()
    results = {}
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        headers = {"Authorization": f"Token {token}", "Accept": "application/json"}
        for path in ("/api/v1/live/portfolio", "/api/v1/live/block-reasons", "/api/v1/live/risk-budget"):
            samples, body = [], b""
            for i in range(requests + 10):
                t0 = time.perf_counter()
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                body = response.read()
                elapsed = (time.perf_counter() - t0) * 1000
                if response.status != 200:
                    raise RuntimeError(f"{path} -> {response.status} {body[:300]!r}")
                if i >= 10:  # the first requests warm the process (imports, pool)
                    samples.append(elapsed)
            results[path] = {"p50": statistics.median(samples), "p95": pct(samples, 95), "max": max(samples),
                             "n": len(samples), "body": json.loads(body)}  # fmt: skip
        conn.close()
    finally:
        process.terminate()
        process.wait(timeout=10)
    return results


def phase_reads_cpu(token: str, requests: int) -> dict:
    """The same requests in this process (Django test client): CPU ms of Django + DRF per request, which
    does not move with the machine's load (the PostgreSQL server's share is not in it)."""

    client = Client(HTTP_AUTHORIZATION=f"Token {token}", HTTP_ACCEPT="application/json")
    out = {}
    for path in ("/api/v1/live/portfolio", "/api/v1/live/block-reasons", "/api/v1/live/risk-budget"):
        cpu = []
        for i in range(requests + 10):
            started = time.process_time()
            assert client.get(path).status_code == 200
            if i >= 10:
                cpu.append((time.process_time() - started) * 1000)
        out[path] = statistics.median(cpu)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bars", type=int, default=2000, help="hourly candles per symbol")
    parser.add_argument("--history", type=int, default=1000, help="bars before the plan starts trading")
    parser.add_argument("--steps", type=int, default=150, help="bars processed in-process, x 20 symbols")
    parser.add_argument("--worker-symbols", type=int, default=5)
    parser.add_argument("--worker-bars", type=int, default=40)
    parser.add_argument("--latency-bars", type=int, default=40, help="bars announced at --rate, x 20 symbols")
    parser.add_argument("--rate", type=float, default=10.0, help="candles per second announced in phase 3")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--fills", type=int, default=100_000)
    parser.add_argument("--blocks", type=int, default=500_000)
    parser.add_argument("--requests", type=int, default=250)
    args = parser.parse_args()
    assert args.history + args.steps + 1 + args.worker_bars + 1 + args.latency_bars <= args.bars

    print(f"machine: {os.cpu_count()} CPUs, {load()} at the start (shared)", flush=True)
    truncate(EMPTIED)
    admin, operator, token = users()
    print(f"loaded {len(SYMBOLS)} x {args.bars:,} hourly candles in {load_candles(args.bars):.1f} s", flush=True)
    runtime_limits_update(user=admin, changes=LIMITS, reason="bench: open limits")
    planner_run()
    plan = plan_active()
    print(f"plan: {plan.plan_id} v{plan.version} ({plan.regime}) over {len(plan.symbols)} symbols", flush=True)

    r = phase_inprocess(args.history, args.steps)
    print(
        f"\n1. execution_on_candle in-process, {len(SYMBOLS)} symbols x {args.steps} bars in time order: "
        f"{r['candles']:,} candles in {r['seconds']:.1f} s (CPU {r['cpu']:.1f} s) = {r['candles'] / r['seconds']:.1f} "
        f"candles/s, {r['decisions'] / r['seconds']:.1f} decisions/s ({r['decisions']:,} decisions), "
        f"{r['events'] / r['seconds']:.1f} events written/s ({r['events']:,} events)\n"
        f"   per candle p50 {r['p50']:.1f} ms, p95 {r['p95']:.1f} ms (first candle of each symbol, with its "
        f"indicator warm-up: {r['warm_ms']:.1f} ms)\n   events by type: {r['by_type']}",
        flush=True,
    )
    name, worker = start_worker()
    try:
        first = args.history + args.steps
        w = phase_worker_rate(plan, first, SYMBOLS[: args.worker_symbols], args.worker_bars)
        print(
            f"   through a real Celery worker (solo pool, Redis), fed by market.hooks.candle_closed, "
            f"{args.worker_symbols} symbols x {args.worker_bars + 1} bars: {w['candles']} candles in "
            f"{w['seconds']:.1f} s = {w['candles'] / w['seconds']:.1f} candles/s end to end "
            f"({w['events'] / w['seconds']:.1f} events/s; hook calls took {w['enqueue_s'] * 1000:.0f} ms in all; "
            f"the worker's engine rebuild from {args.steps * 20:,} recorded steps, untimed: {w['rebuild_s']:.1f} s)",
            flush=True,
        )
        lat_first = first + args.worker_bars + 1
        lt = phase_latency(operator, lat_first, args.latency_bars, args.rate)
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    s = lt["samples"] or [float("nan")]
    ok = bool(lt["samples"]) and pct(s, 95) < 250
    print(
        f"\n3. candle close -> fill event latency, real Celery worker, plan sma_cross 3/8, {lt['candles']} candles "
        f"announced at {args.rate:g}/s: {len(lt['samples'])} fills: p50 {statistics.median(s):.0f} ms, "
        f"p95 {pct(s, 95):.0f} ms, "
        f"max {max(s):.0f} ms (target p95 < 250 ms: {'PASS' if ok else 'FAIL'}); hook -> step recorded, every "
        f"candle: p50 {lt['step_p50']:.0f} ms, p95 {lt['step_p95']:.0f} ms (the plan's first candle per symbol, "
        f"indicator warm-up, sent before and untimed: {lt['warmup_s']:.1f} s for the {len(SYMBOLS)})",
        flush=True,
    )

    copied = load_store(args.events, args.fills, args.blocks)
    counts = {"events": Event.objects.count()}

    print(
        f"\n2. store: {counts['events']:,} events, {Fill.objects.count():,} fills, {BlockEvent.objects.count():,} "
        f"block events (COPY + VACUUM ANALYZE {copied:.0f} s); {load()}",
        flush=True,
    )
    reads = phase_reads(token, args.requests)
    cpu = phase_reads_cpu(token, 100)
    for path, res in reads.items():
        extra = ""
        if path.endswith("block-reasons"):
            extra = f"; the 24 h window holds {res['body']['total']:,} blocks"
        if path.endswith("risk-budget"):
            extra = f"; {len(res['body']['allocations'])} allocations today"
        print(
            f"   GET {path:28}: p50 {res['p50']:.1f} ms, p95 {res['p95']:.1f} ms, max {res['max']:.1f} ms over "
            f"{res['n']} requests (target p95 < 25 ms: {'PASS' if res['p95'] < 25 else 'FAIL'}); in-process CPU "
            f"{cpu[path]:.1f} ms a request (p50){extra}",
            flush=True,
        )
    print(f"\nmachine: {os.cpu_count()} CPUs, {load()} at the end (shared)")


if __name__ == "__main__":
    main()
