import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission
from django.test import Client

from events.models import Event
from wallets import services
from wallets.models import LedgerEntry, ReconciliationRun, Wallet

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_for(make_user):
    def make(username="root", **flags):
        user = make_user(username, "admin" if flags.pop("admin_role", True) else "viewer", is_staff=True, **flags)
        client = Client()
        client.force_login(user)
        return client

    return make


def _drift(paper_wallet):
    wallet = paper_wallet("w", BTC="2")
    services.paper_exchange_move(wallet_id=wallet.pk, deltas={"BTC": "0.3"}, reference="extra")
    return wallet, services.wallet_reconcile().run


def test_admin_pages_show_wallets_ledger_runs_and_drift(paper_wallet, admin_client_for):
    wallet, run = _drift(paper_wallet)
    client = admin_client_for(is_superuser=True)
    for url in [
        "/admin/wallets/wallet/",
        f"/admin/wallets/wallet/{wallet.pk}/change/",
        "/admin/wallets/ledgerentry/",
        "/admin/wallets/reconciliationrun/",
        f"/admin/wallets/reconciliationrun/{run.pk}/change/",
        "/admin/wallets/driftrecord/",
        "/admin/django_celery_beat/periodictask/",
    ]:
        assert client.get(url).status_code == 200, url
    listing = client.get("/admin/wallets/wallet/").content.decode()
    assert "1 over threshold" in listing
    assert "2.000000000000000000" not in listing  # balances are shown normalised
    assert "2 BTC" in listing


def test_correct_drift_action_asks_for_a_reason_then_books_an_adjustment(paper_wallet, admin_client_for):
    _, run = _drift(paper_wallet)
    record = run.drift_records.get()
    client = admin_client_for(is_superuser=True)
    action = {"action": "correct_drift", ACTION_CHECKBOX_NAME: [record.pk]}

    form = client.post("/admin/wallets/driftrecord/", action)
    assert form.status_code == 200
    assert "Book the adjustments" in form.content.decode()
    no_reason = client.post("/admin/wallets/driftrecord/", {**action, "apply": "1", "reason": ""})
    assert no_reason.status_code == 200
    assert not LedgerEntry.objects.filter(kind="adjustment").exists()

    booked = client.post("/admin/wallets/driftrecord/", {**action, "apply": "1", "reason": "airdrop not booked"})
    assert booked.status_code == 302
    entry = LedgerEntry.objects.get(kind="adjustment")
    assert (entry.amount, entry.note, entry.created_by.username) == (record.drift, "airdrop not booked", "root")
    assert Event.objects.get(type="ledger_adjusted").source == "user:root"


def test_staff_without_the_admin_role_cannot_correct(paper_wallet, admin_client_for, django_user_model):
    _, run = _drift(paper_wallet)
    record = run.drift_records.get()
    client = admin_client_for("staffer", admin_role=False)
    staffer = django_user_model.objects.get(username="staffer")

    staffer.user_permissions.add(*Permission.objects.filter(content_type__app_label="wallets"))
    client.post(
        "/admin/wallets/driftrecord/",
        {"action": "correct_drift", ACTION_CHECKBOX_NAME: [record.pk], "apply": "1", "reason": "x"},
    )
    assert not LedgerEntry.objects.filter(kind="adjustment").exists()


def test_reconcile_action_and_wallet_creation_go_through_services(paper_wallet, admin_client_for):
    wallet = paper_wallet("w", USDT="5")
    client = admin_client_for(is_superuser=True)
    response = client.post("/admin/wallets/wallet/", {"action": "reconcile_now", ACTION_CHECKBOX_NAME: [wallet.pk]})
    assert response.status_code == 302
    run = ReconciliationRun.objects.get()
    assert (run.wallet_ids, run.started_by.username, run.status) == ([wallet.pk], "root", "succeeded")

    added = client.post(
        "/admin/wallets/wallet/add/",
        {
            "name": "kraken-main",
            "kind": "exchange",
            "exchange_id": "kraken",
            "credentials_ref": "KRAKEN_MAIN",
            "status": "active",
            "status_reason": "",
            "balances-TOTAL_FORMS": "0",
            "balances-INITIAL_FORMS": "0",
        },
    )
    assert added.status_code == 302, added.content.decode()[:2000]
    created = Wallet.objects.get(name="kraken-main")
    assert (created.kind, created.exchange_id, created.credentials_ref) == ("exchange", "kraken", "KRAKEN_MAIN")
