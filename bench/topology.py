"""Worker topology benchmark (issue 10): one Celery worker process against several, in one run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/to_bench_topology REDIS_URL=redis://127.0.0.1:6379/9 \\
        .venv/bin/python bench/topology.py [--bars 1600] [--first 400] [--latency-bars 20] [--rate 4] [--rate-bars 20]

Topologies: ``solo`` = one ``celery worker --pool solo`` (one process); ``2x prefork c2`` = two worker
nodes, each ``--pool prefork --concurrency 2`` (four processes that run tasks), as the issue's full
stack runs them. Every topology starts on a reset database (the agents' and events' tables emptied,
the candles kept, the same limits and the same operator plan submitted again), so each trades the
same candles, and the bench checks that they made the same decisions.

1. Candle close -> fill latency: plan ``sma_cross`` 3/8 (operator preset, trades often) over 20
   symbols; each symbol's first candle under the plan (indicator warm-up) is sent untimed, then
   ``--latency-bars`` bars x 20 symbols are announced through ``market.hooks.candle_closed`` at
   ``--rate`` candles/s. Latency as in bench/agents.py phase 3 (whose ``phase_latency`` is reused):
   from the hook call of the candle whose processing emitted the fill to the fill event's
   ``recorded_at``.
2. Decisions per second, 20 symbols: the same plan, warm-up untimed, then ``--rate-bars`` bars x 20
   symbols announced through the hook as fast as it can be called, in time order; end to end from
   the first hook call to the last bar's step committed for every symbol. Decisions = the engine's
   decision events (trigger_fired, trade_blocked, risk_claimed, order_submitted, fill, risk_released).
3. The engine checkpoint (``EngineCheckpoint``, written in every execution transaction): its size
   as the runs left it and at steady state (the engine fed in memory until each symbol's history
   buffer cycles between ``max_history`` and 2x), ``pickle.dumps``/``loads`` time, and the time of
   the Postgres write and read of a checkpoint of that size.

Reuses bench/agents.py's set-up (database creation and migration, candles, limits, users, the
latency phase). The database in DATABASE_URL is EMPTIED, and so is the Redis database in REDIS_URL
(the broker's queues): give both to the bench alone.
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import os
import pickle
import signal
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# isort: off
# first: it checks the environment, creates and migrates the database and calls django.setup()
from bench import agents as ba  # noqa: E402

# isort: on

import redis  # noqa: E402
from django.db import connection, transaction  # noqa: E402

from agents.engine.bars import Candle as EngineCandle  # noqa: E402
from agents.execution import new_engine  # noqa: E402
from agents.models import EngineCheckpoint, StrategyPlan  # noqa: E402
from agents.selectors import plan_active, runtime_config_get  # noqa: E402
from agents.services import (
    plan_submit,  # noqa: E402
    runtime_limits_update,  # noqa: E402
)
from agents.tasks import execution_on_candle_task  # noqa: E402
from events.models import Event  # noqa: E402
from market import hooks  # noqa: E402
from market.models import Candle  # noqa: E402
from tradingops.celery import app  # noqa: E402

SYMBOLS = ba.SYMBOLS
DECISION_TYPES = ("trigger_fired", "trade_blocked", "risk_claimed", "order_submitted", "fill", "risk_released")
PLAN = {"preset": "sma_cross", "params": {"fast": 3, "slow": 8}}
TOPOLOGIES = {"solo": [("solo", 1)], "2x prefork c2": [("prefork", 2), ("prefork", 2)]}


# --- workers -------------------------------------------------------------------------------------


def _tree_cpu(pids: list[int]) -> float:
    """CPU seconds (user + system) of the worker processes and all their live descendants."""
    ticks = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    stats: dict[int, list[str]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry)] = int(fields[1])
        stats[int(entry)] = fields
    tree, frontier = set(pids), list(pids)
    while frontier:
        pid = frontier.pop()
        for child, parent in parents.items():
            if parent == pid and child not in tree:
                tree.add(child)
                frontier.append(child)
    return sum((int(stats[p][11]) + int(stats[p][12])) / ticks for p in tree if p in stats)


class Workers:
    """Celery worker nodes on the agents queue, each in its own process group (killed as a group)."""

    def __init__(self, nodes: list[tuple[str, int]]):

        self.app = app
        redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()  # the bench's own broker database
        self.names, self.processes = [], []
        for n, (pool, concurrency) in enumerate(nodes):
            name = f"bench-topology-{os.getpid()}-{n}@localhost"
            command = [sys.executable, "-m", "celery", "-A", "tradingops", "worker", "--pool", pool,
                       "--concurrency", str(concurrency), "-n", name, "-Q", "agents", "--without-gossip",
                       "--without-mingle", "--without-heartbeat", "--loglevel", "WARNING"]  # fmt: skip
            self.processes.append(subprocess.Popen(command, cwd=ROOT, env={**os.environ}, start_new_session=True))
            self.names.append(name)
        deadline = time.monotonic() + 90
        waiting = set(self.names)
        while waiting:
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"celery workers {sorted(waiting)} did not answer a ping in 90 s")
            if any(p.poll() is not None for p in self.processes):
                self.stop()
                raise RuntimeError("a celery worker exited at start")
            for reply in self.app.control.ping(destination=sorted(waiting), timeout=0.5) or []:
                waiting -= set(reply)
        # untimed: each process imports the agents' code on its first task; no-op tasks (a timeframe the
        # agent does not trade returns at once) reach the pool processes before the measured candles

        for _ in range(8 * len(nodes)):
            execution_on_candle_task.delay("WARM", "warm-up", "2026-01-01T00:00:00+00:00")
        self.drain(60)
        time.sleep(1.0)

    def drain(self, timeout: float) -> None:

        client = redis.Redis.from_url(os.environ["REDIS_URL"])
        deadline = time.monotonic() + timeout
        while client.llen("agents") or client.hlen("unacked"):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the agents queue did not drain in {timeout:.0f} s")
            time.sleep(0.05)

    def cpu(self) -> float:
        return _tree_cpu([p.pid for p in self.processes])

    def stop(self) -> None:
        for p in self.processes:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        for p in self.processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            with contextlib.suppress(ProcessLookupError):  # the group: a prefork parent's children too
                os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout=10)


# --- reset and plan ------------------------------------------------------------------------------


def reset() -> None:
    """Empty what trading wrote (agents' and events' tables, the checkpoint among them); keep the
    candles, instruments and users; the same open limits again."""

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND "
            "(tablename LIKE 'agents\\_%%' OR tablename LIKE 'events\\_%%')"
        )
        tables = [row[0] for row in cursor.fetchall()]
    ba.truncate(tables)
    admin = ba.User.objects.get(username="bench-admin")
    runtime_limits_update(user=admin, changes=ba.LIMITS, reason="bench: open limits")


def plan_new() -> StrategyPlan:

    operator = ba.User.objects.get(username="bench-operator")
    event = plan_submit(user=operator, **PLAN)
    return StrategyPlan.objects.get(event_id=event.event_id)


def decisions_of(plan: StrategyPlan) -> list[tuple]:
    """What was decided, comparable across runs (ids and times differ, the decisions must not)."""
    rows = Event.objects.filter(correlation_id=plan.correlation_id, type__in=DECISION_TYPES).values_list(
        "type", "payload"
    )
    out = []
    for kind, p in rows:
        # order and allocation ids start with the plan's tag (its event id): drop it
        allocation = "-".join(str(p.get("allocation_id", "")).split("-")[1:])
        out.append((kind, p.get("symbol", ""), allocation, p.get("bar_open_time", ""), p.get("side", ""),
                    str(p.get("qty", "")), str(p.get("price", "")), str(p.get("amount", "")), p.get("reason", ""),
                    p.get("status", "")))  # fmt: skip
    return sorted(out)


def checkpoint_row(plan_event_id) -> dict:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT version, octet_length(state), pg_column_size(state) FROM agents_enginecheckpoint "
            "WHERE plan_event_id = %s",
            [plan_event_id],
        )
        row = cursor.fetchone()
    return {"version": row[0], "bytes": row[1], "stored": row[2]} if row else {}


# --- 1. latency ----------------------------------------------------------------------------------


def run_latency(topology: str, first: int, bars: int, rate: float) -> dict:
    reset()
    workers = Workers(TOPOLOGIES[topology])
    try:
        load_before = ba.load()
        cpu0 = workers.cpu()
        operator = ba.User.objects.get(username="bench-operator")
        result = ba.phase_latency(operator, first, bars, rate)  # submits the sma_cross 3/8 plan itself
        result["worker_cpu_s"] = workers.cpu() - cpu0
        result["load"] = f"{load_before} -> {ba.load()[len('load average ') :]}"
    finally:
        workers.stop()
    plan = StrategyPlan.objects.order_by("-created_at").first()
    result["decisions"] = decisions_of(plan)
    result["checkpoint"] = checkpoint_row(plan.event_id)
    runs = Event.objects.filter(type="agent_run", correlation_id=plan.correlation_id, payload__status="ok")
    result["transactions"] = runs.count()
    # the first transaction of each symbol is its warm-up (untimed): left out
    durations = [p["duration_ms"] for p in runs.order_by("ts", "id").values_list("payload", flat=True)][len(SYMBOLS) :]
    result["tx_p50"] = statistics.median(durations) if durations else float("nan")
    result["tx_p95"] = ba.pct(durations, 95) if durations else float("nan")
    # a fill's recorded_at is taken when it is emitted, before the checkpoint write and the commit; the
    # transaction's agent_run is emitted last, just before the commit: the gap is what the fill figure leaves out
    ends = sorted(runs.values_list("recorded_at", flat=True))
    gaps = []
    for recorded_at in Event.objects.filter(type="fill", correlation_id=plan.correlation_id).values_list(
        "recorded_at", flat=True
    ):
        end = ends[bisect.bisect_left(ends, recorded_at)] if bisect.bisect_left(ends, recorded_at) < len(ends) else None
        if end is not None:
            gaps.append((end - recorded_at).total_seconds() * 1000)
    result["gap_p50"] = statistics.median(gaps) if gaps else float("nan")
    result["gap_p95"] = ba.pct(gaps, 95) if gaps else float("nan")
    return result


# --- 2. decisions per second ---------------------------------------------------------------------


def run_rate(topology: str, first: int, bars: int) -> dict:
    reset()
    workers = Workers(TOPOLOGIES[topology])
    try:
        plan = plan_new()
        # untimed: each symbol's first candle under the plan warms its indicators up on history
        for symbol in SYMBOLS:
            hooks.candle_closed(ba.closed(symbol, first))
        ba.wait_bar(plan.event_id, SYMBOLS, first, 120)
        workers.drain(60)
        announced = [ba.closed(s, i) for i in range(first + 1, first + 1 + bars) for s in SYMBOLS]
        runs_before = Event.objects.filter(type="agent_run", correlation_id=plan.correlation_id).count()
        decisions_before = Event.objects.filter(correlation_id=plan.correlation_id, type__in=DECISION_TYPES).count()
        events_before = Event.objects.count()
        load_before = ba.load()
        cpu0 = workers.cpu()
        since = datetime.now(tz=UTC)
        started = time.perf_counter()
        for candle in announced:
            hooks.candle_closed(candle)
        enqueued = time.perf_counter() - started
        ba.wait_bar(plan.event_id, SYMBOLS, first + bars, 300)
        seconds = time.perf_counter() - started
        cpu = workers.cpu() - cpu0
        load_after = ba.load()
        workers.drain(60)  # tasks of candles another task already caught up: they find nothing to do
    finally:
        workers.stop()
    runs = Event.objects.filter(type="agent_run", correlation_id=plan.correlation_id, payload__status="ok")
    # agent_run's duration: lock wait + the candles' decisions + the checkpoint write, before the commit
    durations = [r["duration_ms"] for r in runs.filter(ts__gte=since).values_list("payload", flat=True)]
    errors = Event.objects.filter(type="agent_run", payload__status="error").count()
    return {
        "candles": len(announced), "seconds": seconds, "enqueue_s": enqueued, "worker_cpu_s": cpu,
        "decision_events": Event.objects.filter(correlation_id=plan.correlation_id, type__in=DECISION_TYPES).count()
        - decisions_before,
        "events": Event.objects.count() - events_before, "transactions": runs.count() - runs_before,
        "errors": errors, "decisions": decisions_of(plan), "checkpoint": checkpoint_row(plan.event_id),
        "load": f"{load_before} -> {load_after[len('load average ') :]}",
        "tx_p50": statistics.median(durations) if durations else float("nan"),
        "tx_p95": ba.pct(durations, 95) if durations else float("nan"),
    }  # fmt: skip


# --- 3. the checkpoint ---------------------------------------------------------------------------


def _best_ms(fn, repeat: int) -> tuple[float, float]:
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples), min(samples)


def checkpoint_costs(bars: int, repeat: int) -> dict:
    """The engine of the current plan fed in memory (no database) over every loaded candle, so each
    symbol's history reaches the bound it is kept at; then the cost of what ``_checkpoint`` and a stale
    process's ``_engine_for`` do with a checkpoint of that size."""

    plan = plan_active()
    engine = new_engine(plan, runtime_config_get())
    columns = {s: [] for s in SYMBOLS}
    for symbol, open_time, o, h, lo, c, v in (
        Candle.objects.filter(instrument__symbol__in=SYMBOLS, timeframe="1h")
        .order_by("open_time")
        .values_list("instrument__symbol", "open_time", "open", "high", "low", "close", "volume")
    ):
        columns[symbol].append(EngineCandle.of(open_time, o, h, lo, c, v))
    sizes = []
    largest = smallest = None
    last_open_time = {s: datetime.now(tz=UTC) for s in SYMBOLS}  # what _checkpoint pickles beside the engine
    for i in range(bars):
        for symbol in SYMBOLS:
            engine.step(symbol, columns[symbol][i])
        # from max_history candles on, a symbol's buffer holds what it holds at steady state: it grows to
        # 2 x max_history, is cut back to max_history, grows again (every 8th bar is enough to see it)
        if i >= engine.max_history - 1 and (i % 8 == 0 or i == 2 * engine.max_history - 1):
            state = pickle.dumps((engine, last_open_time), protocol=pickle.HIGHEST_PROTOCOL)
            sizes.append(len(state))
            if largest is None or len(state) > len(largest):
                largest = state
            if smallest is None or len(state) < len(smallest):
                smallest = state
    out = {"max_history": engine.max_history, "warmup": engine.plan.warmup_bars, "sizes": sizes}
    if not sizes:
        return out
    current = bytes(EngineCheckpoint.objects.get(plan_event_id=plan.event_id).state)
    for label, state in (("this run's", current), ("smallest", smallest), ("largest", largest)):
        obj = pickle.loads(state)  # noqa: S301 - bytes made just above
        dumps_ms = _best_ms(lambda obj=obj: pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL), repeat)
        loads_ms = _best_ms(lambda state=state: pickle.loads(state), repeat)  # noqa: S301
        key = uuid.uuid4()

        def write(key=key, state=state):
            with transaction.atomic():
                EngineCheckpoint.objects.update_or_create(
                    plan_event_id=key, defaults={"version": 1, "format": 1, "state": state}
                )

        def read(key=key):
            bytes(EngineCheckpoint.objects.get(plan_event_id=key).state)

        write()
        write_ms = _best_ms(write, repeat)
        read_ms = _best_ms(read, repeat)
        stored = checkpoint_row(key)["stored"]
        EngineCheckpoint.objects.filter(plan_event_id=key).delete()
        out[label] = {"bytes": len(state), "stored": stored, "dumps": dumps_ms, "loads": loads_ms,
                      "write": write_ms, "read": read_ms, "storage": storage_probe(state, repeat)}  # fmt: skip
    return out


