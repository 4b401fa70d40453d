"""Backtests on a real Celery worker (and a real ASGI server for the socket): the SOL run completes with
the engine's numbers, progress moves and is pushed over /ws/backtests/{id}/, cancel stops a run within
a second, a run whose worker died is marked failed by the reaper, a sweep fans out as a group."""

import asyncio
import itertools
import json
import os
import signal
import time
from datetime import datetime
from decimal import Decimal

import pytest
import websockets
from channels.db import database_sync_to_async

from backtests import services
from backtests.models import BacktestRun, RunStatus
from backtests.tasks import backtest_reap_task
from events.models import Event
from market.models import Instrument
from market.services import candle_rows_upsert
from tradingops.celery import app

from .conftest import OPEN_LIMITS, sma_config, synthetic_rows
from .test_runs import engine_result

pytestmark = pytest.mark.slow
URL = "/api/v1/backtests"


def wait_for(predicate, seconds: float, every: float = 0.02):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"not true within {seconds} s")


def status_of(run_id) -> str:
    return BacktestRun.objects.filter(pk=run_id).values_list("status", flat=True).get()


@pytest.fixture
def fine_progress(monkeypatch):
    """The worker's engine reports every 2,000 bars, written at most every 0.05 s: a 100,000-bar run lasts
    well under a second, too short for the default 0.25 s to show it part-way."""
    monkeypatch.setenv("BACKTESTS_PROGRESS_EVERY_BARS", "2000")
    monkeypatch.setenv("BACKTESTS_PROGRESS_INTERVAL_S", "0.05")


@pytest.fixture
def synthetic(transactional_db):
    """100,000 seeded 1m candles (loaded through the market app's COPY upsert)."""
    instrument = Instrument.objects.create(
        symbol="SYN-USD", base="SYN", quote="USD", price_tick=Decimal("0.000001"), lot_size=Decimal("0.00000001"),
        min_notional=Decimal(0),
    )  # fmt: skip
    rows = synthetic_rows(100_000)
    for i in range(0, len(rows), 50_000):
        candle_rows_upsert(instrument_id=instrument.pk, timeframe="1m", rows=rows[i : i + 50_000])
    return instrument


def busy_config() -> dict:
    """Many trades: the bar-by-bar part has work on most bars (about 1 s on the shared test machine)."""
    return {
        "symbols": ["SYN-USD"], "timeframe": "1m", "initial_cash": "1000000", "fee_rate": "0.001",
        "slippage_bps": "1", "risk": OPEN_LIMITS, "strategy": {"preset": "sma_cross", "params": {"fast": 2, "slow": 5}},
    }  # fmt: skip


def test_a_run_posted_to_the_api_completes_on_the_worker_with_the_engines_numbers(
    sol_candles, celery_worker_process, client_for
):
    response = client_for("operator").post(URL, sma_config(), format="json", headers={"Idempotency-Key": "w-1"})
    assert response.status_code == 202
    run_id = response.json()["id"]

    wait_for(lambda: status_of(run_id) == RunStatus.COMPLETED, 60)
    run = BacktestRun.objects.get(pk=run_id)
    expected = engine_result()
    assert run.results["final_equity"] == str(Decimal(repr(expected.final_equity)))
    assert run.results["trades"] == len(expected.trades) == 18
    assert run.worker == celery_worker_process
    assert run.candles_processed == 1000
    again = client_for("operator").post(URL, sma_config(), format="json", headers={"Idempotency-Key": "w-1"})
    assert again.status_code == 200
    assert again.json()["id"] == run_id
    assert BacktestRun.objects.count() == 1


async def test_progress_moves_and_is_pushed_over_the_socket_throttled(
    fine_progress, synthetic, celery_worker_process, asgi_server, users, client
):
    def login() -> str:
        client.force_login(users["viewer"])
        return f"sessionid={client.cookies['sessionid'].value}"

    cookie = await database_sync_to_async(login)()
    run = await database_sync_to_async(services.backtest_run_create)(data=busy_config())
    frames = []
    async with websockets.connect(
        f"ws://{asgi_server}/ws/backtests/{run.pk}/",
        origin=f"http://{asgi_server}",
        additional_headers={"Cookie": cookie},
    ) as socket:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            frame = json.loads(await asyncio.wait_for(socket.recv(), deadline - time.monotonic()))
            frames.append((time.monotonic(), frame))
            if frame["status"] in ("completed", "failed", "cancelled"):
                break
    statuses = [f["status"] for _, f in frames]
    assert statuses[-1] == "completed", frames[-1]
    running = [f for _, f in frames if f["status"] == "running"]
    middle = [f["candles_processed"] for f in running if 0 < f["candles_processed"] < 100_000]
    assert middle, [f["candles_processed"] for f in running]  # progress was seen part-way
    # the snapshot sent on connect may overtake a frame already in flight: in write order (heartbeat) it grows
    processed = [f["candles_processed"] for f in sorted(running, key=lambda f: f["heartbeat_at"])]
    assert processed == sorted(processed)
    assert frames[-1][1]["candles_processed"] == frames[-1][1]["candles_total"] == 100_000
    # throttled: the worker's progress writes (heartbeats) are at least the interval apart; the last
    # one (all bars done) is forced as the final cancel check and may come sooner
    beats = sorted({datetime.fromisoformat(f["heartbeat_at"]) for f in running if 0 < f["candles_processed"] < 100_000})
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(beats)]
    assert all(g >= 0.05 for g in gaps), gaps


