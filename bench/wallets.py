"""Wallets benchmark: reconciliation of 100 wallets x 20 currencies over 1,000,000 ledger entries
against the paper exchange, and GET /api/v1/wallets latency at 100 wallets.

Run (Postgres and Redis up; the bench makes and drops its own database ``<DATABASE name>_bench``;
``BENCH_PROFILE=tottime`` also prints a cProfile of 50 list requests):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tradingops_wallets REDIS_URL=redis://127.0.0.1:6379/4 \\
        .venv/bin/python bench/wallets.py

Setup bulk-loads the entries with COPY and builds the balances from them (as a repair would);
the paper exchange's accounts are set to the same sums with 5 drifts injected. Each
reconciliation is timed end to end: ``wallet_reconcile`` from the advisory lock to the commit of
2,000 drift records, the events and the on-commit alert (WebSocket group send). For scale, the
same run's ledger read is compared with summing the ledger instead (what a reconciler that does
not keep balances would do). GET /wallets goes through the whole Django stack in process
(middleware, token auth, role check, DRF, JSON rendering), 100 wallets per page.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradingops.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key")

import django  # noqa: E402

django.setup()

import cProfile  # noqa: E402
import pstats  # noqa: E402

from django.conf import settings  # noqa: E402
from django.contrib.auth.models import Group, User  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.models import Sum  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import setup_databases, teardown_databases  # noqa: E402
from rest_framework.authtoken.models import Token  # noqa: E402

from tradingops.db import is_postgres  # noqa: E402
from wallets import services  # noqa: E402
from wallets.models import (  # noqa: E402  # noqa: E402
    LedgerEntry,  # noqa: E402
    PaperExchangeBalance,
    WalletBalance,
)

CURRENCIES = [
    "BTC", "ETH", "USDT", "USDC", "SOL", "XRP", "ADA", "DOGE", "DOT", "AVAX",
    "LINK", "MATIC", "LTC", "BCH", "ATOM", "UNI", "XLM", "ETC", "FIL", "NEAR",
]  # fmt: skip
DRIFTS = 5


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def load_entries(wallet_ids: list[int], per_pair: int, rng: random.Random) -> int:
    """COPY the entries in: every (wallet, currency) gets ``per_pair`` signed amounts."""

    table = LedgerEntry._meta.db_table
    columns = "wallet_id, currency, amount, kind, reference, note, ts, recorded_at"
    kinds = ["deposit", "fill", "fill", "fill", "fee", "transfer"]
    now = "2026-01-01 00:00:00+00"
    rows = 0
    connection.ensure_connection()
    with connection.connection.cursor() as raw, raw.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for wallet_id in wallet_ids:
            buffer = io.StringIO()
            for currency in CURRENCIES:
                for i in range(per_pair):
                    kind = kinds[i % len(kinds)]
                    units = rng.randint(1, 10**10)
                    sign = -1 if kind == "fee" or (kind in ("fill", "transfer") and rng.random() < 0.4) else 1
                    amount = Decimal(sign * units).scaleb(-8)
                    buffer.write(f"{wallet_id}\t{currency}\t{amount}\t{kind}\tbench-{i}\t\t{now}\t{now}\n")
                    rows += 1
            copy.write(buffer.getvalue())
    return rows


def setup_data(wallet_count: int, entries: int) -> list[int]:

    rng = random.Random(20261125)
    wallet_ids = [services.wallet_create(name=f"paper-{i:03}", kind="paper").pk for i in range(wallet_count)]
    per_pair = entries // (wallet_count * len(CURRENCIES))
    started = time.perf_counter()
    loaded = load_entries(wallet_ids, per_pair, rng)
    copy_s = time.perf_counter() - started
    started = time.perf_counter()
    pairs = services.wallet_balances_rebuild()
    rebuild_s = time.perf_counter() - started
    balances = list(WalletBalance.objects.values_list("wallet_id", "currency", "amount"))
    drifted = set(rng.sample(range(len(balances)), DRIFTS))
    PaperExchangeBalance.objects.bulk_create(
        PaperExchangeBalance(wallet_id=w, currency=c, amount=a + (Decimal("-1.25") if i in drifted else 0))
        for i, (w, c, a) in enumerate(balances)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    print(f"setup: {loaded:,} entries by COPY in {copy_s:.1f} s; {pairs:,} balances rebuilt in {rebuild_s:.2f} s")
    return wallet_ids


def bench_reconcile(runs: int) -> list[float]:

    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        run = services.wallet_reconcile().run
        timings.append(time.perf_counter() - started)
        records = run.drift_records.count()
        assert (run.status, run.breaches, records) == ("succeeded", DRIFTS, 100 * len(CURRENCIES)), (
            run.status,
            run.breaches,
            records,
        )
    return timings


def bench_ledger_read() -> tuple[float, float]:
    """Reading 2,000 kept balances against summing 1,000,000 entries (best of 3 each)."""

    def best(fn) -> float:
        times = []
        for _ in range(3):
            started = time.perf_counter()
            fn()
            times.append(time.perf_counter() - started)
        return min(times)

    kept = best(lambda: list(WalletBalance.objects.values_list("wallet_id", "currency", "amount")))
    summed = best(
        lambda: list(LedgerEntry.objects.order_by().values("wallet_id", "currency").annotate(total=Sum("amount")))
    )
    return kept, summed


def bench_wallet_list(requests: int) -> tuple[list[float], list[float]]:

    user = User.objects.create_user("bench-viewer")
    user.groups.add(Group.objects.get_or_create(name="viewer")[0])
    token = Token.objects.create(user=user)
    client = Client(HTTP_AUTHORIZATION=f"Token {token.key}")
    for _ in range(20):  # warm-up
        response = client.get("/api/v1/wallets")
    assert response.status_code == 200, response.content[:300]
    body = response.json()
    assert len(body["results"]) == 100
    assert len(body["results"][0]["balances"]) == len(CURRENCIES)
    if os.environ.get("BENCH_PROFILE"):
        profile = cProfile.Profile()
        profile.enable()
        for _ in range(50):
            client.get("/api/v1/wallets")
        profile.disable()
        pstats.Stats(profile).sort_stats(os.environ["BENCH_PROFILE"]).print_stats(40)
    timings, cpu = [], []
    for _ in range(requests):
        started, cpu_started = time.perf_counter(), time.process_time()
        response = client.get("/api/v1/wallets")
        timings.append(time.perf_counter() - started)
        cpu.append(time.process_time() - cpu_started)
    return timings, cpu


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--wallets", type=int, default=100)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--requests", type=int, default=500)
    args = parser.parse_args()
    print("load average at the start " + ", ".join(f"{value:.1f}" for value in os.getloadavg()))
    if not is_postgres():
        sys.exit("bench/wallets.py needs Postgres: set DATABASE_URL.")
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    db = settings.DATABASES["default"]
    db.setdefault("TEST", {})["NAME"] = f"{db['NAME']}_bench"
    old = setup_databases(verbosity=0, interactive=False, serialized_aliases=set())
    try:
        setup_data(args.wallets, args.entries)
        recon = bench_reconcile(args.runs)
        kept, summed = bench_ledger_read()
        listing, listing_cpu = bench_wallet_list(args.requests)
    finally:
        teardown_databases(old, verbosity=0)
    print(
        f"reconcile {args.wallets} wallets x {len(CURRENCIES)} currencies over {args.entries:,} entries "
        f"({args.runs} runs): median {statistics.median(recon):.3f} s, max {max(recon):.3f} s "
        f"(target < 2 s: {'PASS' if max(recon) < 2 else 'FAIL'})"
    )
    print(
        f"ledger read inside a run: kept balances {kept * 1000:.1f} ms vs summing the ledger {summed * 1000:.0f} ms "
        f"({summed / kept:.0f}x)"
    )
    p50, p95 = percentile(listing, 0.5) * 1000, percentile(listing, 0.95) * 1000
    print(
        f"GET /api/v1/wallets ({args.wallets} wallets, {args.requests} requests): p50 {p50:.1f} ms, p95 {p95:.1f} ms "
        f"(target p95 < 25 ms: {'PASS' if p95 < 25 else 'FAIL'})"
    )
    windows = [listing[i : i + 100] for i in range(0, len(listing), 100) if len(listing[i : i + 100]) == 100]
    if len(windows) > 1:
        per_window = ", ".join(f"{percentile(window, 0.95) * 1000:.1f}" for window in windows)
        print(f"  p95 per window of 100 requests (the machine is shared): {per_window} ms")
    print(
        f"  this process's CPU per request: p50 {percentile(listing_cpu, 0.5) * 1000:.1f} ms, "
        f"p95 {percentile(listing_cpu, 0.95) * 1000:.1f} ms (wall minus CPU is the database and waiting for a core)"
    )
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"python {sys.version.split()[0]}; {os.cpu_count()} cpus; load average at the end {load}")


if __name__ == "__main__":
    main()
