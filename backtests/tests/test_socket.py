"""/ws/backtests/{id}/ refuses anonymous users and unknown runs, sends the run's state on connect, and its end
even when the frame that said so was lost."""

import asyncio
import json

import pytest
import websockets
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from backtests.consumers import CLOSE_NOT_FOUND, BacktestProgressConsumer
from backtests.models import BacktestRun
from events.consumers import CLOSE_UNAUTHENTICATED


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


@pytest.mark.slow
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


@pytest.mark.django_db(transaction=True)
async def test_a_run_that_ends_while_its_frame_is_lost_still_shows_as_ended(users, settings):
    """A Redis restart loses the last frame (the Pub/Sub layer keeps nothing): until the run has finished
    the socket reads it again and sends it once its status changed."""
    settings.EVENTS_WS_RECONCILE_S = 0.2
    run = await database_sync_to_async(BacktestRun.objects.create)(
        name="ends unheard", config={"symbols": ["X"]}, candles_total=5, status="running"
    )
    communicator = WebsocketCommunicator(BacktestProgressConsumer.as_asgi(), f"/ws/backtests/{run.pk}/")
    communicator.scope["user"] = users["viewer"]
    communicator.scope["url_route"] = {"kwargs": {"run_id": str(run.pk)}}
    assert (await communicator.connect())[0]
    assert (await communicator.receive_json_from())["status"] == "running"

    await database_sync_to_async(BacktestRun.objects.filter(pk=run.pk).update)(status="completed", candles_processed=5)
    frame = await communicator.receive_json_from(timeout=3)  # nothing was published: read from the store
    assert (frame["status"], frame["candles_processed"]) == ("completed", 5)
    assert await communicator.receive_nothing(timeout=0.8)  # once, and no more reads after the end
    await communicator.disconnect()
