from datetime import UTC, datetime
from decimal import Decimal

import pytest

from events.models import Event
from wallets import services
from wallets.api.serializers import WalletSerializer
from wallets.models import LedgerEntry, ReconciliationRun, Wallet

pytestmark = pytest.mark.django_db

URL = "/api/v1/wallets"


def _drifted_run(paper_wallet):
    wallet = paper_wallet("w", BTC="2", USDT="100")
    services.paper_exchange_move(wallet_id=wallet.pk, deltas={"BTC": "-0.5"}, reference="lost")
    return wallet, services.wallet_reconcile().run


@pytest.mark.parametrize("wallets", [1, 30])
def test_wallet_list_query_count_does_not_grow_with_wallets(
    paper_wallet, client_for, django_assert_num_queries, wallets
):
    for i in range(wallets):
        paper_wallet(f"w{i:02}", BTC="1", USDT="10")
    services.wallet_reconcile()
    client = client_for("viewer")
    # the role check (groups), then the wallets with their balances as array subqueries
    with django_assert_num_queries(2):
        response = client.get(URL)
    assert response.status_code == 200
    assert len(response.json()["results"]) == wallets


def test_wallet_list_shows_balances_and_drift_status(paper_wallet, client_for):
    wallet, run = _drifted_run(paper_wallet)
    paper_wallet("clean", ETH="1")
    body = client_for("viewer").get(URL).json()
    assert [(w["name"], w["drift_status"], w["drift_breaches"], w["last_run"]) for w in body["results"]] == [
        ("w", "breach", 1, run.pk),
        ("clean", "never", 0, None),
    ]
    assert body["results"][0]["balances"][0]["currency"] == "BTC"
    assert body["results"][0]["balances"][0]["amount"] == "2.000000000000000000"
    assert client_for("viewer").get(URL, {"drift_status": "breach"}).json()["results"][0]["id"] == wallet.pk


def test_wallet_detail_carries_the_latest_drift(paper_wallet, client_for):
    wallet, run = _drifted_run(paper_wallet)
    body = client_for("viewer").get(f"{URL}/{wallet.pk}").json()
    assert [(d["currency"], d["drift"], d["within_threshold"]) for d in body["latest_drift"]] == [
        ("BTC", "-0.500000000000000000", False),
        ("USDT", "0.000000000000000000", True),
    ]
    assert client_for("viewer").get(f"{URL}/999999").status_code == 404


def test_transactions_are_paginated_and_filtered_by_currency_kind_and_time(paper_wallet, client_for):
    wallet = paper_wallet("w")
    for day, (currency, amount, kind) in enumerate(
        [("BTC", "1", "deposit"), ("USDT", "-5", "fee"), ("BTC", "0.5", "fill"), ("USDT", "100", "deposit")], start=1
    ):
        services.ledger_post(
            wallet_id=wallet.pk, currency=currency, amount=amount, kind=kind, ts=datetime(2026, 1, day, tzinfo=UTC)
        )
    client = client_for("viewer")
    url = f"{URL}/{wallet.pk}/transactions"

    def amounts(**params):
        return [(e["currency"], e["amount"]) for e in client.get(url, params).json()["results"]]

    assert amounts(currency="btc") == [("BTC", "0.500000000000000000"), ("BTC", "1.000000000000000000")]
    assert amounts(kind="fee,fill") == [("BTC", "0.500000000000000000"), ("USDT", "-5.000000000000000000")]
    assert amounts(since="2026-01-02T00:00:00Z", until="2026-01-04T00:00:00Z") == [
        ("BTC", "0.500000000000000000"),
        ("USDT", "-5.000000000000000000"),
    ]
    page = client.get(url, {"limit": 3}).json()
    assert len(page["results"]) == 3
    assert [e["amount"] for e in client.get(page["next"]).json()["results"]] == ["1.000000000000000000"]


@pytest.mark.parametrize(
    ("params", "field"),
    [({"since": "yesterday"}, "since"), ({"until": "2026-13-01"}, "until"), ({"kind": "gift"}, "kind")],
)
def test_bad_transaction_filters_are_400s_naming_the_field(paper_wallet, client_for, params, field):
    wallet = paper_wallet("w", BTC="1")
    response = client_for("viewer").get(f"{URL}/{wallet.pk}/transactions", params)
    assert response.status_code == 400
    assert list(response.json()) == [field]


