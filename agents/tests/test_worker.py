"""The execution agent on real Celery workers over Redis, fed by the market feed's hook."""

import os
import signal
import time

import pytest

from agents.models import ExecutionStep, Fill, Order
from agents.planner import planner_run
from conftest import start_celery_worker
from events.models import Event
from market import hooks
from market.tests.factories import shipped_candles
from tradingops.celery import app

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]


def _wait_for_steps(count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while ExecutionStep.objects.count() < count:
        assert time.monotonic() < deadline, f"only {ExecutionStep.objects.count()} of {count} candles processed"
        time.sleep(0.1)


def _closed(candle) -> hooks.ClosedCandle:
    return hooks.ClosedCandle("SOL-USDT", "1h", candle.open_time, candle.open, candle.high, candle.low, candle.close,
                              candle.volume)  # fmt: skip


@pytest.fixture
def candles(transactional_db):
    return shipped_candles()


def test_a_killed_worker_neither_loses_nor_duplicates_a_decision(candles, celery_worker_process, settings):
    planner_run()
    first_worker = celery_worker_process
    for candle in candles[200:400]:
        hooks.candle_closed(_closed(candle))
    _wait_for_steps(50)

    # kill -9 the worker in the middle of the stream, tasks in flight; a fresh worker takes over

    pid = app.control.inspect(destination=[first_worker], timeout=2).stats()[first_worker]["pid"]

    os.kill(pid, signal.SIGKILL)
    _, second = start_celery_worker(settings)
    try:
        for candle in candles[400:700]:
            hooks.candle_closed(_closed(candle))
        deadline = time.monotonic() + 300  # 300 candles, each checkpointed; slow on a loaded machine
        last = candles[699].open_time
        while not ExecutionStep.objects.filter(open_time=last).exists():
            assert time.monotonic() < deadline, "the second worker did not reach the last candle"
            time.sleep(0.2)
    finally:
        second.terminate()
        second.wait(timeout=20)

    # every candle once, every order and fill once
    times = list(ExecutionStep.objects.values_list("open_time", flat=True))
    assert len(times) == len(set(times))
    assert {c.open_time for c in candles[200:700]} <= set(times)  # nothing lost with the killed worker
    assert Fill.objects.exists()
    assert Fill.objects.count() == Event.objects.filter(type="fill").count()
    assert Order.objects.count() == Event.objects.filter(type="order_submitted").count()
    keys = list(Event.objects.exclude(dedupe_key=None).values_list("dedupe_key", flat=True))
    assert len(keys) == len(set(keys))
