"""Test settings: real Postgres and Redis on loopback unless the environment says otherwise."""

import os

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/tradingops")
# Not database 0, where .env.example points workers: a worker started from .env must never run the
# tasks the tests enqueue (conftest also purges the queues when the session ends).
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
os.environ.setdefault("SECRET_KEY", "test-only-secret-key")
os.environ.setdefault("CHANNELS_PREFIX", f"asgi-test-{os.getpid()}")

from tradingops.settings import *  # noqa: E402, F403

# Threads made by database_sync_to_async must not keep connections open past a test.
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# The real server in browser tests serves static files from the app folders: no collectstatic needed.
WHITENOISE_USE_FINDERS = True
# Throttles off by default in tests (one process runs thousands of requests); the throttle tests
# set their own rates. Login lockout stays as configured.
API_THROTTLE_USER = ""
API_THROTTLE_ANON = ""
# One test process makes every request from 127.0.0.1: the lockout tests set their own limits.
LOGIN_FAILURES_PER_ACCOUNT = 1000
LOGIN_FAILURES_PER_IP = 10_000
# Every record reaches the log: tests assert on failures logged by other tests a moment earlier.
LOGGING["filters"]["repeats"]["interval"] = 0.0  # noqa: F405
