import json
import re

import pytest

from wallets import services
from wallets.models import ReconciliationRun
from wallets.tests.factories import WalletFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def login(client, users):
    def as_role(role):
        client.force_login(users[role])
        return client

    return as_role


def paper_wallet(name: str, **funds: str):
    return WalletFactory(name=name, funds=funds)


def drift(wallet, **deltas: str):
    """Move the paper exchange's balance without the ledger: the next reconciliation sees drift."""
    services.paper_exchange_move(wallet_id=wallet.pk, deltas=deltas, reference=f"leak-{wallet.pk}-{deltas}")


@pytest.mark.parametrize("path", ["/wallets/", "/wallets/1/"])
def test_anonymous_visitor_is_sent_to_log_in(client, path):
    response = client.get(path)
    assert (response.status_code, response["Location"]) == (302, f"/accounts/login/?next={path}")


def test_wallets_page_lists_ledger_balances_with_their_currency(login):
    paper_wallet("paper-main", BTC="1.50000000", USDT="1000")
    html = login("viewer").get("/wallets/").content.decode()
    assert '<span class="money num">1.50000000 BTC</span>, <span class="money num">1,000.00 USDT</span>' in html
    assert "never reconciled" in html
    assert 'id="drift-banner" class="banner bad" role="alert" hidden' in html


def test_viewer_gets_no_reconcile_button_and_a_forged_post_writes_nothing(login):
    paper_wallet("p1", USDT="10")
    client = login("viewer")
    assert b'data-action="reconcile"' not in client.get("/wallets/").content
    assert client.post("/wallets/reconcile").status_code == 403
    assert not ReconciliationRun.objects.exists()


def test_operator_reconciles_from_the_page_through_the_service(login):
    wallet = paper_wallet("p1", USDT="10")
    drift(wallet, USDT="-2")
    client = login("operator")
    assert b'data-action="reconcile"' in client.get("/wallets/").content
    response = client.post("/wallets/reconcile", follow=True)
    run = ReconciliationRun.objects.get()
    assert (run.trigger, run.started_by.username, run.breaches) == ("user", "otto", 1)
    html = response.content.decode()
    assert f"Reconciliation #{run.pk} {run.status}: 1 checked, 1 breaches." in html
    assert re.search(r'id="drift-banner" class="banner bad" role="alert" >', html)
    assert f'<a href="/wallets/{wallet.pk}/">p1</a> (1)' in html


def test_wallet_page_shows_last_drift_and_the_chart_series(login):
    wallet = paper_wallet("p1", USDT="10", BTC="1")
    services.wallet_reconcile()
    drift(wallet, USDT="-2.5")
    services.wallet_reconcile()
    html = login("viewer").get(f"/wallets/{wallet.pk}/").content.decode()
    data = json.loads(re.search(r'<script id="drift-data" type="application/json">(.*?)</script>', html).group(1))
    assert [p["drift"] for p in data["USDT"]] == ["0E-18", "-2.500000000000000000"]
    assert [p["breach"] for p in data["USDT"]] == [False, True]
    assert [p["breach"] for p in data["BTC"]] == [False, False]
    assert '<td class="num">-2.50</td>' in html
    assert "no, breach" in html


def test_unknown_wallet_gives_the_404_page(login):
    response = login("viewer").get("/wallets/999999/")
    assert response.status_code == 404
    assert b"<h1>Not found</h1>" in response.content


def test_wallets_page_query_count_does_not_grow_with_wallets(login, django_assert_num_queries):
    client = login("viewer")
    paper_wallet("w0", USDT="1")
    services.wallet_reconcile()
    client.get("/wallets/")
    with django_assert_num_queries(9) as one:
        client.get("/wallets/")
    for n in range(1, 15):
        paper_wallet(f"w{n}", USDT="1", BTC="2")
    services.wallet_reconcile()
    with django_assert_num_queries(len(one.captured_queries)):
        client.get("/wallets/")
