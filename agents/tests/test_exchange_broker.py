"""The exchange broker against Kraken's REST protocol, answered from fixtures (no network)."""

import json
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qs

import ccxt
import pytest
import responses

from agents.brokers import ExchangeBroker, OrderTicket

HERE = Path(__file__).parent / "data" / "kraken"
MARKETS = Path(__file__).resolve().parents[2] / "wallets" / "tests" / "fixtures" / "kraken"
API = "https://api.kraken.com/0"


def _json(folder: Path, name: str) -> dict:
    return json.loads((folder / name).read_text())


@pytest.fixture
def kraken():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(f"{API}/public/Assets", json=_json(MARKETS, "assets.json"))
        mock.get(f"{API}/public/AssetPairs", json=_json(MARKETS, "asset_pairs.json"))
        exchange = ccxt.kraken(
            {
                "apiKey": "kraken-test-key",
                "secret": "a3Jha2VuLXRlc3Qtc2VjcmV0",
                "timeout": 2000,
                "enableRateLimit": False,
            }
        )
        yield mock, exchange


def test_a_market_order_is_placed_polled_and_reported_as_its_fill(kraken):
    mock, exchange = kraken
    mock.post(f"{API}/private/AddOrder", json=_json(HERE, "add_order.json"))
    mock.post(f"{API}/private/QueryOrders", json=_json(HERE, "query_order_closed.json"))
    broker = ExchangeBroker(exchange, poll_seconds=0, deadline_seconds=1)

    fills = broker.submit(OrderTicket("o-1", "BTC-USD", "buy", Decimal("0.01"), Decimal("65000")))

    assert [(f.fill_id, f.price, f.qty, f.fee) for f in fills] == [
        ("OQCLML-BW3P3-BUCMWZ", Decimal("65010.0"), Decimal("0.01"), Decimal("1.69026"))
    ]
    body = next(c.request.body for c in mock.calls if c.request.url.endswith("AddOrder"))
    sent = {key: values[0] for key, values in parse_qs(body.decode()).items()}
    assert {k: sent[k] for k in ("pair", "type", "ordertype", "volume", "cl_ord_id")} == {
        "pair": "XXBTZUSD",
        "type": "buy",
        "ordertype": "market",
        "volume": "0.01",
        "cl_ord_id": "o-1",
    }  # the client order id makes a retried submit recognisable at the exchange


def test_an_order_still_open_at_the_deadline_is_cancelled_and_reports_no_fill(kraken):
    mock, exchange = kraken
    mock.post(f"{API}/private/AddOrder", json=_json(HERE, "add_order.json"))
    mock.post(f"{API}/private/QueryOrders", json=_json(HERE, "query_order_open.json"))
    mock.post(f"{API}/private/CancelOrder", json=_json(HERE, "cancel_order.json"))
    broker = ExchangeBroker(exchange, poll_seconds=0, deadline_seconds=0.05)

    assert broker.submit(OrderTicket("o-2", "BTC-USD", "buy", Decimal("0.01"), Decimal("65000"))) == []
    assert any(c.request.url.endswith("CancelOrder") for c in mock.calls)


def test_an_exchange_error_is_raised_not_swallowed(kraken):
    mock, exchange = kraken
    mock.post(f"{API}/private/AddOrder", json={"error": ["EOrder:Insufficient funds"], "result": {}})
    broker = ExchangeBroker(exchange, poll_seconds=0, deadline_seconds=1)
    with pytest.raises(ccxt.InsufficientFunds):
        broker.submit(OrderTicket("o-3", "BTC-USD", "buy", Decimal("100"), Decimal("65000")))
