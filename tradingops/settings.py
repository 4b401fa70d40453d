"""TradingOps settings: one module, every value from the environment (see .env.example).

With no DATABASE_URL and no REDIS_URL the project runs embedded: SQLite, the in-memory channel
layer and Celery tasks executed in-process. Tests and production set both.
"""

from decimal import Decimal
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# --- Core -------------------------------------------------------------------------------------
DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "insecure-development-key-only-for-debug"  # noqa: S105 - never used with DEBUG off
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "channels",
    "django_celery_beat",
    "tradingops",
    "events",
    "market",
    "agents",
    "backtests",
    "wallets",
    "dashboard",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "tradingops.urls"
ASGI_APPLICATION = "tradingops.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "dashboard.context_processors.dashboard",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------------------------
# ATOMIC_REQUESTS stays off: entry-point services own their (durable) transactions.
# The embedded default's SQLite file (SQLITE_PATH moves it, e.g. for the embedded system test).
SQLITE_PATH = env.str("SQLITE_PATH", default="") or BASE_DIR / "db.sqlite3"
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{SQLITE_PATH}")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded default writes from the web, feed and beat threads: WAL and immediate
    # transactions make writers wait their turn instead of failing with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
# The web process on Postgres: set DATABASE_POOL=true. Under ASGI every request runs in a thread
# of its own, so CONN_MAX_AGE cannot keep a connection: each request would connect anew (~10 ms).
# A psycopg pool hands connections across threads. Not for forking processes (Celery prefork).
if env.bool("DATABASE_POOL", default=False) and "postgresql" in DATABASES["default"]["ENGINE"]:
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # Django's pool requires it; the pool keeps the connections
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 2,
        "max_size": env.int("DATABASE_POOL_MAX_SIZE", default=10),
        "timeout": 10,
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# The read models' covering indexes (INCLUDE columns) are a Postgres speed-up; SQLite, the embedded
# default, builds them as plain indexes, which is what we want there, so its warning is noise.
SILENCED_SYSTEM_CHECKS = ["models.W040"]

# --- Redis: channel layer, Celery broker, cache -------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
EMBEDDED = not REDIS_URL

if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            # Redis Pub/Sub: a group message reaches each web process once and is fanned out to its
            # sockets in memory. The list-based core layer (channels_redis.core.RedisChannelLayer) made
            # four Redis round trips per message per socket: 50 sockets at 200 events/s had p95 694 ms
            # against 138.5 ms here (BENCHMARKS.md, dashboard fan-out). Pub/Sub keeps nothing: what is
            # published while Redis is down, or before the layer has subscribed again, is gone, so the
            # event stream reconciles each socket with the store (events.consumers, EVENTS_WS_RECONCILE_S).
            # Pub/Sub channels are per server, not per database number: deployments sharing a Redis
            # server need different CHANNELS_PREFIX values.
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": env.str("CHANNELS_PREFIX", default="asgi")},
        }
    }
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Celery -------------------------------------------------------------------------------------
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = EMBEDDED
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    # its own queue (exact names win over the patterns): a worker busy or frozen on backtests cannot starve it
    "backtests.tasks.backtest_reap_task": {"queue": "maintenance"},
    "agents.tasks.*": {"queue": "agents"},
    "backtests.tasks.*": {"queue": "backtests"},
}
# A running backtest whose worker has not written a heartbeat for this long is marked failed by the reaper.
BACKTESTS_STALE_AFTER_S = env.int("BACKTESTS_STALE_AFTER_S", default=120)
# How often (in bars) the backtest engine reports progress, and the least time between two progress
# writes/pushes (0.25 s: at most 4 a second).
BACKTESTS_PROGRESS_EVERY_BARS = env.int("BACKTESTS_PROGRESS_EVERY_BARS", default=20_000)
BACKTESTS_PROGRESS_INTERVAL_S = env.float("BACKTESTS_PROGRESS_INTERVAL_S", default=0.25)
CELERY_TASK_TIME_LIMIT = 30 * 60
# Must exceed the longest task time limit, or acks_late tasks are redelivered while still running.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 2 * CELERY_TASK_TIME_LIMIT}
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Beat writes each task's last run to the database after every run it sends (default: every 3
# minutes), so that "next run" on the dashboard, computed from it, is never behind beat's own.
CELERY_BEAT_SYNC_EVERY = 1
CELERY_TIMEZONE = "UTC"
# Every queue a route names, declared rather than created on first use: `celery purge`
# (app.control.purge) then empties them all, not only the default queue.
_routed = [route["queue"] for route in CELERY_TASK_ROUTES.values()]
CELERY_TASK_QUEUES = [Queue(name) for name in dict.fromkeys([CELERY_TASK_DEFAULT_QUEUE, *_routed])]

