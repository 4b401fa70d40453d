from decimal import Decimal

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser

from agents.consumers import LiveTradingConsumer
from events.services import emit

pytestmark = pytest.mark.django_db(transaction=True)
FILL = {
    "fill_id": "f1",
    "order_id": "o1",
    "symbol": "SOL-USDT",
    "side": "buy",
    "qty": "2",
    "price": "150",
    "fee": "0.3",
}


async def test_live_socket_sends_fills_then_the_new_portfolio(users):
    communicator = WebsocketCommunicator(LiveTradingConsumer.as_asgi(), "/ws/live/")
    communicator.scope["user"] = users["viewer"]
    assert (await communicator.connect())[0]
    kinds = [(await communicator.receive_json_from())["type"] for _ in range(3)]
    assert kinds == ["subscribed", "portfolio", "risk_budget"]

    await database_sync_to_async(emit)("intent", {"action": "note", "note": "not a live frame"}, source="x")
    await database_sync_to_async(emit)("fill", FILL, source="agent:execution")

    frame = await communicator.receive_json_from(timeout=3)
    assert frame["type"] == "events"
    assert [e["type"] for e in frame["events"]] == ["fill"]
    portfolio = await communicator.receive_json_from(timeout=3)
    assert portfolio["type"] == "portfolio"
    assert Decimal(portfolio["portfolio"]["cash"]) == Decimal("100000") - Decimal("300.3")
    assert Decimal(portfolio["portfolio"]["market_value"]) == Decimal("300")
    await communicator.disconnect()


async def test_anonymous_live_socket_is_closed_with_4401():

    communicator = WebsocketCommunicator(LiveTradingConsumer.as_asgi(), "/ws/live/")
    communicator.scope["user"] = AnonymousUser()
    await communicator.connect()
    assert (await communicator.receive_json_from())["code"] == 4401
