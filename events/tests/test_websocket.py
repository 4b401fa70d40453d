import asyncio
import json

import pytest
import websockets
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.db import transaction

from events import realtime
from events.consumers import CLOSE_FORBIDDEN, CLOSE_UNAUTHENTICATED, FRAME_INTERVAL_SECONDS, EventStreamConsumer
from events.services import emit

FILL = {"fill_id": "f1", "order_id": "o1", "symbol": "SOL-USDT", "side": "buy", "qty": "1", "price": "140"}
pytestmark = pytest.mark.django_db(transaction=True)


async def _connect(user, query=""):
    communicator = WebsocketCommunicator(EventStreamConsumer.as_asgi(), f"/ws/events/{query}")
    communicator.scope["user"] = user
    connected, _ = await communicator.connect()
    assert connected
    return communicator


async def _emit(*args, **kwargs):
    return await database_sync_to_async(emit)(*args, **kwargs)


def _emit_then_roll_back():
    with transaction.atomic():
        emit("fill", {**FILL, "fill_id": "rolled-back"}, source="agent:execution")
        transaction.set_rollback(True)


async def test_committed_event_reaches_a_subscriber_and_rolled_back_one_does_not(users):
    communicator = await _connect(users["viewer"], "?types=fill")
    subscribed = await communicator.receive_json_from()
    assert subscribed["type"] == "subscribed"
    assert subscribed["types"] == ["fill"]

    await database_sync_to_async(_emit_then_roll_back)()
    await _emit("intent", {"action": "note"}, source="user:ada")  # not subscribed to intents
    event = await _emit("fill", FILL, source="agent:execution", run_id="r1")

    frame = await communicator.receive_json_from(timeout=3)
    assert frame["type"] == "events"
    assert [e["event_id"] for e in frame["events"]] == [str(event.event_id)]
    assert frame["events"][0]["payload"]["price"] == "140"
    assert await communicator.receive_nothing(timeout=0.3)
    await communicator.disconnect()


async def test_subscription_by_run_id_only_sees_that_run(users):
    communicator = await _connect(users["viewer"], "?run_id=r2")
    await communicator.receive_json_from()
    await _emit("intent", {"action": "note"}, source="x", run_id="r1")
    wanted = await _emit("intent", {"action": "note"}, source="x", run_id="r2")
    frame = await communicator.receive_json_from(timeout=3)
    assert [e["event_id"] for e in frame["events"]] == [str(wanted.event_id)]
    await communicator.disconnect()


async def test_resubscribe_with_after_replays_what_was_missed_then_streams(users):
    first = await _emit("intent", {"action": "one"}, source="x")
    missed = await _emit("intent", {"action": "two"}, source="x")
    communicator = await _connect(users["viewer"])
    await communicator.receive_json_from()
    await communicator.send_json_to({"action": "subscribe", "types": ["intent"], "after": first.id})
    subscribed = await communicator.receive_json_from()
    assert subscribed["last_id"] == missed.id
    replay = await communicator.receive_json_from()
    assert [e["payload"]["action"] for e in replay["events"]] == ["two"]
    live = await _emit("intent", {"action": "three"}, source="x")
    frame = await communicator.receive_json_from(timeout=3)
    assert [e["id"] for e in frame["events"]] == [live.id]
    await communicator.disconnect()


async def test_bad_subscription_is_answered_with_field_errors(users):
    communicator = await _connect(users["viewer"])
    await communicator.receive_json_from()
    await communicator.send_json_to({"action": "subscribe", "types": ["teleport"], "after": "x"})
    answer = await communicator.receive_json_from()
    assert answer["type"] == "error"
    assert set(answer["errors"]) == {"types", "after"}
    await communicator.disconnect()


async def test_a_user_without_a_role_is_closed_with_4403(users):
    communicator = WebsocketCommunicator(EventStreamConsumer.as_asgi(), "/ws/events/")
    communicator.scope["user"] = users["nobody"]
    await communicator.connect()
    assert (await communicator.receive_json_from())["code"] == CLOSE_FORBIDDEN
    closed = await communicator.receive_output()
    assert (closed["type"], closed["code"]) == ("websocket.close", CLOSE_FORBIDDEN)


