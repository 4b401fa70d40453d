"""The top bar's protocol: a page's socket (``?header=1``) gets the header after its own first
frames, and again after every change of mode, kill switch or run control."""

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from agents.consumers import LiveTradingConsumer
from agents.services import LIVE_RUN_ID, kill_switch_set
from events.consumers import EventStreamConsumer
from events.services import emit
from market.consumers import MarketStreamConsumer
from tradingops.consumers import HeaderConsumer

pytestmark = pytest.mark.django_db(transaction=True)


async def _open(consumer, path, user):
    communicator = WebsocketCommunicator(consumer.as_asgi(), path)
    communicator.scope["user"] = user
    assert (await communicator.connect())[0]
    return communicator


async def _next_header(communicator) -> dict:
    for _ in range(10):
        frame = await communicator.receive_json_from(timeout=3)
        if frame["type"] == "header":
            return frame
    raise AssertionError("no header frame")


@pytest.mark.parametrize(
    ("consumer", "path"),
    [
        (EventStreamConsumer, "/ws/events/?header=1"),
        (LiveTradingConsumer, "/ws/live/?header=1"),
        (MarketStreamConsumer, "/ws/market/?header=1"),
        (HeaderConsumer, "/ws/header/"),
    ],
)
async def test_every_page_socket_carries_the_header_and_its_changes(users, consumer, path):
    communicator = await _open(consumer, path, users["viewer"])
    first = await _next_header(communicator)
    assert (first["mode"], first["kill_switch"], first["trading"]) == ("paper", False, "running")

    await database_sync_to_async(kill_switch_set)(user=users["admin"], engaged=True, reason="drill")
    assert (await _next_header(communicator))["kill_switch"] is True

    await database_sync_to_async(emit)(
        "run_control", {"action": "pause", "reason": "news"}, source="user:ada", run_id=LIVE_RUN_ID
    )
    assert (await _next_header(communicator))["trading"] == "paused"
    await communicator.disconnect()


async def test_without_the_header_flag_a_socket_sends_only_its_own_frames(users):
    communicator = await _open(EventStreamConsumer, "/ws/events/?types=fill", users["viewer"])
    assert (await communicator.receive_json_from())["type"] == "subscribed"
    await database_sync_to_async(kill_switch_set)(user=users["admin"], engaged=True, reason="drill")
    assert await communicator.receive_nothing(timeout=0.5)
    await communicator.disconnect()


def test_every_page_renders_the_header_from_the_same_state(users, client):
    client.force_login(users["viewer"])
    body = client.get("/backtests/").content.decode()
    assert 'id="trading" class="badge trading-running"' in body
    assert "Kill switch: <strong>off</strong>" in body
