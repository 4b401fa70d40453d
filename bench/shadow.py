"""Shadow outcomes of blocked trades (issue 15): what following them costs, and the scorecard's latency.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/to_shadow_bench REDIS_URL=redis://127.0.0.1:6379/11 \\
        .venv/bin/python bench/shadow.py [--bars 1000000] [--repeat 5] [--blocks 500000] [--requests 200]

1. Engine: ``run_backtest`` over 1,000,000 seeded-GBM 1m bars (``bench/engine.py``'s candles), an SMA
   cross 10/20 with a stop and a target, a daily trade cap that blocks ~10,000 entries; the run
   with shadows (every block followed to its stop, target or exit) against the same run with
   ``shadows=False``, interleaved, best of ``--repeat`` CPU and wall times each. The decisions are
   checked identical (shadows never change the real run).
2. Scorecard: ``--blocks`` block events and as many block outcomes COPY'd into the tables (90 days,
   14 reasons, 20 symbols, 5 rules), then GET /api/v1/live/block-outcomes/summary through uvicorn with
   a DRF token: p50/p95 for the default 24-hour window, 7 days, 30 days and the whole 90 days.

The database named in DATABASE_URL is created if needed, migrated, and its block tables EMPTIED.
"""

from __future__ import annotations

import argparse
import http.client
import importlib
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
from functools import partial
from pathlib import Path

import django
import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
# Django is set up before the models are imported (nothing connects until setup() has checked DATABASE_URL)
os.environ["DJANGO_SETTINGS_MODULE"] = "tradingops.settings"
os.environ["DEBUG"] = "0"
os.environ.setdefault("SECRET_KEY", "bench-only-not-a-secret")
os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
os.environ.setdefault("LOG_LEVEL", "WARNING")
django.setup()

from django.contrib.auth.models import Group, User
from django.db import connection
from engine import synthetic_bars
from rest_framework.authtoken.models import Token

from agents import selectors
from agents.engine import Instrument, RiskLimits, run_backtest, sma_cross
from agents.engine.reasons import REASONS


def engine_phase(bars_n: int, repeat: int) -> dict:

    bars = synthetic_bars(bars_n)
    plan = sma_cross(10, 20, symbols="SYN", stop="entry * 0.995", target="entry * 1.01")
    limits = RiskLimits(
        daily_risk_budget=None,
        risk_per_trade=None,
        max_trades_per_day=25,  # ~39 crossings a day: the rest are blocked
        max_trades_per_symbol_per_day=None,
        max_open_positions=None,
        min_notional=0,
        max_cost_to_reward=None,
        # low costs keep the all-in equity alive for 1M bars (at 0.1% a side it decays until orders
        # round to zero and are refused without a shadow): ~10,000 blocks, every one followed
        fee_rate=0.0002,
        slippage_bps=1,
    )
    instruments = {"SYN": Instrument("SYN", Decimal("0.00000001"))}
    best = {True: [float("inf"), float("inf")], False: [float("inf"), float("inf")]}
    results = {}
    for _ in range(repeat):
        for shadows in (False, True):
            t0, c0 = time.perf_counter(), time.process_time()
            results[shadows] = run_backtest(
                plan, bars, limits, initial_cash=1_000_000, instruments=instruments, shadows=shadows
            )
            best[shadows][0] = min(best[shadows][0], time.perf_counter() - t0)
            best[shadows][1] = min(best[shadows][1], time.process_time() - c0)
    on, off = results[True], results[False]
    assert on.decisions == off.decisions, "shadows changed the real run"
    assert on.equity.tobytes() == off.equity.tobytes()
    blocks = sum(1 for d in on.decisions if d.kind == "block")
    closed = [d for d in on.block_outcomes if d.outcome.status == "closed"]
    exits = {}
    for d in closed:
        exits[d.outcome.exit_reason] = exits.get(d.outcome.exit_reason, 0) + 1
    return {
        "bars": bars_n,
        "blocks": blocks,
        "shadows_closed": len(closed),
        "exits": exits,
        "trades": len(on.trades),
        "off_wall": best[False][0],
        "off_cpu": best[False][1],
        "on_wall": best[True][0],
        "on_cpu": best[True][1],
        "overhead_cpu_pct": (best[True][1] / best[False][1] - 1) * 100,
        "overhead_wall_pct": (best[True][0] / best[False][0] - 1) * 100,
    }


