"""A plan's life as the live engine writes it: one correlation id, thousands of events, most of
them heartbeats and marks. Shared by the chain tests of the events API and the dashboard."""

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from events.models import Event
from events.services import EventDraft, emit, emit_many

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@dataclass
class PlanLife:
    correlation_id: uuid.UUID
    chain: list[Event] = field(default_factory=list)  # intent, plan, judged: shared by every decision
    trades: list[dict[str, Event]] = field(default_factory=list)  # trigger, order, fill, released
    blocks: list[dict[str, Event]] = field(default_factory=list)  # trigger, block


def make_plan_life(*, trades: int = 3, blocks: int = 2, heartbeats: int = 2900) -> PlanLife:
    correlation_id = uuid.uuid4()
    life = PlanLife(correlation_id)
    at = iter(T0 + timedelta(seconds=n) for n in range(10**6))
    common = {"correlation_id": correlation_id, "run_id": "live"}

    def step(event_type, payload, cause=None, source="agent:execution"):
        return emit(
            event_type, payload, source=source, causation_id=cause.event_id if cause else None, ts=next(at), **common
        )

    intent = step("intent", {"action": "replan"}, source="user:otto")
    plan = step(
        "plan_generated", {"plan_id": "p1", "strategy": "trend", "symbols": ["SOL-USDT"]}, intent, "agent:planner"
    )
    judged = step("plan_judged", {"plan_id": "p1", "overall_score": "72.5"}, plan, "agent:judge")
    life.chain = [intent, plan, judged]

    noise = [
        EventDraft(
            "agent_run",
            {"agent": "execution", "status": "ok", "duration_ms": 3},
            "agent:execution",
            ts=next(at),
            **common,
        )
        if n % 10
        else EventDraft("marks_updated", {"prices": {"SOL-USDT": "140.01"}}, "agent:execution", ts=next(at), **common)
        for n in range(heartbeats)
    ]
    for start in range(0, len(noise), 1000):
        emit_many(noise[start : start + 1000])

    for n in range(trades):
        trigger = step(
            "trigger_fired",
            {"plan_id": "p1", "symbol": "SOL-USDT", "side": "buy", "rule": "entry: rsi < 30", "price": "139.91"},
            judged,
        )
        order = step(
            "order_submitted", {"order_id": f"o{n}", "symbol": "SOL-USDT", "side": "buy", "qty": "0.5"}, trigger
        )
        fill = step(
            "fill",
            {
                "fill_id": f"f{n}",
                "order_id": f"o{n}",
                "symbol": "SOL-USDT",
                "side": "buy",
                "qty": "0.5",
                "price": "139.93",
                "fee": "0.07",
            },
            order,
        )
        released = step("risk_released", {"allocation_id": f"o{n}", "status": "used"}, order)
        step(
            "agent_run", {"agent": "execution", "status": "ok", "duration_ms": 4}, fill
        )  # a heartbeat caused by the fill
        life.trades.append({"trigger": trigger, "order": order, "fill": fill, "released": released})
    for n in range(blocks):
        trigger = step(
            "trigger_fired",
            {"plan_id": "p1", "symbol": "SOL-USDT", "side": "buy", "rule": "entry: rsi < 30", "price": "139.5"},
            judged,
        )
        # The block names its trigger in the payload (trigger_id), whether or not causation does.
        block = step(
            "trade_blocked",
            {
                "symbol": "SOL-USDT",
                "side": "buy",
                "reason": "risk_budget_exhausted",
                "reason_class": "risk_valid",
                "detail": {"requested": "2000", "left": "12.5"},
                "plan_id": "p1",
                "trigger_id": str(trigger.event_id),
                "qty": "14.3",
                "price": "139.5",
            },
            trigger if n % 2 else None,
        )
        life.blocks.append({"trigger": trigger, "block": block})
    return life
