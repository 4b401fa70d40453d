"""The Overview's book (issue 12 deliverable 3, issue 15 deliverable 2): the equity and P&L chart,
open and closed trades with P&L, duration and exit reason, and the block scorecard panel; numbers
formatted by the one rule (events.formatting). Server-rendered here, in Chromium below."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from events.services import emit

from .overview_data import _blocked, seed_book
from .test_browser_density import _line_pixels
from .test_browser_layout import _overflow

# Symbol, status, P&L, P&L %, duration, exit reason, qty, entry, exit (or mark), [opened, closed,] side
CLOSED_ROW = ["SOL-USDT", "closed", "-79.41 USDT", "-5.67 %", "2 min 30 s", "stop", "10.000", "140.12", "132.46"]
OPEN_ROW = ["SOL-USDT", "open", "+24.03 USDT", "+3.32 %", "5.500", "131.50", "136.00 mark", "long"]


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


def _rows(html: str, table_id: str) -> list[list[str]]:
    table = html[html.index(f'id="{table_id}"') :]
    table = table[: table.index("</table>")]
    return [
        [_text(cell) for cell in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.S)]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", table, re.S)
    ]


def _cells(row: list[str]) -> list[str]:
    return [c.replace("▲ ", "").replace("▼ ", "").replace(" gain", "").replace(" loss", "") for c in row]


@pytest.fixture
def viewer(client, users, sol):
    client.force_login(users["viewer"])
    return client


def test_the_overview_shows_trades_the_equity_curve_and_the_scorecard_formatted(viewer):
    start = seed_book()
    asked = timezone.now()
    html = viewer.get("/").content.decode()
    answered = timezone.now()
    head, open_row, closed_row = _rows(html, "trades-table")
    assert head[:6] == ["Symbol", "Status", "P&amp;L", "P&amp;L %", "Duration", "Exit reason"]
    opened = _cells(open_row)
    assert opened[:4] + opened[6:9] + opened[11:12] == OPEN_ROW
    assert opened[5] == "—"  # no exit reason while open
    # held since the third minute until the page was rendered (a slow machine may cross a minute)
    held = re.fullmatch(r"(\d+) min(?: (\d+) s)?", opened[4])  # "18 min" on the whole minute
    assert held, opened[4]
    held_s = int(held[1]) * 60 + int(held[2] or 0)
    opened_at = start + timedelta(minutes=3)
    assert (asked - opened_at).total_seconds() - 1 <= held_s <= (answered - opened_at).total_seconds() + 1
    closed = _cells(closed_row)
    assert closed[:9] == CLOSED_ROW
    assert closed[10] != "—"
    assert closed[11] == "long"
    assert 'href="/trades/"' in html

    head, *reasons, total = _rows(html, "scorecard-table")
    assert head == ["Reason", "Blocks", "Shadows closed", "Saved", "Forgone", "Net", "Hit rate"]
    assert [_cells(r) for r in reasons] == [
        ["daily_trade_cap", "2", "2", "12.35", "30.50", "-18.15", "50.00 %"],
        ["cooldown", "1", "1", "4.25", "0.00", "+4.25", "100.00 %"],
    ]
    assert _cells(total) == ["All reasons", "3", "3", "16.60", "30.50", "-13.90", "66.67 %"]

    points = re.search(r'<script id="equity-data" type="application/json">(.*?)</script>', html, re.S).group(1)
    assert points.count('"ts"') == 20  # a point a minute: the fills' three minutes, then 17 of marks
    assert 'id="equity-chart"' in html
    assert 'id="equity-empty" class="empty" hidden' in html


def test_the_overview_says_what_is_missing_on_an_empty_book(viewer):
    html = viewer.get("/").content.decode()
    assert "No trade yet." in html
    assert "No equity to chart yet" in html
    assert "No trade was blocked in the last 24 hours" in html


def test_the_trades_page_pages_and_filters_like_the_api(viewer):
    seed_book()
    html = viewer.get("/trades/?status=closed").content.decode()
    assert [_cells(r)[1] for r in _rows(html, "trades-table")[1:]] == ["closed"]
    html = viewer.get("/trades/?symbol=SOL-USDT").content.decode()
    assert len(_rows(html, "trades-table")) == 3
    response = viewer.get("/trades/?status=half&since=yesterday")
    assert response.status_code == 400
    body = response.content.decode()
    assert 'id="err-status"' in body
    assert 'id="err-since"' in body


# --- Chromium ----------------------------------------------------------------------------------

SIZES = [(1440, 900), (390, 844)]


@pytest.mark.slow
@pytest.mark.parametrize(("width", "height"), SIZES, ids=["1440x900", "390x844"])
def test_the_chart_draws_trades_and_scorecard_show_and_both_follow_the_book_live(
    users, sol, open_tab, server_side, width, height
):

    start = server_side(seed_book)
    tab = open_tab(viewport={"width": width, "height": height})
    tab.login("vera", "/")
    expect(tab.page.locator("#conn")).to_have_text("Live", timeout=5000)
    tab.wait_for("window.tradingopsChart && window.tradingopsChart.equity.data().length === 20")
    assert tab.page.evaluate("window.tradingopsChart.pnl.data().length") == 20
    tab.page.locator("#equity-chart").scroll_into_view_if_needed()
    tab.page.wait_for_timeout(300)  # a frame to paint
    assert _line_pixels(tab.page, "#equity-chart") > 50, "the equity line is drawn, not only its axes"

    closed = tab.page.locator("#trades-table tr.trade-closed").first
    expect(closed.locator(".trade-pnl")).to_contain_text("-79.41 USDT")
    expect(closed.locator(".trade-pct")).to_have_text("-5.67 %")
    expect(closed.locator(".trade-duration")).to_have_text("2 min 30 s")
    expect(closed.locator(".trade-exit")).to_have_text("stop")
    opened = tab.page.locator("#trades-table tr.trade-open")
    expect(opened.locator(".trade-pnl")).to_contain_text("+24.03 USDT")
    expect(tab.page.locator("#scorecard-total")).to_contain_text("16.60")
    expect(tab.page.locator("#scorecard tr[data-reason=cooldown]")).to_contain_text("100.00 %")
    tab.screenshot(f"overview-book-{width}")

    # live: a new mark moves the open trade's P&L and adds the next minute's point to the chart
    mark_at = start + timedelta(minutes=21, seconds=5)
    server_side(emit, "marks_updated", {"prices": {"SOL-USDT": "140"}}, source="agent:execution", ts=mark_at)
    expect(opened.locator(".trade-pnl")).to_contain_text("+46.03 USDT", timeout=5000)  # 8.5 * 5.5 - 0.72
    tab.wait_for("window.tradingopsChart.equity.data().length === 21", timeout=5000)
    # a block whose shadow closed shows up in the scorecard
    server_side(_block_with_outcome)
    expect(tab.page.locator("#scorecard tr[data-reason=max_positions]")).to_contain_text("7.00", timeout=5000)
    assert _overflow(tab.page) == [], "no horizontal scroll"
    assert tab.errors == []


def _block_with_outcome():

    _blocked("max_positions", "-7", timezone.now() - timedelta(hours=2))


def test_a_forged_cursor_on_the_trades_page_is_a_400_not_a_500(viewer):
    response = viewer.get("/trades/?cursor=cD1ub3QtYS1kYXRl")  # p=not-a-date
    assert response.status_code == 400
    assert 'id="err-cursor"' in response.content.decode()
