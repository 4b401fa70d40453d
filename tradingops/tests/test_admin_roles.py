"""The admin for each role: staff members who are not superusers use it through their group's model
permissions; a refused change is not saved, not logged and says why; search and links."""

import pytest
from django.contrib.admin.models import LogEntry

from agents.models import Order, RuntimeConfig
from events.services import emit

LIMITS = ["daily_risk_budget", "risk_per_trade", "risk_multiplier", "max_trades_per_day",
          "max_trades_per_symbol_per_day", "max_open_positions", "min_notional", "cooldown_after_loss_minutes",
          "fee_rate", "slippage_bps"]  # fmt: skip


@pytest.fixture
def staff(make_user, client):
    def login(role):
        user = make_user(f"staff-{role}", role, is_staff=True)
        assert not user.is_superuser
        client.force_login(user)
        return client

    return login


def _runtime_form(**changes) -> dict:
    config = RuntimeConfig.objects.get_or_create(pk=1)[0]
    return {"mode": config.mode, **{f: getattr(config, f) for f in LIMITS}, **changes}


@pytest.mark.parametrize("role", ["viewer", "operator", "admin"])
def test_a_staff_member_who_is_not_a_superuser_reads_the_admin_for_their_role(staff, role):
    client = staff(role)
    index = client.get("/admin/").content.decode()
    for model in ("Fills", "Orders", "Strategy plans", "Reconciliation runs", "Drift records", "Events"):
        assert model in index, model
    for url in ("/admin/agents/fill/", "/admin/agents/blockevent/", "/admin/wallets/reconciliationrun/",
                "/admin/events/event/", "/admin/agents/runtimeconfig/1/change/"):  # fmt: skip
        assert client.get(url).status_code == 200, url
    change_form = client.get("/admin/agents/runtimeconfig/1/change/").content.decode()
    assert ('name="_save"' in change_form) is (role == "admin")  # only admins may change limits


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_below_admin_a_runtime_change_is_forbidden_and_changes_nothing(staff, role):
    response = staff(role).post("/admin/agents/runtimeconfig/1/change/", _runtime_form(kill_switch="on", reason="x"))
    assert response.status_code == 403
    assert RuntimeConfig.objects.get(pk=1).kill_switch is False


def test_a_refused_change_is_not_saved_not_logged_and_says_why(staff):
    client = staff("admin")
    # Engaging the kill switch needs a reason; the limit in the same form must not be saved either.
    form = _runtime_form(kill_switch="on", max_trades_per_day=7)
    response = client.post("/admin/agents/runtimeconfig/1/change/", form, follow=True)
    content = response.content.decode()
    assert "Not saved" in content
    assert "Say why the kill switch is pulled" in content
    assert "changed successfully" not in content
    assert response.redirect_chain[-1][0] == "/admin/agents/runtimeconfig/1/change/"
    config = RuntimeConfig.objects.get(pk=1)
    assert (config.kill_switch, config.max_trades_per_day) == (False, 20)
    assert LogEntry.objects.count() == 0

    response = client.post("/admin/agents/runtimeconfig/1/change/", {**form, "reason": "drill"}, follow=True)
    assert "changed successfully" in response.content.decode()
    assert RuntimeConfig.objects.get(pk=1).kill_switch is True
    assert LogEntry.objects.count() == 1


@pytest.mark.parametrize(
    "url",
    [
        "/admin/agents/strategyplan/",
        "/admin/agents/riskallocation/",
        "/admin/agents/intent/",
        "/admin/wallets/reconciliationrun/",
        "/admin/wallets/driftrecord/",
    ],
)
def test_plans_allocations_intents_reconciliations_and_drifts_can_be_searched(staff, url):
    client = staff("viewer")
    page = client.get(url, {"q": "SOL-USDT"})
    assert page.status_code == 200
    assert 'id="searchbar"' in page.content.decode()
    assert client.get(url, {"q": "not-a-number-or-uuid"}).status_code == 200


def test_a_fill_links_to_its_order_and_its_chain_and_the_order_back_to_fills_claim_and_trigger(staff):
    intent = emit("intent", {"action": "replan"}, source="user:otto")
    chain = {"correlation_id": intent.correlation_id, "source": "agent:execution", "run_id": "live"}
    trigger = emit("trigger_fired", {"plan_id": "p1", "symbol": "SOL-USDT", "side": "buy", "rule": "entry: x",
                                     "price": "150"}, causation_id=intent.event_id, **chain)  # fmt: skip
    order = emit("order_submitted", {"order_id": "o-9", "symbol": "SOL-USDT", "side": "buy", "qty": "1"},
                 causation_id=trigger.event_id, **chain)  # fmt: skip
    fill = emit("fill", {"fill_id": "f-9", "order_id": "o-9", "symbol": "SOL-USDT", "side": "buy", "qty": "1",
                         "price": "150"}, causation_id=order.event_id, **chain)  # fmt: skip
    client = staff("viewer")
    fills = client.get("/admin/agents/fill/").content.decode()
    assert 'href="/admin/agents/order/?q=o-9"' in fills
    assert f'href="/decisions/events/{fill.event_id}/"' in fills
    orders = client.get("/admin/agents/order/").content.decode()
    assert 'href="/admin/agents/fill/?q=o-9"' in orders
    assert 'href="/admin/agents/riskallocation/?q=o-9"' in orders

    detail = client.get(f"/admin/agents/order/{Order.objects.get(order_id='o-9').pk}/change/").content.decode()
    assert f'href="/decisions/events/{trigger.event_id}/"' in detail
