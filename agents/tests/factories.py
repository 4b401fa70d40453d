"""Plans as the planner announces them: a ``plan_generated`` event through ``emit``, projected into the
``StrategyPlan`` returned. ``PlanFactory(plan_id="p1", rules={...})``; ``source``, ``correlation_id``
and ``causation_id`` go to the event, every other keyword to its payload."""

import factory

from agents.models import StrategyPlan
from events.services import emit


class PlanFactory(factory.Factory):
    class Meta:
        model = StrategyPlan

    plan_id = factory.Sequence(lambda n: f"p{n + 1}")
    strategy = "sma_cross"
    symbols = factory.LazyFunction(lambda: ["SOL-USDT"])
    source = "agent:planner"

    @classmethod
    def _create(cls, model_class, *, source: str, correlation_id=None, causation_id=None, **payload):
        event = emit("plan_generated", payload, source=source, correlation_id=correlation_id, causation_id=causation_id)
        return model_class.objects.get(event_id=event.event_id)
