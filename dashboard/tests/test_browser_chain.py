"""A chain per decision in Chromium: a fill in a plan of 3,000 events opens its own short path,
the same steps as the API's; the whole correlation chain is paged and hides heartbeats."""

import pytest
from playwright.sync_api import expect

from events.tests.plan_life import make_plan_life

pytestmark = pytest.mark.slow


def test_a_fill_row_opens_its_own_path_which_matches_the_api(users, open_tab, server_side):
    life = server_side(make_plan_life, trades=3, blocks=2, heartbeats=2900)
    fill = life.trades[2]["fill"]
    tab = open_tab()
    tab.login("vera", f"/decisions/?correlation_id={life.correlation_id}&type=fill")
    tab.page.locator(f"#ev-{fill.id} a.chain-link").click()
    tab.page.wait_for_url(f"{tab.base}/decisions/events/{fill.event_id}/")
    steps = tab.page.locator("#chain > li")
    expect(steps).to_have_count(6)
    page_ids = [s.get_attribute("id").removeprefix("step-") for s in steps.all()]
    api = tab.page.request.get(f"{tab.base}/api/v1/events/{fill.event_id}/chain").json()
    assert page_ids == [s["event_id"] for s in api["steps"]]
    expect(tab.page.locator(f"#step-{fill.event_id}")).to_have_attribute("aria-current", "step")
    tab.screenshot("chain-own-path")

    block = life.blocks[0]["block"]
    tab.goto(f"/decisions/events/{block.event_id}/")
    step = tab.page.locator(f"#step-{block.event_id}")
    expect(step.locator("div", has=tab.page.locator("dt", has_text="trigger_id"))).to_contain_text(
        str(life.blocks[0]["trigger"].event_id)
    )
    expect(tab.page.locator("#chain > li").nth(3)).to_have_class("step step-trigger_fired")

    tab.page.locator("#chain-scope a", has_text="Whole correlation chain").click()
    expect(tab.page.locator("#chain-scope")).to_contain_text("19 steps")
    expect(tab.page.locator("#chain .step-agent_run")).to_have_count(0)
    tab.page.locator("#chain-scope a", has_text="show them").click()
    expect(tab.page.locator("#chain-scope")).to_contain_text("2922 steps, showing 1–200")
    expect(tab.page.locator("nav.pager a")).to_have_count(14)
    assert tab.errors == []
