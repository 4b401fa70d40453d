"""Dashboard benchmark: server-side render of each page with 1,000,000 events stored, event-to-DOM
latency in real Chromium, and 50 open WebSocket connections while 200 events/s are emitted.

Run (own database and Redis db; Postgres and Redis on loopback, /usr/bin/chromium installed):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tradingops_dash REDIS_URL=redis://127.0.0.1:6379/7 \\
        .venv/bin/python bench/dashboard.py [--events 1000000] [--renders 40] [--dom-events 200] \\
        [--clients 50] [--rate 200] [--seconds 15] [--layer pubsub|redis]

The first run loads the events with COPY (about a minute); later runs reuse them. Settings are
tradingops.tests.settings (static files from the app folders, no collectstatic), DEBUG off.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# --layer redis (read before Django starts): server and emitters on channels_redis's core layer, the
# one before the Redis Pub/Sub layer of the settings, to compare.
CORE_LAYER = "--layer=redis" in sys.argv or " ".join(sys.argv).find("--layer redis") >= 0
os.environ["DJANGO_SETTINGS_MODULE"] = (
    "bench.dashboard_core_layer_settings" if CORE_LAYER else "tradingops.tests.settings"
)
# Pub/Sub channels are per Redis server, not per database: a run of its own on a shared server
os.environ["CHANNELS_PREFIX"] = f"bench-dash-{os.getpid()}"
os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # Playwright's sync API keeps a loop in this thread

import django  # noqa: E402

django.setup()

import multiprocessing  # noqa: E402

import websockets  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.auth.models import Group, User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

from events import realtime  # noqa: E402
from events.models import Event  # noqa: E402
from events.services import EventDraft, emit, emit_many  # noqa: E402
from market.models import Instrument  # noqa: E402

SYMBOLS = ["SOL-USDT"] * 40 + ["BTC-USD"] * 30 + ["ETH-USD"] * 20 + ["ADA-USDT"] * 9 + ["RARE-USD"]
TYPES = ["intent", "plan_generated", "plan_judged", "trigger_fired", "trade_blocked", "order_submitted", "fill"]
REASONS = [("risk_budget_exceeded", "risk_valid"), ("stale_data", "infra"), ("low_score", "quality_gate")]
COLUMNS = (
    "event_id",
    "ts",
    "recorded_at",
    "type",
    "source",
    "run_id",
    "correlation_id",
    "causation_id",
    "dedupe_key",
    "schema_version",
    "payload",
)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def payload(kind: str, rng: random.Random, n: int) -> dict:
    symbol = rng.choice(SYMBOLS)
    side = rng.choice(["buy", "sell"])
    price = f"{rng.uniform(10, 70000):.2f}"
    if kind == "intent":
        return {"action": "buy_dip", "symbol": symbol, "params": {}}
    if kind == "plan_generated":
        return {"plan_id": f"p{n}", "version": 1, "strategy": "sma_cross", "symbols": [symbol], "rules": {}}
    if kind == "plan_judged":
        return {"plan_id": f"p{n}", "overall_score": str(rng.randint(0, 100))}
    if kind == "trigger_fired":
        return {"plan_id": f"p{n}", "symbol": symbol, "side": side, "rule": "sma_20 > sma_50", "price": price}
    if kind == "trade_blocked":
        reason, klass = rng.choice(REASONS)
        return {"symbol": symbol, "side": side, "reason": reason, "reason_class": klass, "detail": {"limit": "100"}}
    if kind == "order_submitted":
        return {"order_id": f"o{n}", "symbol": symbol, "side": side, "qty": "0.5", "order_type": "market"}
    return {"fill_id": f"f{n}", "order_id": f"o{n}", "symbol": symbol, "side": side, "qty": "0.5", "price": price}


def load_events(target: int) -> float:
    """COPY events until the table holds ``target``: 30 days of history, 0.2% in the last hour."""
    have = Event.objects.count()
    if have >= target:
        return 0.0
    rng = random.Random(have)
    now = datetime.now(UTC)
    started = time.perf_counter()
    batch = 100_000
    with connection.cursor() as cursor:
        for offset in range(have, target, batch):
            buffer = io.StringIO()
            for n in range(offset, min(target, offset + batch)):
                recent = rng.random() < 0.002
                ts = now - timedelta(seconds=rng.uniform(0, 3600 if recent else 30 * 86400))
                kind = rng.choice(TYPES)
                corr = uuid.uuid4()
                row = (
                    str(uuid.uuid4()),
                    ts.isoformat(),
                    ts.isoformat(),
                    kind,
                    "bench",
                    f"run-{n % 50}",
                    str(corr),
                    "\\N",
                    "\\N",
                    "1",
                    json.dumps(payload(kind, rng, n)).replace("\\", "\\\\"),
                )
                buffer.write("\t".join(row) + "\n")
            buffer.seek(0)
            with cursor.copy(f"COPY events_event ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                copy.write(buffer.getvalue())
            print(f"  copied {min(target, offset + batch):,} events", flush=True)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE events_event")
    return time.perf_counter() - started


def viewer() -> User:
    user, created = User.objects.get_or_create(username="bench-viewer")
    if created:
        user.set_password("pw-bench-viewer")
        user.save()
    user.groups.add(Group.objects.get_or_create(name="viewer")[0])
    return user


def bench_renders(user: User, n: int) -> list[tuple[str, float, float, int]]:
    """(page, p50 ms, p95 ms, status) of server-side renders through the Django test client."""

    client = Client()
    client.force_login(user)
    chain = Event.objects.filter(type="fill").order_by("-ts", "-id").first()
    symbol = Instrument.objects.order_by("symbol").values_list("symbol", flat=True).first()
    since = (datetime.now(UTC) - timedelta(hours=6)).strftime("%Y-%m-%dT%H:%M:%S")
    pages = [
        ("Overview /", "/"),
        ("Decisions /decisions/", "/decisions/"),
        ("Decisions ?type=fill,trade_blocked", "/decisions/?type=fill&type=trade_blocked"),
        ("Decisions ?run_id=run-7", "/decisions/?run_id=run-7"),
        ("Decisions ?symbol=SOL-USDT (40% of events)", "/decisions/?symbol=SOL-USDT"),
        ("Decisions ?symbol=RARE-USD (1% of events)", "/decisions/?symbol=RARE-USD"),
        ("Decisions ?since=6 h ago&type=fill", f"/decisions/?since={since}&type=fill"),
        ("Decisions older page (cursor)", None),
        ("Chain /decisions/chains/<id>/", f"/decisions/chains/{chain.correlation_id}/"),
        ("Market /market/", f"/market/?symbol={symbol}"),
        ("Wallets /wallets/", "/wallets/"),
        ("Agents /agents/", "/agents/"),
        ("Backtests /backtests/", "/backtests/"),
    ]
    first = client.get("/decisions/")
    older = first.content.decode().split('rel="next"')[0].rsplit('href="', 1)[1].split('"')[0].replace("&amp;", "&")
    results = []
    for label, path in pages:
        path = path or older.replace("http://testserver", "")
        timings, status = [], 0
        client.get(path)  # warm
        for _ in range(n):
            t0 = time.perf_counter()
            response = client.get(path)
            timings.append((time.perf_counter() - t0) * 1000)
            status = response.status_code
        results.append((label, statistics.median(timings), pct(timings, 95), status))
    return results


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(workers: int = 1, profile: str = "") -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "CONN_MAX_AGE": "0"}
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    profiler = ["-m", "cProfile", "-o", profile] if profile else []
    command = [sys.executable, *profiler, "-m", "uvicorn", "tradingops.asgi:application", "--port", str(port)]
    process = subprocess.Popen(
        [*command, "--log-level", "warning", "--workers", str(workers)],
        cwd=ROOT,
        env=env,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process, f"127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("uvicorn did not start")


def in_thread(fn, *args, **kwargs):
    """Emit from a plain thread (Playwright's loop lives in the main one)."""
    result: list = []

    def run():
        try:
            result.append(fn(*args, **kwargs))
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return result[0]


def bench_dom_latency(server: str, n: int) -> tuple[float, float, int]:
    """Emit ``n`` events one by one; the Decisions page reports when each row is in the DOM."""

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page()
        page.goto(f"http://{server}/accounts/login/?next=/decisions/%3Ftype%3Dintent")
        page.fill("#id_username", "bench-viewer")
        page.fill("#id_password", "pw-bench-viewer")
        page.click("button[type=submit]")
        page.wait_for_selector("#conn.conn-live")
        page.evaluate(
            """() => { window.rendered = {};
            document.addEventListener('tradingops:rendered', (e) => {
              const at = performance.timeOrigin + performance.now();
              for (const id of e.detail.ids) window.rendered[id] = at; }); }"""
        )
        sent: dict[int, float] = {}

        def emit_all():
            for i in range(n):
                t0 = time.time() * 1000
                event = emit("intent", {"action": f"bench-{i}"}, source="bench")
                sent[event.id] = t0
                time.sleep(0.02)

        in_thread(emit_all)
        # polled with evaluate: wait_for_function evals in the page, which the site's CSP refuses
        deadline = time.monotonic() + 30
        while page.evaluate("Object.keys(window.rendered).length") < n and time.monotonic() < deadline:
            page.wait_for_timeout(50)
        rendered = page.evaluate("window.rendered")
        browser.close()
    latencies = [rendered[str(i)] - t for i, t in sent.items() if str(i) in rendered]
    return statistics.median(latencies), pct(latencies, 95), len(latencies)


async def _client(server: str, cookie: str, received: dict, ready: asyncio.Event, stop: asyncio.Event, state: dict):

    async with websockets.connect(
        f"ws://{server}/ws/events/", origin=f"http://{server}", additional_headers={"Cookie": cookie}, max_queue=None
    ) as ws:
        assert json.loads(await ws.recv())["type"] == "subscribed"
        state["open"] += 1
        if state["open"] == state["wanted"]:
            ready.set()
        try:
            while not stop.is_set():
                try:
                    message = await asyncio.wait_for(ws.recv(), 0.5)
                except TimeoutError:
                    continue
                now = time.time() * 1000
                for event in json.loads(message).get("events", []):
                    received.setdefault(event["id"], now)
        except Exception as exc:  # a dropped connection is what we measure
            state["dropped"] += 1
            state["errors"].append(repr(exc))


def _clients_process(server, cookie, clients, ready, stop, conn) -> None:
    """The sockets live in their own process, as browsers do: the emitter's process measures the
    server, not 50 clients decoding frames under the same GIL."""
    per_client: list[dict] = [{} for _ in range(clients)]
    state = {"open": 0, "wanted": clients, "dropped": 0, "errors": []}

    async def main():
        opened, stopping = asyncio.Event(), asyncio.Event()
        tasks = [asyncio.create_task(_client(server, cookie, r, opened, stopping, state)) for r in per_client]
        await asyncio.wait_for(opened.wait(), 30)
        ready.set()
        await asyncio.to_thread(stop.wait)
        stopping.set()
        await asyncio.gather(*tasks)

    asyncio.run(main())
    conn.send((per_client, state))
    conn.close()


def _emit_paced(rate: float, total: int, batch: int, offset: float, start: float) -> dict[int, float]:
    """Emit ``total`` events at ``rate``/s (``batch`` per call), the first ``offset`` seconds after
    ``start``; returns event id -> time before its emit (ms)."""
    sent: dict[int, float] = {}
    interval = batch / rate
    for k in range(0, total, batch):
        target = start + offset + (k // batch) * interval
        delay = target - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        t0 = time.time() * 1000
        if batch == 1:
            events = [emit("intent", {"action": "fanout"}, source="bench")]
        else:
            events = emit_many([EventDraft("intent", {"action": "fanout"}, "bench") for _ in range(batch)])
        for event in events:
            sent[event.id] = t0
    connection.close()
    return sent


def _emitter_process(rate, total, batch, offset, start, conn) -> None:

    sent = _emit_paced(rate, total, batch, offset, start)
    realtime.flush()
    conn.send(sent)
    conn.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc): the load-independent cost."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_fanout(
    server: str, server_pid: int, user: User, clients: int, rate: int, seconds: float, batch: int, emitters: int
) -> dict:
    """``clients`` sockets on /ws/events/ (in another process) while ``rate`` events/s are
    emitted (``batch`` per emit call) by ``emitters`` processes, as several workers do: each
    emits ``rate / emitters`` a second, staggered so that together they keep the pace."""

    client = Client()
    client.force_login(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}"
    sent: dict[int, float] = {}
    connection.close()
    context = multiprocessing.get_context("fork")
    ready, stop = context.Event(), context.Event()
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_clients_process, args=(server, cookie, clients, ready, stop, sender))
    process.start()
    if not ready.wait(60):
        raise RuntimeError("the clients did not connect")
    server_cpu, clients_cpu = cpu_seconds(server_pid), cpu_seconds(process.pid)

    total = int(rate * seconds)
    start = time.perf_counter()
    if emitters == 1:
        sent.update(_emit_paced(rate, total, batch, 0.0, start))
    else:
        pipes, workers = [], []
        for n in range(emitters):
            mine, theirs = context.Pipe(duplex=False)
            args = (rate / emitters, total // emitters, batch, n * batch / rate, start, theirs)
            workers.append(context.Process(target=_emitter_process, args=args))
            pipes.append(mine)
        for worker in workers:
            worker.start()
        for pipe in pipes:
            sent.update(pipe.recv())
        for worker in workers:
            worker.join(30)
    elapsed = time.perf_counter() - start
    time.sleep(5)  # let the last frames arrive (latencies are measured per event, not by this wait)
    server_cpu, clients_cpu = cpu_seconds(server_pid) - server_cpu, cpu_seconds(process.pid) - clients_cpu
    stop.set()
    per_client, state = receiver.recv()
    process.join(30)

    latencies = [r[i] - t for r in per_client for i, t in sent.items() if i in r]
    missing = sum(1 for r in per_client for i in sent if i not in r)
    return {
        "clients": clients,
        "events": len(sent),
        "achieved_rate": len(sent) / elapsed,
        "batch": batch,
        "deliveries": len(latencies),
        "missing": missing,
        "dropped": state["dropped"],
        "p50": statistics.median(latencies),
        "p95": pct(latencies, 95),
        "max": max(latencies),
        "errors": state["errors"][:3],
        "server_cpu": server_cpu,
        "clients_cpu": clients_cpu,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--renders", type=int, default=40)
    parser.add_argument("--dom-events", type=int, default=200)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--rate", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--profile-server", default="", help="write the server's cProfile stats to this file")
    parser.add_argument("--emitters", type=int, default=1, help="processes emitting (as several Celery workers)")
    parser.add_argument("--batches", default="1,10", help="events per emit call in the fan-out runs")
    parser.add_argument("--skip", default="", help="comma-separated: renders,dom,fanout")
    parser.add_argument(
        "--layer", choices=["pubsub", "redis"], default="pubsub", help="channel layer: the settings' or the core one"
    )
    args = parser.parse_args()
    skip = set(args.skip.split(","))

    assert settings.DATABASES["default"]["NAME"] not in {"tradingops", "test_tradingops"}, "use your own database"
    call_command("migrate", verbosity=0)
    copied = load_events(args.events)
    total = Event.objects.count()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"events stored: {total:,}" + (f" (COPY of the missing ones took {copied:.1f} s)" if copied else ""))
    user = viewer()

    if "renders" not in skip:
        print("\n## server-side render, Django test client, ms")
        print(f"| page | p50 | p95 | status |  ({args.renders} renders each)")
        for label, p50, p95, status in bench_renders(user, args.renders):
            print(f"| {label} | {p50:.1f} | {p95:.1f} | {status} |")

    process, server = start_server(args.workers, args.profile_server)
    try:
        if "dom" not in skip:
            p50, p95, count = bench_dom_latency(server, args.dom_events)
            print(
                f"\n## event emitted -> row in the DOM (Chromium): p50 {p50:.1f} ms, p95 {p95:.1f} ms, {count} events"
            )
        for batch in [] if "fanout" in skip else [int(b) for b in args.batches.split(",")]:
            r = bench_fanout(server, process.pid, user, args.clients, args.rate, args.seconds, batch, args.emitters)
            how = "one emit per event" if batch == 1 else f"emit_many of {batch}"
            how += f", {args.emitters} emitting processes" if args.emitters > 1 else ""
            print(
                f"\n## fan-out, {args.layer} layer, {args.workers} uvicorn worker(s): "
                f"{r['clients']} sockets, {r['events']} events "
                f"at {r['achieved_rate']:.0f}/s ({how}): {r['deliveries']:,} deliveries, missing {r['missing']}, "
                f"connections dropped {r['dropped']}, event->client p50 {r['p50']:.1f} ms, p95 {r['p95']:.1f} ms, "
                f"max {r['max']:.1f} ms; CPU: server {r['server_cpu']:.1f} s "
                f"({r['server_cpu'] * 1e6 / max(1, r['deliveries']):.0f} us per delivery), "
                f"clients {r['clients_cpu']:.1f} s; "
                f"load average {os.getloadavg()[0]:.1f}" + (f"; client errors {r['errors']}" if r["errors"] else "")
            )
    finally:
        process.terminate()
        process.wait(timeout=30)


if __name__ == "__main__":
    main()