class h:  # noqa: N801 - the database helpers, as in bench/agents.py (which does its work on import)
    @staticmethod
    def ensure_database() -> None:

        url = os.environ["DATABASE_URL"]
        name = url.rsplit("/", 1)[1]
        with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
                conn.execute(f'CREATE DATABASE "{name}"')
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, check=True, env={**os.environ})

    @staticmethod
    def copy(connection, table: str, columns: str, lines) -> None:
        with connection.cursor() as cursor, cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for start in range(0, len(lines), 50_000):
                copy.write("".join(lines[start : start + 50_000]))

    @staticmethod
    def viewer_token() -> str:

        viewer, _ = User.objects.get_or_create(username="bench-viewer")
        viewer.groups.add(Group.objects.get_or_create(name="viewer")[0])
        return Token.objects.get_or_create(user=viewer)[0].key

    @staticmethod
    def start_server():

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
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

    @staticmethod
    def pct(values: list[float], q: float) -> float:
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def setup() -> None:
    if not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        sys.exit("Set DATABASE_URL (Postgres, a database of its own: its block tables are emptied) and REDIS_URL.")
    h.ensure_database()


def seed(blocks: int, reuse: bool):
    """Block events and outcomes COPY'd in (unless ``reuse`` finds them), the tallies filled from them:
    (the data's "now", seconds it took, tally rows)."""

    if reuse:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*), max(ts) FROM agents_blockevent")
            count, newest = cursor.fetchone()
            cursor.execute("SELECT count(*) FROM agents_blocktally")
            tally_rows = cursor.fetchone()[0]
        if count == blocks and tally_rows:
            return newest + timedelta(seconds=1), 0.0, tally_rows
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE agents_blockevent, agents_blockoutcome, agents_blocktally RESTART IDENTITY")
    rng = random.Random(15)
    now = datetime.now(tz=UTC)
    span = 90 * 86400
    reasons = list(REASONS.values())
    symbols = [f"B{i:02d}-USD" for i in range(20)]
    rules = [f"crosses_above(sma_{f}, sma_{s})" for f, s in ((5, 15), (10, 20), (10, 30), (20, 50), (50, 200))]
    block_lines, outcome_lines = [], []
    started = time.perf_counter()
    # in time order, as the event store appends them (a window's rows sit together in the heap)
    for offset in sorted((rng.random() * span for _ in range(blocks)), reverse=True):
        at = now - timedelta(seconds=offset)
        reason = rng.choice(reasons)
        symbol = rng.choice(symbols)
        corr, block_id = uuid.uuid4(), uuid.uuid4()
        block_lines.append(
            f"{at.isoformat()}\t{symbol}\tbuy\t{reason.code}\t{reason.reason_class}\t{{}}\tp1\tlive\t{corr}\t{block_id}\n"
        )
        entry = 100 + rng.random() * 10
        exit_ = entry * (1 + rng.gauss(0, 0.01))
        qty = 1.5
        fees = (entry + exit_) * qty * 0.001
        pnl = (exit_ - entry) * qty - fees
        held = rng.randint(1, 48) * 3600
        out_at = at + timedelta(seconds=held)
        exit_reason = rng.choice(("stop", "target", "exit"))
        outcome_lines.append(
            "\t".join(
                str(v)
                for v in (
                    out_at.isoformat(),
                    at.isoformat(),
                    at.isoformat(),
                    symbol,
                    "long",
                    reason.code,
                    reason.reason_class,
                    rng.choice(rules),
                    "closed",
                    exit_reason,
                    qty,
                    at.isoformat(),
                    f"{entry:.8f}",
                    out_at.isoformat(),
                    f"{exit_:.8f}",
                    f"{fees:.8f}",
                    f"{pnl:.8f}",
                    f"{pnl / entry / qty * 100:.8f}",
                    f"{max(0.0, -pnl):.8f}",
                    "0.5",
                    held,
                    "\\N",
                    "\\N",
                    "p1",
                    "live",
                    corr,
                    block_id,
                    uuid.uuid4(),
                )
            )  # fmt: skip
            + "\n"
        )
    h.copy(
        connection,
        "agents_blockevent",
        "ts, symbol, side, reason, reason_class, detail, plan_id, run_id, correlation_id, event_id",
        block_lines,
    )
    h.copy(
        connection,
        "agents_blockoutcome",
        "ts, block_ts, blocked_at, symbol, side, reason, reason_class, rule, status, exit_reason, qty, entry_at, "
        "entry_price, exit_at, exit_price, fees, pnl, pnl_pct, mae, mae_pct, holding_s, stop, target, plan_id, "
        "run_id, correlation_id, block_event_id, event_id",
        outcome_lines,
    )
    with connection.cursor() as cursor:
        # the tallies as migration 0013 refills an existing database (and the projector would have left them)
        tallies = importlib.import_module("agents.migrations.0010_block_tally")
        for statement in tallies.fill_statements("block_ts"):
            cursor.execute(statement)
        cursor.execute("VACUUM ANALYZE agents_blockevent")
        cursor.execute("VACUUM ANALYZE agents_blockoutcome")
        cursor.execute("VACUUM ANALYZE agents_blocktally")
        cursor.execute("SELECT count(*) FROM agents_blocktally")
        tally_rows = cursor.fetchone()[0]
    return now, time.perf_counter() - started, tally_rows


