from celery.signals import worker_ready
from django.apps import AppConfig


class AgentsConfig(AppConfig):
    name = "agents"
    verbose_name = "Agents and live trading"

    def ready(self) -> None:
        from events import projectors as event_projectors
        from events import realtime
        from events import selectors as event_selectors
        from events import types as event_registry
        from market import hooks

        from . import event_types, presentation, projectors  # noqa: F401 - registers the trading projectors
        from .selectors import header_state, runtime_mode
        from .services import LIVE_RUN_ID

        event_types.register_all()
        event_registry.reserve_run_id(LIVE_RUN_ID)
        event_projectors.set_mode_provider(runtime_mode)
        hooks.register_candle_closed(on_candle_closed)
        realtime.register_header(header_state, types={"runtime_changed", "run_control"})
        event_selectors.register_path_section("shadow", presentation.shadow_section)
        worker_ready.connect(on_worker_ready, dispatch_uid="agents.first_plan")


def on_candle_closed(candle) -> None:
    """The market feed's hook: the execution agent decides on every closed candle, on a worker."""
    from .tasks import execution_on_candle_task

    execution_on_candle_task.delay_on_commit(candle.symbol, candle.timeframe, candle.open_time.isoformat())


def on_worker_ready(**kwargs) -> None:
    """Celery's hook when a worker has started: ask for the first plan, so a fresh full stack trades
    without waiting hours for the planner's schedule (made once however many workers start)."""
    from .tasks import planner_first_plan_task

    planner_first_plan_task.delay()