# --- Auth ---------------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"

# --- REST API -----------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: an anonymous request then gets 401 with WWW-Authenticate, not a bare 403.
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["tradingops.api.permissions.IsViewer"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "tradingops.api.pagination.NewestFirstCursorPagination",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "tradingops.api.exceptions.exception_handler",
    "PAGE_SIZE": 50,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "TradingOps API",
    "DESCRIPTION": "Control plane for automated crypto trading agents.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["tradingops.api.permissions.IsViewer"],
    # Several models have a "kind", "side" or "status" with different choices: name each enum.
    "ENUM_NAME_OVERRIDES": {
        "WalletKindEnum": "wallets.models.Wallet.Kind",
        "WalletStatusEnum": "wallets.models.Wallet.Status",
        "LedgerEntryKindEnum": "wallets.models.LedgerEntry.Kind",
        "ReconciliationStatusEnum": "wallets.models.ReconciliationRun.Status",
        "OrderStatusEnum": "agents.models.Order.Status",
        "RiskAllocationStatusEnum": "agents.models.RiskAllocation.Status",
        "BacktestStatusEnum": "backtests.models.RunStatus",
        "OrderSideEnum": "agents.models.SIDES",
    },
}

# --- Domain -------------------------------------------------------------------------------------
# A run counts as "running" while its last event is at most this many seconds old.
RUN_ACTIVE_WINDOW_SECONDS = env.int("RUN_ACTIVE_WINDOW_SECONDS", default=300)
# The mode recorded for runs until the agents' runtime control provides one.
TRADING_MODE = env.str("TRADING_MODE", default="paper")

# Every /ws/events/ socket checks the store this often for events it should have received and did
# not (published while Redis was down or restarting): it sends them late rather than never; every
# page's socket reads the top bar again as often. Two primary-key reads each per socket per period;
# 0 turns both off.
EVENTS_WS_RECONCILE_S = env.float("EVENTS_WS_RECONCILE_S", default=5.0)

# --- Wallets ------------------------------------------------------------------------------------
# Drift is within threshold when |exchange - ledger| <= ABS + REL * |ledger| (numpy.isclose's rule).
WALLETS_DRIFT_ABS = Decimal(env.str("WALLETS_DRIFT_ABS", default="0.00000001"))
WALLETS_DRIFT_REL = Decimal(env.str("WALLETS_DRIFT_REL", default="0.0001"))
# Seconds one exchange's fetch_balance may take before its wallets are marked ``error``.
WALLETS_EXCHANGE_TIMEOUT = env.float("WALLETS_EXCHANGE_TIMEOUT", default=10.0)
WALLETS_EXCHANGE_CONCURRENCY = env.int("WALLETS_EXCHANGE_CONCURRENCY", default=8)
# A run still "running" after this many seconds died; the next run marks it failed.
WALLETS_RECONCILE_STALE_SECONDS = env.int("WALLETS_RECONCILE_STALE_SECONDS", default=900)
# Drift alerts by e-mail (Django's EMAIL_* settings) go to these addresses; empty = no e-mail.
WALLETS_ALERT_EMAILS = env.list("WALLETS_ALERT_EMAILS", default=[])
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="tradingops@localhost")

