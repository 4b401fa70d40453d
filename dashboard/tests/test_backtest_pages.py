import re
import uuid
from decimal import Decimal
from pathlib import Path

import pytest

from backtests.models import BacktestRun
from market.models import Instrument
from market.services import candles_load_file

pytestmark = pytest.mark.django_db
SOL_FILE = Path(__file__).resolve().parents[2] / "market" / "data" / "SOLUSDT-1h.csv"


@pytest.fixture
def sol_candles(db):
    sol, _ = Instrument.objects.update_or_create(
        symbol="SOL-USDT",
        defaults={"base": "SOL", "quote": "USDT", "price_tick": Decimal("0.01"), "lot_size": Decimal("0.001"),
                  "min_notional": Decimal("5")},
    )  # fmt: skip
    candles_load_file(instrument=sol, timeframe="1h", path=SOL_FILE)
    return sol


@pytest.fixture
def login(client, users):
    def as_role(role):
        client.force_login(users[role])
        return client

    return as_role


FORM = {
    "symbol": "SOL-USDT",
    "timeframe": "1h",
    "initial_cash": "10000",
    "preset": "sma_cross",
    "params": "fast=10, slow=30",
}


def test_operator_starts_a_backtest_from_the_form_and_lands_on_its_page(login, sol_candles):
    response = login("operator").post("/backtests/start", {**FORM, "name": "sma 10/30"})
    run = BacktestRun.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/backtests/{run.pk}/"
    assert (run.name, run.status, run.created_by.username) == ("sma 10/30", "queued", "otto")
    assert run.config["strategy"] == {"preset": "sma_cross", "params": {"fast": 10, "slow": 30}}
    html = login("operator").get(response["Location"]).content.decode()
    assert f'data-ws-path="/ws/backtests/{run.pk}/"' in html
    assert '<span id="bt-status">queued</span>' in html
    assert 'data-action="backtest-cancel"' in html


def test_api_field_errors_are_shown_on_the_form_fields_and_nothing_is_started(login, sol_candles):
    response = login("operator").post("/backtests/start", {**FORM, "params": "fast=50, slow=20"})
    assert response.status_code == 400
    html = response.content.decode()
    assert re.search(r'<span class="error" id="err-params">[^<]*fast', html)
    assert not BacktestRun.objects.exists()


def test_unparseable_params_and_unknown_symbol_are_shown_on_their_fields(login, sol_candles):
    response = login("operator").post("/backtests/start", {**FORM, "params": "fast"})
    assert 'id="err-params">&#x27;fast&#x27; is not name=value.' in response.content.decode()
    response = login("operator").post("/backtests/start", {**FORM, "symbol": "DOGE-USD"})
    assert response.status_code == 400
    assert 'id="err-symbol">' in response.content.decode()
    assert not BacktestRun.objects.exists()


def test_viewer_sees_no_form_and_a_forged_start_is_refused(login, sol_candles):
    client = login("viewer")
    assert b'data-action="backtest-start"' not in client.get("/backtests/").content
    assert client.post("/backtests/start", FORM).status_code == 403
    assert not BacktestRun.objects.exists()


def test_operator_cancels_a_queued_run(login, sol_candles):
    client = login("operator")
    client.post("/backtests/start", FORM)
    run = BacktestRun.objects.get()
    response = client.post(f"/backtests/{run.pk}/cancel", follow=True)
    run.refresh_from_db()
    assert run.status == "cancelled"
    assert b"Cancel requested" in response.content


def test_unknown_backtest_gives_the_404_page(login):
    response = login("viewer").get(f"/backtests/{uuid.uuid4()}/")
    assert response.status_code == 404
    assert b"<h1>Not found</h1>" in response.content


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("", "No run picked."),
        (f"ids={uuid.UUID(int=1)}", "give 2 to 5 run ids separated by commas"),
        (f"ids={uuid.UUID(int=1)}&ids={uuid.UUID(int=2)}", f"No backtest {uuid.UUID(int=1)}."),
    ],
)
def test_compare_with_bad_ids_says_what_to_pick(login, query, message):
    response = login("viewer").get(f"/backtests/compare?{query}")
    assert response.status_code == 400
    assert message in response.content.decode()


def test_compare_refuses_runs_that_have_not_completed(login, sol_candles):
    client = login("operator")
    client.post("/backtests/start", FORM)
    client.post("/backtests/start", {**FORM, "params": "fast=5, slow=20"})
    ids = "&".join(f"ids={run.pk}" for run in BacktestRun.objects.all())
    html = client.get(f"/backtests/compare?{ids}").content.decode()
    assert "is queued: only completed runs compare." in html
