"""Health of the parts the web process depends on. Celery's ping is cached briefly, since a
load balancer polls every few seconds and a ping waits for replies."""

import logging

import redis
from django.conf import settings
from django.core.cache import cache
from django.db import connection

from tradingops.celery import app

logger = logging.getLogger(__name__)

CELERY_PING_CACHE_SECONDS = 10


def _database() -> dict:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return {"ok": True}
    except Exception as exc:
        logger.warning("health: database check failed: %s", exc)
        return {"ok": False, "error": exc.__class__.__name__}


def _redis() -> dict:
    try:
        redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1).ping()
        return {"ok": True}
    except Exception as exc:
        logger.warning("health: redis check failed: %s", exc)
        return {"ok": False, "error": exc.__class__.__name__}


def _celery() -> dict:
    cached = cache.get("health:celery")
    if cached is not None:
        return cached

    try:
        replies = app.control.ping(timeout=0.5)
        workers = sorted(name for reply in replies for name in reply)
        result = {"ok": bool(workers), "workers": workers}
    except Exception as exc:
        logger.warning("health: celery ping failed: %s", exc)
        result = {"ok": False, "workers": [], "error": exc.__class__.__name__}
    cache.set("health:celery", result, CELERY_PING_CACHE_SECONDS)
    return result


def system_health(*, embedded: bool) -> dict:
    database = _database()
    if embedded:
        parts = {"redis": {"ok": True, "mode": "embedded"}, "celery": {"ok": True, "mode": "in-process"}}
    else:
        redis_status = _redis()
        celery_status = _celery() if redis_status["ok"] else {"ok": False, "workers": [], "error": "broker down"}
        parts = {"redis": redis_status, "celery": celery_status}
    healthy = database["ok"] and all(part["ok"] for part in parts.values())
    status = "ok" if healthy else ("degraded" if database["ok"] else "down")
    return {"status": status, "database": database, **parts}
