"""``cp .env.example .env`` gives working settings, with the values the file shows.

django-environ keeps an inline ``# comment`` as part of the value: ``CONN_MAX_AGE=60  # seconds``
crashed every process, and where it did not crash ``SECRET_KEY`` became the comment's text.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENV_EXAMPLE = ROOT / ".env.example"

# Run in a copy of the project whose .env is a verbatim copy of .env.example, with nothing from the
# test environment, so the settings read exactly what a user who copied the file gets.
LOAD = """
import json, os, django
os.environ["DJANGO_SETTINGS_MODULE"] = "tradingops.settings"
django.setup()
from django.conf import settings as s
print(json.dumps({
    "DEBUG": s.DEBUG, "SECRET_KEY": s.SECRET_KEY, "ALLOWED_HOSTS": s.ALLOWED_HOSTS,
    "CSRF_TRUSTED_ORIGINS": s.CSRF_TRUSTED_ORIGINS, "DATABASE": s.DATABASES["default"]["NAME"],
    "CONN_MAX_AGE": s.DATABASES["default"]["CONN_MAX_AGE"], "REDIS_URL": s.REDIS_URL,
    "CHANNEL_LAYER": s.CHANNEL_LAYERS["default"]["BACKEND"], "EVENTS_WS_RECONCILE_S": s.EVENTS_WS_RECONCILE_S,
    "PAPER_INITIAL_CASH": s.PAPER_INITIAL_CASH, "LIVE_TRADING_ALLOWED": s.LIVE_TRADING_ALLOWED,
    "JUDGE_APPLIES": s.JUDGE_APPLIES, "WALLETS_ALERT_EMAILS": s.WALLETS_ALERT_EMAILS,
    "MARKET_SOURCE": s.MARKET_SOURCE, "MARKET_REPLAY_SPEED": s.MARKET_REPLAY_SPEED,
    "BACKTESTS_PROGRESS_INTERVAL_S": s.BACKTESTS_PROGRESS_INTERVAL_S,
}))
"""


def _variables() -> dict[str, str]:
    lines = ENV_EXAMPLE.read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def test_settings_load_from_a_verbatim_copy_of_env_example(tmp_path):
    for package in ("tradingops", "events", "market", "agents", "backtests", "wallets", "dashboard"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("tests", "__pycache__"))
    shutil.copy(ENV_EXAMPLE, tmp_path / ".env")
    env = {key: value for key, value in os.environ.items() if key not in _variables()}
    env.pop("DJANGO_SETTINGS_MODULE", None)

    result = subprocess.run(
        [sys.executable, "-c", LOAD], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False
    )

    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout.splitlines()[-1])
    assert loaded == {
        "DEBUG": True,
        "SECRET_KEY": "insecure-development-key-only-for-debug",
        "ALLOWED_HOSTS": ["localhost", "127.0.0.1"],
        "CSRF_TRUSTED_ORIGINS": [],
        "DATABASE": "tradingops",
        "CONN_MAX_AGE": 60,
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "CHANNEL_LAYER": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "EVENTS_WS_RECONCILE_S": 5.0,
        "PAPER_INITIAL_CASH": "100000",
        "LIVE_TRADING_ALLOWED": False,
        "JUDGE_APPLIES": ["lower_risk_multiplier", "retire_plan"],
        "WALLETS_ALERT_EMAILS": [],
        "MARKET_SOURCE": "replay",
        "MARKET_REPLAY_SPEED": 3600.0,
        "BACKTESTS_PROGRESS_INTERVAL_S": 0.25,
    }


def test_env_example_has_no_inline_comments_and_documents_every_setting():
    values = _variables()
    assert {key: value for key, value in values.items() if "#" in value or value != value.strip()} == {}
    read = set(re.findall(r'env\.\w+\(\s*"([A-Z_]+)"', (ROOT / "tradingops" / "settings.py").read_text()))
    assert read - set(values) == set()
