"""The Decisions page in Chromium: column headers sort on the server (the order in the URL), "Load
more" appends the next page in that order while live rows keep arriving on top, and the symbol
filter is a picker of known instruments; no sideways scroll at 1440x900 or 390x844."""

import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from events.services import EventDraft, emit, emit_many
from market.models import Instrument

pytestmark = pytest.mark.slow

SYMBOLS = ["SOL-USDT", "BTC-USD", "ETH-USD"]


@pytest.fixture
def instruments(sol):
    """The seeded instruments (made again: a transactional test before this one emptied the table)."""
    for symbol, tick, lot in (("BTC-USD", "0.1", "0.00001"), ("ETH-USD", "0.01", "0.0001")):
        base, quote = symbol.split("-")
        Instrument.objects.update_or_create(
            symbol=symbol,
            defaults={
                "base": base,
                "quote": quote,
                "price_tick": Decimal(tick),
                "lot_size": Decimal(lot),
                "min_notional": Decimal("5"),
            },
        )


def _notes(count: int, start: int = 0):
    return emit_many(
        [
            EventDraft("intent", {"action": "note", "note": f"n{n}", "symbol": SYMBOLS[n % 3]}, "user:otto",
                       run_id=f"r{n % 4}")
            for n in range(start, start + count)
        ]
    )  # fmt: skip


def _row_ids(tab) -> list[int]:
    return [int(i) for i in tab.page.locator("#events tbody tr").evaluate_all("rows => rows.map(r => r.dataset.id)")]


def _column(tab, index: int) -> list[str]:
    return tab.page.locator(f"#events tbody tr td:nth-child({index})").all_inner_texts()


def _no_sideways_scroll(tab) -> None:
    assert tab.page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")


@pytest.mark.parametrize(("width", "height"), [(1440, 900), (390, 844)], ids=["1440x900", "390x844"])
def test_decisions_sort_load_more_and_symbol_picker(users, instruments, open_tab, server_side, width, height):
    notes = server_side(_notes, 70)
    tab = open_tab(viewport={"width": width, "height": height})
    tab.login("otto", "/decisions/")
    expect(tab.page.locator("#conn")).to_have_text("Live", timeout=5000)

    # Newest first, a page of 50, then "Load more" appends the rest and says where the list ends.
    assert _row_ids(tab) == [e.id for e in reversed(notes)][:50]
    expect(tab.page.locator("#shown-count")).to_have_text("50 events shown")
    # A live event arrives on top, and "Load more" still appends exactly what is below.
    fresh = server_side(emit, "intent", {"action": "note", "note": "live", "symbol": "ETH-USD"}, source="user:otto")
    expect(tab.page.locator(f"#ev-{fresh.id}")).to_have_count(1, timeout=3000)
    tab.page.locator("#load-more").click()
    expect(tab.page.locator("#list-end")).to_have_text("End of the list.")
    assert _row_ids(tab) == [fresh.id, *(e.id for e in reversed(notes))]
    expect(tab.page.locator("#shown-count")).to_have_text("71 events shown")
    assert tab.page.url == f"{tab.base}/decisions/"  # loading more is not a navigation
    _no_sideways_scroll(tab)
    tab.screenshot(f"decisions-load-more-{width}")

    # Click "Symbol": sorted A to Z on the server, newest first among equals, the order in the URL.
    tab.page.locator('th[data-sort="symbol"] a').click()
    tab.page.wait_for_url(re.compile(r"/decisions/\?ordering=symbol$"))
    expect(tab.page.locator('th[data-sort="symbol"]')).to_have_attribute("aria-sort", "ascending")
    expect(tab.page.locator("#not-live")).to_be_visible()  # rows in this order do not stream in
    tab.page.locator("#load-more").click()
    expect(tab.page.locator("#list-end")).to_be_visible()
    symbols = _column(tab, 3)
    assert symbols == sorted(symbols)
    assert len(symbols) == 71
    eth = [i for i, s in zip(_row_ids(tab), symbols, strict=True) if s == "ETH-USD"]
    assert eth == sorted(eth, reverse=True)
    assert eth[0] == fresh.id
    # Again: Z to A.
    tab.page.locator('th[data-sort="symbol"] a').click()
    tab.page.wait_for_url(re.compile(r"ordering=-symbol"))
    expect(tab.page.locator('th[data-sort="symbol"]')).to_have_attribute("aria-sort", "descending")
    assert _column(tab, 3)[0] == "SOL-USDT"
    _no_sideways_scroll(tab)
    tab.screenshot(f"decisions-sorted-{width}")

    # The symbol picker lists the known instruments; picking one keeps the sort.
    options = tab.page.locator("#id_symbol option").all_inner_texts()
    assert options == ["Any symbol", "BTC-USD", "ETH-USD", "SOL-USDT"]
    tab.page.select_option("#id_symbol", "BTC-USD")
    tab.page.locator("form.filters button[type=submit]").click()
    tab.page.wait_for_url(re.compile(r"symbol=BTC-USD"))
    assert "ordering=-symbol" in tab.page.url
    assert set(_column(tab, 3)) == {"BTC-USD"}
    assert len(_column(tab, 3)) == 23

    # Back to time, newest first (the default drops out of the URL), and live again.
    tab.page.locator('th[data-sort="time"] a').click()
    tab.page.wait_for_url(lambda url: "symbol=BTC-USD" in url and "ordering" not in url)
    expect(tab.page.locator('th[data-sort="time"]')).to_have_attribute("aria-sort", "descending")
    expect(tab.page.locator("#not-live")).to_have_count(0)
    late = server_side(emit, "intent", {"action": "note", "note": "late", "symbol": "BTC-USD"}, source="user:otto")
    expect(tab.page.locator(f"#ev-{late.id}")).to_have_count(1, timeout=3000)
    assert _row_ids(tab)[0] == late.id
    _no_sideways_scroll(tab)
    assert tab.errors == []


