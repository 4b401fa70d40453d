import io
import random
import threading
import uuid
from collections import defaultdict
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.db.models import Sum

from wallets import services
from wallets.models import LedgerEntry, PaperExchangeBalance, WalletBalance


def _balances(wallet_id) -> dict[str, Decimal]:
    return dict(WalletBalance.objects.filter(wallet_id=wallet_id).values_list("currency", "amount"))


def _sums(wallet_id) -> dict[str, Decimal]:
    rows = LedgerEntry.objects.filter(wallet_id=wallet_id).values("currency").annotate(total=Sum("amount"))
    return {row["currency"]: row["total"] for row in rows}


@pytest.mark.django_db(transaction=True)
def test_balance_equals_sum_of_entries_after_concurrent_postings():
    wallets = [services.wallet_create(name=f"w{i}", kind="paper") for i in range(2)]
    currencies = ["BTC", "ETH", "USDT"]
    threads, per_thread = 6, 40
    rng = random.Random(7)
    plans = [
        [
            (rng.choice(wallets).pk, rng.choice(currencies), Decimal(rng.randint(-(10**9), 10**9)) / Decimal(10**8))
            for _ in range(per_thread)
        ]
        for _ in range(threads)
    ]
    plans = [[step for step in plan if step[2] != 0] for plan in plans]
    expected: dict[tuple[int, str], Decimal] = defaultdict(Decimal)
    for plan in plans:
        for wallet_id, currency, amount in plan:
            expected[(wallet_id, currency)] += amount
    barrier = threading.Barrier(threads)
    failures = []

    def post(plan):
        try:
            barrier.wait(timeout=10)
            for wallet_id, currency, amount in plan:
                services.ledger_post(wallet_id=wallet_id, currency=currency, amount=amount, kind="transfer")
        except Exception as exc:  # reported below
            failures.append(exc)
        finally:
            connection.close()

    workers = [threading.Thread(target=post, args=(plan,)) for plan in plans]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert failures == []
    assert LedgerEntry.objects.count() == sum(len(plan) for plan in plans)
    for wallet in wallets:
        balances = _balances(wallet.pk)
        assert balances == _sums(wallet.pk)
        assert balances == {c: a for (w, c), a in expected.items() if w == wallet.pk}


@pytest.mark.django_db(transaction=True)
def test_concurrent_postings_of_one_dedupe_key_book_once():
    wallet = services.wallet_create(name="w", kind="paper")
    barrier = threading.Barrier(4)
    created = []

    def post():
        try:
            barrier.wait(timeout=10)
            entry = services.ledger_post(
                wallet_id=wallet.pk, currency="USDT", amount="-12.5", kind="fee", dedupe_key="fee:once"
            )
            created.append(entry.created)
        finally:
            connection.close()

    workers = [threading.Thread(target=post) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    assert sorted(created) == [False, False, False, True]
    assert _balances(wallet.pk) == {"USDT": Decimal("-12.5")}
    assert LedgerEntry.objects.count() == 1


def test_repeated_dedupe_key_returns_the_first_entry_and_books_nothing(db):
    wallet = services.wallet_create(name="w", kind="paper")
    first = services.ledger_post(wallet_id=wallet.pk, currency="BTC", amount="0.5", kind="deposit", dedupe_key="d1")
    again = services.ledger_post(wallet_id=wallet.pk, currency="BTC", amount="0.5", kind="deposit", dedupe_key="d1")
    assert (first.created, again.created, again.pk) == (True, False, first.pk)
    assert _balances(wallet.pk) == {"BTC": Decimal("0.5")}


def test_ledger_post_joins_the_callers_transaction_and_rolls_back_with_it(db):
    wallet = services.wallet_create(name="w", kind="paper")
    with transaction.atomic():
        services.ledger_post(wallet_id=wallet.pk, currency="BTC", amount="1", kind="deposit")
        transaction.set_rollback(True)
    assert LedgerEntry.objects.count() == 0
    assert _balances(wallet.pk) == {}


def test_fill_books_base_quote_and_fee_once_per_fill_id(db):
    wallet = services.wallet_create(name="paper", kind="paper")
    event_id, correlation_id = uuid.uuid4(), uuid.uuid4()
    fill = {
        "wallet_id": wallet.pk,
        "fill_id": "f-1",
        "symbol": "SOL-USDT",
        "side": "buy",
        "qty": "2.5",
        "price": "140.12",
        "fee": "0.35",
        "event_id": event_id,
        "correlation_id": correlation_id,
    }
    entries = services.ledger_post_fill(**fill)
    services.ledger_post_fill(**fill)  # a replayed projection
    services.ledger_post_fill(**{**fill, "fill_id": "f-2", "side": "sell", "qty": "1", "price": "150", "fee": "0"})
    assert [(e.currency, e.amount, e.kind) for e in entries] == [
        ("SOL", Decimal("2.5"), "fill"),
        ("USDT", Decimal("-350.3"), "fill"),
        ("USDT", Decimal("-0.35"), "fee"),
    ]
    assert {e.reference for e in entries} == {"fill:f-1"}
    assert {(e.event_id, e.correlation_id) for e in entries} == {(event_id, correlation_id)}
    assert LedgerEntry.objects.count() == 5
    assert _balances(wallet.pk) == {"SOL": Decimal("1.5"), "USDT": Decimal("-200.65")}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"amount": "0"}, "amount"),
        ({"amount": "abc"}, "amount"),
        ({"amount": "1e-19"}, "amount"),
        ({"kind": "deposit", "amount": "-1"}, "amount"),
        ({"kind": "fee", "amount": "1"}, "amount"),
        ({"currency": "btc"}, "currency"),
        ({"currency": "BTC-USD"}, "currency"),
        ({"kind": "gift"}, "kind"),
        ({"wallet_id": 987654}, "wallet_id"),
    ],
)
def test_bad_ledger_input_is_refused_by_field_and_writes_nothing(db, changes, field):
    wallet = services.wallet_create(name="w", kind="paper")
    args = {"wallet_id": wallet.pk, "currency": "BTC", "amount": "1", "kind": "transfer", **changes}
    with pytest.raises(ValidationError) as refused:
        services.ledger_post(**args)
    assert field in refused.value.message_dict
    assert LedgerEntry.objects.count() == 0
    assert WalletBalance.objects.count() == 0