STORAGES = {
    "pglz (the column's default)": "",
    "lz4": "ALTER TABLE bench_checkpoint_probe ALTER COLUMN state SET COMPRESSION lz4",
    "uncompressed (STORAGE EXTERNAL)": "ALTER TABLE bench_checkpoint_probe ALTER COLUMN state SET STORAGE EXTERNAL",
}


def storage_probe(state: bytes, repeat: int) -> dict:
    """Where the write's time goes: the same UPDATE + commit of ``state`` into a scratch table of
    the same shape, with Postgres's TOAST compression as it is, lz4, or none."""
    out = {}
    for label, alter in STORAGES.items():
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS bench_checkpoint_probe")
            cursor.execute("CREATE TABLE bench_checkpoint_probe (id int PRIMARY KEY, version bigint, state bytea)")
            if alter:
                cursor.execute(alter)
            cursor.execute("INSERT INTO bench_checkpoint_probe VALUES (1, 0, %s)", [state])

            def write(cursor=cursor):  # autocommit: one transaction each
                cursor.execute("UPDATE bench_checkpoint_probe SET version = version + 1, state = %s WHERE id = 1",
                               [state])  # fmt: skip

            ms = _best_ms(write, repeat)
            cursor.execute("SELECT pg_column_size(state) FROM bench_checkpoint_probe")
            out[label] = {"write": ms, "stored": cursor.fetchone()[0]}
            cursor.execute("DROP TABLE bench_checkpoint_probe")
    return out


