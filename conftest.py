"""Root fixtures: one user per role, API clients for each, and a real ASGI server."""

import os
import socket
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest
from channels.layers import channel_layers
from django.db import connection
from rest_framework.test import APIClient

from events.formatting import forget_instrument_precision
from market.tests.factories import InstrumentFactory
from tradingops.celery import app
from tradingops.tests.factories import UserFactory

ROOT = Path(__file__).resolve().parent
ROLES = ("viewer", "operator", "admin")


@pytest.fixture(autouse=True)
def _no_cached_instrument_precision():
    """Event summaries cache each symbol's tick and lot for a minute; a test's instruments are its own."""

    forget_instrument_precision()


@pytest.fixture(autouse=True)
def _channel_layer_per_test():
    """A channel layer instance belongs to the event loop that used it (channels-redis keeps its
    receive locks per instance, not per loop), and pytest-asyncio gives every test a loop of its
    own: each test gets a fresh instance."""
    yield

    channel_layers.backends.clear()


@pytest.fixture
def make_user(db):
    """``make_user("otto", "operator")``: ``UserFactory`` (password ``pw-<username>``) with the role's group."""

    def make(username: str, role: str | None = None, **extra):
        return UserFactory(username=username, role=role, **extra)

    return make


@pytest.fixture
def sol(db):
    """SOL-USDT with the figures the seed migration gives it (made again where a transactional test
    emptied the table): the instrument of the shipped real candles, market/data/SOLUSDT-1h.csv."""
    return InstrumentFactory()


@contextmanager
def tasks_run_in_process():
    """Inside the block Celery tasks run in this process (eager); the flag is put back as it was after,
    whatever happens. A test that flips ``app.conf`` by hand and fails between the flips leaves every later
    test eager, so a test's outcome would depend on what ran before it."""

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    try:
        yield app
    finally:
        app.conf.task_always_eager = previous


@pytest.fixture
def tasks_in_process():
    """Opt in: this test's Celery tasks run in this process (``tasks_run_in_process`` for the whole test)."""
    with tasks_run_in_process() as app:
        yield app


@pytest.fixture
def users(make_user):
    return {
        "viewer": make_user("vera", "viewer"),
        "operator": make_user("otto", "operator"),
        "admin": make_user("ada", "admin"),
        "nobody": make_user("nemo"),
    }


@pytest.fixture
def client_for(users):
    """``client_for("viewer")`` is an APIClient logged in as that role; ``None`` is anonymous."""

    def make(role: str | None) -> APIClient:
        client = APIClient()
        if role is not None:
            client.force_authenticate(users[role])
        return client

    return make


@pytest.fixture(scope="session", autouse=True)
def _celery_queues_left_empty():
    """Tests enqueue real Celery messages (tasks are not eager on Redis): none outlives the session."""
    yield

    app.control.purge()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def process_env(*, redis_url: str, prefix: str, **extra: str) -> dict:
    """The environment of a server or worker a test starts: the test settings and database, this Redis
    and channel prefix, plus ``extra`` settings."""
    db = connection.settings_dict
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tradingops.tests.settings",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": redis_url,
        "CHANNELS_PREFIX": prefix,
        "CONN_MAX_AGE": "0",
        **extra,
    }


def wait_for_port(port: int, *, up: bool = True, process: subprocess.Popen | None = None, timeout: float = 30) -> None:
    """Until something listens on ``port`` (or, ``up=False``, nothing does); fails early if ``process`` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            if up:
                return
        except OSError:
            if not up:
                return
            if process is not None and process.poll() is not None:
                raise RuntimeError(f"{process.args[0]} exited at start") from None
        time.sleep(0.05)
    raise RuntimeError(f"port {port} did not go {'up' if up else 'down'} in {timeout:.0f} s")


def start_uvicorn(env: dict) -> tuple[subprocess.Popen, str]:
    """A real uvicorn serving ``tradingops.asgi`` with ``env`` (see :func:`process_env`); returns it and
    its ``host:port`` once it listens."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "tradingops.asgi:application", "--port", str(port), "--lifespan", "off",
         "--log-level", "warning", "--timeout-graceful-shutdown", "1"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    try:
        wait_for_port(port, process=process)
    except RuntimeError:
        process.kill()
        raise
    return process, f"127.0.0.1:{port}"


class PrivateRedis:
    """A redis-server of the test's own (never the shared one), on a free port: stopped and started at will."""

    def __init__(self):
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )
        wait_for_port(self.port, process=self.process, timeout=15)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
        wait_for_port(self.port, up=False, timeout=15)

    def close(self) -> None:
        """Stopped, if it is running (a test's cleanup)."""
        if self.process is not None and self.process.poll() is None:
            self.stop()


PRIVATE_REDIS_RECONCILE_S = 1.0


@pytest.fixture
def server_on_private_redis(transactional_db, settings):
    """A real uvicorn, and this process, on a redis-server of the test's own with the Pub/Sub layer (as
    in production), sockets reconciling every ``PRIVATE_REDIS_RECONCILE_S``: yields the
    :class:`PrivateRedis` (to stop and start) and the server's ``host:port``."""
    redis = PrivateRedis()
    redis.start()
    prefix = f"private-redis-{uuid.uuid4().hex[:8]}"
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [redis.url], "prefix": prefix},
        }
    }
    env = process_env(redis_url=redis.url, prefix=prefix, EVENTS_WS_RECONCILE_S=str(PRIVATE_REDIS_RECONCILE_S))
    web, address = start_uvicorn(env)
    yield redis, address
    web.terminate()
    web.wait(timeout=10)
    redis.close()


@pytest.fixture
def asgi_server(transactional_db, settings):
    """A real uvicorn serving ``tradingops.asgi`` on the test database and the real Redis."""
    prefix = settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"]
    process, address = start_uvicorn(process_env(redis_url=settings.REDIS_URL, prefix=prefix))
    yield address
    process.terminate()
    process.wait(timeout=10)


def start_celery_worker(settings) -> tuple[str, subprocess.Popen]:
    """Start a real Celery worker (solo pool) on the test database and Redis, consuming every
    queue; returns its name and process once it answers a ping."""

    env = process_env(redis_url=settings.REDIS_URL, prefix=settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"])
    name = f"test-{os.getpid()}-{free_port()}@localhost"
    command = [sys.executable, "-m", "celery", "-A", "tradingops", "worker", "--pool", "solo", "-n", name]
    command += [
        "-Q",
        "agents,backtests,default,maintenance",
        "--without-gossip",
        "--without-mingle",
        "--loglevel",
        "WARNING",
    ]
    process = subprocess.Popen(command, cwd=ROOT, env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if app.control.ping(destination=[name], timeout=0.5):
            return name, process
        if process.poll() is not None:
            raise RuntimeError("celery worker exited at start")
    process.kill()
    raise RuntimeError("celery worker did not answer a ping in 30 s")


@pytest.fixture
def celery_worker_process(transactional_db, settings):
    """A real Celery worker on the test database and Redis (see ``start_celery_worker``)."""

    app.control.purge()
    name, process = start_celery_worker(settings)
    yield name
    if process.poll() is None:
        process.terminate()
        process.wait(timeout=20)