def test_balances_rebuild_reproduces_incremental_balances(db):
    wallet = services.wallet_create(name="w", kind="paper")
    for amount in ("1.1", "-0.3", "2"):
        services.ledger_post(wallet_id=wallet.pk, currency="ETH", amount=amount, kind="transfer")
    services.ledger_post(wallet_id=wallet.pk, currency="USDT", amount="10", kind="deposit")
    incremental = _balances(wallet.pk)
    assert services.wallet_balances_rebuild() == 2
    assert _balances(wallet.pk) == incremental == {"ETH": Decimal("2.8"), "USDT": Decimal("10")}


def test_paper_wallet_setup_funds_both_sides_once(db):

    out = io.StringIO()
    for _ in range(2):
        call_command("wallets_paper_setup", "--fund", "USDT=100000", "--fund", "btc=0.5", stdout=out)
    assert out.getvalue().splitlines()[-1].endswith("0.5 BTC, 100000 USDT")
    wallet = services.paper_wallet_ensure(name="paper")
    assert _balances(wallet.pk) == {"BTC": Decimal("0.5"), "USDT": Decimal("100000")}
    paper_side = dict(PaperExchangeBalance.objects.filter(wallet=wallet).values_list("currency", "amount"))
    assert paper_side == {"BTC": Decimal("0.5"), "USDT": Decimal("100000")}
    assert services.wallet_reconcile().run.breaches == 0


def test_paper_fill_settled_by_the_venue_and_booked_by_the_ledger_reconciles_clean(db):
    wallet = services.paper_wallet_ensure(name="paper", funds={"USDT": "1000"})
    fill = {"fill_id": "f1", "symbol": "BTC-USDT", "side": "buy", "qty": "0.01", "price": "65000", "fee": "0.65"}
    services.paper_exchange_settle_fill(wallet_id=wallet.pk, **fill)  # the paper broker, at fill time
    services.ledger_post_fill(wallet_id=wallet.pk, **fill)  # the agents' fill projector
    assert services.paper_exchange_settle_fill(wallet_id=wallet.pk, **fill) is False  # a retry moves nothing
    run = services.wallet_reconcile(threshold_abs="0", threshold_rel="0").run
    assert (run.breaches, run.drift_records.count()) == (0, 2)
    assert _balances(wallet.pk) == {"BTC": Decimal("0.01"), "USDT": Decimal("349.35")}


def test_check_balances_command_finds_and_repairs_a_broken_balance(db):

    wallet = services.wallet_create(name="w", kind="paper")
    services.ledger_post(wallet_id=wallet.pk, currency="BTC", amount="1.5", kind="deposit")
    out = io.StringIO()
    call_command("wallets_check_balances", stdout=out)
    assert out.getvalue() == "1 balances match their entries.\n"
    WalletBalance.objects.filter(wallet=wallet).update(amount=Decimal("9"))  # a bug, or a hand edit
    with pytest.raises(CommandError, match="1 balance"):
        call_command("wallets_check_balances", stdout=io.StringIO())
    call_command("wallets_check_balances", "--repair", stdout=io.StringIO())
    assert _balances(wallet.pk) == {"BTC": Decimal("1.5")}


def test_fill_amounts_beyond_18_places_are_rounded_the_same_on_both_sides(db):
    wallet = services.paper_wallet_ensure(name="paper", funds={"USDT": "100"})
    fill = {
        "fill_id": "f",
        "symbol": "SOL-USDT",
        "side": "buy",
        "qty": "0.1",
        "price": "140.123",
        "fee": "0.0140123000000000004",
    }
    services.paper_exchange_settle_fill(wallet_id=wallet.pk, **fill)
    entries = services.ledger_post_fill(wallet_id=wallet.pk, **fill)
    assert [e.amount for e in entries] == [Decimal("0.1"), Decimal("-14.0123"), Decimal("-0.014012300000000000")]
    assert services.wallet_reconcile(threshold_abs="0", threshold_rel="0").run.breaches == 0