# --- Against a real server (uvicorn + Redis channel layer) -----------------------------------


def _session_cookie(client, user) -> str:
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


async def test_anonymous_websocket_is_closed_with_4401(asgi_server):
    async with websockets.connect(f"ws://{asgi_server}/ws/events/", origin=f"http://{asgi_server}") as socket:
        message = json.loads(await asyncio.wait_for(socket.recv(), 5))
        assert message["code"] == CLOSE_UNAUTHENTICATED
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(socket.recv(), 5)
    assert closed.value.rcvd.code == CLOSE_UNAUTHENTICATED


async def test_event_emitted_here_reaches_a_browser_session_on_a_real_server(asgi_server, users, client):
    cookie = await database_sync_to_async(_session_cookie)(client, users["viewer"])
    async with websockets.connect(
        f"ws://{asgi_server}/ws/events/?types=fill",
        origin=f"http://{asgi_server}",
        additional_headers={"Cookie": cookie},
    ) as socket:
        subscribed = json.loads(await asyncio.wait_for(socket.recv(), 5))
        assert subscribed["type"] == "subscribed"
        event = await _emit("fill", FILL, source="agent:execution")
        frame = json.loads(await asyncio.wait_for(socket.recv(), 5))
    assert [e["event_id"] for e in frame["events"]] == [str(event.event_id)]


async def test_a_burst_reaches_a_socket_in_few_frames_in_order_and_complete(users):
    """At most one events frame per FRAME_INTERVAL_SECONDS per socket: the first event of a burst
    goes out at once, the rest of the burst follows as one frame, nothing lost or reordered."""

    communicator = await _connect(users["viewer"])
    await communicator.receive_json_from()
    layer = get_channel_layer()
    ids = list(range(10**9, 10**9 + 30))
    for n in ids:
        frame = {"id": n, "type": "intent", "run_id": "", "payload": {"action": "note"}}
        await layer.group_send(realtime.ALL_EVENTS_GROUP, {"type": realtime.MESSAGE_TYPE, "events": [frame]})
    first = await communicator.receive_json_from(timeout=3)
    assert [e["id"] for e in first["events"]] == ids[:1]
    received, frames = list(ids[:1]), 1
    while len(received) < len(ids):
        received += [e["id"] for e in (await communicator.receive_json_from(timeout=3))["events"]]
        frames += 1
    assert received == ids
    assert frames <= 10, frames  # one frame per event was 30; the sends take well under a second
    assert await communicator.receive_nothing(timeout=FRAME_INTERVAL_SECONDS * 2)
    await communicator.disconnect()


async def test_an_event_published_where_the_socket_does_not_listen_reaches_it_late_and_once(users, settings):
    """What a Redis restart does to the Pub/Sub layer: the publish reaches no subscriber. The
    socket's reconciliation with the store sends it once it is settled, and nothing twice."""
    settings.EVENTS_WS_RECONCILE_S = 0.2
    communicator = await _connect(users["viewer"], "?types=intent&after=0")
    await communicator.receive_json_from()
    delivered = await _emit("intent", {"action": "live"}, source="x")
    frame = await communicator.receive_json_from(timeout=3)
    assert [e["id"] for e in frame["events"]] == [delivered.id]

    config = settings.CHANNEL_LAYERS["default"]
    settings.CHANNEL_LAYERS = {"default": {**config, "CONFIG": {**config["CONFIG"], "prefix": "nobody-listens"}}}
    lost = await _emit("intent", {"action": "lost"}, source="x")
    assert await communicator.receive_nothing(timeout=1)  # settling: left to the live path

    frame = await communicator.receive_json_from(timeout=5)
    assert [e["id"] for e in frame["events"]] == [lost.id]
    assert frame["events"][0]["payload"]["action"] == "lost"
    assert await communicator.receive_nothing(timeout=1.5)
    await communicator.disconnect()
