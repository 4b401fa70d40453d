import pytest

from agents import execution
from agents.models import StrategyPlan
from events.models import Event

PLANS_URL = "/api/v1/agents/plans"


def _full_plan(entry="close > sma_50 and rsi_14 < 70", symbol="SOL-USDT"):
    return {
        "name": "trend-rsi",
        "symbols": [
            {
                "symbol": symbol,
                "entry": entry,
                "exit": "close < sma_20",
                "stop": "2 * atr_14",
                "sizing": {"method": "risk", "value": 0.004},
            }
        ],
    }


def test_an_operator_plan_in_the_rule_language_becomes_the_active_plan(client_for, sol):
    response = client_for("operator").post(PLANS_URL, {"plan": _full_plan()}, format="json")
    assert response.status_code == 201, response.data
    assert (response.data["plan_id"], response.data["origin"], response.data["active"]) == (
        "trend-rsi",
        "operator",
        True,
    )
    event = Event.objects.get(type="plan_generated")
    assert event.source == "user:otto"
    stored = StrategyPlan.objects.get(active=True)
    assert execution.engine_plan(stored).symbols[0].entry == "close > sma_50 and rsi_14 < 70"


def test_a_preset_plan_with_parameters(client_for, sol_candles):
    response = client_for("operator").post(
        PLANS_URL, {"preset": "sma_cross", "params": {"fast": 5, "slow": 20}}, format="json"
    )
    assert response.status_code == 201
    assert response.data["rules"]["params"] == {"fast": 5, "slow": 20}
    assert response.data["symbols"] == ["SOL-USDT"]


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        ({"plan": _full_plan(entry="close > smaa_50")}, "plan.symbols.0.entry", "unknown name 'smaa_50'"),
        ({"plan": _full_plan(entry="close > sma_50 and")}, "plan.symbols.0.entry", "position"),
        ({"plan": _full_plan(symbol="DOGE-XYZ")}, "plan.symbols", "DOGE-XYZ"),
        ({"preset": "sma_cross", "params": {"fast": 30, "slow": 20}}, "params.fast", "shorter than slow"),
        ({"preset": "moonshot"}, "preset", "unknown preset"),
        ({}, "non_field_errors", "either a preset"),
    ],
)
def test_bad_plans_are_refused_naming_the_field(client_for, sol_candles, body, field, says):
    response = client_for("operator").post(PLANS_URL, body, format="json")
    assert response.status_code == 400
    assert says in str(response.data[field])
    assert not StrategyPlan.objects.exists()


def test_a_viewer_cannot_make_a_plan(client_for, sol):
    assert client_for("viewer").post(PLANS_URL, {"preset": "sma_cross"}, format="json").status_code == 403
