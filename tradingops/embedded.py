"""The embedded default's background work, in the web process: the market replay feed and Celery
beat (tasks run in-process), so one command shows agents trading on paper with the dashboard live.

Only for the embedded default (no REDIS_URL): the in-memory channel layer reaches WebSocket clients
of this process only, so the feed must publish from here. With Redis, run the feed, worker and beat
as their own processes (README).
"""

import logging
import threading
import time

from celery.beat import Service
from django.conf import settings
from django.core.management import call_command
from django.db import close_old_connections, connection

from agents.planner import FirstPlan, planner_first_plan
from tradingops.celery import app
from wallets.services import paper_wallet_ensure

logger = logging.getLogger(__name__)
_started = False


def start() -> None:
    global _started
    if _started or not settings.EMBEDDED:
        return
    _started = True
    threading.Thread(target=_run_feed, name="market-feed", daemon=True).start()
    threading.Thread(target=_run_beat, name="beat", daemon=True).start()
    threading.Thread(target=_first_plan, name="first-plan", daemon=True).start()
    logger.info("embedded: market replay feed and celery beat started in-process")


FIRST_PLAN_WAIT_SECONDS = 300


def _first_plan() -> None:
    """A fresh install gets a paper wallet, and a first plan as soon as the feed has stored candles
    to plan on, through the service every Celery worker calls when it starts."""

    try:
        paper_wallet_ensure(name=settings.PAPER_WALLET_NAME, funds={"USDT": settings.PAPER_INITIAL_CASH})
        deadline = time.monotonic() + FIRST_PLAN_WAIT_SECONDS
        while planner_first_plan() is FirstPlan.NO_CANDLES and time.monotonic() < deadline:
            time.sleep(1)
    except Exception:
        logger.exception("embedded: the first plan could not be made")
    finally:
        connection.close()


def _run_beat() -> None:
    """Celery's own beat service with the configured scheduler (django-celery-beat's
    DatabaseScheduler: the schedules ops edit in the admin), as ``celery beat`` runs it. Due tasks
    run eagerly here, in this thread (CELERY_TASK_ALWAYS_EAGER on the embedded default).

    Not ``celery.beat.EmbeddedService``: it builds its Service without a scheduler class, so it
    falls back to the file-based PersistentScheduler with the (empty) static ``beat_schedule`` and
    never reads the database schedules; and its thread dies without a word on an error."""

    close_old_connections()
    try:
        # What a worker does at start: import the apps' tasks modules (autodiscover_tasks). Beat
        # runs a task in-process only if it is registered; else it send_task()s it to the broker,
        # which here is memory:// with no worker: the run would be lost.
        app.loader.import_default_modules()
        Service(app, scheduler_cls=app.conf.beat_scheduler, remote_control=False).start()
    except Exception:
        logger.exception("embedded: celery beat stopped; scheduled jobs no longer run")
    finally:
        connection.close()


def _run_feed() -> None:

    close_old_connections()
    try:
        call_command("run_market_feed", "--no-progress")
    except Exception:
        logger.exception("embedded: the market feed stopped")
    finally:
        connection.close()
