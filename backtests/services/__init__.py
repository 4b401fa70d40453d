"""Every write the API and the dashboard start: runs (start, cancel, rerun) and sweeps.

The rest of the app is split by role: :mod:`backtests.worker` (execute a run, its heartbeat and
progress, the reaper), :mod:`backtests.loading` (candles to arrays), :mod:`backtests.results`
(storing what the engine returned), :mod:`backtests.notify` (frames and events).
"""

from .runs import (
    RunStateError,
    backtest_run_cancel,
    backtest_run_create,
    backtest_run_rerun,
    validated,
)
from .sweeps import sweep_create
from .whatif import MAX_WHAT_IF_VALUES, what_if_create

__all__ = [
    "MAX_WHAT_IF_VALUES",
    "RunStateError",
    "backtest_run_cancel",
    "backtest_run_create",
    "backtest_run_rerun",
    "sweep_create",
    "validated",
    "what_if_create",
]
