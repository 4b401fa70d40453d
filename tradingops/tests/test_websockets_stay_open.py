"""On the Redis channel layer, through a real uvicorn, a socket on every route stays open.

Written for the core layer (channels_redis.core.RedisChannelLayer): redis-py 8 read with a 5 s
socket timeout by default while that layer waited for a frame with a 5 s blocking BZPOPMIN, so the
consumer died with ``TimeoutError`` and every socket closed (1006) about 5 s after it opened
(django/channels_redis#422). Kept for the Pub/Sub layer now in the settings: its receiver polls
Redis every 0.1 s, and a minute of quiet must still leave every socket open and subscribed.
"""

import asyncio
import json
import time

import pytest
import websockets
from channels.db import database_sync_to_async

from backtests.models import BacktestRun
from events.services import emit

pytestmark = [pytest.mark.slow, pytest.mark.timeout(150)]

OPEN_FOR_S = 60
FILL = {"fill_id": "f1", "order_id": "o1", "symbol": "SOL-USDT", "side": "buy", "qty": "1", "price": "140"}


async def _held_open(url: str, origin: str, cookie: str, then=None) -> str | None:
    """Hold the socket for OPEN_FOR_S, reading whatever arrives, then run ``then`` on it; what went
    wrong (the close that ended it early, or what ``then`` says), if anything."""
    async with websockets.connect(url, origin=origin, additional_headers={"Cookie": cookie}) as socket:
        opened = time.monotonic()
        while (left := opened + OPEN_FOR_S - time.monotonic()) > 0:
            try:
                await asyncio.wait_for(socket.recv(), left)
            except TimeoutError:
                break
            except websockets.ConnectionClosed as exc:
                code = exc.rcvd.code if exc.rcvd else "1006, no close frame"
                return f"closed after {time.monotonic() - opened:.1f} s ({code})"
        return await then(socket) if then else None


async def _receives_a_new_fill(socket) -> str | None:
    """Not merely open: still subscribed, so an event emitted a minute later reaches it."""
    event = await database_sync_to_async(emit)("fill", FILL, source="agent:execution")
    frame = json.loads(await asyncio.wait_for(socket.recv(), 5))
    if [e["event_id"] for e in frame.get("events", [])] != [str(event.event_id)]:
        return f"after {OPEN_FOR_S} s the new fill did not arrive: {frame}"
    return None


async def test_a_socket_on_each_route_stays_open_for_a_minute_on_the_redis_layer(asgi_server, users, client):
    def setup():
        client.force_login(users["viewer"])
        run = BacktestRun.objects.create(name="watched", config={"symbols": ["X"]}, candles_total=5)
        return f"sessionid={client.cookies['sessionid'].value}", run

    cookie, run = await database_sync_to_async(setup)()
    origin = f"http://{asgi_server}"
    routes = {
        "/ws/events/?types=fill": _receives_a_new_fill,
        "/ws/live/": None,
        "/ws/market/": None,
        f"/ws/backtests/{run.pk}/": None,
        "/ws/wallets/": None,
    }

    outcomes = await asyncio.gather(
        *(_held_open(f"ws://{asgi_server}{route}", origin, cookie, then) for route, then in routes.items())
    )

    assert dict(zip(routes, outcomes, strict=True)) == dict.fromkeys(routes)
