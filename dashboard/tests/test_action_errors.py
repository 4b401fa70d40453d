"""Every dashboard action refuses through the one error vocabulary (tradingops.errors, mapped by
``to_app_error``): invalid, conflict or a dependency down is shown where the action was taken,
never a 500, whatever the service raised."""

from decimal import Decimal

import pytest
from django.db import OperationalError as DatabaseDown
from kombu.exceptions import OperationalError as BrokerDown

from agents import services as agent_services
from backtests import services as backtest_services
from backtests.models import BacktestRun
from backtests.tests.conftest import SOL_FILE, sma_config
from market.services import candles_load_file
from tradingops.errors import Conflict, Invalid, Unavailable
from wallets import services as wallet_services

UNAVAILABLE = "A service this request needs is unavailable; try again shortly."


@pytest.fixture
def sol_candles(sol):
    candles_load_file(instrument=sol, timeframe="1h", path=SOL_FILE)
    return sol


@pytest.fixture
def logged_in(client, users):
    def login(role):
        client.force_login(users[role])
        return client

    return login


def refuse_with(monkeypatch, module, name, error):
    def refused(*args, **kwargs):
        raise error

    monkeypatch.setattr(module, name, refused)


@pytest.mark.parametrize(
    ("error", "shown"),
    [
        (Conflict("Trading is halted by the kill switch.", field="action"), "Trading is halted by the kill switch."),
        (Invalid("Unknown symbol.", field="symbol"), "Unknown symbol."),
        (Unavailable(), "A service this needs is unavailable."),
        (DatabaseDown("connection refused"), UNAVAILABLE),
    ],
)
def test_a_refused_intent_is_shown_on_the_overview(logged_in, monkeypatch, error, shown):
    refuse_with(monkeypatch, agent_services, "intent_submit", error)
    client = logged_in("operator")
    response = client.post("/actions/intent", {"action": "pause", "symbol": "SOL-USDT"})
    assert (response.status_code, response["Location"]) == (302, "/#h-state")
    page = client.get("/").content.decode()
    assert shown in page
    if getattr(error, "field", None):
        assert f'id="err-{error.field}"' in page  # on the field it names


@pytest.mark.parametrize(
    ("url", "service", "data"),
    [
        ("/actions/kill-switch", "kill_switch_set", {"engaged": "1", "reason": "test", "confirmation": "KILL"}),
        ("/actions/mode", "runtime_mode_switch", {"mode": "paper"}),
    ],
)
def test_an_admin_action_with_the_database_down_is_shown_on_the_overview(logged_in, monkeypatch, url, service, data):
    refuse_with(monkeypatch, agent_services, service, DatabaseDown("connection refused"))
    client = logged_in("admin")
    response = client.post(url, data)
    assert (response.status_code, response["Location"]) == (302, "/#h-state")
    assert UNAVAILABLE in client.get("/").content.decode()


def test_a_refused_note_is_shown_on_the_decision_log(logged_in, monkeypatch):
    refuse_with(monkeypatch, agent_services, "intent_submit", Conflict("Notes are closed for the day."))
    response = logged_in("operator").post("/decisions/notes", {"note": "hello"})
    assert response.status_code == 409
    assert "Notes are closed for the day." in response.content.decode()


def test_a_backtest_started_with_a_dependency_down_is_a_503_on_the_form(sol_candles, logged_in, monkeypatch):
    refuse_with(monkeypatch, backtest_services, "backtest_run_create", BrokerDown("Connection refused"))
    body = {"symbol": "SOL-USDT", "timeframe": "1h", "initial_cash": "10000", "preset": "sma_cross",
            "params": "fast=5, slow=20"}  # fmt: skip
    response = logged_in("operator").post("/backtests/start", body)
    assert response.status_code == 503
    assert response["Retry-After"]
    assert UNAVAILABLE in response.content.decode()
    assert 'value="10000"' in response.content.decode()  # what was typed stays


@pytest.mark.parametrize("error", [Unavailable(), DatabaseDown("connection refused")])
def test_a_cancel_that_cannot_be_carried_out_is_shown_on_the_run(sol_candles, logged_in, monkeypatch, error):
    run = backtest_services.backtest_run_create(data=sma_config())
    refuse_with(monkeypatch, backtest_services, "backtest_run_cancel", error)
    client = logged_in("operator")
    response = client.post(f"/backtests/{run.pk}/cancel")
    assert (response.status_code, response["Location"]) == (302, f"/backtests/{run.pk}/")
    assert "unavailable" in client.get(response["Location"]).content.decode()
    assert BacktestRun.objects.get().status == "queued"


def test_a_reconciliation_with_the_broker_down_is_shown_on_the_wallets(logged_in, monkeypatch):
    refuse_with(monkeypatch, wallet_services, "wallet_reconcile", BrokerDown("Connection refused"))
    client = logged_in("operator")
    response = client.post("/wallets/reconcile")
    assert response.status_code == 302
    assert UNAVAILABLE in client.get(response["Location"]).content.decode()


def test_a_busy_reconciliation_still_says_so(logged_in, monkeypatch):
    refuse_with(monkeypatch, wallet_services, "wallet_reconcile", wallet_services.ReconciliationBusy(7))
    client = logged_in("operator")
    response = client.post("/wallets/reconcile")
    assert (
        "A reconciliation is already running; try again when it has finished."
        in client.get(response["Location"]).content.decode()
    )


def test_an_upload_with_the_database_down_is_a_503_naming_no_internals(logged_in, monkeypatch):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from dashboard import market_upload
    from market.models import Instrument

    Instrument.objects.create(symbol="PEPE-USDT", base="PEPE", quote="USDT", price_tick=Decimal("0.0000001"),
                              lot_size=Decimal(1), min_notional=Decimal(0))  # fmt: skip
    refuse_with(monkeypatch, market_upload, "candle_upload", DatabaseDown("connection to 10.0.0.5 refused"))
    body = {"symbol": "PEPE-USDT", "timeframe": "1h", "file": SimpleUploadedFile("p.csv", b"timestamp,open\n")}
    response = logged_in("operator").post("/market/upload", body, HTTP_ACCEPT="application/json")
    assert response.status_code == 503, response.content
    assert response["Retry-After"]
    assert response.json() == {"__all__": [UNAVAILABLE]}