# --- Agents and live trading -------------------------------------------------------------------
PAPER_INITIAL_CASH = env.str("PAPER_INITIAL_CASH", default="100000")  # quote currency of the paper account
PAPER_WALLET_NAME = env.str("PAPER_WALLET_NAME", default="paper")  # the wallet paper fills are booked in
# Live mode needs all three: this flag, exchange credentials, and an admin typing the word below.
LIVE_TRADING_ALLOWED = env.bool("LIVE_TRADING_ALLOWED", default=False)
LIVE_CONFIRMATION_WORD = "LIVE"
EXCHANGE_ID = env.str("EXCHANGE_ID", default="binance")  # any exchange ccxt supports
EXCHANGE_API_KEY = env.str("EXCHANGE_API_KEY", default="")
EXCHANGE_API_SECRET = env.str("EXCHANGE_API_SECRET", default="")
# Optional LLM for the strategy planner: any OpenAI-compatible chat completions API.
LLM_API_URL = env.str("LLM_API_URL", default="")  # e.g. http://127.0.0.1:8080/v1
LLM_MODEL = env.str("LLM_MODEL", default="")
LLM_API_KEY = env.str("LLM_API_KEY", default="")
LLM_TIMEOUT_SECONDS = env.float("LLM_TIMEOUT_SECONDS", default=20.0)
AGENT_TIMEFRAME = env.str("AGENT_TIMEFRAME", default="1h")  # the candles the agents trade on
# What the judge may apply by itself: lower the risk multiplier, retire a plan (and ask for a new one).
JUDGE_APPLIES = env.list("JUDGE_APPLIES", default=["lower_risk_multiplier", "retire_plan"])

# --- Market data (market app) ---------------------------------------------------------------------
# Feed source for `manage.py run_market_feed`: replay (shipped files, no network), synthetic, exchange.
MARKET_SOURCE = env.str("MARKET_SOURCE", default="replay")
MARKET_SYMBOLS = env.list("MARKET_SYMBOLS", default=["SOL-USDT"])
MARKET_REPLAY_SPEED = env.float("MARKET_REPLAY_SPEED", default=3600.0)  # market seconds per wall second
MARKET_REPLAY_LOOP = env.bool("MARKET_REPLAY_LOOP", default=False)
MARKET_SYNTHETIC_SEED = env.int("MARKET_SYNTHETIC_SEED", default=7)
MARKET_SYNTHETIC_TICKS_PER_SECOND = env.float("MARKET_SYNTHETIC_TICKS_PER_SECOND", default=2.0)
MARKET_EXCHANGE_POLL_SECONDS = env.float("MARKET_EXCHANGE_POLL_SECONDS", default=2.0)
MARKET_EXCHANGE_TIMEOUT_MS = env.int("MARKET_EXCHANGE_TIMEOUT_MS", default=10000)
MARKET_FEED_FLUSH_SECONDS = env.float("MARKET_FEED_FLUSH_SECONDS", default=0.2)
MARKET_CANDLES_MAX_LIMIT = env.int("MARKET_CANDLES_MAX_LIMIT", default=5000)

# --- I18N / time --------------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files -------------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]

# --- Logging ------------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # While Redis is down these log the same failure every second or tick: once a minute, with a count.
    "filters": {"repeats": {"()": "tradingops.logs.RepeatsSuppressed", "interval": 60.0}},
    "loggers": {
        # ccxt logs every request's headers, API key included, at DEBUG: never below INFO.
        "ccxt": {"level": "INFO"},
        "channels_redis.pubsub": {"filters": ["repeats"]},
        "events.realtime": {"filters": ["repeats"]},
    },
}

# --- Hardening: input limits -------------------------------------------------------------------
# JSON bodies: NUL characters and nesting past 32 levels are refused by name (tradingops/api/parsers.py).
REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"] = [
    "tradingops.api.parsers.SafeJSONParser",
    "rest_framework.parsers.FormParser",
    "rest_framework.parsers.MultiPartParser",
]

# --- Hardening: the transactional outbox (tradingops/outbox.py) -----------------------------------
# Pending messages older than this are sent by the sweeper (beat, and every worker start).
OUTBOX_SWEEP_AFTER_S = env.float("OUTBOX_SWEEP_AFTER_S", default=10.0)

