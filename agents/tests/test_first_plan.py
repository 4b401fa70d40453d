"""A fresh full stack plans as soon as a worker is up and the feed has stored candles, not at the
planner's first scheduled run six hours later; workers starting together make one plan."""

import time

import pytest

from agents.models import StrategyPlan
from agents.planner import FIRST_PLAN_DEDUPE_KEY, FirstPlan, planner_first_plan, planner_run
from conftest import start_celery_worker
from events.models import Event
from market.tests.factories import shipped_candles


def _plan_events():
    return Event.objects.filter(type="plan_generated")


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_two_workers_starting_before_the_candles_make_one_first_plan_once_the_candles_come(
    celery_worker_process, settings
):
    _, second = start_celery_worker(settings)
    try:
        time.sleep(2)  # both workers are up, and the feed has stored nothing yet
        assert not _plan_events().exists()
        shipped_candles(limit=200)

        deadline = time.monotonic() + 60
        while not _plan_events().exists():
            assert time.monotonic() < deadline, "no plan 60 s after the candles came"
            time.sleep(0.5)
        time.sleep(15)  # the other worker's attempt has come and gone
    finally:
        second.terminate()
        second.wait(timeout=20)

    plan = _plan_events().get()  # one, recorded like any other plan
    assert plan.source == "agent:planner"
    assert plan.payload["symbols"] == ["SOL-USDT"]
    assert StrategyPlan.objects.get().active
    runs = Event.objects.filter(type="agent_run", payload__agent="planner")
    assert [r.payload["status"] for r in runs] == ["ok"]
    assert runs.get().causation_id == plan.event_id


def test_the_first_plan_waits_for_candles_is_made_once_and_not_over_an_active_plan(sol):
    assert planner_first_plan() == FirstPlan.NO_CANDLES
    assert not _plan_events().exists()

    shipped_candles(sol, limit=100)
    assert planner_first_plan() == FirstPlan.MADE
    assert planner_first_plan() == FirstPlan.EXISTS
    assert _plan_events().count() == 1


def test_a_second_first_plan_records_nothing_even_when_no_plan_is_active(sol):
    """What decides between workers that both saw no active plan: the plan's dedupe key."""
    shipped_candles(sol, limit=100)
    first = planner_run(dedupe_key=FIRST_PLAN_DEDUPE_KEY)
    StrategyPlan.objects.update(active=False)

    again = planner_run(dedupe_key=FIRST_PLAN_DEDUPE_KEY)

    assert (first.created, again.created, again.event_id) == (True, False, first.event_id)
    assert _plan_events().count() == 1
    assert Event.objects.filter(type="agent_run", payload__agent="planner").count() == 1
