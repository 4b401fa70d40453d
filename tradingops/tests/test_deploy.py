"""Deployment: ``check --deploy`` clean from the environment alone, a Content-Security-Policy, the
API docs without a CDN, and a health check that answers 503 fast when the database hangs."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PRODUCTION_ENV = {
    "DEBUG": "0",
    "SECRET_KEY": "k" * 10 + "Q7v9!x2#Lr8@pM4$wZ6^tB1&nY3*hC5(dF0)gJ-" + "s" * 20,
    "ALLOWED_HOSTS": "ops.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://ops.example.com",
    "SECURE_SSL_REDIRECT": "1",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "1",
    "SECURE_HSTS_PRELOAD": "1",
    "SESSION_COOKIE_SECURE": "1",
    "CSRF_COOKIE_SECURE": "1",
}


def _manage(*args: str, env: dict) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SECURE_", "SESSION_", "CSRF_"))}
    clean.pop("DJANGO_SETTINGS_MODULE", None)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "tradingops.settings", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_passes_with_zero_warnings_from_the_environment():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_the_env_example_production_block_passes_check_deploy():
    """The production example in .env.example, uncommented, is exactly such an environment."""
    lines = (ROOT / ".env.example").read_text().splitlines()
    start = lines.index("# --- Production example (check --deploy: zero warnings) ---")
    env = {}
    for line in lines[start + 1 :]:
        if not line.startswith("# "):
            break
        name, _, value = line[2:].partition("=")
        env[name.strip()] = value.split("  #")[0].strip()
    env["SECRET_KEY"] = PRODUCTION_ENV["SECRET_KEY"]  # the example leaves it to be generated
    assert {"SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE"} <= set(env)
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", ["/", "/api/v1/events", "/admin/login/", "/api/docs/", "/accounts/login/"])
def test_every_page_carries_a_content_security_policy(client_for, path):
    response = client_for("viewer").get(path)
    policy = response.get("Content-Security-Policy", "")
    assert "default-src 'self'" in policy, (path, response.status_code)
    assert "frame-ancestors 'none'" in policy
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy.split("script-src", 1)[1].split(";")[0]


def test_swagger_ui_is_served_from_the_pinned_package(client_for):
    page = client_for("viewer").get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "cdn.jsdelivr.net" not in html
    assert "unpkg.com" not in html
    assert "drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html


def test_health_needs_no_throttle_slot(client, db, settings):
    settings.API_THROTTLE_ANON = "2/min"
    assert [client.get("/api/v1/health").status_code for _ in range(5)] == [200] * 5


@pytest.mark.slow
def test_health_answers_503_fast_when_the_database_hangs(tmp_path):
    """A database that accepts the connection and never answers (a hung server, a full backlog)."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        script = (
            "import django, time; django.setup()\n"
            "from django.test import Client\n"
            "start = time.monotonic(); response = Client().get('/api/v1/health')\n"
            "print(response.status_code, round(time.monotonic() - start, 1))\n"
        )
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tradingops.settings",
            "DEBUG": "1",
            "ALLOWED_HOSTS": "testserver",
            "DATABASE_URL": f"postgres://postgres@127.0.0.1:{port}/nowhere",
            "DATABASE_CONNECT_TIMEOUT": "2",
        }
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
        )
        elapsed = time.monotonic() - started
    status, seconds = result.stdout.split()[-2:]
    assert status == "503", result.stdout + result.stderr
    assert float(seconds) <= 5, f"health took {seconds} s"
    assert elapsed < 30
