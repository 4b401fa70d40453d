"""Outages of the stack's services while it trades: Redis gone for 30 s, Postgres restarted, a worker
SIGKILLed. The services here are private (a Postgres cluster and a redis-server of the test's own on
free ports), so stopping them disturbs nothing else on the machine."""

import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import pytest

from conftest import ROOT, PrivateRedis, free_port

pytestmark = [pytest.mark.slow, pytest.mark.system, pytest.mark.timeout(900)]

PG_BIN = Path(sorted(glob.glob("/usr/lib/postgresql/*/bin"))[-1]) if glob.glob("/usr/lib/postgresql/*/bin") else None


def _as_postgres(command: list[str]) -> list[str]:
    """initdb and pg_ctl refuse to run as root."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


class PrivatePostgres:
    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="tradingops-pg-"))
        self.port = free_port()
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        subprocess.run(_as_postgres([str(PG_BIN / "initdb"), "-D", str(self.dir / "data"), "-A", "trust", "-U",
                                     "postgres"]), check=True, capture_output=True)  # fmt: skip
        self.start()
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute("CREATE DATABASE tradingops")

    def url(self, name: str = "tradingops") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def _ctl(self, *args: str) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.dir}"
        subprocess.run(_as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.dir / "data"), "-o", options, "-w",
                                     "-l", str(self.dir / "log"), *args]), check=True, capture_output=True)  # fmt: skip

    def start(self) -> None:
        self._ctl("start")

    def restart(self) -> None:
        self._ctl("-m", "fast", "restart")

    def remove(self) -> None:
        self._ctl("-m", "immediate", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def services():
    if PG_BIN is None or shutil.which("redis-server") is None:
        pytest.fail("needs PostgreSQL's server binaries and redis-server")
    postgres, redis = PrivatePostgres(), PrivateRedis()
    redis.start()
    yield postgres, redis
    redis.close()
    postgres.remove()


def _count(postgres: PrivatePostgres, sql: str) -> int:
    try:
        with psycopg.connect(postgres.url(), connect_timeout=2) as conn:
            return conn.execute(sql).fetchone()[0]
    except psycopg.OperationalError:
        return -1  # restarting


def _wait(condition, what: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


DECIDED = "SELECT count(*) FROM agents_executionstep WHERE NOT warmup"


def test_outages_of_redis_and_postgres_and_a_killed_worker_lose_and_double_nothing(services, tmp_path):
    postgres, redis = services
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tradingops.settings",
        "DATABASE_URL": postgres.url(),
        "REDIS_URL": redis.url,
        "SECRET_KEY": "fault-test-only",
        "DEBUG": "0",
        "CONN_MAX_AGE": "60",
        "JUDGE_APPLIES": "",
        "MARKET_SYMBOLS": "SOL-USDT",
    }
    processes: dict[str, subprocess.Popen] = {}

    def manage(*args: str) -> None:
        subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True)

    def spawn(name: str, *args: str) -> subprocess.Popen:
        log = (tmp_path / f"{name}.log").open("ab")
        processes[name] = subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, stdout=log, stderr=log)
        return processes[name]

    def worker(name: str) -> subprocess.Popen:
        return spawn(name, "-m", "celery", "-A", "tradingops", "worker", "--pool", "prefork", "--concurrency", "2",
                     "-n", f"{name}@localhost", "-Q", "agents,backtests,default", "--without-gossip",
                     "--without-mingle", "--loglevel", "WARNING")  # fmt: skip

    manage("migrate", "--noinput")
    manage("load_candles", "SOL-USDT")
    manage("wallets_paper_setup", "--fund", "USDT=100000")
    manage("shell", "-c", "from agents.planner import planner_run; planner_run()")
    try:
        first = worker("worker-1")
        worker("worker-2")
        spawn("feed", "manage.py", "run_market_feed", "--source", "replay", "--speed", "36000", "--no-progress")

        _wait(lambda: _count(postgres, DECIDED) >= 250, "250 candles decided")
        redis.stop()  # Redis gone for 30 s: no candle reaches a worker, nothing can be published
        time.sleep(30)
        redis.start()
        decided = _count(postgres, DECIDED)
        _wait(lambda: _count(postgres, DECIDED) > decided + 50, "trading again after Redis came back")

        postgres.restart()  # every open connection of the feed and the workers breaks
        decided = _count(postgres, DECIDED)
        _wait(lambda: _count(postgres, DECIDED) > decided + 50, "trading again after Postgres restarted")

        os.kill(first.pid, signal.SIGKILL)  # with its children: tasks in flight, claims without fills
        first.wait(timeout=20)
        worker("worker-3")
        _wait(lambda: processes["feed"].poll() is not None, "the end of the replay", timeout=300)
        assert processes["feed"].returncode == 0, (tmp_path / "feed.log").read_text(errors="replace")[-3000:]
        last = "SELECT count(*) FROM agents_executionstep WHERE open_time = (SELECT max(open_time) FROM market_candle)"
        _wait(lambda: _count(postgres, last) == 1, "the last candle's decision")
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.terminate()
        for process in processes.values():
            process.wait(timeout=30)

    # every candle decided exactly once, nothing lost to the outages
    candles = _count(postgres, "SELECT count(*) FROM market_candle WHERE timeframe = '1h'")
    steps = _count(postgres, "SELECT count(*) FROM agents_executionstep")
    distinct = _count(postgres, "SELECT count(DISTINCT open_time) FROM agents_executionstep")
    assert steps == distinct == candles
    fills = _count(postgres, "SELECT count(*) FROM agents_fill")
    assert fills > 0
    assert fills == _count(postgres, "SELECT count(*) FROM events_event WHERE type = 'fill'")
    books = subprocess.run([sys.executable, "manage.py", "check_books"], cwd=ROOT, env=env, capture_output=True,
                           text=True)  # fmt: skip
    assert books.returncode == 0, books.stdout + books.stderr
