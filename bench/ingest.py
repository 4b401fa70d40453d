"""Event store ingest and query benchmark (issue 2), against Postgres and Redis, in one run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tradingops_bench REDIS_URL=redis://127.0.0.1:6379/5 \\
        .venv/bin/python bench/ingest.py

Ingest, each phase on emptied tables (TRUNCATE: the event log refuses UPDATE/DELETE):
  emit        one event per call (own transaction, projectors, publish on commit)
  emit_many   batches of 1,000
  POST        /api/v1/events with batches of 1,000, through uvicorn + DRF token auth, keep-alive
  COPY        psycopg 3 COPY of the same rows into the same table and indexes: the physical limit
Queries, with 1,000,000 events stored: GET /api/v1/events?correlation_id=... and
?type=fill&since=...&until=..., p50/p95 over real HTTP and in-process (Django test client).

The database named in DATABASE_URL is migrated and its event tables emptied: give it its own.
"""

import argparse
import http.client
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
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
    sys.exit("Set DATABASE_URL (Postgres, a database of its own: it is emptied) and REDIS_URL.")

import django  # noqa: E402

django.setup()

import hashlib  # noqa: E402

import psycopg  # noqa: E402
import uvicorn  # noqa: E402
from django.contrib.auth.models import Group, User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import (
    Client,  # noqa: E402
    RequestFactory,  # noqa: E402
)
from rest_framework.authtoken.models import Token  # noqa: E402
from rest_framework.request import Request  # noqa: E402

from events import projectors, types  # noqa: E402
from events.api.views import EventListCreateView  # noqa: E402
from events.models import Event, LLMCall, RunEventCount, RunSummary  # noqa: E402
from events.services import EventDraft, emit, emit_many  # noqa: E402

BATCH = 1000
EMIT, MANY, COPY, POST = (
    "emit (one at a time)",
    "emit_many (1,000/batch)",
    "COPY (1,000/txn)",
    "POST /api/v1/events (1,000/req)",
)
SYMBOLS = ["BTC/USDT", "ETH/USDT", "SOL/USDT", "BNB/USDT", "XRP/USDT", "ADA/USDT", "AVAX/USDT", "DOGE/USDT"]
RUNS = [f"run-{i:03d}" for i in range(40)]
TABLES = [Event, RunEventCount, RunSummary, LLMCall]
# The event store's own projectors. Other apps register theirs for the same types (the trading read
# models for fills and orders...); they own that cost and it is left out unless --all-projectors.
OWN_PROJECTORS = {"run_summaries", "llm_calls"}


def restrict_projectors(all_projectors: bool) -> None:
    if not all_projectors:
        for name in [p.name for p in projectors.all_projectors() if p.name not in OWN_PROJECTORS]:
            del projectors._projectors[name]


COPY_COLUMNS = (
    "event_id, ts, recorded_at, type, source, run_id, correlation_id, causation_id, dedupe_key, schema_version, payload"
)


# --- Workload ---------------------------------------------------------------------------------


