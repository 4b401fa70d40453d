"""Deliverable 3 of issue 12 in Chromium: refused actions stay in place and the page stays live;
flatten-all asks for typed words; Market opens on a symbol with data and a last price; the Agents
judgement chart draws even a single judgement."""

import importlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.apps import apps
from playwright.sync_api import expect

from events.services import emit
from market.services import TickInput

from .test_browser import FILL, feed_ticks

pytestmark = pytest.mark.slow


def test_a_refused_flatten_all_shows_its_error_in_place_and_live_updates_keep_going(users, open_tab, server_side):
    tab = open_tab()
    tab.login("otto", "/")
    expect(tab.page.locator("#conn")).to_have_text("Live", timeout=5000)
    tab.page.select_option("#id_action", "flatten")
    tab.page.click("form[aria-label='Operator intent'] button[type=submit]")
    tab.page.wait_for_url(f"{tab.base}/#h-state")  # post/redirect/get: back on the page, not /actions/...
    expect(tab.page.locator("#err-confirmation")).to_contain_text("FLATTEN ALL")
    expect(tab.page.locator("#conn")).to_have_text("Live", timeout=5000)
    fill = server_side(emit, "fill", {**FILL, "fill_id": "after-refusal"}, source="agent:execution")
    expect(tab.page.locator(f"#fills #ev-{fill.id}")).to_be_visible(timeout=2000)
    tab.page.reload()  # F5 after a refusal does not post again
    expect(tab.page.locator("#err-confirmation")).to_have_count(0)

    tab.page.select_option("#id_action", "flatten")
    tab.page.fill("#id_confirmation", "FLATTEN ALL")
    tab.page.click("form[aria-label='Operator intent'] button[type=submit]")
    expect(tab.page.locator(".messages")).to_contain_text("Flatten requested")
    assert tab.errors == []


def test_market_opens_on_the_symbol_with_data_and_shows_its_last_price(users, open_tab, server_side):

    importlib.import_module("market.migrations.0002_seed_instruments").seed(apps, None)  # BTC-USD comes first
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=30)
    history = [TickInput("SOL-USDT", start + timedelta(minutes=m, seconds=5), Decimal(140 + m)) for m in range(25)]
    server_side(feed_ticks, history)

    tab = open_tab()
    tab.login("vera", "/market/")
    expect(tab.page.locator("#h-chart")).to_contain_text("SOL-USDT 1h")  # not BTC-USD, which has no bars
    expect(tab.page.locator("#last-price")).to_have_text("164.00")
    tab.wait_for("window.tradingopsChart && window.tradingopsChart.candles.data().length > 0")
    server_side(feed_ticks, [TickInput("SOL-USDT", start + timedelta(minutes=25, seconds=9), Decimal("1171.371"))])
    expect(tab.page.locator("#last-price")).to_have_text("1,171.37", timeout=2000)
    assert tab.errors == []


def _line_pixels(page, selector: str, rgb=(31, 111, 235)) -> int:
    """Pixels of the line's colour drawn in the chart's pane (not its axes): the chart really draws."""
    return page.evaluate(
        """([selector, rgb]) => {
        let n = 0;
        const near = (a, b) => Math.abs(a - b) < 40;
        for (const canvas of document.querySelectorAll(`${selector} table tr:first-child td:nth-child(2) canvas`)) {
          const ctx = canvas.getContext("2d");
          if (!ctx || !canvas.width || !canvas.height) continue;
          const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
          for (let i = 0; i < data.length; i += 4) {
            if (near(data[i], rgb[0]) && near(data[i + 1], rgb[1]) && near(data[i + 2], rgb[2])) n++;
          }
        }
        return n;
    }""",
        [selector, list(rgb)],
    )


def test_the_agents_judgement_chart_says_when_it_is_empty_and_draws_the_first_judgement(users, open_tab, server_side):
    tab = open_tab()
    tab.login("vera", "/agents/")
    expect(tab.page.locator("#conn")).to_have_text("Live", timeout=5000)
    expect(tab.page.locator("#score-empty")).to_be_visible()  # not empty axes
    expect(tab.page.locator("#score-chart")).to_be_hidden()

    judged = {"plan_id": "p1", "overall_score": "71.5", "component_scores": {"risk": "80"}}
    server_side(emit, "plan_judged", judged, source="agent:judge", ts=datetime.now(UTC) - timedelta(minutes=5))
    expect(tab.page.locator("#score-chart")).to_be_visible(timeout=2000)
    expect(tab.page.locator("#score-empty")).to_be_hidden()
    tab.page.wait_for_timeout(300)
    assert _line_pixels(tab.page, "#score-chart") > 10  # the judgement is drawn in the pane

    server_side(emit, "plan_judged", {**judged, "overall_score": "64"}, source="agent:judge")
    tab.wait_for("window.tradingopsChart.scores.data().length === 2", timeout=2000)
    tab.page.reload()  # the server-rendered page draws both as well
    tab.wait_for("window.tradingopsChart.scores.data().length === 2", timeout=2000)
    tab.page.wait_for_timeout(300)
    assert _line_pixels(tab.page, "#score-chart") > 10
    tab.screenshot("agents-judgement-chart")
    assert tab.errors == []


def test_decisions_opens_on_decisions_and_live_heartbeats_stay_behind_the_filter(users, open_tab, server_side):
    tab = open_tab()
    tab.login("vera", "/decisions/")
    expect(tab.page.locator("#conn")).to_have_text("Live", timeout=5000)
    beat = server_side(emit, "agent_run", {"agent": "execution", "status": "ok", "duration_ms": 2}, source="agent:x")
    note = server_side(emit, "intent", {"action": "note", "note": "after the beat"}, source="user:otto")
    expect(tab.page.locator(f"#ev-{note.id}")).to_be_visible(timeout=2000)
    expect(tab.page.locator(f"#ev-{beat.id}")).to_have_count(0)
    tab.page.check("#id_noise")
    tab.page.click("form[aria-label='Filter events'] button[type=submit]")
    expect(tab.page.locator(f"#ev-{beat.id}")).to_be_visible()
    assert tab.errors == []