@pytest.mark.parametrize(("width", "height"), [(1440, 900), (390, 844)], ids=["1440x900", "390x844"])
def test_a_blocks_chain_says_what_the_trade_would_have_done(users, sol, open_tab, server_side, width, height):
    from agents.tests.shadows import block_with_shadow

    block, _ = server_side(block_with_shadow)
    bare, _ = server_side(block_with_shadow, closed=False)
    tab = open_tab(viewport={"width": width, "height": height})
    tab.login("vera", "/decisions/?type=trade_blocked")
    tab.page.locator(f"#ev-{block.id} a.chain-link").click()
    tab.page.wait_for_url(f"{tab.base}/decisions/events/{block.event_id}/")
    section = tab.page.locator("#shadow")
    expect(section.locator("h2")).to_have_text("Had this trade gone through: stop, -14.41 USDT")
    api = tab.page.request.get(f"{tab.base}/api/v1/events/{block.event_id}/chain").json()["sections"]["shadow"]
    shown = {
        key: section.locator(f'dd[data-key="{key}"]').inner_text()
        for key in ("entry", "exit", "exit_reason", "pnl", "pnl_pct", "fees", "holding", "mae")
    }
    assert shown == {key: api["display"][key] for key in shown}  # the same numbers as the API
    assert shown["entry"] == "143.09"
    assert shown["mae"] == "13.60 USDT (2.75 %)"
    assert api["summary"] == f"Had this trade gone through: {api['line']}"
    expect(section.locator(".shadow-line")).to_have_text(api["line"][0].upper() + api["line"][1:])
    assert tab.page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    tab.screenshot(f"chain-block-shadow-{width}")

    tab.goto(f"/decisions/events/{bare.event_id}/")
    expect(tab.page.locator("#chain > li")).to_have_count(1)
    expect(tab.page.locator("#shadow")).to_have_count(0)
    assert tab.errors == []
