from decimal import Decimal

from agents.models import BlockEvent, RuntimeConfig
from events.models import Event
from events.services import emit

from .factories import PlanFactory


def test_a_blocked_trades_admin_page_shows_its_whole_chain(admin_client):
    plan = PlanFactory(plan_id="p1", source="x")
    trigger = emit("trigger_fired", {"plan_id": "p1", "symbol": "SOL-USDT", "side": "buy", "rule": "entry: x",
                                     "price": "150"}, source="agent:execution", correlation_id=plan.correlation_id,
                   causation_id=plan.event_id)  # fmt: skip
    emit("trade_blocked", {"symbol": "SOL-USDT", "side": "buy", "reason": "cooldown", "reason_class": "risk_valid",
                           "detail": {"remaining_s": 1200}}, source="agent:execution",
         correlation_id=plan.correlation_id, causation_id=trigger.event_id)  # fmt: skip
    block = BlockEvent.objects.get()
    page = admin_client.get(f"/admin/agents/blockevent/{block.pk}/change/")
    assert page.status_code == 200
    content = page.content.decode()
    assert content.index("plan_generated") < content.index("trigger_fired") < content.index("trade_blocked")
    assert "remaining_s" in content


def test_runtime_changes_in_the_admin_go_through_the_services(admin_client, admin_user):
    config = RuntimeConfig.objects.get(pk=1)
    form = {f: getattr(config, f) for f in ["mode", "daily_risk_budget", "risk_per_trade", "risk_multiplier",
            "max_trades_per_day", "max_trades_per_symbol_per_day", "max_open_positions", "min_notional",
            "cooldown_after_loss_minutes", "fee_rate", "slippage_bps"]}  # fmt: skip
    form.update({"kill_switch": "on", "reason": "drill", "max_trades_per_day": 9})
    response = admin_client.post("/admin/agents/runtimeconfig/1/change/", form)
    assert response.status_code == 302
    config.refresh_from_db()
    assert (config.kill_switch, config.max_trades_per_day) == (True, 9)
    changes = [e.payload["changes"] for e in Event.objects.filter(type="runtime_changed").order_by("id")]
    assert changes == [
        {"max_trades_per_day": {"old": "20", "new": "9"}},
        {"kill_switch": {"old": "False", "new": "True"}},
    ]
    assert set(Event.objects.filter(type="runtime_changed").values_list("source", flat=True)) == {"user:admin"}


def test_live_mode_in_the_admin_is_refused_without_its_conditions(admin_client):
    config = RuntimeConfig.objects.get(pk=1)
    form = {f: getattr(config, f) for f in ["daily_risk_budget", "risk_per_trade", "risk_multiplier",
            "max_trades_per_day", "max_trades_per_symbol_per_day", "max_open_positions", "min_notional",
            "cooldown_after_loss_minutes", "fee_rate", "slippage_bps"]}  # fmt: skip
    form.update({"mode": "live", "confirmation": "LIVE"})
    response = admin_client.post("/admin/agents/runtimeconfig/1/change/", form, follow=True)
    assert "Not saved" in response.content.decode()
    assert RuntimeConfig.objects.get(pk=1).mode == "paper"
    assert config.min_notional == Decimal("10")
