"""The judge: scores the active plan from what it actually did and applies what it may.

Components (0-100 each): return, drawdown, win rate, block rate, risk used. The overall score is
their mean. Recommendations the configuration allows (``JUDGE_APPLIES``) are applied at once:
``lower_risk_multiplier`` halves the multiplier (not below 0.1), ``retire_plan`` retires the plan
and asks the planner for a new one.
"""

import time
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q, Sum

from events.services import emit
from tradingops.outbox import dispatch_on_commit

from . import selectors
from .models import BlockEvent, Fill, RiskAllocation
from .selectors import plan_active, portfolio_summary
from .services import runtime_config_change
from .tasks import planner_run_task

SOURCE = "agent:judge"
MIN_TRADES_TO_RETIRE = 5


def _clamp(value: float) -> Decimal:
    return Decimal(str(round(max(0.0, min(100.0, value)), 2)))


def score_plan(plan) -> dict:
    fills = Fill.objects.filter(correlation_id=plan.correlation_id)
    stats = fills.aggregate(
        realized=Sum("realized_pnl"),
        closing=Count("id", filter=Q(side="sell")),
        wins=Count("id", filter=Q(side="sell", realized_pnl__gt=0)),
        trades=Count("id"),
    )
    blocks = BlockEvent.objects.filter(correlation_id=plan.correlation_id)
    by_class = dict(blocks.values_list("reason_class").annotate(n=Count("id")).values_list("reason_class", "n"))
    blocked = sum(by_class.values())
    portfolio = portfolio_summary()
    equity = float(portfolio["equity"] or settings.PAPER_INITIAL_CASH)
    realized = float(stats["realized"] or 0)
    return_pct = 100 * realized / equity if equity else 0.0
    drawdown_pct = max(0.0, -100 * float(portfolio["unrealized_pnl"]) / equity) if equity else 0.0
    win_rate = stats["wins"] / stats["closing"] if stats["closing"] else 0.5
    attempts = stats["trades"] + blocked
    block_rate = blocked / attempts if attempts else 0.0
    risk = RiskAllocation.objects.filter(correlation_id=plan.correlation_id).aggregate(total=Sum("amount"))["total"]
    risk_used_pct = 100 * float(risk or 0) / equity if equity else 0.0
    components = {
        "return": _clamp(50 + 10 * return_pct),
        "drawdown": _clamp(100 - 10 * drawdown_pct),
        "win_rate": _clamp(100 * win_rate),
        "block_rate": _clamp(100 * (1 - block_rate)),
        "risk_used": _clamp(100 - 10 * max(0.0, risk_used_pct - 2)),
    }
    overall = _clamp(sum(float(v) for v in components.values()) / len(components))
    recommendations = []
    if block_rate > 0.5 and by_class.get("risk_valid", 0) > by_class.get("quality_gate", 0):
        recommendations.append("lower_risk_multiplier")
    if stats["closing"] >= MIN_TRADES_TO_RETIRE and overall < 40:
        recommendations.append("retire_plan")
    return {
        "overall_score": overall,
        "component_scores": components,
        "recommendations": recommendations,
        "blocks_by_class": by_class,
    }


@transaction.atomic(durable=True)
def judge_run():
    """Judge the active plan; returns the ``plan_judged`` event, or None without a plan."""
    started = time.monotonic()
    plan = plan_active()
    if plan is None:
        return None
    scores = score_plan(plan)
    judged = emit(
        "plan_judged",
        {
            "plan_id": plan.plan_id,
            "overall_score": scores["overall_score"],
            "component_scores": scores["component_scores"],
            "recommendations": scores["recommendations"],
        },
        source=SOURCE,
        correlation_id=plan.correlation_id,
        causation_id=plan.event_id,
    )
    allowed = set(settings.JUDGE_APPLIES)
    if "lower_risk_multiplier" in scores["recommendations"] and "lower_risk_multiplier" in allowed:
        _lower_risk_multiplier(judged)
    if "retire_plan" in scores["recommendations"] and "retire_plan" in allowed:
        emit(
            "plan_retired",
            {"plan_id": plan.plan_id, "reason": f"score {scores['overall_score']} below 40"},
            source=SOURCE,
            correlation_id=plan.correlation_id,
            causation_id=judged.event_id,
        )

        dispatch_on_commit(planner_run_task, causation_id=str(judged.event_id))
    emit(
        "agent_run",
        {"agent": "judge", "status": "ok", "duration_ms": int((time.monotonic() - started) * 1000)},
        source=SOURCE,
        correlation_id=plan.correlation_id,
        causation_id=judged.event_id,
    )
    return judged


def _lower_risk_multiplier(judged) -> None:
    current = selectors.runtime_config_get().risk_multiplier
    new = max(Decimal("0.1"), (current / 2).quantize(Decimal("0.0001")))
    runtime_config_change(
        changes={"risk_multiplier": new},
        source=SOURCE,
        reason="judge: more than half the attempts were blocked by risk rules",
        correlation_id=judged.correlation_id,
        causation_id=judged.event_id,
    )
