"""An open event stream misses nothing across a Redis restart, on the Redis Pub/Sub channel layer.

With the Pub/Sub layer a socket outlives a Redis restart: the web process keeps its sockets and
redis-py subscribes again once Redis is back. What was published meanwhile (while Redis was down,
or in the second before the layer subscribed again) reached nobody; the socket's periodic
reconciliation with the store (events.consumers, EVENTS_WS_RECONCILE_S) sends it late, once.
Everything here is real: our own redis-server, stopped and started, a uvicorn, a WebSocket client.
"""

import asyncio
import json
import time

import pytest
import websockets
from channels.db import database_sync_to_async

from conftest import PRIVATE_REDIS_RECONCILE_S
from events import realtime
from events.services import emit

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

RUN_ID = "redis-restart"


def _emit_notes(label: str, n: int) -> list[int]:
    ids = [
        emit("intent", {"action": "note", "note": f"{label} {i}"}, source="user:test", run_id=RUN_ID).id
        for i in range(n)
    ]
    realtime.flush()  # sent, or failed and logged
    return ids


async def _read(socket, received: list[int], closed: list[str]) -> None:
    try:
        async for raw in socket:
            frame = json.loads(raw)
            if frame["type"] == "events":
                received.extend(event["id"] for event in frame["events"])
    except websockets.ConnectionClosed as exc:
        closed.append(str(exc))


async def _until(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.1)
    return False


async def test_an_open_socket_gets_every_event_emitted_while_redis_restarts(server_on_private_redis, users, client):
    redis, server = server_on_private_redis
    reader = None
    try:

        def login() -> str:
            client.force_login(users["viewer"])
            return f"sessionid={client.cookies['sessionid'].value}"

        cookie = await database_sync_to_async(login)()
        url = f"ws://{server}/ws/events/?run_id={RUN_ID}&after=0"
        async with websockets.connect(url, origin=f"http://{server}", additional_headers={"Cookie": cookie}) as ws:
            assert json.loads(await ws.recv())["type"] == "subscribed"
            received: list[int] = []
            closed: list[str] = []
            reader = asyncio.create_task(_read(ws, received, closed))

            before = await database_sync_to_async(_emit_notes)("before", 5)
            assert await _until(lambda: set(before) <= set(received), 5), (before, received)
            live_before = list(received)

            await asyncio.to_thread(redis.stop)
            during = await database_sync_to_async(_emit_notes)("during", 5)
            await asyncio.sleep(2)  # the server's layer tries to reach Redis meanwhile
            await asyncio.to_thread(redis.start)
            right_after = await database_sync_to_async(_emit_notes)("right after", 5)  # before it subscribes again
            await asyncio.sleep(3)
            later = await database_sync_to_async(_emit_notes)("later", 5)

            emitted = before + during + right_after + later
            caught_up = await _until(lambda: set(emitted) <= set(received), 20)
            await asyncio.sleep(2 * PRIVATE_REDIS_RECONCILE_S + 1)  # anything sent twice would have landed by now

            assert closed == [], "the socket closed during the restart"
            assert caught_up, f"never arrived: {sorted(set(emitted) - set(received))}"
            assert sorted(received) == sorted(emitted), "an event arrived twice (or one not asked for)"
            assert live_before == before
            print(f"arrival order across the restart: {received}")  # noqa: T201
    finally:
        if reader is not None:
            reader.cancel()
