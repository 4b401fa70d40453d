"""The top bar tells the truth on every page: mode, kill switch, paused trading and the socket's state
come over each page's own socket and follow a change within a second (real Chromium, real uvicorn
and Redis layer)."""

import time

import pytest
from playwright.sync_api import expect

from agents.services import LIVE_RUN_ID, kill_switch_set
from events.services import emit

pytestmark = pytest.mark.slow

PAGES = ["/", "/decisions/", "/agents/", "/backtests/", "/market/", "/wallets/"]


def _open_every_page(open_tab):
    tab = open_tab()
    tab.login("ada", "/")
    pages = [tab.page]
    for path in PAGES[1:]:
        page = tab.context.new_page()
        page.goto(tab.base + path)
        pages.append(page)
    for page in pages:
        expect(page.locator("#conn")).to_have_text("Live", timeout=5000)
        expect(page.locator("#kill-switch")).to_have_text("Kill switch: off")
    return tab, pages


def test_kill_switch_and_pause_reach_the_header_of_every_open_page_within_a_second(users, open_tab, server_side):
    tab, pages = _open_every_page(open_tab)

    started = time.monotonic()
    server_side(kill_switch_set, user=users["admin"], engaged=True, reason="exchange outage")
    for page in pages:
        expect(page.locator("#kill-switch")).to_have_text("Kill switch: ENGAGED", timeout=1000)
    assert time.monotonic() - started < 1.5

    server_side(emit, "run_control", {"action": "pause", "reason": "news"}, source="user:ada", run_id=LIVE_RUN_ID)
    for page in pages:
        expect(page.locator("#trading")).to_have_text("Trading: PAUSED", timeout=1000)

    server_side(kill_switch_set, user=users["admin"], engaged=False)
    server_side(emit, "run_control", {"action": "resume", "reason": "calm"}, source="user:ada", run_id=LIVE_RUN_ID)
    for page in pages:
        expect(page.locator("#kill-switch")).to_have_text("Kill switch: off", timeout=1000)
        expect(page.locator("#trading")).to_have_text("Trading: running", timeout=1000)
    assert tab.errors == []


def test_a_change_made_while_the_page_was_loading_shows_once_the_socket_opens(users, open_tab, server_side):
    tab = open_tab()
    tab.login("ada", "/backtests/")
    # Rendered "off", socket closed: the change happens between render and (re)subscription.
    tab.page.evaluate("window.tradingopsLive.stop()")
    server_side(kill_switch_set, user=users["admin"], engaged=True, reason="drill")
    expect(tab.page.locator("#kill-switch")).to_have_text("Kill switch: off")
    tab.page.evaluate("window.tradingopsLive.stopped = false; window.tradingopsLive.start()")
    expect(tab.page.locator("#kill-switch")).to_have_text("Kill switch: ENGAGED", timeout=1000)
    expect(tab.page.locator("#conn")).to_have_text("Live")