def summary_phase(blocks: int, requests: int, reuse: bool) -> dict:
    setup()

    now, loaded, tally_rows = seed(blocks, reuse)
    out = {"blocks": blocks, "load_s": loaded, "hour_rows": tally_rows, "selector": {}}
    # in this process, the selector alone: the tallies against the raw rows (the path before them),
    # wall and CPU, so that the ratio holds on a loaded machine
    for name, days in (("24 hours", 1), ("7 days", 7), ("90 days", 91)):
        since, until = now - timedelta(days=days), now
        rows = {}
        window = {"since": since, "until": until}
        for path, call, n in (
            ("tallies", partial(selectors.block_outcome_summary, **window), 30),
            ("raw rows", partial(selectors._summary, raw=[(since, until)], tallies=[], filters={}, **window), 5),
        ):
            walls, cpus, card = [], [], None
            for _ in range(n + 2):
                t0, c0 = time.perf_counter(), time.process_time()
                card = call()
                walls.append((time.perf_counter() - t0) * 1000)
                cpus.append((time.process_time() - c0) * 1000)
            rows[path] = (statistics.median(walls[2:]), statistics.median(cpus[2:]), card)
        assert rows["tallies"][2] == rows["raw rows"][2], f"{name}: the tallies disagree with the raw rows"
        out["selector"][name] = {path: r[:2] for path, r in rows.items()}
    token = h.viewer_token()
    process, port = h.start_server()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        headers = {"Authorization": f"Token {token}", "Accept": "application/json"}
        windows = {
            "default (24 hours)": "",
            "7 days": f"?since={(now - timedelta(days=7)).isoformat().replace('+00:00', 'Z')}",
            "30 days": f"?since={(now - timedelta(days=30)).isoformat().replace('+00:00', 'Z')}",
            "90 days (all)": f"?since={(now - timedelta(days=91)).isoformat().replace('+00:00', 'Z')}",
            "24 hours, one symbol": "?symbol=B03-USD",
            # the floor at this load: an endpoint that sums nothing
            "baseline: GET /api/v1/health": None,
        }
        for name, query in windows.items():
            samples, body = [], b""
            for i in range(requests + 10):
                t0 = time.perf_counter()
                path = "/api/v1/health" if query is None else "/api/v1/live/block-outcomes/summary" + query
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                body = response.read()
                elapsed = (time.perf_counter() - t0) * 1000
                if response.status != 200:
                    raise RuntimeError(f"{query} -> {response.status} {body[:300]!r}")
                if i >= 10:
                    samples.append(elapsed)
            data = json.loads(body)
            out[name] = {
                "p50": statistics.median(samples),
                "p95": h.pct(samples, 95),
                "max": max(samples),
                "n": len(samples),
                "blocks_in_window": data["total"]["blocks"] if query is not None else 0,
                "closed_in_window": data["total"]["closed"] if query is not None else 0,
            }
        conn.close()
    finally:
        process.terminate()
        process.wait(timeout=10)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--blocks", type=int, default=500_000)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--skip-engine", action="store_true")
    parser.add_argument("--skip-summary", action="store_true")
    parser.add_argument("--reuse", action="store_true", help="Keep the blocks already loaded (same --blocks).")
    args = parser.parse_args()
    print("load average", " ".join(f"{x:.1f}" for x in os.getloadavg()))
    if not args.skip_engine:
        e = engine_phase(args.bars, args.repeat)
        print(
            f"engine: {e['bars']:,} bars, {e['trades']:,} trades, {e['blocks']:,} blocks, "
            f"{e['shadows_closed']:,} shadows closed {e['exits']}"
        )
        print(f"  shadows off: {e['off_wall']:.3f} s wall, {e['off_cpu']:.3f} s CPU (best of {args.repeat})")
        print(f"  shadows on:  {e['on_wall']:.3f} s wall, {e['on_cpu']:.3f} s CPU (best of {args.repeat})")
        print(f"  overhead: {e['overhead_cpu_pct']:+.1f}% CPU, {e['overhead_wall_pct']:+.1f}% wall (target < 10%)")
    if not args.skip_summary:
        s = summary_phase(args.blocks, args.requests, args.reuse)
        print(
            f"scorecard: {s['blocks']:,} block events + {s['blocks']:,} outcomes loaded in {s['load_s']:.1f} s "
            f"({s['hour_rows']:,} tally rows)"
        )
        for name, paths in s.pop("selector").items():
            print(
                f"  selector in-process, {name}: "
                + "; ".join(f"{path} p50 {wall:.1f} ms wall, {cpu:.1f} ms CPU" for path, (wall, cpu) in paths.items())
            )
        for name, r in s.items():
            if isinstance(r, dict):
                print(
                    f"  {name}: p50 {r['p50']:.1f} ms, p95 {r['p95']:.1f} ms, max {r['max']:.1f} ms "
                    f"(n={r['n']}; {r['blocks_in_window']:,} blocks, {r['closed_in_window']:,} closed in the window)"
                )
    print("load average", " ".join(f"{x:.1f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
