"""The broker agent: turns an operator's intent into actions, each an event caused by the intent."""

import time
import uuid
from decimal import Decimal

from django.db import transaction

from events.models import Event
from events.services import emit
from tradingops.outbox import dispatch_on_commit

from .execution import flatten_request_in_transaction
from .services import LIVE_RUN_ID, runtime_config_change
from .tasks import planner_run_task

SOURCE = "agent:broker"


@transaction.atomic(durable=True)
def intent_execute(*, intent_event_id: str) -> None:
    started = time.monotonic()
    intent = Event.objects.filter(event_id=uuid.UUID(str(intent_event_id)), type="intent").first()
    if intent is None:
        return
    payload = intent.payload
    action = payload["action"]
    chain = {"correlation_id": intent.correlation_id, "causation_id": intent.event_id}
    if action in ("pause", "resume"):
        emit(
            "run_control",
            {"action": action, "reason": payload.get("note") or f"intent by {intent.source}"},
            source=SOURCE,
            run_id=LIVE_RUN_ID,
            dedupe_key=f"intent:{intent.event_id}:{action}",
            **chain,
        )
    elif action == "set_risk_multiplier":
        runtime_config_change(
            changes={"risk_multiplier": Decimal(payload["params"]["multiplier"])},
            source=intent.source,
            reason=payload.get("note") or "operator intent",
            **chain,
        )
    elif action == "replan":
        dispatch_on_commit(
            planner_run_task, correlation_id=str(intent.correlation_id), causation_id=str(intent.event_id)
        )
    elif action == "flatten":
        flatten_request_in_transaction(symbols=[payload["symbol"]] if payload.get("symbol") else None, intent=intent)
    emit(
        "agent_run",
        {"agent": "broker", "status": "ok", "duration_ms": int((time.monotonic() - started) * 1000)},
        source=SOURCE,
        dedupe_key=f"intent:{intent.event_id}:agent_run",
        **chain,
    )
