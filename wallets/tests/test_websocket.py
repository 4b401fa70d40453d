import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser

from events.consumers import CLOSE_FORBIDDEN, CLOSE_UNAUTHENTICATED
from wallets import services
from wallets.consumers import WalletAlertsConsumer

pytestmark = pytest.mark.django_db(transaction=True)


async def _connect(user):
    communicator = WebsocketCommunicator(WalletAlertsConsumer.as_asgi(), "/ws/wallets/")
    communicator.scope["user"] = user
    connected, _ = await communicator.connect()
    assert connected
    return communicator


def _drift_and_reconcile():
    wallet = services.wallet_create(name="paper", kind="paper")
    services.paper_wallet_fund(wallet_id=wallet.pk, currency="USDT", amount="100", reference="seed")
    services.paper_exchange_move(wallet_id=wallet.pk, deltas={"USDT": "-7"}, reference="drift")
    return services.wallet_reconcile().run


async def test_a_finished_run_with_drift_reaches_the_wallets_socket(users):
    communicator = await _connect(users["viewer"])
    assert await communicator.receive_json_from() == {"type": "subscribed", "latest": None}

    run = await database_sync_to_async(_drift_and_reconcile)()

    frame = await communicator.receive_json_from(timeout=5)
    assert frame["type"] == "reconciliation_completed"
    assert (frame["run"]["id"], frame["run"]["status"], frame["run"]["breaches"]) == (run.pk, "succeeded", 1)
    assert [(b["wallet_name"], b["currency"], b["drift"]) for b in frame["breaches"]] == [
        ("paper", "USDT", "-7.000000000000000000")
    ]
    await communicator.disconnect()

    again = await _connect(users["viewer"])
    subscribed = await again.receive_json_from()
    assert subscribed["latest"]["run"]["id"] == run.pk
    await again.disconnect()


@pytest.mark.parametrize(("role", "code"), [(None, CLOSE_UNAUTHENTICATED), ("nobody", CLOSE_FORBIDDEN)])
async def test_the_wallets_socket_needs_a_role(users, role, code):

    communicator = await _connect(users[role] if role else AnonymousUser())
    assert (await communicator.receive_json_from())["code"] == code
    closed = await communicator.receive_output()
    assert (closed["type"], closed["code"]) == ("websocket.close", code)
    await communicator.disconnect()
