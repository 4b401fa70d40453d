import base64
import json
from pathlib import Path

import pytest
import responses

from wallets import services

from .factories import WalletFactory

KRAKEN = Path(__file__).parent / "fixtures" / "kraken"
KRAKEN_API = "https://api.kraken.com/0"
KRAKEN_KEY = "kraken-test-key-0123456789"
KRAKEN_SECRET = base64.b64encode(b"kraken-test-secret-bytes-" * 3).decode()


def kraken_json(name: str) -> dict:
    return json.loads((KRAKEN / name).read_text())


@pytest.fixture
def paper_wallet(db):
    """``paper_wallet("p1", BTC="1.5", USDT="1000")``: a paper wallet funded on both sides."""

    def make(name: str, **funds: str):
        return WalletFactory(name=name, funds=funds)

    return make


@pytest.fixture
def kraken_credentials(monkeypatch):
    monkeypatch.setenv("KRAKEN_TEST_API_KEY", KRAKEN_KEY)
    monkeypatch.setenv("KRAKEN_TEST_SECRET", KRAKEN_SECRET)
    return "KRAKEN_TEST"


@pytest.fixture
def kraken_wallet(db, kraken_credentials):
    def make(name: str = "kraken-main"):
        return services.wallet_create(
            name=name, kind="exchange", exchange_id="kraken", credentials_ref=kraken_credentials
        )

    return make


@pytest.fixture
def exchange_http():
    """Every HTTP request the test makes is answered from fixtures; anything unregistered fails."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def kraken_markets(mock) -> None:
    mock.get(f"{KRAKEN_API}/public/Assets", json=kraken_json("assets.json"))
    mock.get(f"{KRAKEN_API}/public/AssetPairs", json=kraken_json("asset_pairs.json"))
