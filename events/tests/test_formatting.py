"""One formatting rule for numbers a person reads (the API keeps exact decimals)."""

from decimal import Decimal

import pytest

from events import formatting, types
from events.presentation import event_to_dict
from events.services import emit

pytestmark = pytest.mark.django_db  # SOL-USDT (tick 0.01, lot 0.001, USDT) is seeded by a migration


@pytest.fixture(autouse=True)
def fresh_cache():
    formatting.forget_instrument_precision()
    yield
    formatting.forget_instrument_precision()


def test_prices_round_to_the_instruments_tick_and_group_thousands():
    assert formatting.price("143.08932467552788", "SOL-USDT") == "143.09"
    assert formatting.price("61234.5", "SOL-USDT") == "61,234.50"
    assert formatting.price("143.085", "SOL-USDT") == "143.08"  # half to even, as the engine rounds


def test_quantities_round_to_the_instruments_lot():
    assert formatting.qty("247.96412", "SOL-USDT") == "247.964"
    assert formatting.qty("0.5", "SOL-USDT") == "0.500"
    assert formatting.qty("12000", "SOL-USDT") == "12,000.000"


def test_money_takes_its_currencys_precision():
    assert formatting.money("100911.910064625", "USDT") == "100,911.91"
    assert formatting.money("15.80435899973673", "USDT") == "15.80"
    assert formatting.money("1517.387310617960511591", "USDT") == "1,517.39"
    assert formatting.money("0.000123456789", "BTC") == "0.00012346"
    assert formatting.money("-0.001", "USD") == "0.00"  # never "-0.00"
    assert formatting.money("12.5", "USD", sign=True) == "+12.50"


def test_percentages_say_percent():
    assert formatting.pct("0.0123") == "1.23 %"
    assert formatting.pct("-0.5") == "-50.00 %"
    assert formatting.pct("7.5", fraction=False, sign=True) == "+7.50 %"


def test_holding_times_show_their_two_largest_units():
    assert formatting.duration(0) == "0 s"
    assert formatting.duration(95) == "1 min 35 s"
    assert formatting.duration(9000) == "2 h 30 min"
    assert formatting.duration(3605) == "1 h"  # the seconds of a long hold are noise
    assert formatting.duration(93784) == "1 d 2 h"
    assert formatting.duration(None) == "—"


def test_an_exit_fill_says_why_it_exited():
    payload = {"fill_id": "f2", "order_id": "o2", "symbol": "SOL-USDT", "side": "sell", "qty": "1", "price": "95",
               "exit_reason": "stop"}  # fmt: skip
    assert types.summarize("fill", payload) == "Filled sell 1.000 SOL-USDT @ 95.00 (stop)"


def test_unknown_instruments_and_bad_values_fall_back_without_failing():
    assert formatting.price("1.23456789012", "NOPE-USD") == "1.23456789"
    assert formatting.qty("3", "") == "3"
    assert formatting.price(None) == "—"
    assert formatting.money("not a number") == "not a number"


def test_the_summary_is_registered_with_the_type_and_sent_in_the_events_json():
    fill = emit(
        "fill",
        {"fill_id": "f1", "order_id": "o1", "symbol": "SOL-USDT", "side": "buy", "qty": "247.96412",
         "price": "143.08932467552788", "fee": "15.80435899973673"},
        source="agent:execution",
    )  # fmt: skip
    data = event_to_dict(fill)
    assert data["summary"] == "Filled buy 247.964 SOL-USDT @ 143.09 · fee 15.80 USDT"
    assert data["payload"]["price"] == "143.08932467552788"  # exact in the API
    assert types.get("fill").summary is not None


def test_every_registered_type_has_its_own_summary():
    assert [name for name in types.names() if types.get(name).summary is None] == []


def test_a_block_summary_carries_its_numbers():
    payload = {"symbol": "SOL-USDT", "side": "buy", "reason": "risk_budget_exhausted", "reason_class": "risk_valid",
               "qty": "14.3", "price": "139.5"}  # fmt: skip
    assert types.summarize("trade_blocked", payload) == (
        "Blocked buy 14.300 SOL-USDT @ 139.50: risk_budget_exhausted (risk_valid)"
    )
    assert Decimal(payload["qty"]) == Decimal("14.3")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(45, "45 s"), (60, "1 min"), (10800, "3 h"), (5430, "1 h 30 min"), (90061, "1 d 1 h"), (None, "—"), ("x", "—")],
)
def test_a_duration_shows_its_two_largest_units(seconds, text):
    assert formatting.duration(seconds) == text


def test_a_time_reads_in_utc_from_any_offset():
    assert formatting.utc_time("2024-09-20T14:00:00+02:00") == "2024-09-20 12:00:00 UTC"
    assert formatting.utc_time("2024-09-20T12:00:00Z") == "2024-09-20 12:00:00 UTC"
    assert formatting.utc_time(None) == "—"
