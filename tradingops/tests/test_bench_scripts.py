"""The benchmark scripts start: BENCHMARKS.md's commands must run as written (a hoisted model import before
``django.setup()`` broke two of them once, and nothing noticed). ``--help`` loads each script's imports and
its Django set-up without touching a database. bench/agents.py and bench/topology.py create and migrate
their database on import, before their arguments are read, so they are left out."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ["backtest", "dashboard", "engine", "house", "ingest", "market", "shadow", "wallets"]


@pytest.mark.parametrize("script", SCRIPTS)
def test_bench_script_starts(script):
    env = {
        "PATH": "/usr/bin:/bin",
        # never reached by --help: a port nothing listens on, so a script that did connect would fail here
        "DATABASE_URL": "postgres://postgres@127.0.0.1:1/to_bench_dash",
        "REDIS_URL": "redis://127.0.0.1:1/0",
    }
    done = subprocess.run(  # noqa: S603 - our own scripts, fixed arguments
        [sys.executable, f"bench/{script}.py", "--help"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("usage: ")
