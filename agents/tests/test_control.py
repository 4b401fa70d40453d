from decimal import Decimal

import pytest

from agents.limits import limits_from_config
from agents.models import RuntimeConfig
from agents.selectors import runtime_config_get
from events.models import Event
from events.services import emit

MODE_URL = "/api/v1/control/mode"
KILL_URL = "/api/v1/control/kill-switch"
RUNTIME_URL = "/api/v1/control/runtime"


def test_live_mode_refuses_naming_every_missing_condition(client_for, settings):
    settings.LIVE_TRADING_ALLOWED = False
    settings.EXCHANGE_API_KEY = ""
    response = client_for("admin").post(MODE_URL, {"mode": "live", "confirmation": "yes"}, format="json")
    assert response.status_code == 400
    assert set(response.data) == {"mode", "exchange", "confirmation"}
    assert RuntimeConfig.objects.get(pk=1).mode == "paper"
    assert not Event.objects.filter(type="runtime_changed").exists()


@pytest.mark.parametrize(
    ("allowed", "key", "confirmation", "missing"),
    [
        (False, "k", "LIVE", {"mode"}),
        (True, "", "LIVE", {"exchange"}),
        (True, "k", "live", {"confirmation"}),
    ],
)
def test_live_mode_needs_each_condition(client_for, settings, allowed, key, confirmation, missing):
    settings.LIVE_TRADING_ALLOWED = allowed
    settings.EXCHANGE_API_KEY = settings.EXCHANGE_API_SECRET = key
    response = client_for("admin").post(MODE_URL, {"mode": "live", "confirmation": confirmation}, format="json")
    assert response.status_code == 400
    assert set(response.data) == missing


def test_live_mode_with_every_condition_is_an_event_naming_the_admin(client_for, settings):
    settings.LIVE_TRADING_ALLOWED = True
    settings.EXCHANGE_API_KEY = settings.EXCHANGE_API_SECRET = "configured"
    response = client_for("admin").post(MODE_URL, {"mode": "live", "confirmation": "LIVE"}, format="json")
    assert response.status_code == 200
    assert response.data["mode"] == "live"
    event = Event.objects.get(type="runtime_changed")
    assert event.source == "user:ada"
    assert event.payload["changes"] == {"mode": {"old": "paper", "new": "live"}}


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_only_admins_control_mode_and_kill_switch(client_for, role):
    client = client_for(role)
    assert client.post(MODE_URL, {"mode": "paper"}, format="json").status_code == 403
    assert client.post(KILL_URL, {"engaged": True, "reason": "x"}, format="json").status_code == 403
    assert client.patch(RUNTIME_URL, {"max_trades_per_day": 3}, format="json").status_code == 403


def test_kill_switch_needs_a_reason_and_is_recorded(client_for):
    admin = client_for("admin")
    assert admin.post(KILL_URL, {"engaged": True}, format="json").status_code == 400
    response = admin.post(KILL_URL, {"engaged": True, "reason": "exchange outage"}, format="json")
    assert response.status_code == 200
    assert response.data["kill_switch"] is True
    event = Event.objects.get(type="runtime_changed")
    assert event.payload == {"changes": {"kill_switch": {"old": "False", "new": "True"}}, "reason": "exchange outage"}


def test_contradicting_limits_are_refused_naming_the_field(client_for):
    response = client_for("admin").patch(
        RUNTIME_URL, {"risk_per_trade": "0.05", "daily_risk_budget": "0.02"}, format="json"
    )
    assert response.status_code == 400
    assert "risk_per_trade" in response.data
    assert RuntimeConfig.objects.get(pk=1).risk_per_trade == Decimal("0.005")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"max_trades_per_symbol_per_day": 50}, "max_trades_per_symbol_per_day"),
        ({"fee_rate": "0.5"}, "fee_rate"),
        ({"min_notional": "-1"}, "min_notional"),
        ({"max_trades_per_day": "many"}, "max_trades_per_day"),
    ],
)
def test_bad_limits_get_400_naming_the_field(client_for, body, field):
    response = client_for("admin").patch(RUNTIME_URL, body, format="json")
    assert response.status_code == 400
    assert field in response.data


def test_limits_change_is_one_event_with_old_and_new_values(client_for):
    response = client_for("admin").patch(RUNTIME_URL, {"max_trades_per_day": 7, "reason": "calm"}, format="json")
    assert response.status_code == 200
    assert response.data["max_trades_per_day"] == 7
    event = Event.objects.get(type="runtime_changed")
    assert event.payload == {"changes": {"max_trades_per_day": {"old": "20", "new": "7"}}, "reason": "calm"}


def test_runs_take_their_mode_from_the_runtime_configuration(client_for, settings):

    settings.LIVE_TRADING_ALLOWED = True
    settings.EXCHANGE_API_KEY = settings.EXCHANGE_API_SECRET = "configured"
    client_for("admin").post(MODE_URL, {"mode": "live", "confirmation": "LIVE"}, format="json")
    emit("intent", {"action": "note", "note": "x"}, source="user:ada", run_id="after-switch")
    assert client_for("viewer").get("/api/v1/runs/after-switch").data["mode"] == "live"


def test_the_default_configuration_is_usable_before_it_is_saved(db):

    RuntimeConfig.objects.all().delete()
    config = runtime_config_get()
    limits = limits_from_config(config)
    assert (limits.daily_risk_budget, limits.risk_per_trade, limits.cooldown_after_loss_s) == (0.02, 0.005, 4 * 3600)
