"""The embedded default, as ``bin/run`` starts it: one uvicorn process on a SQLite file, the in-memory
channel layer, Celery tasks run in-process and beat plus the replay feed in threads
(tradingops/embedded.py). Driven over real HTTP, as a new user would.

No Postgres or Redis here: the server gets neither DATABASE_URL nor REDIS_URL, only a SQLite file
of its own (SQLITE_PATH) in a temporary folder.
"""

import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

pytestmark = [pytest.mark.slow, pytest.mark.system, pytest.mark.embedded, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD_PAGES = ["/", "/decisions/", "/agents/", "/backtests/", "/market/", "/wallets/"]
# Sizing and limits under which SMA crossings trade on the shipped SOL-USDT candles, whatever the
# presets' defaults are.
TRADING_CONFIG = {
    "symbols": ["SOL-USDT"],
    "timeframe": "1h",
    "initial_cash": "10000",
    "sizing": {"method": "equity_fraction", "value": "0.5"},
    "risk": {
        "daily_risk_budget": None,
        "risk_per_trade": None,
        "max_trades_per_day": None,
        "max_trades_per_symbol_per_day": None,
        "max_open_positions": None,
        "max_cost_to_reward": None,
        "min_notional": "0",
    },
    "strategy": {"preset": "sma_cross", "params": {"fast": 5, "slow": 20}},
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _embedded_env(sqlite_path: Path) -> dict:
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        DJANGO_SETTINGS_MODULE="tradingops.settings",
        SQLITE_PATH=str(sqlite_path),
        DEBUG="1",  # what bin/run defaults to
        PYTHONUNBUFFERED="1",
    )
    return env


def _manage(env: dict, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


class Server:
    def __init__(self, base: str, sqlite_path: Path, log: Path, username: str, password: str, env: dict):
        self.base, self.sqlite_path, self.log, self.env = base, sqlite_path, log, env
        self.username, self.password = username, password

    def session(self) -> requests.Session:
        """A browser-like session logged in through the login form."""
        session = requests.Session()
        page = session.get(f"{self.base}/accounts/login/", timeout=10)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        response = session.post(
            f"{self.base}/accounts/login/",
            data={"csrfmiddlewaretoken": token, "username": self.username, "password": self.password},
            timeout=10,
        )
        assert response.status_code == 200, response.text[:500]
        assert "sessionid" in session.cookies, "the login form did not log in"
        session.headers["X-CSRFToken"] = session.cookies["csrftoken"]
        return session

    def db(self) -> sqlite3.Connection:
        return sqlite3.connect(self.sqlite_path, timeout=20, isolation_level=None)

    def log_tail(self, chars: int = 6000) -> str:
        lines = self.log.read_text(errors="replace").splitlines()
        noise = ('" 200 OK', "celery.app.trace")
        return "\n".join(line for line in lines if not any(n in line for n in noise))[-chars:]


@pytest.fixture(scope="module")
def embedded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("embedded")
    sqlite_path = folder / "db.sqlite3"
    env = _embedded_env(sqlite_path)
    # What bin/run runs before the server.
    _manage(env, "migrate", "--noinput")
    login = re.search(r"Admin login: (\S+) / (\S+)", _manage(env, "ensure_admin"))
    assert login, "ensure_admin printed no login"
    port = _free_port()
    # bin/run's embedded defaults, with a faster replay: 50 hourly candles a second (what the live
    # engine keeps up with on SQLite here; faster, candles pile up between the feed's flushes).
    env.update(TRADINGOPS_EMBEDDED_WORKERS="1", MARKET_REPLAY_SPEED="180000", MARKET_REPLAY_LOOP="1")
    log = folder / "server.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "tradingops.asgi:application",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Server(f"http://127.0.0.1:{port}", sqlite_path, log, login.group(1), login.group(2), env)
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            assert process.poll() is None, f"uvicorn exited at start:\n{server.log_tail()}"
            assert time.monotonic() < deadline, f"uvicorn did not listen within 60 s:\n{server.log_tail()}"
            time.sleep(0.2)
    yield server
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _wait_for(what: str, check, server: Server, timeout: float = 120, every: float = 1.0):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout:.0f} s. Server log:\n{server.log_tail()}")
        time.sleep(every)


def _shorten_schedule(server: Server, name_like: str, seconds: int) -> None:
    """What an operator does in the admin (Periodic tasks): a shorter interval. Written to the
    database directly, with the change marker beat's DatabaseScheduler watches."""
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    with server.db() as db:
        db.execute("INSERT INTO django_celery_beat_intervalschedule (every, period) VALUES (?, 'seconds')", [seconds])
        interval_id = db.execute("SELECT max(id) FROM django_celery_beat_intervalschedule").fetchone()[0]
        changed = db.execute(
            "UPDATE django_celery_beat_periodictask SET interval_id = ?, date_changed = ? WHERE name LIKE ?",
            [interval_id, now, name_like],
        ).rowcount
        assert changed == 1, f"no schedule named like {name_like!r}"
        db.execute(
            "INSERT INTO django_celery_beat_periodictasks (ident, last_update) VALUES (1, ?) "
            "ON CONFLICT (ident) DO UPDATE SET last_update = excluded.last_update",
            [now],
        )


def _finished_run(server: Server, session: requests.Session, run_id: str) -> dict:
    def finished():
        run = session.get(f"{server.base}/api/v1/backtests/{run_id}", timeout=30).json()
        return run if run["status"] in ("completed", "failed", "cancelled") else None

    return _wait_for(f"backtest {run_id} to finish", finished, server, timeout=180)


def test_a_reconciliation_runs_on_its_schedule(embedded):
    session = embedded.session()
    _shorten_schedule(embedded, "wallets: reconcile%", 3)

    def scheduled_runs():
        body = session.get(f"{embedded.base}/api/v1/wallets/reconcile/history?trigger=schedule", timeout=30).json()
        return body["results"]

    runs = _wait_for("a scheduled reconciliation", scheduled_runs, embedded, timeout=60)
    assert runs[0]["status"] in ("succeeded", "running", "partial"), runs[0]


def test_the_demo_trades(embedded):
    session = embedded.session()

    def fills():
        return session.get(f"{embedded.base}/api/v1/live/fills", timeout=30).json()["results"]

    found = _wait_for("a paper fill from the demo", fills, embedded, timeout=180, every=2)
    assert found[0]["symbol"] == "SOL-USDT"


def test_the_books_agree_after_the_demo_traded(embedded):
    """check_books (what beat runs hourly) on the embedded default's SQLite, while the demo trades."""
    session = embedded.session()
    _wait_for(
        "a few paper fills",
        lambda: len(session.get(f"{embedded.base}/api/v1/live/fills", timeout=30).json()["results"]) >= 3,
        embedded,
        timeout=180,
        every=2,
    )
    env = {key: value for key, value in embedded.env.items() if key != "TRADINGOPS_EMBEDDED_WORKERS"}
    done = subprocess.run(
        [sys.executable, "manage.py", "check_books"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"


def _wait_for_stored_candles(embedded, count: int) -> None:
    """The replay stores the shipped candles as it goes; wait for enough to backtest on."""
    _wait_for(
        f"{count} stored candles",
        lambda: (
            embedded.db().execute("SELECT count(*) FROM market_candle WHERE timeframe = '1h'").fetchone()[0] >= count
        ),
        embedded,
    )


def test_a_backtest_started_through_the_api_completes_with_trades(embedded):
    session = embedded.session()
    _wait_for_stored_candles(embedded, 300)
    response = session.post(f"{embedded.base}/api/v1/backtests", json={**TRADING_CONFIG, "name": "api"}, timeout=300)
    assert response.status_code in (201, 202), response.text
    run = _finished_run(embedded, session, response.json()["id"])
    assert run["status"] == "completed", run
    trades = session.get(f"{embedded.base}/api/v1/backtests/{run['id']}/trades", timeout=30).json()["results"]
    assert trades, run["results"]


def test_a_backtest_started_through_the_dashboard_form_completes_with_trades(embedded):
    session = embedded.session()
    _wait_for_stored_candles(embedded, 300)
    page = session.get(f"{embedded.base}/backtests/", timeout=30)
    assert page.status_code == 200
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    response = session.post(
        f"{embedded.base}/backtests/start",
        data={
            "csrfmiddlewaretoken": token,
            "name": "form",
            "symbol": "SOL-USDT",
            "timeframe": "1h",
            "initial_cash": "10000",
            "preset": "sma_cross",
            "params": "fast=5, slow=20",
        },
        timeout=300,
    )
    assert response.status_code == 200, response.text[:2000]
    run_id = re.search(r"/backtests/([0-9a-f-]{36})/$", response.url)
    assert run_id, f"the form did not lead to the run's page: {response.url}\n{response.text[:2000]}"
    run = _finished_run(embedded, session, run_id.group(1))
    assert run["status"] == "completed", run
    trades = session.get(f"{embedded.base}/api/v1/backtests/{run['id']}/trades", timeout=30).json()["results"]
    assert trades, "the form's defaults trade"
    detail = session.get(response.url, timeout=30)
    assert detail.status_code == 200
    assert "completed" in detail.text


def test_scheduled_agents_run_and_next_run_comes_from_the_schedule(embedded):
    session = embedded.session()
    _shorten_schedule(embedded, "agents: position snapshots", 2)
    last_run = "SELECT total_run_count, last_run_at FROM django_celery_beat_periodictask WHERE name = ?"

    def runs_and_next_run():
        runs, last = embedded.db().execute(last_run, ["agents: position snapshots"]).fetchone()
        rows = {r["agent"]: r for r in session.get(f"{embedded.base}/api/v1/agents/status", timeout=30).json()}
        if runs < 2 or not last:
            return None
        shown = datetime.fromisoformat(rows["snapshot"]["next_run_at"])
        # the dashboard's next run is beat's last run + the interval (retry if beat ran in between)
        return shown == datetime.fromisoformat(last).replace(tzinfo=UTC) + timedelta(seconds=2)

    _wait_for("scheduled position snapshots, and their next run from the schedule", runs_and_next_run, embedded)
    # The judge runs hourly, and has not yet: its next run is the schedule's, the same on every read.
    first = {r["agent"]: r for r in session.get(f"{embedded.base}/api/v1/agents/status", timeout=30).json()}
    time.sleep(1.5)
    again = {r["agent"]: r for r in session.get(f"{embedded.base}/api/v1/agents/status", timeout=30).json()}
    assert first["judge"]["next_run_at"] == again["judge"]["next_run_at"]


def test_the_demo_keeps_going_past_the_end_of_its_data_and_says_so(embedded):
    """The shipped SOL-USDT file has 1,000 hourly candles; the looping replay goes on after them,
    its times still increasing."""
    db = embedded.db()
    count = "SELECT count(*), max(open_time) FROM market_candle WHERE timeframe = '1h'"
    file_ends = "2024-10-31 14:00:00"  # the shipped file's last candle: anything later is a later pass
    stored, latest = _wait_for(
        "candles of a second replay pass", lambda: (row := db.execute(count).fetchone())[0] > 1000 and row, embedded
    )
    assert latest > file_ends
    _wait_for("the replay to move on", lambda: db.execute(count).fetchone()[1] > latest, embedded, timeout=60)
    page = embedded.session().get(f"{embedded.base}/", timeout=30)
    assert "Feed: <strong>Replay (looping)</strong>" in page.text


def test_every_dashboard_page_renders(embedded):
    session = embedded.session()
    pages = list(DASHBOARD_PAGES)
    runs = session.get(f"{embedded.base}/api/v1/backtests", timeout=30).json()["results"]
    pages += [f"/backtests/{run['id']}/" for run in runs[:2]]
    pages += ["/backtests/compare?" + "&".join(f"ids={run['id']}" for run in runs[:2])] if len(runs) >= 2 else []
    wallets = session.get(f"{embedded.base}/api/v1/wallets", timeout=30).json()["results"]
    pages += [f"/wallets/{wallet['id']}/" for wallet in wallets[:2]]
    fills = session.get(f"{embedded.base}/api/v1/live/fills", timeout=30).json()["results"]
    pages += [f"/decisions/chains/{fill['correlation_id']}/" for fill in fills[:1]]
    pages += [f"/decisions/events/{fill['event_id']}/" for fill in fills[:1]]
    pages += ["/admin/", "/api/docs/", "/api/v1/"]
    failures = {}
    for path in pages:
        response = session.get(embedded.base + path, timeout=60)
        if response.status_code != 200:
            failures[path] = response.status_code
    assert not failures, f"{failures}\n{embedded.log_tail()}"
