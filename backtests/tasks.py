"""Celery tasks of the backtests app: thin, take ids, call one service each (``backtests`` queue)."""

from celery import shared_task

# A 1,000,000-bar run takes seconds; the limits only stop a runaway. Both stay under the broker's
# visibility timeout (settings: twice CELERY_TASK_TIME_LIMIT), or a running task would be redelivered.
SOFT_TIME_LIMIT_S = 20 * 60

BACKTEST_TASK_OPTIONS = {
    "acks_late": True,  # routed to the ``backtests`` queue by CELERY_TASK_ROUTES
    "soft_time_limit": SOFT_TIME_LIMIT_S,
    "time_limit": SOFT_TIME_LIMIT_S + 60,
    "autoretry_for": (ConnectionError,),
    "retry_backoff": True,
    "max_retries": 3,
}


@shared_task(bind=True, **BACKTEST_TASK_OPTIONS)
def backtest_run_task(self, run_id: str) -> str:
    from .worker import backtest_execute

    return backtest_execute(run_id=run_id, worker=self.request.hostname or "")


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90)
def backtest_reap_task(stale_after_s: int | None = None) -> list[str]:
    from .worker import backtest_runs_reap

    return [str(pk) for pk in backtest_runs_reap(stale_after_s=stale_after_s)]