def test_cancel_stops_a_running_run_within_a_second(synthetic, celery_worker_process, client_for):
    run = services.backtest_run_create(data=busy_config())
    wait_for(lambda: status_of(run.pk) == RunStatus.RUNNING, 60, every=0.005)

    started = time.monotonic()
    response = client_for("operator").post(f"{URL}/{run.pk}/cancel")
    assert response.status_code == 202
    wait_for(lambda: status_of(run.pk) == RunStatus.CANCELLED, 1.0, every=0.01)
    assert time.monotonic() - started < 1.0
    run.refresh_from_db()
    assert run.error == "cancelled by an operator"
    assert not run.trades.exists()
    assert not run.curve_chunks.exists()
    assert run.results is None


def test_the_reaper_marks_a_run_whose_worker_died_as_failed(synthetic, celery_worker_process):

    pid = app.control.inspect(destination=[celery_worker_process], timeout=5).stats()[celery_worker_process]["pid"]
    run = services.backtest_run_create(data=busy_config())
    wait_for(lambda: status_of(run.pk) == RunStatus.RUNNING, 60, every=0.005)
    os.kill(pid, signal.SIGKILL)  # the worker dies mid-run: no more heartbeats, status stays "running"
    time.sleep(0.1)
    assert status_of(run.pk) == RunStatus.RUNNING
    assert backtest_reap_task.apply(kwargs={"stale_after_s": 60}).get() == []  # not stale yet

    reaped = wait_for(lambda: backtest_reap_task.apply(kwargs={"stale_after_s": 1}).get(), 10, every=0.2)
    assert reaped == [str(run.pk)]
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert run.error.startswith(f"worker {celery_worker_process} stopped sending heartbeats")
    assert run.error.endswith("presumed dead")
    assert run.finished_at is not None


def test_a_sweep_fans_out_to_the_worker_and_ranks_the_runs(sol_candles, celery_worker_process, client_for):
    body = {"config": sma_config(), "grid": {"fast": [5, 10], "slow": [20, 30]}, "metric": "sharpe"}
    sweep = client_for("operator").post(f"{URL}/sweeps", body, format="json").json()

    wait_for(lambda: client_for("viewer").get(f"{URL}/sweeps/{sweep['id']}").json()["runs_completed"] == 4, 60)
    ranked = client_for("viewer").get(f"{URL}/sweeps/{sweep['id']}/results").json()["results"]
    assert len(ranked) == 4
    assert [r["score"] for r in ranked] == sorted((r["results"]["sharpe"] for r in ranked), reverse=True)
    expected = engine_result(fast=5, slow=20)
    five_twenty = next(r for r in ranked if r["params"] == {"fast": 5, "slow": 20})
    assert five_twenty["results"]["final_equity"] == str(Decimal(repr(expected.final_equity)))


def test_a_worker_frozen_past_the_reaper_resumes_without_undoing_the_failure(synthetic, celery_worker_process):
    """SIGSTOP the worker until the reaper fails its run, SIGCONT: the run stays failed, nothing is written,
    the event log says failed once, and the worker goes on with the next run."""

    pid = app.control.inspect(destination=[celery_worker_process], timeout=5).stats()[celery_worker_process]["pid"]
    run = services.backtest_run_create(data=busy_config())
    wait_for(lambda: status_of(run.pk) == RunStatus.RUNNING, 60, every=0.005)
    os.kill(pid, signal.SIGSTOP)
    try:
        reaped = wait_for(lambda: backtest_reap_task.apply(kwargs={"stale_after_s": 1}).get(), 10, every=0.2)
        assert reaped == [str(run.pk)]
    finally:
        os.kill(pid, signal.SIGCONT)
    after = services.backtest_run_create(data=busy_config())  # the worker's next message
    wait_for(lambda: status_of(after.pk) == RunStatus.COMPLETED, 60)

    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert "presumed dead" in run.error
    assert run.results is None
    assert not run.trades.exists()
    assert not run.curve_chunks.exists()
    statuses = list(
        Event.objects.filter(type="backtest_finished", correlation_id=run.pk).values_list("payload__status", flat=True)
    )
    assert statuses == ["failed"]
