"""The header says where market data comes from, on every page: a looping replay is a demo."""

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("source", "loop", "label"),
    [
        ("replay", True, "Replay (looping)"),
        ("replay", False, "Replay (stops at the end of its data)"),
        ("synthetic", False, "Synthetic prices"),
        ("exchange", False, "Exchange"),
    ],
)
@pytest.mark.parametrize("page", ["/", "/agents/", "/market/", "/wallets/", "/backtests/", "/decisions/"])
def test_every_page_names_the_market_feed(client, users, settings, source, loop, label, page):
    settings.MARKET_SOURCE, settings.MARKET_REPLAY_LOOP = source, loop
    client.force_login(users["viewer"])
    response = client.get(page)
    assert response.status_code == 200
    assert f"Feed: <strong>{label}</strong>" in response.content.decode()