class Workload:
    """Decision chains like the agents write them: intent -> order_submitted -> fill(s), or
    intent -> trade_blocked. Orders and fills carry dedupe keys (exchange ids), as producers do."""

    def __init__(self, seed: int, start: datetime):
        self.rng = random.Random(seed)
        self.ts = start
        self.serial = 0

    def _tick(self) -> datetime:
        self.ts += timedelta(milliseconds=self.rng.randint(5, 400))
        return self.ts

    def chain(self) -> list[EventDraft]:
        rng = self.rng
        self.serial += 1
        n = self.serial
        run_id = rng.choice(RUNS)
        source = f"agent:{run_id}"
        corr = uuid.UUID(int=rng.getrandbits(128), version=4)
        symbol = rng.choice(SYMBOLS)
        side = rng.choice(("buy", "sell"))
        price = f"{rng.uniform(0.1, 90000):.2f}"
        drafts = [
            EventDraft(
                "intent",
                {"action": "enter", "symbol": symbol, "params": {"side": side, "size_pct": "2.5"}, "note": "breakout"},
                source,
                run_id,
                corr,
                ts=self._tick(),
            )
        ]
        if rng.random() < 0.35:
            drafts.append(
                EventDraft(
                    "trade_blocked",
                    {
                        "symbol": symbol,
                        "side": side,
                        "reason": rng.choice(("max_exposure", "daily_loss_limit", "stale_data")),
                        "reason_class": rng.choice(("risk_valid", "quality_gate", "infra")),
                        "detail": {"limit": "0.25", "actual": "0.31"},
                        "plan_id": f"plan-{n % 97}",
                    },
                    source,
                    run_id,
                    corr,
                    ts=self._tick(),
                )
            )
            return drafts
        order_id = f"o-{n}-{rng.getrandbits(32):08x}"
        qty = f"{rng.uniform(0.001, 5):.6f}"
        drafts.append(
            EventDraft(
                "order_submitted",
                {"order_id": order_id, "symbol": symbol, "side": side, "qty": qty, "order_type": "market"},
                source,
                run_id,
                corr,
                dedupe_key=f"order:{order_id}",
                ts=self._tick(),
            )
        )
        for part in range(rng.choice((1, 1, 2))):
            fill_id = f"{order_id}-f{part}"
            drafts.append(
                EventDraft(
                    "fill",
                    {
                        "fill_id": fill_id,
                        "order_id": order_id,
                        "symbol": symbol,
                        "side": side,
                        "qty": qty,
                        "price": price,
                        "fee": "0.0125",
                        "fee_currency": "USDT",
                    },
                    source,
                    run_id,
                    corr,
                    dedupe_key=f"fill:{fill_id}",
                    ts=self._tick(),
                )
            )
        return drafts

    def drafts(self, count: int) -> list[EventDraft]:
        out: list[EventDraft] = []
        while len(out) < count:
            out.extend(self.chain())
        return out[:count]


def batches(items: list, size: int = BATCH) -> list[list]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def draft_json(draft: EventDraft) -> dict:
    return {
        "type": draft.type,
        "payload": draft.payload,
        "source": draft.source,
        "run_id": draft.run_id,
        "correlation_id": str(draft.correlation_id),
        "dedupe_key": draft.dedupe_key,
        "ts": draft.ts.isoformat(),
    }


def client_json(draft: EventDraft) -> dict:
    """The draft as a client may post it (POST /api/v1/events takes only client types, and sets
    the source itself): intents as notes, every other link as the external agent's llm_call."""
    if draft.type == "intent":
        payload = {"action": "note", "symbol": draft.payload.get("symbol"), "note": draft.payload.get("note")}
    else:
        payload = {"model": "bench-model", "agent": draft.type, "prompt_hash": draft.type[:8] + "0" * 8,
                   "tokens_in": 512, "tokens_out": 64, "cost": "0.0012", "latency_ms": 240}  # fmt: skip
    body = {**draft_json(draft), "type": "intent" if draft.type == "intent" else "llm_call", "payload": payload}
    del body["source"]
    if body["dedupe_key"] is None:
        del body["dedupe_key"]
    return body


# --- Database ---------------------------------------------------------------------------------


def truncate() -> None:
    names = ", ".join(model._meta.db_table for model in TABLES)
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {names} RESTART IDENTITY")
    for projector in projectors.all_projectors():
        if projector.name not in OWN_PROJECTORS:
            projector.reset()


def event_count() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM events_event")
        return cursor.fetchone()[0]


def psycopg_conninfo() -> str:
    s = connection.settings_dict
    return psycopg.conninfo.make_conninfo(
        dbname=s["NAME"], user=s["USER"], host=s["HOST"], port=s["PORT"] or 5432, password=s["PASSWORD"] or None
    )


# --- Ingest phases ----------------------------------------------------------------------------


def phase_emit(work: Workload, count: int) -> float:
    drafts = work.drafts(count)
    last_by_corr: dict[uuid.UUID, uuid.UUID] = {}
    started = time.perf_counter()
    for d in drafts:
        event = emit(
            d.type,
            d.payload,
            source=d.source,
            run_id=d.run_id,
            correlation_id=d.correlation_id,
            causation_id=last_by_corr.get(d.correlation_id),
            dedupe_key=d.dedupe_key,
            ts=d.ts,
        )
        last_by_corr[d.correlation_id] = event.event_id
    elapsed = time.perf_counter() - started
    assert event_count() == count
    return count / elapsed


