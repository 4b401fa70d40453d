"""Operator actions on wallets are events naming the user: creating, disabling, funding."""

import pytest
from django.test import Client

from events.models import Event
from wallets import services
from wallets.models import Wallet

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(make_user):
    client = Client()
    client.force_login(make_user("root", "admin", is_staff=True, is_superuser=True))
    return client


def _wallet_form(**fields):
    return {
        "name": "kraken-main",
        "kind": "exchange",
        "exchange_id": "kraken",
        "credentials_ref": "KRAKEN_MAIN",
        "status": "active",
        "status_reason": "",
        "balances-TOTAL_FORMS": "0",
        "balances-INITIAL_FORMS": "0",
        **fields,
    }


def test_creating_a_wallet_in_the_admin_is_an_event_naming_the_user(admin_client):
    assert admin_client.post("/admin/wallets/wallet/add/", _wallet_form()).status_code == 302
    wallet = Wallet.objects.get(name="kraken-main")
    event = Event.objects.get(type="wallet_created")
    assert event.source == "user:root"
    assert event.payload["wallet_id"] == wallet.pk
    assert (event.payload["name"], event.payload["kind"]) == ("kraken-main", "exchange")


def test_disabling_a_wallet_in_the_admin_is_an_event_naming_the_user(admin_client):
    wallet = services.wallet_create(name="kraken-main", kind="exchange", exchange_id="kraken")
    changed = admin_client.post(
        f"/admin/wallets/wallet/{wallet.pk}/change/",
        _wallet_form(kind="exchange", status="disabled", status_reason="closed account"),
    )
    assert changed.status_code == 302, changed.content.decode()[:2000]
    event = Event.objects.get(type="wallet_changed")
    assert event.source == "user:root"
    assert event.payload["changes"]["status"] == {"old": "active", "new": "disabled"}
    assert event.payload["wallet_id"] == wallet.pk


def test_a_paper_deposit_is_an_event_once(db, make_user):
    wallet = services.wallet_create(name="p", kind="paper")
    user = make_user("fin")
    for _ in range(2):  # a retried deposit books nothing twice, and records nothing twice
        services.paper_wallet_fund(
            wallet_id=wallet.pk, currency="USDT", amount="100", reference="seed", created_by=user
        )
    event = Event.objects.get(type="paper_deposited")
    assert event.source == "user:fin"
    assert (event.payload["currency"], event.payload["amount"], event.payload["wallet_id"]) == (
        "USDT",
        "100",
        wallet.pk,
    )


def test_services_without_a_user_name_the_system(db):
    services.wallet_create(name="p", kind="paper")
    assert Event.objects.get(type="wallet_created").source == "system"
