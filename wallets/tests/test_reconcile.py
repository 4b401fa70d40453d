import json
import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.utils import timezone

from events.models import Event
from wallets import services
from wallets.models import DriftRecord, LedgerEntry, ReconciliationRun, Wallet

from .conftest import KRAKEN_API, KRAKEN_KEY, KRAKEN_SECRET, kraken_json, kraken_markets


def _records(run) -> dict[tuple[str, str], DriftRecord]:
    return {(r.wallet.name, r.currency): r for r in run.drift_records.select_related("wallet")}


def test_injected_drift_is_found_exactly_and_nothing_else(paper_wallet, settings, django_capture_on_commit_callbacks):
    settings.WALLETS_ALERT_EMAILS = ["ops@example.com"]
    paper_wallet("alpha", BTC="1.5", USDT="1000")
    beta = paper_wallet("beta", BTC="0.25", USDT="20000.5")
    paper_wallet("gamma", ETH="3")
    # The venue loses 12.5 USDT of beta's and credits 0.01 SOL the ledger never heard of.
    services.paper_exchange_move(wallet_id=beta.pk, deltas={"USDT": "-12.5", "SOL": "0.01"}, reference="drift-1")

    with django_capture_on_commit_callbacks(execute=True):
        outcome = services.wallet_reconcile(threshold_abs="0.001", threshold_rel="0.0001")

    run = outcome.run
    assert (run.status, run.wallets_checked, run.wallets_failed, run.breaches) == ("succeeded", 3, 0, 2)
    records = _records(run)
    assert sorted(records) == [
        ("alpha", "BTC"),
        ("alpha", "USDT"),
        ("beta", "BTC"),
        ("beta", "SOL"),
        ("beta", "USDT"),
        ("gamma", "ETH"),
    ]
    usdt = records[("beta", "USDT")]
    assert (usdt.ledger_balance, usdt.exchange_balance, usdt.drift) == (
        Decimal("20000.5"),
        Decimal("19988"),
        Decimal("-12.5"),
    )
    assert usdt.relative_drift == Decimal("-0.000624984375390615")
    assert usdt.within_threshold is False
    sol = records[("beta", "SOL")]
    assert (sol.ledger_balance, sol.exchange_balance, sol.drift, sol.relative_drift, sol.within_threshold) == (
        Decimal(0),
        Decimal("0.01"),
        Decimal("0.01"),
        None,
        False,
    )
    assert all(
        r.drift == 0 and r.within_threshold
        for key, r in records.items()
        if key[1] not in ("USDT", "SOL") or key[0] != "beta"
    )
    assert dict(Wallet.objects.values_list("name", "drift_status")) == {"alpha": "ok", "beta": "breach", "gamma": "ok"}
    assert Wallet.objects.get(name="beta").drift_breaches == 2

    completed = Event.objects.get(type="reconciliation_completed")
    assert completed.payload["run_id"] == run.pk
    assert completed.payload["breaches"] == 2
    assert completed.source == "system"
    detected = Event.objects.filter(type="drift_detected").order_by("id")
    assert [(e.payload["wallet"], e.payload["currency"], e.payload["drift"]) for e in detected] == [
        ("beta", "SOL", "0.010000000000000000"),
        ("beta", "USDT", "-12.500000000000000000"),
    ]
    assert {e.causation_id for e in detected} == {completed.event_id}
    assert {e.correlation_id for e in detected} == {run.correlation_id}

    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["ops@example.com"]
    assert mail.outbox[0].subject == f"[TradingOps] reconciliation #{run.pk}: 2 drift breach(es), 0 failed"
    assert "beta USDT: ledger 20000.500000000000000000 exchange 19988.000000000000000000" in mail.outbox[0].body


def test_drift_within_the_combined_threshold_is_not_a_breach(paper_wallet):
    wallet = paper_wallet("w", USDT="10000")
    # abs 0.5 + rel 0.0001 * 10000 = 1.5: a drift of exactly 1.5 is within, 1.500001 is not.
    services.paper_exchange_move(wallet_id=wallet.pk, deltas={"USDT": "1.5"}, reference="d1")
    first = services.wallet_reconcile(threshold_abs="0.5", threshold_rel="0.0001").run
    services.paper_exchange_move(wallet_id=wallet.pk, deltas={"USDT": "0.000001"}, reference="d2")
    second = services.wallet_reconcile(threshold_abs="0.5", threshold_rel="0.0001").run
    assert (first.breaches, second.breaches) == (0, 1)
    assert DriftRecord.objects.get(run=second).drift == Decimal("1.500001")


