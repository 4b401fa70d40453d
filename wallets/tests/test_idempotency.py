"""A drift correction retried with its Idempotency-Key returns the entry the first booked."""

import pytest

from wallets import services
from wallets.models import LedgerEntry

pytestmark = pytest.mark.django_db


def test_a_retried_correction_books_once(paper_wallet, client_for):
    wallet = paper_wallet("w", BTC="2")
    services.paper_exchange_move(wallet_id=wallet.pk, deltas={"BTC": "0.3"}, reference="extra")
    run = services.wallet_reconcile().run
    drift = run.drift_records.get(currency="BTC")
    client = client_for("admin")
    url = f"/api/v1/wallets/drift/{drift.pk}/correct"
    first = client.post(url, {"reason": "airdrop"}, format="json", HTTP_IDEMPOTENCY_KEY="fix-1")
    again = client.post(url, {"reason": "airdrop"}, format="json", HTTP_IDEMPOTENCY_KEY="fix-1")
    assert (first.status_code, again.status_code) == (201, 200), again.data
    assert first.data["id"] == again.data["id"]
    assert LedgerEntry.objects.filter(kind="adjustment").count() == 1
