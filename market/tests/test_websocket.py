"""/ws/market/: a feed process publishes over the Redis channel layer to a real WebSocket client."""

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import websockets
from channels.db import database_sync_to_async
from django.conf import settings
from django.db import connection

from market.consumers import CLOSE_BAD_SUBSCRIPTION, CLOSE_UNAUTHENTICATED
from market.models import Tick

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _session_cookie(client, user) -> str:
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


def _feed_process(*args: str) -> subprocess.Popen:
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tradingops.tests.settings",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        "CHANNELS_PREFIX": settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"],
    }
    return subprocess.Popen(
        [sys.executable, "manage.py", "run_market_feed", "--no-progress", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


async def _frames_until(socket, predicate, deadline_seconds: float) -> list[dict]:
    frames = []
    deadline = time.monotonic() + deadline_seconds
    while time.monotonic() < deadline:
        try:
            frame = json.loads(await asyncio.wait_for(socket.recv(), max(deadline - time.monotonic(), 0.01)))
        except TimeoutError:
            break
        frames.append(frame)
        if predicate(frames):
            break
    return frames


async def test_feed_process_publishes_ticks_and_candles_to_a_browser(asgi_server, instruments, users, client):
    cookie = await database_sync_to_async(_session_cookie)(client, users["viewer"])
    async with websockets.connect(
        f"ws://{asgi_server}/ws/market/?symbols=BTC-USD",
        origin=f"http://{asgi_server}",
        additional_headers={"Cookie": cookie},
    ) as socket:
        subscribed = json.loads(await asyncio.wait_for(socket.recv(), 5))
        assert subscribed == {"type": "subscribed", "symbols": ["BTC-USD"]}

        feed = await asyncio.to_thread(
            _feed_process,
            "--source",
            "synthetic",
            "--symbols",
            "BTC-USD,ETH-USD",
            "--speed",
            "0",
            "--max-updates",
            "400",
        )
        try:
            frames = await _frames_until(
                socket, lambda fs: sum(len(f["ticks"]) for f in fs) >= 200, deadline_seconds=60
            )
        finally:
            out, err = await asyncio.to_thread(feed.communicate, timeout=60)
        assert feed.returncode == 0, err.decode()

    ticks = [t for f in frames for t in f["ticks"]]
    assert {f["type"] for f in frames} == {"market"}
    assert {f["symbol"] for f in frames} == {"BTC-USD"}  # ETH-USD was not subscribed
    assert len(ticks) == 200  # 400 updates over 2 symbols, every BTC-USD tick delivered
    stored = await database_sync_to_async(
        lambda: [
            str(p)
            for p in Tick.objects.filter(instrument__symbol="BTC-USD").order_by("ts").values_list("price", flat=True)
        ]
    )()
    assert [t["price"] for t in ticks] == [p.rstrip("0").rstrip(".") if "." in p else p for p in stored]
    candles = [c for f in frames for c in f["candles"]]
    assert {c["timeframe"] for c in candles} >= {"1m", "5m", "15m", "1h", "4h", "1d"}
    assert any(c["closed"] for c in candles if c["timeframe"] == "1m")


async def test_anonymous_socket_is_closed_with_4401(asgi_server):
    async with websockets.connect(f"ws://{asgi_server}/ws/market/", origin=f"http://{asgi_server}") as socket:
        message = json.loads(await asyncio.wait_for(socket.recv(), 5))
        assert message["code"] == CLOSE_UNAUTHENTICATED
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(socket.recv(), 5)
    assert closed.value.rcvd.code == CLOSE_UNAUTHENTICATED


async def test_unknown_symbol_is_refused_naming_it(asgi_server, instruments, users, client):
    cookie = await database_sync_to_async(_session_cookie)(client, users["viewer"])
    async with websockets.connect(
        f"ws://{asgi_server}/ws/market/?symbols=BTC-USD,DOGE-USD",
        origin=f"http://{asgi_server}",
        additional_headers={"Cookie": cookie},
    ) as socket:
        message = json.loads(await asyncio.wait_for(socket.recv(), 5))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(socket.recv(), 5)
    assert message == {"type": "error", "code": 4400, "errors": {"symbols": ["Unknown symbols: DOGE-USD."]}}
    assert closed.value.rcvd.code == CLOSE_BAD_SUBSCRIPTION