def test_no_email_when_no_addresses_are_configured(paper_wallet, settings, django_capture_on_commit_callbacks):
    settings.WALLETS_ALERT_EMAILS = []
    wallet = paper_wallet("w", USDT="1")
    services.paper_exchange_move(wallet_id=wallet.pk, deltas={"USDT": "5"}, reference="d1")
    with django_capture_on_commit_callbacks(execute=True):
        run = services.wallet_reconcile().run
    assert run.breaches == 1
    assert mail.outbox == []


def test_a_failing_exchange_marks_its_wallets_error_and_does_not_stop_the_run(
    paper_wallet, kraken_wallet, exchange_http
):
    paper = paper_wallet("paper", USDT="500")
    broken = kraken_wallet("kraken-main")
    kraken_markets(exchange_http)
    exchange_http.post(f"{KRAKEN_API}/private/BalanceEx", json=kraken_json("error_invalid_key.json"))

    run = services.wallet_reconcile().run

    assert (run.status, run.wallets_checked, run.wallets_failed, run.breaches) == ("partial", 2, 1, 0)
    assert [(r.wallet_id, r.currency, r.drift) for r in run.drift_records.all()] == [(paper.pk, "USDT", Decimal(0))]
    broken.refresh_from_db()
    assert broken.status == "error"
    assert broken.drift_status == "error"
    assert broken.status_reason == 'AuthenticationError: kraken {"error": ["EAPI:Invalid key"]}'
    assert run.summary["errors"] == {"kraken-main": broken.status_reason}
    for secret in (KRAKEN_KEY, KRAKEN_SECRET):
        assert secret not in broken.status_reason
        assert secret not in str(run.summary)
    completed = Event.objects.get(type="reconciliation_completed")
    assert completed.payload["errors"] == {"kraken-main": broken.status_reason}

    # The exchange answers again: the next run clears the error.
    exchange_http.replace("POST", f"{KRAKEN_API}/private/BalanceEx", json=kraken_json("balance_ex.json"))
    services.wallet_reconcile()
    broken.refresh_from_db()
    assert (broken.status, broken.status_reason, broken.drift_status) == ("active", "", "breach")


def test_exchange_balances_come_from_one_fetch_balance_per_wallet(kraken_wallet, exchange_http):
    first = kraken_wallet("kraken-a")
    kraken_wallet("kraken-b")
    services.ledger_post(wallet_id=first.pk, currency="BTC", amount="1.2435", kind="deposit")
    services.ledger_post(wallet_id=first.pk, currency="USD", amount="25435.21", kind="deposit")
    kraken_markets(exchange_http)
    exchange_http.post(f"{KRAKEN_API}/private/BalanceEx", json=kraken_json("balance_ex.json"))

    run = services.wallet_reconcile().run

    paths = sorted(call.request.path_url for call in exchange_http.calls)
    assert paths == ["/0/private/BalanceEx", "/0/private/BalanceEx", "/0/public/AssetPairs", "/0/public/Assets"]
    assert all(
        call.request.headers["API-Key"] == KRAKEN_KEY for call in exchange_http.calls if "private" in call.request.url
    )
    records = _records(run)
    assert sorted(records) == [("kraken-a", "BTC"), ("kraken-a", "USD"), ("kraken-b", "BTC"), ("kraken-b", "USD")]
    assert records[("kraken-a", "BTC")].drift == 0
    assert records[("kraken-a", "USD")].drift == 0
    assert records[("kraken-b", "BTC")].drift == Decimal("1.2435")
    assert (run.status, run.breaches) == ("succeeded", 2)


def test_a_slow_exchange_times_out_and_the_others_finish(paper_wallet, kraken_wallet, exchange_http, settings):
    settings.WALLETS_EXCHANGE_TIMEOUT = 0.3
    paper_wallet("paper", USDT="1")
    slow = kraken_wallet("kraken-slow")
    release = threading.Event()

    def hang(request):
        release.wait(5)
        return (200, {}, "{}")

    kraken_markets(exchange_http)
    exchange_http.add_callback("POST", f"{KRAKEN_API}/private/BalanceEx", callback=hang)
    try:
        run = services.wallet_reconcile().run
    finally:
        release.set()
    slow.refresh_from_db()
    assert (run.status, run.wallets_failed, run.drift_records.count()) == ("partial", 1, 1)
    assert slow.status_reason == "timed out after 0.3 s"


