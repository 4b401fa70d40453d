"""Nothing orphaned: work committed while the broker is down is sent once it is back, and the
request answers 202, never 500."""

import signal
import subprocess
import sys
import time
import uuid
from datetime import timedelta

import pytest
import requests
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerDown
from rest_framework.authtoken.models import Token

from agents.tasks import intent_execute_task
from backtests.models import BacktestRun
from backtests.tests.conftest import SOL_FILE, sma_config
from conftest import ROOT, PrivateRedis, process_env, start_uvicorn
from events.models import Event
from market.services import candles_load_file
from market.tests.factories import InstrumentFactory
from tradingops import outbox
from tradingops.models import IdempotencyRecord, OutboxMessage
from tradingops.tasks import outbox_sweep_task


@pytest.fixture
def market(db):

    InstrumentFactory()


def test_an_intent_with_the_broker_down_is_202_and_stays_pending(
    client_for, monkeypatch, django_capture_on_commit_callbacks
):
    def broker_down(message, connection=None):
        raise BrokerDown("Error 111 connecting to 127.0.0.1:6399. Connection refused.")

    monkeypatch.setattr(outbox, "publish", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for("operator").post("/api/v1/agents/intents", {"action": "pause"}, format="json")
    assert response.status_code == 202, response.content
    message = OutboxMessage.objects.get()
    assert message.task == "agents.tasks.intent_execute_task"
    assert message.dispatched_at is None
    assert "Connection refused" in message.last_error


def test_the_sweeper_sends_each_pending_message_once(db, monkeypatch, django_capture_on_commit_callbacks):

    sent = []
    monkeypatch.setattr(outbox, "publish", lambda message, connection=None: sent.append(message.pk))
    first = OutboxMessage.objects.create(task=intent_execute_task.name, args=["a"])
    second = OutboxMessage.objects.create(task=intent_execute_task.name, args=["b"])
    assert outbox.sweep(older_than_s=0) == 2
    assert outbox.sweep(older_than_s=0) == 0
    assert sent == [first.pk, second.pk]


def test_a_fresh_message_is_left_to_its_commit(db, monkeypatch):
    monkeypatch.setattr(
        outbox, "publish", lambda message, connection=None: pytest.fail("sent before its own commit could")
    )
    OutboxMessage.objects.create(task="agents.tasks.intent_execute_task", args=["a"])
    assert outbox.sweep(older_than_s=60) == 0


# --- With a real Redis that is stopped and started, a real web server and a real worker ---------


def _worker(env: dict) -> subprocess.Popen:
    command = [sys.executable, "-m", "celery", "-A", "tradingops", "worker", "--pool", "solo", "-n",
               f"outbox-{uuid.uuid4().hex[:8]}@localhost", "-Q", "agents,backtests,default", "--without-gossip",
               "--without-mingle", "--loglevel", "WARNING"]  # fmt: skip
    return subprocess.Popen(command, cwd=ROOT, env=env)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _until(condition, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_intents_posted_while_redis_is_down_are_carried_out_once_when_it_is_back(transactional_db, make_user):
    user = make_user("otto", "operator")
    token = Token.objects.create(user=user).key
    headers = {"Authorization": f"Token {token}"}
    redis = PrivateRedis()
    redis.start()
    env = process_env(redis_url=redis.url, prefix=f"outbox-test-{uuid.uuid4().hex[:8]}")
    web, address = start_uvicorn(env)
    base = f"http://{address}"
    worker = None
    try:
        redis.stop()
        started = time.monotonic()
        answers = [
            requests.post(f"{base}/api/v1/agents/intents", json={"action": "pause"}, headers=headers, timeout=30)
            for _ in range(3)
        ]
        elapsed = time.monotonic() - started
        assert [a.status_code for a in answers] == [202, 202, 202], [a.text for a in answers]
        assert elapsed < 15, f"three intents took {elapsed:.1f} s with Redis down"
        assert OutboxMessage.objects.filter(dispatched_at__isnull=True).count() == 3
        assert not Event.objects.filter(type="run_control").exists()

        redis.start()
        back = time.monotonic()
        worker = _worker(env)  # its start sweeps the outbox
        assert _until(lambda: Event.objects.filter(type="run_control").count() == 3, timeout=60), (
            OutboxMessage.objects.values_list("dispatched_at", "last_error")
        )
        carried_out = time.monotonic() - back
        print(f"3 intents, Redis down: {elapsed:.2f} s; carried out {carried_out:.1f} s after it was back")  # noqa: T201
        assert not OutboxMessage.objects.filter(dispatched_at__isnull=True).exists()

        # a second worker start (a restart) sends nothing again, and nothing is done twice
        _stop(worker)
        worker = _worker(env)
        time.sleep(5)
        assert Event.objects.filter(type="run_control").count() == 3
        intents = Event.objects.filter(type="intent").values_list("event_id", flat=True)
        keys = set(Event.objects.filter(type="run_control").values_list("dedupe_key", flat=True))
        assert keys == {f"intent:{event_id}:pause" for event_id in intents}
        assert set(OutboxMessage.objects.values_list("attempts", flat=True)) <= {2}  # one failed, one sent
    finally:
        if worker is not None:
            _stop(worker)
        _stop(web)
        redis.close()


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_a_backtest_posted_while_redis_is_down_runs_once_when_it_is_back(transactional_db, make_user, sol):

    candles_load_file(instrument=sol, timeframe="1h", path=SOL_FILE)
    token = Token.objects.create(user=make_user("otto", "operator")).key
    headers = {"Authorization": f"Token {token}"}
    redis = PrivateRedis()
    redis.start()
    env = process_env(redis_url=redis.url, prefix=f"outbox-test-{uuid.uuid4().hex[:8]}")
    web, address = start_uvicorn(env)
    base = f"http://{address}"
    worker = None
    try:
        redis.stop()
        started = time.monotonic()
        answer = requests.post(f"{base}/api/v1/backtests", json=sma_config(), headers=headers, timeout=30)
        elapsed = time.monotonic() - started
        assert answer.status_code == 202, answer.text
        assert elapsed < 10, f"a backtest took {elapsed:.1f} s to answer with Redis down"
        run_id = answer.json()["id"]
        assert OutboxMessage.objects.filter(dispatched_at__isnull=True, args=[run_id]).count() == 1
        assert BacktestRun.objects.get(pk=run_id).status == "queued"

        redis.start()
        worker = _worker(env)  # its start sweeps the outbox
        assert _until(lambda: BacktestRun.objects.get(pk=run_id).status == "completed", timeout=120), (
            BacktestRun.objects.values_list("status", "error"),
            OutboxMessage.objects.values_list("dispatched_at", "last_error"),
        )
        # a restart sends nothing again and nothing runs twice
        _stop(worker)
        worker = _worker(env)
        time.sleep(5)
        assert BacktestRun.objects.count() == 1
        assert BacktestRun.objects.get(pk=run_id).results["trades"] > 0
        chain = list(Event.objects.filter(correlation_id=run_id).order_by("id").values_list("type", flat=True))
        assert chain == ["backtest_requested", "backtest_started", "backtest_finished"]
        assert not OutboxMessage.objects.filter(dispatched_at__isnull=True).exists()
    finally:
        if worker is not None:
            _stop(worker)
        _stop(web)
        redis.close()


def test_the_sweep_task_forgets_old_messages_and_keys(db, monkeypatch):

    monkeypatch.setattr(outbox, "publish", lambda message, connection=None: None)
    old = timezone.now() - timedelta(days=8)
    OutboxMessage.objects.create(task="agents.tasks.intent_execute_task", dispatched_at=old)
    recent = OutboxMessage.objects.create(task="agents.tasks.intent_execute_task", dispatched_at=timezone.now())
    key = IdempotencyRecord.objects.create(scope="s", user_id=1, key="k", fingerprint="f")
    IdempotencyRecord.objects.filter(pk=key.pk).update(created_at=old)
    outbox_sweep_task()
    assert list(OutboxMessage.objects.values_list("pk", flat=True)) == [recent.pk]
    assert not IdempotencyRecord.objects.exists()