# --- main ----------------------------------------------------------------------------------------


def _same(a: list, b: list) -> str:
    if a == b:
        return f"identical ({len(a)} decision events)"
    only_a, only_b = len(set(a) - set(b)), len(set(b) - set(a))
    return f"DIFFERENT ({len(a)} vs {len(b)}; {only_a} only in the first, {only_b} only in the second)"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bars", type=int, default=1600, help="hourly candles per symbol loaded")
    parser.add_argument("--first", type=int, default=400, help="the bar the plan starts at (history before)")
    parser.add_argument("--latency-bars", type=int, default=20, help="bars x 20 symbols announced at --rate")
    parser.add_argument(
        "--rate",
        type=float,
        default=4.0,
        help="candles per second announced in phase 1 (below what one solo worker sustains here)",
    )
    parser.add_argument("--rate-bars", type=int, default=20, help="bars x 20 symbols fed as fast as possible")
    parser.add_argument("--repeat", type=int, default=15, help="repetitions of each checkpoint timing")
    args = parser.parse_args()
    assert args.first + 1 + max(args.latency_bars, args.rate_bars) <= args.bars
    wall = time.monotonic()

    print(f"machine: {os.cpu_count()} CPUs, {ba.load()} at the start (shared)", flush=True)
    ba.truncate(ba.EMPTIED + ["agents_enginecheckpoint"])
    ba.users()
    print(f"loaded {len(SYMBOLS)} x {args.bars} hourly candles in {ba.load_candles(args.bars):.1f} s", flush=True)

    lat = {}
    for topology in TOPOLOGIES:
        r = lat[topology] = run_latency(topology, args.first, args.latency_bars, args.rate)
        s = r["samples"] or [float("nan")]
        print(
            f"\n1. [{topology}] candle close -> fill, {r['candles']} candles at {args.rate:g}/s: {len(r['samples'])} "
            f"fills p50 {statistics.median(s):.0f} ms, p95 {ba.pct(s, 95):.0f} ms, max {max(s):.0f} ms; hook -> step "
            f"recorded, every candle: p50 {r['step_p50']:.0f} ms, p95 {r['step_p95']:.0f} ms; in the transaction "
            f"p50 {r['tx_p50']:.0f} ms, p95 {r['tx_p95']:.0f} ms; fill recorded -> its transaction's agent_run "
            f"(just before the commit) p50 {r['gap_p50']:.0f} ms, p95 {r['gap_p95']:.0f} ms; worker CPU (warm-up in) "
            f"{r['worker_cpu_s'] * 1000 / r['candles']:.1f} ms a candle; {r['transactions']} transactions; "
            f"checkpoint v{r['checkpoint'].get('version')} {r['checkpoint'].get('bytes', 0):,} bytes "
            f"({r['checkpoint'].get('stored', 0):,} stored); warm-up {r['warmup_s']:.1f} s untimed; {r['load']}",
            flush=True,
        )
    names = list(TOPOLOGIES)
    print(f"   decisions, {names[0]} vs {names[1]}: {_same(lat[names[0]]['decisions'], lat[names[1]]['decisions'])}")
    p95 = {t: ba.pct(lat[t]["samples"], 95) if lat[t]["samples"] else float("nan") for t in names}
    print(f"   fill p95 ratio {names[1]} / {names[0]}: {p95[names[1]] / p95[names[0]]:.2f}", flush=True)

    rate = {}
    for topology in TOPOLOGIES:
        r = rate[topology] = run_rate(topology, args.first, args.rate_bars)
        print(
            f"\n2. [{topology}] 20 symbols x {args.rate_bars} bars as fast as the hook goes: {r['candles']} candles in "
            f"{r['seconds']:.2f} s = {r['candles'] / r['seconds']:.1f} candles/s, "
            f"{r['decision_events'] / r['seconds']:.1f} decisions/s ({r['decision_events']} decision events), "
            f"{r['events'] / r['seconds']:.1f} events/s; {r['transactions']} execution transactions; worker CPU "
            f"{r['worker_cpu_s'] * 1000 / r['candles']:.1f} ms a candle; hook calls {r['enqueue_s'] * 1000:.0f} ms in "
            f"all; in the transaction (agent_run duration: lock wait, decisions, checkpoint write; commit not in) "
            f"p50 {r['tx_p50']:.0f} ms, p95 {r['tx_p95']:.0f} ms; failed runs {r['errors']}; "
            f"checkpoint v{r['checkpoint'].get('version')} "
            f"{r['checkpoint'].get('bytes', 0):,} bytes; {r['load']}",
            flush=True,
        )
    print(f"   decisions, {names[0]} vs {names[1]}: {_same(rate[names[0]]['decisions'], rate[names[1]]['decisions'])}")
    cps = {t: rate[t]["candles"] / rate[t]["seconds"] for t in names}
    print(f"   candles/s ratio {names[1]} / {names[0]}: {cps[names[1]] / cps[names[0]]:.2f}", flush=True)

    c = checkpoint_costs(args.bars, args.repeat)
    print(
        f"\n3. checkpoint: plan warm-up {c['warmup']} bars, max_history {c['max_history']} (a symbol's buffer "
        f"holds {c['max_history']}..{2 * c['max_history']} candles)",
        flush=True,
    )
    if c["sizes"]:
        print(f"   steady state, {len(c['sizes'])} samples: {min(c['sizes']):,}..{max(c['sizes']):,} bytes pickled")
        for label in ("this run's", "smallest", "largest"):
            k = c[label]
            print(
                f"   {label}: {k['bytes']:,} bytes ({k['stored']:,} stored by Postgres): pickle.dumps "
                f"{k['dumps'][0]:.2f} ms, pickle.loads {k['loads'][0]:.2f} ms, Postgres write (update + commit) "
                f"{k['write'][0]:.2f} ms, read {k['read'][0]:.2f} ms (medians of {args.repeat}; best "
                f"{k['dumps'][1]:.2f} / {k['loads'][1]:.2f} / {k['write'][1]:.2f} / {k['read'][1]:.2f})",
                flush=True,
            )
            for name, probe in k["storage"].items():
                print(f"      same bytes, raw UPDATE + commit, {name}: {probe['write'][0]:.2f} ms "
                      f"(best {probe['write'][1]:.2f}), {probe['stored']:,} bytes stored", flush=True)  # fmt: skip
    else:
        print("   steady state not reached: load more --bars (>= 2 x max_history)")
    print(f"\nmachine: {os.cpu_count()} CPUs, {ba.load()} at the end (shared); {time.monotonic() - wall:.0f} s in all")


if __name__ == "__main__":
    main()