# --- Hardening: throttling and login lockout ------------------------------------------------------
# DRF throttles (tradingops/api/throttles.py): "N/second|minute|hour|day"; empty turns one off.
API_THROTTLE_USER = env.str("API_THROTTLE_USER", default="1200/min")  # per authenticated user
API_THROTTLE_ANON = env.str("API_THROTTLE_ANON", default="60/min")  # per client address, no credentials
REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"] = [
    "tradingops.api.throttles.UserThrottle",
    "tradingops.api.throttles.AnonThrottle",
]
# Login lockout (tradingops/lockout.py): failures per username and per address, then 429 for a while.
LOGIN_FAILURES_PER_ACCOUNT = env.int("LOGIN_FAILURES_PER_ACCOUNT", default=5)
LOGIN_FAILURES_PER_IP = env.int("LOGIN_FAILURES_PER_IP", default=20)
LOGIN_LOCKOUT_SECONDS = env.int("LOGIN_LOCKOUT_SECONDS", default=900)
AUTHENTICATION_BACKENDS = ["tradingops.lockout.LockoutModelBackend"]
MIDDLEWARE.insert(MIDDLEWARE.index("django.contrib.sessions.middleware.SessionMiddleware"),
                  "tradingops.lockout.LoginLockoutMiddleware")  # fmt: skip

# --- Hardening: deployment (every `manage.py check --deploy` setting from the environment) --------
# Behind a TLS-terminating proxy: SECURE_PROXY_SSL_HEADER=1 trusts its X-Forwarded-Proto header.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SECURE_REDIRECT_EXEMPT = [r"^api/v1/health$"]  # load balancers probe over plain HTTP
if env.bool("SECURE_PROXY_SSL_HEADER", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=False)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=False)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True

# Content-Security-Policy (django-csp): scripts only from this site (the dashboard, admin, browsable
# API and Swagger UI have no inline script); styles may be inline (Swagger UI, the charts). Set
# CSP_REPORT_ONLY=1 to try a change without enforcing it.
INSTALLED_APPS += ["csp", "drf_spectacular_sidecar"]
MIDDLEWARE.insert(MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1, "csp.middleware.CSPMiddleware")
_CSP = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],  # CSP3: 'self' covers ws:// and wss:// of this host
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
if env.bool("CSP_REPORT_ONLY", default=False):
    CONTENT_SECURITY_POLICY_REPORT_ONLY = _CSP
else:
    CONTENT_SECURITY_POLICY = _CSP

# Swagger UI and ReDoc from the pinned drf-spectacular-sidecar package, served as our static files.
SPECTACULAR_SETTINGS["SWAGGER_UI_DIST"] = "SIDECAR"
SPECTACULAR_SETTINGS["SWAGGER_UI_FAVICON_HREF"] = "SIDECAR"
SPECTACULAR_SETTINGS["REDOC_DIST"] = "SIDECAR"

# A database that does not answer must not hold a request for the pool's 10 s: connecting gives up
# after DATABASE_CONNECT_TIMEOUT seconds (libpq's connect_timeout covers the whole handshake), and
# the health check answers 503.
if "postgresql" in DATABASES["default"]["ENGINE"]:
    DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = env.int("DATABASE_CONNECT_TIMEOUT", default=3)
    if "pool" in DATABASES["default"]["OPTIONS"]:
        DATABASES["default"]["OPTIONS"]["pool"]["timeout"] = env.float("DATABASE_POOL_TIMEOUT", default=3.0)
# Wrong API tokens count like wrong passwords, per address (tradingops/api/authentication.py).
REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"] = [
    "tradingops.api.authentication.LockoutTokenAuthentication" if name.endswith(".TokenAuthentication") else name
    for name in REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"]
]
# Unknown query parameters are a 400 naming them on every API operation; what each accepts is what
# its OpenAPI schema documents (tradingops/api/query_params.py).
MIDDLEWARE.append("tradingops.api.query_params.RefuseUnknownQueryParameters")
# Every operation's schema documents the error answers (tradingops/api/schema.py).
SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"] = [
    "drf_spectacular.hooks.postprocess_schema_enums",
    "tradingops.api.schema.add_error_responses",
]
