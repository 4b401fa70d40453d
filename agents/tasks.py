"""Celery tasks of the agents: thin, take ids and plain values, call one service each."""

from contextlib import contextmanager

from celery import shared_task
from django.db import InterfaceError, OperationalError

AGENT_TASK_OPTIONS = {
    "acks_late": True,
    "soft_time_limit": 60,
    "time_limit": 90,
    # a database restart or failover: the task is retried (its decisions are deduplicated)
    "autoretry_for": (ConnectionError, TimeoutError, OperationalError, InterfaceError),
    "retry_backoff": True,
    "max_retries": 3,
}


@contextmanager
def _reported(agent: str):
    """A failed run is recorded (``agent_run`` with the error) in its own transaction, then re-raised."""
    try:
        yield
    except Exception as exc:
        from events.services import emit

        emit(
            "agent_run",
            {"agent": agent, "status": "error", "duration_ms": 0, "error": f"{exc.__class__.__name__}: {exc}"[:2000]},
            source=f"agent:{agent}",
        )
        raise


@shared_task(**AGENT_TASK_OPTIONS)
def intent_execute_task(intent_event_id: str) -> None:
    from .broker_agent import intent_execute

    with _reported("broker"):
        intent_execute(intent_event_id=intent_event_id)


@shared_task(**AGENT_TASK_OPTIONS)
def planner_run_task(correlation_id: str | None = None, causation_id: str | None = None) -> None:
    from .planner import planner_run

    with _reported("planner"):
        planner_run(correlation_id=correlation_id, causation_id=causation_id)


FIRST_PLAN_RETRY_SECONDS = 10
FIRST_PLAN_RETRIES = 60  # a worker waits up to 10 minutes for the feed's first candles


@shared_task(bind=True, **AGENT_TASK_OPTIONS)
def planner_first_plan_task(self) -> None:
    """Sent by every worker as it starts (``agents.apps``); plans once there are candles."""
    from .planner import FirstPlan, planner_first_plan

    with _reported("planner"):
        outcome = planner_first_plan()
    if outcome == FirstPlan.NO_CANDLES:
        raise self.retry(countdown=FIRST_PLAN_RETRY_SECONDS, max_retries=FIRST_PLAN_RETRIES)


@shared_task(**AGENT_TASK_OPTIONS)
def judge_run_task() -> None:
    from .judge import judge_run

    with _reported("judge"):
        judge_run()


@shared_task(**AGENT_TASK_OPTIONS)
def execution_on_candle_task(symbol: str, timeframe: str, open_time: str) -> None:
    from .execution import execution_on_candle

    with _reported("execution"):
        execution_on_candle(symbol=symbol, timeframe=timeframe, open_time=open_time)


@shared_task(**AGENT_TASK_OPTIONS)
def positions_snapshot_task() -> None:
    from .execution import positions_snapshot

    with _reported("snapshot"):
        positions_snapshot()


@shared_task(**AGENT_TASK_OPTIONS)
def risk_expire_task() -> None:
    from .execution import risk_expire_stale_claims

    risk_expire_stale_claims()


@shared_task(**{**AGENT_TASK_OPTIONS, "soft_time_limit": 300, "time_limit": 360}, bind=True)
def check_books_task(self) -> None:
    """Beat runs it hourly (schedule seeded by migration ``agents.0007``); violations raise an alert event."""
    from .books import books_check_alert

    with _reported("books"):
        books_check_alert(check_id=self.request.id)
