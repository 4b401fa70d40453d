from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection, transaction

from agents.execution import risk_claim
from agents.execution import risk_claim as claim
from agents.models import ExecutionStep, RiskAllocation, RiskBudgetDay
from agents.selectors import runtime_config_get
from events.services import emit

DAY = datetime(2026, 11, 25, tzinfo=UTC).date()


@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_claims_never_exceed_the_days_budget():
    config = runtime_config_get()  # 2% of 100,000: a budget of 2,000
    amount = Decimal("150")

    def claim(i: int):
        try:
            with transaction.atomic():
                return risk_claim(
                    allocation_id=f"a{i}", symbol="SOL-USDT", amount=amount, config=config, day=DAY,
                    correlation_id="6f1c1b8e-0000-4000-8000-000000000000", dedupe_key=f"claim:{i}",
                )  # fmt: skip
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=10) as pool:
        refusals = list(pool.map(claim, range(50)))

    budget = RiskBudgetDay.objects.get(day=DAY)
    assert budget.budget == Decimal("2000")
    granted = RiskAllocation.objects.filter(day=DAY).count()
    assert granted == 13  # floor(2000 / 150)
    assert budget.claimed == amount * granted <= budget.budget
    refused = [r for r in refusals if r is not None]
    assert len(refused) == 50 - granted
    assert all(Decimal(r["available"]) < amount for r in refused)


def test_risk_budget_endpoint_shows_the_lifecycle(client_for, db):

    config = runtime_config_get()
    today = datetime.now(tz=UTC).date()
    for i in range(3):
        claim(allocation_id=f"b{i}", symbol="SOL-USDT", amount=Decimal("100"), config=config, day=today,
              correlation_id="6f1c1b8e-0000-4000-8000-000000000001", dedupe_key=f"claim-b{i}")  # fmt: skip
    emit("risk_released", {"allocation_id": "b0", "status": "used"}, source="agent:execution")
    emit("risk_released", {"allocation_id": "b1", "status": "used"}, source="agent:execution")
    emit("risk_released", {"allocation_id": "b1", "status": "released"}, source="agent:execution")
    emit("risk_released", {"allocation_id": "b2", "status": "expired"}, source="agent:execution")

    data = client_for("viewer").get("/api/v1/live/risk-budget").data
    assert {k: Decimal(data[k]) for k in ("budget", "claimed", "used", "released", "expired", "consumed")} == {
        "budget": Decimal("2000"), "claimed": 0, "used": 100, "released": 100, "expired": 100, "consumed": 200,
    }  # fmt: skip
    assert Decimal(data["utilisation"]) == Decimal("0.1")
    assert [(a["allocation_id"], a["status"]) for a in data["allocations"]] == [
        ("b0", "used"), ("b1", "released"), ("b2", "expired"),
    ]  # fmt: skip


def test_risk_budget_endpoint_shows_the_day_being_traded_not_the_wall_clock_day(client_for, db):
    """Risk days are bar days: a replay of October 2024 trades October 2024's budgets."""

    traded = datetime(2024, 10, 1, 13, tzinfo=UTC)
    ExecutionStep.objects.create(
        plan_event_id="6f1c1b8e-0000-4000-8000-000000000002",
        symbol="SOL-USDT",
        open_time=traded,
        entries_allowed=True,
        kill_switch=False,
        force_exit=False,
    )
    with transaction.atomic():
        refused = risk_claim(allocation_id="r1", symbol="SOL-USDT", amount=Decimal("100"), config=runtime_config_get(),
                             day=traded.date(), correlation_id=None, dedupe_key="claim-r1")  # fmt: skip
    assert refused is None

    data = client_for("viewer").get("/api/v1/live/risk-budget").data
    assert data["day"] == "2024-10-01"
    assert Decimal(data["claimed"]) == Decimal("100")
