"""/ws/backtests/{id}/ refuses anonymous users and unknown runs, and sends the run's state on connect."""

import asyncio
import json

import pytest
import websockets
from channels.db import database_sync_to_async

from backtests.consumers import CLOSE_NOT_FOUND
from backtests.models import BacktestRun
from events.consumers import CLOSE_UNAUTHENTICATED

pytestmark = pytest.mark.slow


async def _first_frame_and_close(url, origin, cookie=None):
    headers = {"Cookie": cookie} if cookie else {}
    async with websockets.connect(url, origin=origin, additional_headers=headers) as socket:
        frame = json.loads(await asyncio.wait_for(socket.recv(), 5))
        try:
            await asyncio.wait_for(socket.recv(), 5)
            closed = None
        except websockets.ConnectionClosed as exc:
            closed = exc.rcvd.code
    return frame, closed


async def test_anonymous_and_unknown_runs_are_refused_and_a_known_run_is_sent(asgi_server, users, client):
    def setup():
        client.force_login(users["viewer"])
        run = BacktestRun.objects.create(name="shown", config={"symbols": ["X"]}, candles_total=5)
        return f"sessionid={client.cookies['sessionid'].value}", run

    cookie, run = await database_sync_to_async(setup)()
    origin = f"http://{asgi_server}"
    frame, code = await _first_frame_and_close(f"ws://{asgi_server}/ws/backtests/{run.pk}/", origin)
    assert frame["code"] == code == CLOSE_UNAUTHENTICATED

    unknown = "00000000-0000-0000-0000-000000000000"
    frame, code = await _first_frame_and_close(f"ws://{asgi_server}/ws/backtests/{unknown}/", origin, cookie)
    assert frame["code"] == code == CLOSE_NOT_FOUND

    async with websockets.connect(
        f"ws://{asgi_server}/ws/backtests/{run.pk}/", origin=origin, additional_headers={"Cookie": cookie}
    ) as socket:
        frame = json.loads(await asyncio.wait_for(socket.recv(), 5))
    assert frame == {
        "type": "progress", "id": str(run.pk), "status": "queued", "candles_total": 5, "candles_processed": 0,
        "error": "", "heartbeat_at": None,
    }  # fmt: skip
