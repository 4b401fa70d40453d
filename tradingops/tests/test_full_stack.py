"""The full stack as the README starts it: uvicorn, two Celery worker processes (prefork, two
children each), beat and the market feed replaying the shipped candles, on Postgres and Redis.

Operators pause, resume, pull the kill switch, flatten and replan through the API while candles
stream in, and one worker is SIGKILLed and restarted. Afterwards the books must hold
(``check_books``) and the decisions must be exactly those one process makes over the same candles
with the same controls at the same candles.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
import requests
from django.core.management import call_command
from django.db import connection, transaction
from rest_framework.authtoken.models import Token

from agents import execution
from agents.books import books_check
from agents.models import ExecutionStep, Position, StrategyPlan
from agents.planner import planner_run
from agents.selectors import runtime_config_get
from agents.services import intent_submit, kill_switch_set
from conftest import ROOT, free_port, tasks_run_in_process
from events.models import Event
from events.services import emit
from market.models import Candle
from market.tests.factories import shipped_candles
from tradingops.celery import app
from tradingops.tests.factories import UserFactory
from wallets.services import paper_wallet_ensure

pytestmark = [pytest.mark.slow, pytest.mark.system, pytest.mark.timeout(900)]

SYMBOL = "SOL-USDT"
PAPER_CASH = "100000"
CANDLES = 1000  # the shipped file; the first ~390 only warm the indicators up
DECISION_TYPES = ("trigger_fired", "trade_blocked", "order_submitted", "fill", "risk_claimed", "risk_released")


def _earlier_plan_used_the_budget() -> None:
    """A plan retired before this run used the whole risk budget of some days, among them one on
    which the first plan enters (1 October, before any control changes): the database refuses those
    entries while the new plan's engine, which knows nothing of it, wants to enter. Every process
    must act on a refusal as the one that saw it did."""
    config = runtime_config_get()
    for day in (date(2024, 10, d) for d in (1, 13, 16, 19, 29)):
        with transaction.atomic():
            execution.risk_claim(allocation_id=f"earlier-plan-{day}", symbol=SYMBOL, config=config, day=day,
                                 amount=config.daily_risk_budget * Decimal(PAPER_CASH), correlation_id=None,
                                 dedupe_key=f"earlier-plan-claim-{day}")  # fmt: skip


class Stack:
    """The processes of the full stack, each logging to its own file."""

    def __init__(self, env: dict, logs: Path):
        self.env = env
        self.logs = logs
        self.processes: dict[str, subprocess.Popen] = {}

    def spawn(self, name: str, *args: str) -> subprocess.Popen:
        log = (self.logs / f"{name}.log").open("ab")
        process = subprocess.Popen([sys.executable, *args], cwd=ROOT, env=self.env, stdout=log, stderr=log)
        self.processes[name] = process
        return process

    def worker(self, name: str) -> int:
        """A prefork worker with two child processes; returns its pid once it answers a ping."""

        node = f"{name}-{os.getpid()}@localhost"
        self.spawn(name, "-m", "celery", "-A", "tradingops", "worker", "--pool", "prefork", "--concurrency", "2",
                   "-n", node, "-Q", "agents,backtests,default", "--without-gossip", "--without-mingle",
                   "--loglevel", "WARNING")  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if app.control.ping(destination=[node], timeout=0.5):
                return self.processes[name].pid
            assert self.processes[name].poll() is None, f"{name} exited at start: see {self.logs}/{name}.log"
        raise AssertionError(f"{name} did not answer a ping in 60 s")

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def _wait(condition, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _decided(plan: StrategyPlan) -> int:
    return ExecutionStep.objects.filter(plan_event_id=plan.event_id, warmup=False).count()


def _decisions() -> list[tuple]:
    """Every decision, in the order it was recorded, without ids, wall times or plan tags."""

    def number(value) -> str | None:
        return None if value is None else str(Decimal(value).normalize())

    rows = []
    for type_, p in Event.objects.filter(type__in=DECISION_TYPES).order_by("id").values_list("type", "payload"):
        if type_.startswith("risk_"):
            rows.append((type_, p.get("day"), p.get("symbol"), number(p.get("amount")), p.get("status")))
        else:
            rows.append((type_, p.get("bar_open_time"), p["side"], p.get("reason"), number(p.get("qty")),
                         number(p.get("price")), number(p.get("fee"))))  # fmt: skip
    return rows


def _controls() -> tuple[list[tuple], list[dict]]:
    """What run A decided each candle under: (open time, plan index, entries, kill switch, flatten)
    for every candle a plan decided (not warm-up), and each plan's payload in order."""
    plans = list(Event.objects.filter(type="plan_generated").order_by("id"))
    index = {plan.event_id: i for i, plan in enumerate(plans)}
    steps = ExecutionStep.objects.filter(warmup=False).order_by("open_time")
    rows = [(s.open_time, index[s.plan_event_id], s.entries_allowed, s.kill_switch, s.force_exit) for s in steps]
    return rows, [plan.payload for plan in plans]


def _single_process_run(controls: list[tuple], plans: list[dict], users) -> None:
    """The same candles through one process, the controls set before each candle as run A had them."""
    candles = {c.open_time: c for c in Candle.objects.filter(timeframe="1h")}
    active, paused, killed = None, False, False
    for open_time, plan_index, entries, kill, flatten in controls:
        if plan_index != active:
            emit("plan_generated", plans[plan_index], source="agent:planner")
            active = plan_index
        if paused == entries:  # entries are allowed exactly when the run is not paused
            intent_submit(user=users["operator"], action="resume" if paused else "pause")
            paused = not paused
        if kill != killed:
            kill_switch_set(user=users["admin"], engaged=kill, reason="as in the full-stack run")
            killed = kill
        if flatten:
            intent_submit(user=users["operator"], action="flatten", symbol=SYMBOL)
        execution.execution_on_candle(symbol=SYMBOL, timeframe="1h", open_time=candles[open_time].open_time)


