"""An open Decisions page in real Chromium shows every event emitted while its Redis restarts, and
the top bar follows a kill switch pulled meanwhile.

The page's socket stays open through the restart (the Pub/Sub layer subscribes again by itself);
what was published meanwhile reached nobody, and the socket's reconciliation with the store sends
it late: static/js/live.js takes it like any frame (repeats dropped by id), no reload, no REST call.
"""

import pytest
from playwright.sync_api import expect

from agents.services import kill_switch_set
from dashboard.tests.conftest import Tab
from events import realtime
from events.services import emit

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

BLOCK = {"symbol": "SOL-USDT", "side": "buy", "reason": "risk_budget_exceeded", "reason_class": "risk_valid"}


def _blocks(n: int) -> list[int]:
    ids = [emit("trade_blocked", BLOCK, source="agent:risk", run_id="r1").id for _ in range(n)]
    realtime.flush()  # sent, or failed and logged
    return ids


def test_an_open_page_shows_every_block_emitted_while_redis_restarts(
    server_on_private_redis, users, sol, chromium, server_side
):
    redis, server = server_on_private_redis
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    try:
        tab = Tab(context, server)
        tab.login("otto", "/decisions/")
        expect(tab.page.locator("#conn")).to_have_text("Live", timeout=5000)
        tab.page.evaluate("() => { window.socketBeforeRestart = window.tradingopsLive.socket; }")
        before = server_side(_blocks, 2)
        for event_id in before:
            expect(tab.page.locator(f"#ev-{event_id}")).to_be_visible(timeout=3000)

        redis.stop()
        during = server_side(_blocks, 2)
        server_side(kill_switch_set, user=users["admin"], engaged=True, reason="drill during a Redis restart")
        tab.page.wait_for_timeout(2000)
        redis.start()
        right_after = server_side(_blocks, 2)
        tab.page.wait_for_timeout(3000)
        later = server_side(_blocks, 2)

        for event_id in during + right_after + later:
            expect(tab.page.locator(f"#ev-{event_id}")).to_be_visible(timeout=20000)
        expect(tab.page.locator("#kill-switch")).to_have_text("Kill switch: ENGAGED", timeout=20000)
        tab.page.wait_for_timeout(3000)  # anything sent twice has landed by now
        rows = tab.page.eval_on_selector_all("#events tbody tr[id^='ev-']", "rows => rows.map(row => row.id)")
        assert len(rows) == len(set(rows)), rows
        blocks = before + during + right_after + later
        assert sorted(int(row.removeprefix("ev-")) for row in rows if int(row.removeprefix("ev-")) in blocks) == blocks
        assert tab.page.evaluate("() => window.tradingopsLive.socket === window.socketBeforeRestart")
        expect(tab.page.locator("#conn")).to_have_text("Live")
        assert tab.errors == []
        tab.screenshot("decisions-after-redis-restart")
    finally:
        context.close()
