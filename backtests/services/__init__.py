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

__all__ = [
    "RunStateError",
    "backtest_run_cancel",
    "backtest_run_create",
    "backtest_run_rerun",
    "sweep_create",
    "validated",
]