def phase_emit_many(work: Workload, count: int) -> float:
    chunks = batches(work.drafts(count))
    started = time.perf_counter()
    for chunk in chunks:
        emit_many(chunk)
    elapsed = time.perf_counter() - started
    assert event_count() == count
    return count / elapsed


def phase_copy(work: Workload, count: int) -> float:
    """The same rows (payloads already in their stored, normalised form) COPY'd in 1,000-row
    transactions: what the table and its indexes can take, without validation or projections."""
    versions = {name: types.get(name).version for name in types.names()}
    chunks = batches(work.drafts(count))
    for chunk in chunks:  # stored form, as emit would store it (validation is emit's cost, not COPY's)
        for d in chunk:
            d.payload = types.validate_payload(d.type, d.payload)
    with psycopg.connect(psycopg_conninfo()) as conn:
        started = time.perf_counter()
        for chunk in chunks:
            now = datetime.now(UTC)
            with (
                conn.transaction(),
                conn.cursor() as cur,
                cur.copy(f"COPY events_event ({COPY_COLUMNS}) FROM STDIN") as copy,
            ):
                for d in chunk:
                    copy.write_row(
                        (
                            uuid.uuid4(),
                            d.ts,
                            now,
                            d.type,
                            d.source,
                            d.run_id,
                            d.correlation_id,
                            None,
                            d.dedupe_key,
                            versions[d.type],
                            json.dumps(d.payload, separators=(",", ":")),
                        )
                    )
        elapsed = time.perf_counter() - started
    assert event_count() == count
    return count / elapsed


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """uvicorn serving tradingops.asgi (one worker, uvloop + httptools), on this database."""

    def __init__(self, all_projectors: bool):
        self.port = free_port()
        env = {**os.environ, "DATABASE_POOL": "true"}
        command = [sys.executable, __file__, "--serve", str(self.port)]
        self.process = subprocess.Popen([*command, "--all-projectors"] if all_projectors else command, env=env)
        deadline = time.monotonic() + 60
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", "/api/v1/events")
                if conn.getresponse().status in (401, 403):
                    conn.close()
                    return
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.1)

    def connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def token_for(username: str, role: str) -> str:
    user, _ = User.objects.get_or_create(username=username)
    user.groups.add(Group.objects.get_or_create(name=role)[0])
    return Token.objects.get_or_create(user=user)[0].key