@pytest.mark.parametrize("rows", [1, 25])
def test_transactions_query_count_does_not_grow(paper_wallet, client_for, django_assert_num_queries, rows):
    wallet = paper_wallet("w")
    for i in range(rows):
        services.ledger_post(wallet_id=wallet.pk, currency="BTC", amount=i + 1, kind="deposit")
    client = client_for("viewer")
    with django_assert_num_queries(3):  # the role check, the wallet exists, the page
        assert len(client.get(f"{URL}/{wallet.pk}/transactions").json()["results"]) == rows


def test_transactions_of_unknown_wallet_are_404(client_for):
    assert client_for("viewer").get(f"{URL}/424242/transactions").status_code == 404
    assert client_for("viewer").get(f"{URL}/424242/drift").status_code == 404


def test_drift_time_series_for_one_currency(paper_wallet, client_for):
    wallet = paper_wallet("w", BTC="2", USDT="100")
    runs = []
    for step in ("-0.1", "-0.2"):
        services.paper_exchange_move(wallet_id=wallet.pk, deltas={"BTC": step}, reference=f"d{step}")
        runs.append(services.wallet_reconcile().run)
    body = client_for("viewer").get(f"{URL}/{wallet.pk}/drift", {"currency": "BTC"}).json()
    assert [(d["run"], d["drift"]) for d in body["results"]] == [
        (runs[1].pk, "-0.300000000000000000"),
        (runs[0].pk, "-0.100000000000000000"),
    ]
    breaches = client_for("viewer").get(f"{URL}/{wallet.pk}/drift", {"within_threshold": "true"}).json()
    assert {d["currency"] for d in breaches["results"]} == {"USDT"}


def test_reconcile_post_runs_and_returns_the_run_with_its_records(paper_wallet, client_for):
    wallet, _ = _drifted_run(paper_wallet)
    response = client_for("operator").post(
        f"{URL}/reconcile", {"threshold_abs": "0.6", "wallet_ids": [wallet.pk]}, format="json"
    )
    assert response.status_code == 201
    body = response.json()
    assert (body["status"], body["trigger"], body["started_by"], body["breaches"]) == ("succeeded", "user", "otto", 0)
    assert body["threshold_abs"] == "0.600000000000000000"
    assert body["wallet_ids"] == [wallet.pk]
    assert [(r["currency"], r["drift"]) for r in body["drift_records"]] == [
        ("BTC", "-0.500000000000000000"),
        ("USDT", "0.000000000000000000"),
    ]
    completed = Event.objects.filter(type="reconciliation_completed").latest("id")
    assert completed.source == "user:otto"
    assert client_for("viewer").get(f"{URL}/reconcile/{body['id']}").json()["id"] == body["id"]
    history = client_for("viewer").get(f"{URL}/reconcile/history", {"trigger": "user"}).json()["results"]
    assert [run["id"] for run in history] == [body["id"], body["id"] - 1]


def test_reconcile_post_honours_idempotency_key(paper_wallet, client_for):
    paper_wallet("w", BTC="1")
    client = client_for("operator")
    first = client.post(f"{URL}/reconcile", {}, format="json", headers={"Idempotency-Key": "abc"})
    again = client.post(f"{URL}/reconcile", {}, format="json", headers={"Idempotency-Key": "abc"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert ReconciliationRun.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"threshold_abs": "-0.1"}, "threshold_abs"),
        ({"threshold_abs": "lots"}, "threshold_abs"),
        ({"threshold_rel": "-1"}, "threshold_rel"),
        ({"threshold": "x"}, "threshold"),
        ({"wallet_ids": [424242]}, "wallet_ids"),
        ({"wallet_ids": ["a"]}, "wallet_ids"),
        ({"wallet_ids": []}, "wallet_ids"),
    ],
)
def test_bad_reconcile_request_is_a_400_naming_the_field_and_starts_nothing(paper_wallet, client_for, body, field):
    paper_wallet("w", BTC="1")
    response = client_for("operator").post(f"{URL}/reconcile", body, format="json")
    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert ReconciliationRun.objects.count() == 0