@pytest.fixture
def stack(transactional_db, settings, tmp_path):

    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tradingops.tests.settings",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        "CHANNELS_PREFIX": settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"],
        "CONN_MAX_AGE": "0",
        "JUDGE_APPLIES": "",  # the judge scores but changes no limits: limits are not per-candle controls
        "MARKET_SYMBOLS": SYMBOL,
    }
    app.control.purge()
    running = Stack(env, tmp_path)
    yield running
    running.stop()
    app.control.purge()


def test_two_workers_with_a_kill_decide_exactly_as_one_process(stack, users, settings):
    shipped_candles(limit=50)  # the planner reads the market's regime; the feed replays these again
    paper_wallet_ensure(name=settings.PAPER_WALLET_NAME, funds={"USDT": PAPER_CASH})
    _earlier_plan_used_the_budget()
    planner_run()
    first_plan = StrategyPlan.objects.get(active=True)
    operator = {"Authorization": f"Token {Token.objects.create(user=users['operator']).key}"}
    admin = {"Authorization": f"Token {Token.objects.create(user=users['admin']).key}"}

    port = free_port()
    api = f"http://127.0.0.1:{port}/api/v1"
    stack.spawn("web", "-m", "uvicorn", "tradingops.asgi:application", "--port", str(port), "--log-level", "warning")
    first_pid = stack.worker("worker-1")
    stack.worker("worker-2")
    stack.spawn("beat", "-m", "celery", "-A", "tradingops", "beat", "--loglevel", "WARNING",
                "-s", str(stack.logs / "beat-schedule"))  # fmt: skip
    _wait(lambda: _port_open(port), "uvicorn")
    # 5 hourly candles a second: the workers keep up, catching up a few candles at a time when they lag
    stack.spawn("feed", "manage.py", "run_market_feed", "--source", "replay", "--speed", "18000", "--no-progress")

    def intent(action: str, **extra) -> None:
        answer = requests.post(f"{api}/agents/intents", json={"action": action, **extra}, headers=operator, timeout=10)
        assert answer.status_code in (201, 202), answer.text

    def kill_switch(engaged: bool) -> None:
        answer = requests.post(f"{api}/control/kill-switch", json={"engaged": engaged, "reason": "drill"},
                               headers=admin, timeout=10)  # fmt: skip
        assert answer.status_code == 200, answer.text

    _wait(lambda: _decided(first_plan) >= 420, "the first plan's first 420 candles", timeout=180)
    intent("pause")
    _wait(lambda: ExecutionStep.objects.filter(warmup=False, entries_allowed=False).exists(), "the pause")
    paused_at = _last_step()
    intent("resume")
    _wait(lambda: ExecutionStep.objects.filter(entries_allowed=True, id__gt=paused_at).exists(), "the resume")
    kill_switch(True)
    _wait(lambda: ExecutionStep.objects.filter(kill_switch=True).exists(), "the kill switch")
    kill_switch(False)

    os.kill(first_pid, signal.SIGKILL)  # the parent: its two children die with it, tasks in flight
    stack.processes["worker-1"].wait(timeout=20)
    stack.worker("worker-1b")

    _wait(lambda: Position.objects.filter(symbol=SYMBOL, qty__gt=0).exists(), "an open position", timeout=180)
    intent("flatten", symbol=SYMBOL)
    _wait(lambda: ExecutionStep.objects.filter(force_exit=True).exists(), "the flatten")
    intent("replan")
    _wait(lambda: StrategyPlan.objects.filter(active=True).exclude(pk=first_plan.pk).exists(), "the new plan")
    last = Candle.objects.filter(timeframe="1h").order_by("-open_time")
    _wait(lambda: stack.processes["feed"].poll() is not None, "the end of the replay", timeout=240)
    final = last.first().open_time
    _wait(lambda: ExecutionStep.objects.filter(open_time=final).exists(), "the last candle's decision")
    stack.stop()

    report = books_check()
    assert report.ok, report.violations
    decided = _decisions()
    controls, plans = _controls()
    assert len(plans) == 2
    assert sum(1 for row in decided if row[0] == "fill") >= 2, "the run traded"
    refused = [row for row in decided if row[0] == "trade_blocked" and row[3] == "risk_budget_exhausted"]
    assert refused, "the database refused entries the engine wanted"
    times = [row[0] for row in controls]
    assert times == sorted(set(times)), "candles decided once each, in order"
    assert len(times) >= 300

    # the same candles through one process, from an empty database
    call_command("flush", interactive=False, verbosity=0)
    execution.engine_cache.clear()
    single_users = {role: _recreate(role, user) for role, user in users.items()}
    shipped_candles()
    paper_wallet_ensure(name=settings.PAPER_WALLET_NAME, funds={"USDT": PAPER_CASH})
    _earlier_plan_used_the_budget()
    with tasks_run_in_process():
        _single_process_run(controls, plans, single_users)
    assert _decisions() == decided
    assert books_check().ok


def _port_open(port: int) -> bool:

    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
    except OSError:
        return False
    return True


def _last_step() -> int:
    return ExecutionStep.objects.order_by("-id").values_list("id", flat=True).first() or 0


def _recreate(role: str, user):
    """The same user with the same role, after the flush."""
    return UserFactory(username=user.username, role=None if role == "nobody" else role)