def test_missing_credentials_are_named_not_guessed(kraken_wallet, exchange_http, monkeypatch):
    wallet = kraken_wallet()
    monkeypatch.delenv("KRAKEN_TEST_SECRET")
    kraken_markets(exchange_http)
    run = services.wallet_reconcile().run
    wallet.refresh_from_db()
    assert run.status == "failed"
    assert wallet.status_reason == (
        "CredentialsMissing: KRAKEN_TEST_API_KEY and KRAKEN_TEST_SECRET must be set in the environment"
    )


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_reconcile_requests_give_one_run(kraken_wallet, exchange_http, client_for):
    kraken_wallet()
    inside, release = threading.Event(), threading.Event()

    def slow_balance(request):
        inside.set()
        release.wait(10)
        return (200, {}, json.dumps(kraken_json("balance_ex.json")))

    kraken_markets(exchange_http)
    exchange_http.add_callback("POST", f"{KRAKEN_API}/private/BalanceEx", callback=slow_balance)
    first_response = {}

    def first():
        try:
            first_response["r"] = client_for("operator").post("/api/v1/wallets/reconcile", {}, format="json")
        finally:
            connection.close()

    worker = threading.Thread(target=first)
    worker.start()
    try:
        assert inside.wait(20), "the first run never reached the exchange"
        second = client_for("operator").post("/api/v1/wallets/reconcile", {"threshold_abs": "1"}, format="json")
        also_scheduled = services.wallet_reconcile  # the beat task takes the same path
        with pytest.raises(services.ReconciliationBusy):
            also_scheduled(schedule_name="test")
    finally:
        release.set()
        worker.join(timeout=30)
    assert second.status_code == 409
    assert second.json()["running_run"] == ReconciliationRun.objects.get().pk
    assert first_response["r"].status_code == 201
    assert ReconciliationRun.objects.count() == 1
    assert ReconciliationRun.objects.get().status == "succeeded"


def test_idempotency_key_returns_the_first_run(paper_wallet, users):
    paper_wallet("w", USDT="1")
    first = services.wallet_reconcile(user=users["operator"], idempotency_key="k-1")
    again = services.wallet_reconcile(user=users["operator"], idempotency_key="k-1")
    assert (first.replayed, again.replayed, again.run.pk) == (False, True, first.run.pk)
    with pytest.raises(ValidationError) as refused:
        services.wallet_reconcile(user=users["operator"], idempotency_key="k-1", threshold_abs="5")
    assert "idempotency_key" in refused.value.message_dict
    assert ReconciliationRun.objects.count() == 1


def test_a_run_that_died_is_marked_failed_and_does_not_block_the_next(paper_wallet):
    paper_wallet("w", USDT="1")
    dead = services.reconciliation_start().run
    ReconciliationRun.objects.filter(pk=dead.pk).update(started_at=timezone.now() - timedelta(hours=1))
    run = services.wallet_reconcile().run
    dead.refresh_from_db()
    assert (dead.status, run.status) == ("failed", "succeeded")
    assert dead.summary == {"error": "The run died: still running after the stale limit."}


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"threshold_abs": "-1"}, "threshold_abs"),
        ({"threshold_rel": "abc"}, "threshold_rel"),
        ({"wallet_ids": [424242]}, "wallet_ids"),
        ({"wallet_ids": []}, "wallet_ids"),
    ],
)
def test_bad_reconcile_input_is_refused_and_starts_nothing(paper_wallet, kwargs, field):
    paper_wallet("w", USDT="1")
    with pytest.raises(ValidationError) as refused:
        services.wallet_reconcile(**kwargs)
    assert field in refused.value.message_dict
    assert ReconciliationRun.objects.count() == 0