def test_unknown_run_is_404(client_for):
    assert client_for("viewer").get(f"{URL}/reconcile/424242").status_code == 404


def test_history_bad_date_is_400(client_for):
    response = client_for("viewer").get(f"{URL}/reconcile/history", {"since": "soon"})
    assert (response.status_code, list(response.json())) == (400, ["since"])


def test_drift_correction_endpoint(paper_wallet, client_for):
    _, run = _drifted_run(paper_wallet)
    record = run.drift_records.get(currency="BTC")
    url = f"{URL}/drift/{record.pk}/correct"
    assert client_for("admin").post(url, {}, format="json").json() == {"reason": ["This field is required."]}
    assert client_for("admin").post(url, {"reason": "  "}, format="json").status_code == 400
    assert client_for("operator").post(url, {"reason": "x"}, format="json").status_code == 403
    assert client_for("admin").post(f"{URL}/drift/424242/correct", {"reason": "x"}, format="json").status_code == 404
    assert not LedgerEntry.objects.filter(kind="adjustment").exists()
    response = client_for("admin").post(url, {"reason": "exchange fee"}, format="json")
    assert response.status_code == 201
    assert (response.json()["amount"], response.json()["created_by"]) == ("-0.500000000000000000", "ada")
    assert LedgerEntry.objects.get(kind="adjustment").amount == Decimal("-0.5")


READS = ["", "/{w}", "/{w}/transactions", "/{w}/drift", "/reconcile/history", "/reconcile/{r}"]


@pytest.mark.parametrize(
    ("role", "read", "reconcile", "correct"),
    [
        (None, 401, 401, 401),
        ("nobody", 403, 403, 403),
        ("viewer", 200, 403, 403),
        ("operator", 200, 201, 403),
        ("admin", 200, 201, 201),
    ],
)
def test_permission_matrix(paper_wallet, client_for, role, read, reconcile, correct):
    wallet, run = _drifted_run(paper_wallet)
    record = run.drift_records.get(currency="BTC")
    client = client_for(role)
    for path in READS:
        assert client.get(URL + path.format(w=wallet.pk, r=run.pk)).status_code == read, path
    assert client.post(f"{URL}/reconcile", {}, format="json").status_code == reconcile
    assert client.post(f"{URL}/drift/{record.pk}/correct", {"reason": "r"}, format="json").status_code == correct
    runs = 2 if reconcile == 201 else 1
    assert ReconciliationRun.objects.count() == runs
    assert LedgerEntry.objects.filter(kind="adjustment").count() == (1 if correct == 201 else 0)


def test_the_fast_wallet_page_renders_exactly_what_the_serializer_does(paper_wallet, client_for):

    _drifted_run(paper_wallet)
    paper_wallet("never-reconciled", ETH="0.000000000000000001")
    listed = client_for("viewer").get(URL).json()["results"]
    one_by_one = [WalletSerializer(wallet).data for wallet in Wallet.objects.order_by("id")]
    assert listed == [dict(item) for item in one_by_one]
    assert listed[1]["balances"] == [{"currency": "ETH", "amount": "0.000000000000000001"}]


@pytest.mark.parametrize("runs", [1, 12])
def test_drift_series_and_history_query_counts_do_not_grow(
    paper_wallet, users, client_for, django_assert_num_queries, runs
):
    wallet = paper_wallet("w", BTC="1", USDT="5")
    for i in range(runs):
        services.paper_exchange_move(wallet_id=wallet.pk, deltas={"BTC": "0.01"}, reference=f"d{i}")
        services.wallet_reconcile(user=users["operator"])
    client = client_for("viewer")
    with django_assert_num_queries(3):  # the role check, the wallet exists, the page (wallet joined)
        assert len(client.get(f"{URL}/{wallet.pk}/drift").json()["results"]) == 2 * runs
    with django_assert_num_queries(2):  # the role check, the page (user joined)
        history = client.get(f"{URL}/reconcile/history").json()["results"]
    assert [run["started_by"] for run in history] == ["otto"] * runs
    with django_assert_num_queries(3):  # the role check, the run, its records (wallets joined)
        assert len(client.get(f"{URL}/reconcile/{history[0]['id']}").json()["drift_records"]) == 2
