"""Operator and admin actions on the Overview page go through the agents' services."""

import pytest

from agents.models import RuntimeConfig
from events.models import Event

pytestmark = pytest.mark.usefixtures("tasks_in_process")


@pytest.fixture
def logged_in(client, users):
    def login(role):
        client.force_login(users[role])
        return client

    return login


def test_overview_shows_portfolio_positions_risk_and_agents(logged_in):
    page = logged_in("viewer").get("/")
    content = page.content.decode()
    assert page.status_code == 200
    for section in ('id="equity"', 'id="positions"', 'id="risk"', 'id="agents"'):
        assert section in content
    assert "Send intent" not in content
    assert "Set kill switch" not in content


def test_operator_sees_intents_but_not_admin_controls(logged_in):
    content = logged_in("operator").get("/").content.decode()
    assert "Send intent" in content
    assert "Set kill switch" not in content


def test_an_operator_pause_is_an_intent_naming_them(logged_in, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = logged_in("operator").post("/actions/intent", {"action": "pause", "note": "lunch"})
    assert response.status_code == 302
    intent = Event.objects.get(type="intent")
    assert (intent.source, intent.payload["action"]) == ("user:otto", "pause")
    assert Event.objects.filter(type="run_control", causation_id=intent.event_id).exists()


def test_a_bad_multiplier_is_shown_on_its_field(logged_in):
    client = logged_in("operator")
    response = client.post("/actions/intent", {"action": "set_risk_multiplier", "multiplier": "9"})
    assert (response.status_code, response["Location"]) == (302, "/#h-state")  # post/redirect/get
    page = client.get("/").content.decode()
    assert 'id="err-multiplier"' in page
    assert 'value="9"' in page  # what was typed is still there
    assert 'id="err-multiplier"' not in client.get("/").content.decode()  # shown once
    assert not Event.objects.filter(type="intent").exists()


def test_a_forged_action_by_a_viewer_is_refused_and_writes_nothing(logged_in):
    assert logged_in("viewer").post("/actions/intent", {"action": "pause"}).status_code == 403
    assert (
        logged_in("viewer")
        .post("/actions/kill-switch", {"engaged": "1", "reason": "x", "confirmation": "KILL"})
        .status_code
        == 403
    )
    assert not Event.objects.exists()


def test_the_kill_switch_needs_the_typed_word(logged_in):
    admin = logged_in("admin")
    refused = admin.post(
        "/actions/kill-switch", {"engaged": "1", "reason": "drill", "confirmation": "kill"}, follow=True
    )
    assert refused.redirect_chain == [("/#h-state", 302)]
    assert 'id="err-confirmation"' in refused.content.decode()
    assert 'value="kill"' not in refused.content.decode()  # the word is typed again, never pre-filled
    assert RuntimeConfig.objects.get(pk=1).kill_switch is False
    assert (
        admin.post("/actions/kill-switch", {"engaged": "1", "reason": "drill", "confirmation": "KILL"}).status_code
        == 302
    )
    assert RuntimeConfig.objects.get(pk=1).kill_switch is True
    assert Event.objects.get(type="runtime_changed").source == "user:ada"


def test_live_mode_without_its_conditions_is_refused_on_the_page(logged_in, settings):
    settings.LIVE_TRADING_ALLOWED = False
    response = logged_in("admin").post("/actions/mode", {"mode": "live", "confirmation": "LIVE"}, follow=True)
    assert response.redirect_chain == [("/#h-state", 302)]
    assert "LIVE_TRADING_ALLOWED" in response.content.decode()
    assert RuntimeConfig.objects.get(pk=1).mode == "paper"


def test_flatten_all_needs_the_typed_words_and_one_symbol_does_not(logged_in):
    client = logged_in("operator")
    refused = client.post("/actions/intent", {"action": "flatten", "symbol": ""}, follow=True)
    assert 'id="err-confirmation"' in refused.content.decode()
    assert "FLATTEN ALL" in refused.content.decode()
    assert not Event.objects.filter(type="intent").exists()

    assert client.post("/actions/intent", {"action": "flatten", "confirmation": "FLATTEN ALL"}).status_code == 302
    assert client.post("/actions/intent", {"action": "flatten", "symbol": "SOL-USDT"}).status_code == 302
    intents = Event.objects.filter(type="intent").order_by("id")
    assert [(e.payload["action"], e.payload.get("symbol")) for e in intents] == [
        ("flatten", None),
        ("flatten", "SOL-USDT"),
    ]
