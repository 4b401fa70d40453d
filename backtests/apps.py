from django.apps import AppConfig


class BacktestsConfig(AppConfig):
    name = "backtests"
    verbose_name = "Backtests"

    def ready(self):
        from events import types

        from .event_types import register_all
        from .selectors import backtest_run_ids_among

        register_all()
        # a backtest's id is not a client's run: no run_control (or any client event) into it
        types.reserve_run_ids(backtest_run_ids_among)