def test_drift_correction_books_an_adjustment_by_the_admin_with_the_reason(paper_wallet, users):
    wallet = paper_wallet("w", BTC="2")
    services.paper_exchange_move(wallet_id=wallet.pk, deltas={"BTC": "-0.1"}, reference="lost")
    run = services.wallet_reconcile().run
    record = run.drift_records.get()

    entry = services.drift_correct(drift_record_id=record.pk, user=users["admin"], reason="venue fee not booked")

    assert (entry.kind, entry.currency, entry.amount, entry.note) == (
        "adjustment",
        "BTC",
        Decimal("-0.1"),
        "venue fee not booked",
    )
    assert entry.created_by == users["admin"]
    record.refresh_from_db()
    assert record.correction_id == entry.pk
    event = Event.objects.get(type="ledger_adjusted")
    assert event.source == "user:ada"
    assert event.payload["reason"] == "venue fee not booked"
    assert event.payload["drift_record_id"] == record.pk
    assert services.wallet_reconcile().run.breaches == 0
    with pytest.raises(ValidationError) as twice:
        services.drift_correct(drift_record_id=record.pk, user=users["admin"], reason="again")
    assert "drift_record" in twice.value.message_dict


@pytest.mark.parametrize(
    ("role", "reason", "error"), [("operator", "ok", PermissionDenied), ("admin", "  ", ValidationError)]
)
def test_drift_correction_without_reason_or_by_a_non_admin_writes_nothing(paper_wallet, users, role, reason, error):
    wallet = paper_wallet("w", BTC="2")
    services.paper_exchange_move(wallet_id=wallet.pk, deltas={"BTC": "1"}, reference="x")
    record = services.wallet_reconcile().run.drift_records.get()
    entries_before = LedgerEntry.objects.count()
    with pytest.raises(error):
        services.drift_correct(drift_record_id=record.pk, user=users[role], reason=reason)
    assert LedgerEntry.objects.count() == entries_before
    assert not Event.objects.filter(type="ledger_adjusted").exists()


def test_disabled_wallets_are_left_out_and_wallet_ids_narrow_the_run(paper_wallet):
    kept = paper_wallet("kept", USDT="1")
    other = paper_wallet("other", USDT="1")
    disabled = paper_wallet("disabled", USDT="1")
    services.wallet_update(wallet_id=disabled.pk, status="disabled", status_reason="closed account")
    everything = services.wallet_reconcile().run
    narrowed = services.wallet_reconcile(wallet_ids=[kept.pk, disabled.pk]).run
    assert sorted(everything.drift_records.values_list("wallet_id", flat=True)) == [kept.pk, other.pk]
    assert list(narrowed.drift_records.values_list("wallet_id", flat=True)) == [kept.pk]
    disabled.refresh_from_db()
    assert (disabled.status, disabled.drift_status, disabled.last_run_id) == ("disabled", "never", None)


def test_an_exchange_echoing_the_api_key_never_gets_it_into_the_database_or_logs(kraken_wallet, exchange_http, caplog):
    wallet = kraken_wallet()
    kraken_markets(exchange_http)
    exchange_http.post(
        f"{KRAKEN_API}/private/BalanceEx", json={"error": [f"EGeneral:Invalid arguments:key {KRAKEN_KEY}"]}
    )
    with caplog.at_level("DEBUG"):
        run = services.wallet_reconcile().run
    wallet.refresh_from_db()
    assert wallet.status_reason == 'ExchangeError: kraken {"error": ["EGeneral:Invalid arguments:key ***"]}'
    assert KRAKEN_KEY not in caplog.text
    assert KRAKEN_SECRET not in caplog.text
    assert KRAKEN_KEY not in str(run.summary)
    assert not Event.objects.filter(payload__errors__icontains=KRAKEN_KEY).exists()


def test_a_run_that_fails_on_an_internal_error_shows_a_sentence_and_logs_the_exception(
    paper_wallet, monkeypatch, caplog
):
    paper_wallet("w", USDT="1")

    def broken(**kwargs):
        raise ZeroDivisionError("decimal division by zero")

    monkeypatch.setattr(services, "reconciliation_execute", broken)
    with pytest.raises(ZeroDivisionError):
        services.wallet_reconcile()
    run = ReconciliationRun.objects.get()
    assert run.status == "failed"
    assert run.summary == {
        "error": f"The reconciliation stopped on an internal error. The details are in the server log "
        f"under reconciliation run {run.pk}."
    }
    logged = [r for r in caplog.records if r.name == "wallets.services" and r.exc_info]
    assert logged[0].exc_info[0] is ZeroDivisionError