def phase_post(server: Server, token: str, work: Workload, count: int) -> float:
    # Bodies are encoded before the clock starts: the client's JSON encoding is not the server's cost.
    bodies = [json.dumps([client_json(d) for d in chunk]).encode() for chunk in batches(work.drafts(count))]
    headers = {"Authorization": f"Token {token}", "Content-Type": "application/json", "Accept": "application/json"}
    conn = server.connect()
    started = time.perf_counter()
    for body in bodies:
        conn.request("POST", "/api/v1/events", body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        if response.status != 201:
            raise RuntimeError(f"POST returned {response.status}")
    elapsed = time.perf_counter() - started
    conn.close()
    assert event_count() == count
    return count / elapsed


# --- Query phase ------------------------------------------------------------------------------

LOAD_START = datetime(2026, 1, 1, tzinfo=UTC)
LOAD_SPAN = timedelta(days=60)

# 1,000,000 events in chains of four (intent -> order_submitted -> fill -> fill, every 4th chain
# intent -> trade_blocked -> ...), 40 runs, 8 symbols, over 60 days: about one fill every 10 s.
LOAD_SQL = """
INSERT INTO events_event (event_id, ts, recorded_at, type, source, run_id, correlation_id, causation_id,
                          dedupe_key, schema_version, payload)
SELECT gen_random_uuid(), t, t, kind, 'agent:' || run, run, corr, NULL,
       CASE WHEN kind IN ('order_submitted', 'fill') THEN kind || ':' || i END, 1,
       CASE kind
         WHEN 'intent' THEN jsonb_build_object('action', 'enter', 'symbol', sym, 'params',
                                               jsonb_build_object('side', side, 'size_pct', '2.5'))
         WHEN 'trade_blocked' THEN jsonb_build_object('symbol', sym, 'side', side, 'reason', 'max_exposure',
                                                      'reason_class', 'risk_valid', 'detail', '{}'::jsonb)
         WHEN 'order_submitted' THEN jsonb_build_object('order_id', 'o-' || (i / 4), 'symbol', sym, 'side', side,
                                                        'qty', '0.25', 'order_type', 'market')
         ELSE jsonb_build_object('fill_id', 'f-' || i, 'order_id', 'o-' || (i / 4), 'symbol', sym, 'side', side,
                                 'qty', '0.125', 'price', (20000 + i %% 5000)::text, 'fee', '0.01')
       END
FROM (
  SELECT i,
         %(start)s::timestamptz + (i * %(step)s::double precision) * interval '1 second' AS t,
         CASE i %% 4 WHEN 0 THEN 'intent'
                    WHEN 1 THEN CASE WHEN (i / 4) %% 4 = 3 THEN 'trade_blocked' ELSE 'order_submitted' END
                    ELSE 'fill' END AS kind,
         'run-' || lpad(((i / 4) %% 40)::text, 3, '0') AS run,
         md5('chain-' || (i / 4))::uuid AS corr,
         (ARRAY['BTC/USDT','ETH/USDT','SOL/USDT','BNB/USDT','XRP/USDT','ADA/USDT','AVAX/USDT','DOGE/USDT'])
           [1 + (i / 4) %% 8] AS sym,
         CASE WHEN (i / 4) %% 2 = 0 THEN 'buy' ELSE 'sell' END AS side
  FROM generate_series(0, %(n)s - 1) AS i
) AS g
"""


def load_million(n: int) -> float:
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(LOAD_SQL, {"start": LOAD_START, "step": LOAD_SPAN.total_seconds() / n, "n": n})
        cursor.execute("VACUUM ANALYZE events_event")
    return time.perf_counter() - started


def query_paths(rng: random.Random, n_chains: int, count: int) -> dict[str, list[str]]:
    corr = [
        f"/api/v1/events?correlation_id={uuid.UUID(_md5(f'chain-{rng.randrange(n_chains)}'))}" for _ in range(count)
    ]
    windows = []
    for _ in range(count):
        width = timedelta(hours=rng.choice((1, 6, 24, 24 * 7)))
        since = LOAD_START + (LOAD_SPAN - width) * rng.random()
        windows.append(f"/api/v1/events?type=fill&since={_q(since)}&until={_q(since + width)}")
    return {"correlation_id": corr, "type+window": windows}


def _md5(text: str) -> str:

    return hashlib.md5(text.encode()).hexdigest()  # noqa: S324 - ids, not security


def _q(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def time_http(server: Server, token: str, paths: list[str], expect_rows: bool) -> list[float]:
    headers = {"Authorization": f"Token {token}", "Accept": "application/json"}
    conn = server.connect()
    for path in paths[:20]:  # warm-up: connections, caches
        conn.request("GET", path, headers=headers)
        conn.getresponse().read()
    timings = []
    for path in paths:
        started = time.perf_counter()
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        body = response.read()
        timings.append((time.perf_counter() - started) * 1000)
        if response.status != 200:
            raise RuntimeError(f"GET {path} returned {response.status}: {body[:200]!r}")
        if expect_rows and not json.loads(body)["results"]:
            raise RuntimeError(f"GET {path} returned no events")
    conn.close()
    return timings


def time_client(token: str, paths: list[str]) -> list[float]:
    client = Client(HTTP_AUTHORIZATION=f"Token {token}", HTTP_ACCEPT="application/json")
    for path in paths[:20]:
        client.get(path)
    timings = []
    for path in paths:
        started = time.perf_counter()
        response = client.get(path)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.content[:200]
    return timings


def explain(path: str) -> str:
    """The SQL plan of the list query the view runs for this path (the page query)."""

    view = EventListCreateView()
    request = Request(RequestFactory().get(path))
    view.request, view.format_kwarg, view.kwargs = request, None, {}
    queryset = view.filter_queryset(view.get_queryset()).order_by("-ts", "-id")[:51]
    return queryset.explain(analyze=True)


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


# --- Main ---------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--emit", type=int, default=2000, help="events through emit, one at a time")
    parser.add_argument("--batched", type=int, default=30_000, help="events through emit_many and COPY each")
    parser.add_argument("--post", type=int, default=10_000, help="events through POST /api/v1/events")
    parser.add_argument("--stored", type=int, default=1_000_000, help="events stored for the query phase")
    parser.add_argument("--requests", type=int, default=300, help="GET requests per query kind")
    parser.add_argument("--rounds", type=int, default=3, help="ingest rounds (each path once per round)")
    parser.add_argument("--skip-queries", action="store_true")
    parser.add_argument("--explain", action="store_true", help="print the query plans")
    parser.add_argument(
        "--all-projectors", action="store_true", help="run every app's projectors, not only the store's"
    )
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    restrict_projectors(args.all_projectors)
    if args.serve:  # the HTTP server of the POST/GET phases: this process's projectors, in uvicorn
        uvicorn.run(
            "tradingops.asgi:application", port=args.serve, log_level="warning", access_log=False, lifespan="off"
        )
        return

    call_command("migrate", verbosity=0)
    operator_token = token_for("bench-operator", "operator")
    viewer_token = token_for("bench-viewer", "viewer")
    start = datetime(2026, 3, 1, tzinfo=UTC)
    print(f"load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())}  (2 cores, shared)")

    truncate()
    for chunk in batches(Workload(0, start).drafts(2000)):  # warm-up: imports, connections, plan caches
        emit_many(chunk)
    server = Server(args.all_projectors)
    try:
        truncate()
        phase_post(server, operator_token, Workload(3, start), BATCH)  # warm-up
        # Rounds, each path once per round, so that a noisy neighbour hits every path alike; the
        # emit_many/COPY ratio is taken within each round (the two run back to back).
        rounds: dict[str, list[float]] = defaultdict(list)
        ratios = []
        for r in range(args.rounds):
            seed = 10 * r
            truncate()
            rounds[EMIT].append(phase_emit(Workload(seed + 1, start), args.emit))
            truncate()
            rounds[MANY].append(phase_emit_many(Workload(seed + 2, start), args.batched))
            truncate()
            rounds[COPY].append(phase_copy(Workload(seed + 2, start), args.batched))
            truncate()
            rounds[POST].append(phase_post(server, operator_token, Workload(seed + 4, start), args.post))
            ratios.append(rounds[MANY][-1] / rounds[COPY][-1])

        copy_rate = statistics.median(rounds[COPY])
        ratio = statistics.median(ratios)
        print(
            f"\nIngest, events/s, {args.rounds} rounds "
            f"(Postgres {connection.pg_version // 10000}, {os.cpu_count()} cores)"
        )
        print(f"{'path':34} {'median':>9} {'best':>9} {'vs COPY':>8}  target")
        targets = {
            EMIT: ("≥ 1,000/s", lambda: statistics.median(rounds[EMIT]) >= 1000),
            MANY: ("≥ 50% of COPY", lambda: ratio >= 0.5),
        }
        for name, rates in rounds.items():
            median = statistics.median(rates)
            target, ok = targets.get(name, ("", None))
            verdict = "" if ok is None else ("PASS" if ok() else "FAIL")
            print(f"{name:34} {median:>9,.0f} {max(rates):>9,.0f} {median / copy_rate:>7.0%}  {target} {verdict}")
        print(f"emit_many / COPY per round: {', '.join(f'{x:.0%}' for x in ratios)} (median {ratio:.0%})")

        if args.skip_queries:
            return
        truncate()
        print(f"\nLoading {args.stored:,} events ...", end=" ", flush=True)
        print(f"{load_million(args.stored):.0f} s")
        paths = query_paths(random.Random(5), args.stored // 4, args.requests)
        print(f"\nGET /api/v1/events with {event_count():,} events stored, {args.requests} requests each, ms")
        print(
            f"{'filter':16} {'HTTP p50':>9} {'HTTP p95':>9} {'in-proc p50':>12} {'in-proc p95':>12}  target p95 < 20 ms"
        )
        for name, kind_paths in paths.items():
            http_ms = time_http(server, viewer_token, kind_paths, expect_rows=True)
            client_ms = time_client(viewer_token, kind_paths)
            p95 = pct(http_ms, 95)
            print(
                f"{name:16} {pct(http_ms, 50):>9.1f} {p95:>9.1f} {pct(client_ms, 50):>12.1f} "
                f"{pct(client_ms, 95):>12.1f}  {'PASS' if p95 < 20 else 'FAIL'}"
            )
            if args.explain:
                print(explain(kind_paths[0]))
        print(f"\nload average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
