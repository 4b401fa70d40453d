"""The database seam (tradingops/db.py): the one module that knows which database it runs on."""

import re
import threading
import uuid
from pathlib import Path

import pytest
from django.db import connection, transaction
from django.db.utils import ConnectionHandler
from django.utils import timezone

from events.models import RunEventCount, RunSummary
from tradingops import db

ROOT = Path(__file__).resolve().parents[2]
SKIP_DIRS = {".venv", "node_modules", ".git", "tests", "artifacts", "static"}


def _project_sources():
    for path in ROOT.rglob("*.py"):
        parts = set(path.relative_to(ROOT).parts[:-1])
        if not parts & SKIP_DIRS:
            yield path


def test_connection_vendor_is_read_only_in_tradingops_db():
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in _project_sources()
        if path != ROOT / "tradingops" / "db.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if ".vendor" in line
    ]
    assert not offenders, f"vendor checks outside tradingops/db.py (use tradingops.db.is_postgres): {offenders}"


def test_every_advisory_lock_key_is_in_the_registry_once():
    values = [key.value for key in db.LockKey]
    assert len(values) == len(set(values))
    offenders = [
        str(path.relative_to(ROOT))
        for path in _project_sources()
        if path != ROOT / "tradingops" / "db.py" and re.search(r"pg_(try_)?advisory", path.read_text())
    ]
    assert not offenders, f"advisory locks taken outside tradingops/db.py: {offenders}"


@pytest.fixture
def sqlite(django_db_blocker):
    """A SQLite connection of the embedded default's kind, beside the suite's Postgres."""
    handler = ConnectionHandler({"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}})
    connection = handler["default"]
    with django_db_blocker.unblock():
        yield connection
        connection.close()


def test_a_uuid_binds_in_raw_sql_on_sqlite(sqlite):
    """Bug: every backtest failed on the embedded default with "Error binding parameter 3: type
    'UUID' is not supported" (a raw UPDATE with the run's UUID)."""
    run_id = uuid.uuid4()
    with sqlite.cursor() as cursor:
        cursor.execute("CREATE TABLE run (id char(32) PRIMARY KEY, done integer)")
        cursor.execute("INSERT INTO run VALUES (%s, 0)", [db.sql_param(run_id, sqlite)])
        cursor.execute("UPDATE run SET done = %s WHERE id = %s RETURNING done", [5, db.sql_param(run_id, sqlite)])
        assert cursor.fetchone() == (5,)
    assert not db.is_postgres(sqlite)


@pytest.mark.django_db
def test_a_uuid_is_passed_as_is_on_postgres():
    run_id = uuid.uuid4()
    assert db.is_postgres()
    assert db.sql_param(run_id) == run_id


@pytest.mark.django_db
def test_upsert_increment_adds_to_existing_rows_and_inserts_missing_ones():

    RunSummary.objects.create(run_id="r", first_event_at=timezone.now(), last_event_at=timezone.now())
    db.upsert_increment(RunEventCount._meta.db_table, keys=("run_id", "type"), add=("count",), rows=[("r", "fill", 2)])
    db.upsert_increment(
        RunEventCount._meta.db_table,
        keys=("run_id", "type"),
        add=("count",),
        rows=[("r", "fill", 3), ("r", "trade_blocked", 1)],
    )
    counts = dict(RunEventCount.objects.filter(run_id="r").values_list("type", "count"))
    assert counts == {"fill": 5, "trade_blocked": 1}


@pytest.mark.django_db(transaction=True)
def test_try_advisory_lock_refuses_while_another_transaction_holds_it():

    held, release = threading.Event(), threading.Event()

    def holder():
        with transaction.atomic():
            assert db.try_advisory_xact_lock(db.LockKey.RECONCILE)
            held.set()
            release.wait(10)
        connection.close()

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        assert held.wait(10)
        with transaction.atomic():
            assert not db.try_advisory_xact_lock(db.LockKey.RECONCILE)
    finally:
        release.set()
        thread.join()
    with transaction.atomic():
        assert db.try_advisory_xact_lock(db.LockKey.RECONCILE)
