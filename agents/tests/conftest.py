import csv
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from market.models import Candle

DATA = Path(__file__).resolve().parents[2] / "market" / "data" / "SOLUSDT-1h.csv"


@pytest.fixture(autouse=True)
def tasks_run_in_process(request):
    """Agent tasks run in-process here (no stray messages in the shared broker), except in tests
    that start a real worker."""
    if "celery_worker_process" not in request.fixturenames:
        request.getfixturevalue("tasks_in_process")
    return


def load_sol_candles(instrument, limit: int | None = None) -> list[Candle]:
    """The shipped real SOL/USDT hourly candles (Binance, Sep-Oct 2024), straight into the table."""
    candles = []
    with DATA.open() as handle:
        for row in csv.DictReader(handle):
            candles.append(
                Candle(
                    instrument=instrument,
                    timeframe="1h",
                    open_time=datetime.fromisoformat(row["timestamp"]).replace(tzinfo=UTC),
                    open=Decimal(row["Open"]),
                    high=Decimal(row["High"]),
                    low=Decimal(row["Low"]),
                    close=Decimal(row["Close"]),
                    volume=Decimal(row["Volume"]),
                )
            )
            if limit and len(candles) >= limit:
                break
    return Candle.objects.bulk_create(candles)


@pytest.fixture
def sol_candles(sol):
    return load_sol_candles(sol)
