"""The dashboard in real Chromium against a real uvicorn + Redis channel layer (asgi_server)."""

import importlib
import json
import re
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.apps import apps
from django.contrib.sessions.models import Session
from playwright.sync_api import expect

from agents.services import kill_switch_set
from backtests import services as backtest_services
from backtests import worker
from backtests.models import BacktestRun, Sweep
from backtests.tests.conftest import synthetic_rows
from events.services import emit
from market import selectors as market_selectors
from market.feed import MarketFeed
from market.models import Instrument
from market.services import TickInput, candle_rows_upsert, candles_load_file
from wallets import services

pytestmark = pytest.mark.slow

FILL = {"fill_id": "f1", "order_id": "o1", "symbol": "SOL-USDT", "side": "buy", "qty": "0.5", "price": "140.25"}
BLOCK = {
    "symbol": "SOL-USDT",
    "side": "buy",
    "reason": "risk_budget_exceeded",
    "reason_class": "risk_valid",
    "detail": {"requested_notional": "1500", "budget_left": "250.50"},
}
WS_FAILURE = re.compile(r"^WebSocket connection to 'ws://[^']+' failed")


def _trade_chain(tag: str):
    """intent -> trigger -> order -> fill: one decision chain."""
    intent = emit("intent", {"action": "buy_dip", "symbol": "SOL-USDT"}, source="user:otto", run_id="r1")
    chain = {"correlation_id": intent.correlation_id, "run_id": "r1"}
    trigger = emit(
        "trigger_fired",
        {"plan_id": "p1", "symbol": "SOL-USDT", "side": "buy", "rule": "rsi_14 < 30", "price": "139.9"},
        source="agent:engine",
        causation_id=intent.event_id,
        **chain,
    )
    order = emit(
        "order_submitted",
        {"order_id": f"o-{tag}", "symbol": "SOL-USDT", "side": "buy", "qty": "0.5"},
        source="agent:execution",
        causation_id=trigger.event_id,
        **chain,
    )
    fill = emit(
        "fill",
        {**FILL, "fill_id": f"f-{tag}", "order_id": f"o-{tag}"},
        source="agent:execution",
        causation_id=order.event_id,
        **chain,
    )
    return intent, trigger, order, fill


def _wait_live(tab):
    expect(tab.page.locator("#conn")).to_have_text("Live", timeout=5000)


def test_decisions_page_streams_events_opens_chains_and_catches_up_after_a_dropped_socket(
    users, sol, open_tab, server_side
):
    tab = open_tab()
    tab.login("otto", "/decisions/")
    _wait_live(tab)
    tab.screenshot("decisions-empty")

    # An event emitted on the server appears within 2 s, without a reload.
    intent, trigger, order, fill = server_side(_trade_chain, "a")
    fill_row = tab.page.locator(f"#ev-{fill.id}")
    expect(fill_row).to_be_visible(timeout=2000)
    expect(fill_row.locator(".summary")).to_have_text("Filled buy 0.500 SOL-USDT @ 140.25")
    expect(tab.page.locator("#events tbody tr")).to_have_count(4)
    live_texts = tab.page.locator("#events tbody tr").all_inner_texts()

    # A blocked trade arrives live with its reason.
    blocked = server_side(emit, "trade_blocked", BLOCK, source="agent:risk", run_id="r1")
    expect(tab.page.locator(f"#ev-{blocked.id} .summary")).to_have_text(
        "Blocked buy SOL-USDT: risk_budget_exceeded (risk_valid)", timeout=2000
    )
    tab.screenshot("decisions-live")

    # Rows drawn live read exactly like the server-rendered ones.
    tab.page.reload()
    assert tab.page.locator("#events tbody tr").all_inner_texts()[1:] == live_texts

    # Clicking the fill opens its chain: every step, in order, with its numbers.
    tab.page.locator(f"#ev-{fill.id} a.chain-link").click()
    tab.page.wait_for_url(f"{tab.base}/decisions/events/{fill.event_id}/")
    steps = tab.page.locator("#chain > li")
    expect(steps).to_have_count(4)
    assert [s.get_attribute("class").split()[1] for s in steps.all()] == [
        "step-intent",
        "step-trigger_fired",
        "step-order_submitted",
        "step-fill",
    ]
    fill_step = tab.page.locator(f"#step-{fill.event_id}")
    expect(fill_step.locator("dd", has_text="140.25")).to_have_count(1)
    expect(fill_step).to_contain_text("caused by order_submitted")
    tab.screenshot("chain-fill")

    # The blocked trade's chain shows its reason and its numbers.
    tab.goto(f"/decisions/events/{blocked.event_id}/")
    step = tab.page.locator(f"#step-{blocked.event_id}")
    expect(step.locator(".step-summary")).to_have_text("Blocked buy SOL-USDT: risk_budget_exceeded (risk_valid)")
    expect(step.locator("div", has=tab.page.locator("dt", has_text="detail.requested_notional"))).to_contain_text(
        "1,500.00"
    )
    expect(step.locator("div", has=tab.page.locator("dt", has_text="detail.budget_left"))).to_contain_text("250.50")
    tab.screenshot("chain-blocked")

    # Kill the socket and keep the browser offline while events are emitted; back online, every
    # one of them is on the page (the reconnect replays from the last id seen), each once.
    tab.goto("/decisions/")
    _wait_live(tab)
    tab.context.set_offline(True)
    tab.page.evaluate("window.tradingopsLive.socket.close()")
    expect(tab.page.locator("#conn")).to_contain_text("Disconnected", timeout=3000)
    missed = [server_side(emit, "intent", {"action": "note", "note": f"while away {n}"}, source="x") for n in range(5)]
    assert tab.page.evaluate("window.tradingopsLive.state") != "live"
    tab.screenshot("decisions-disconnected")
    tab.context.set_offline(False)
    for event in missed:
        expect(tab.page.locator(f"#ev-{event.id}")).to_have_count(1, timeout=10000)
    _wait_live(tab)
    ids = [int(i) for i in tab.page.locator("#events tbody tr").evaluate_all("rows => rows.map(r => r.dataset.id)")]
    assert len(ids) == len(set(ids)) == 10

    # The top bar follows the runtime configuration live.

    server_side(kill_switch_set, user=users["admin"], engaged=True, reason="exchange outage")
    expect(tab.page.locator("#kill-switch")).to_have_text("Kill switch: ENGAGED", timeout=2000)

    # Chromium logs each refused reconnection while offline; nothing else may be logged.
    assert [e for e in tab.errors if not WS_FAILURE.match(e)] == []


def test_overview_shows_a_fill_live_and_counts_blocks(users, open_tab, server_side):
    tab = open_tab()
    tab.login("vera", "/")
    _wait_live(tab)
    expect(tab.page.locator("#fills").locator("..").locator(".empty")).to_be_visible()
    tab.screenshot("overview-empty")
    *_, fill = server_side(_trade_chain, "b")
    expect(tab.page.locator(f"#fills #ev-{fill.id}")).to_be_visible(timeout=2000)
    server_side(emit, "trade_blocked", BLOCK, source="agent:risk")
    server_side(emit, "trade_blocked", BLOCK, source="agent:risk")
    row = tab.page.locator('#blocks tr[data-key="risk_budget_exceeded|risk_valid"]')
    expect(row.locator("td").nth(2)).to_have_text("2", timeout=2000)

    wallet = server_side(services.wallet_create, name="p1", kind="paper")
    server_side(services.paper_wallet_fund, wallet_id=wallet.pk, currency="USDT", amount="10", reference="seed")
    run = server_side(services.wallet_reconcile).run
    expect(tab.page.locator("#recon-id")).to_have_text(str(run.pk), timeout=2000)
    expect(tab.page.locator("#recon-breaches")).to_have_text("0 breaches")
    tab.screenshot("overview-live")
    tab.page.locator(f"#fills #ev-{fill.id} a.chain-link").click()
    tab.page.wait_for_url(f"{tab.base}/decisions/events/{fill.event_id}/")
    assert tab.errors == []


ACTIONS = "form[data-action], button[data-action]"


@pytest.mark.parametrize(
    ("username", "role", "actions"), [("vera", "viewer", 0), ("otto", "operator", 1), ("ada", "admin", 1)]
)
def test_each_role_logs_in_and_only_operators_get_action_buttons(users, open_tab, username, role, actions):
    tab = open_tab(viewport={"width": 390, "height": 844}) if role == "viewer" else open_tab()
    tab.login(username, "/decisions/")
    expect(tab.page.locator("#mode")).to_have_text("Mode: PAPER")
    expect(tab.page.locator("#kill-switch")).to_have_text("Kill switch: off")
    expect(tab.page.locator("form.inline button")).to_have_text(f"Log out {username} ({role})")
    expect(tab.page.locator(ACTIONS)).to_have_count(actions)
    tab.screenshot(f"decisions-{role}")
    for path in ("/",):
        tab.goto(path)
        _wait_live(tab)
        if role == "viewer":
            expect(tab.page.locator(ACTIONS)).to_have_count(0)
    assert tab.errors == []


def test_unknown_id_shows_the_404_page_and_keyboard_reaches_the_content(users, open_tab):
    tab = open_tab()
    tab.login("vera", "/")
    response = tab.goto("/decisions/chains/00000000-0000-0000-0000-000000000000/")
    assert response.status == 404
    expect(tab.page.locator("h1")).to_have_text("Not found")
    tab.screenshot("404")
    tab.page.keyboard.press("Tab")
    expect(tab.page.locator(".skip-link")).to_be_focused()
    tab.page.keyboard.press("Enter")
    expect(tab.page.locator("#main")).to_be_focused()
    # The 404 page is the only error: Chromium logs the failed load of that document.
    assert all("404" in e for e in tab.errors)


def test_expired_session_on_the_socket_says_so_and_offers_to_log_in_again(users, open_tab, server_side):
    tab = open_tab()
    tab.login("vera", "/decisions/")
    _wait_live(tab)
    server_side(Session.objects.all().delete)
    tab.page.evaluate("window.tradingopsLive.socket.close()")
    banner = tab.page.locator("#session-expired")
    expect(banner).to_be_visible(timeout=5000)
    expect(tab.page.locator("#conn")).to_have_text("Session expired")
    tab.screenshot("session-expired")
    banner.get_by_role("link", name="Log in again").click()
    tab.page.wait_for_url(re.compile(r"/accounts/login/\?next=/decisions/"))
    start = time.monotonic()
    tab.page.fill("#id_username", "vera")
    tab.page.fill("#id_password", "pw-vera")
    tab.page.click("button[type=submit]")
    tab.page.wait_for_url(f"{tab.base}/decisions/")
    _wait_live(tab)
    assert time.monotonic() - start < 10
    assert tab.errors == []


def test_injected_drift_raises_the_banner_live_and_the_wallet_chart_draws(users, open_tab, server_side):

    wallet = services.wallet_create(name="paper-main", kind="paper")
    services.paper_wallet_fund(wallet_id=wallet.pk, currency="USDT", amount="1000", reference="seed")
    server_side(services.wallet_reconcile)

    tab = open_tab()
    tab.login("otto", "/wallets/")
    _wait_live(tab)
    banner = tab.page.locator("#drift-banner")
    expect(banner).to_be_hidden()
    tab.screenshot("wallets")

    services.paper_exchange_move(wallet_id=wallet.pk, deltas={"USDT": "-12.5"}, reference="leak")
    run = server_side(services.wallet_reconcile).run
    expect(banner).to_be_visible(timeout=2000)
    expect(banner).to_contain_text(f"reconciliation #{run.pk}: paper-main USDT drift -12.5")
    expect(tab.page.locator(f"#run-{run.pk} td").nth(6)).to_have_text("⚠ 1")
    tab.screenshot("wallets-drift-banner")

    tab.page.get_by_role("link", name="paper-main").first.click()
    tab.page.wait_for_url(f"{tab.base}/wallets/{wallet.pk}/")
    expect(tab.page.locator('.chart[data-currency="USDT"] canvas').first).to_be_visible()
    _wait_live(tab)
    services.paper_exchange_move(wallet_id=wallet.pk, deltas={"USDT": "-1"}, reference="leak-2")
    server_side(services.wallet_reconcile)
    expect(tab.page.locator("#drift-banner")).to_contain_text("paper-main USDT drift -13.5", timeout=2000)
    tab.screenshot("wallet-detail")

    assert tab.goto("/wallets/424242/").status == 404
    assert [e for e in tab.errors if "404" not in e] == []


def feed_ticks(ticks):
    """Run ticks through the real market feed: stored, rolled up and published to /ws/market/."""

    class Source:  # a market source is anything with stream(): here, these ticks
        def stream(self):
            yield from ticks

    feed = MarketFeed(Source(), instrument_ids=market_selectors.instrument_ids(symbols=["SOL-USDT"]))
    return feed.run()


def test_market_chart_loads_history_and_moves_with_live_ticks(users, open_tab, server_side):

    importlib.import_module("market.migrations.0002_seed_instruments").seed(apps, None)
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=30)
    history = [TickInput("SOL-USDT", start + timedelta(minutes=m, seconds=5), Decimal(140 + m)) for m in range(25)]
    server_side(feed_ticks, history)
    fill_at = start + timedelta(minutes=3, seconds=20)
    server_side(emit, "fill", {**FILL, "fill_id": "m1"}, source="agent:execution", ts=fill_at)

    tab = open_tab()
    tab.login("vera", "/market/?symbol=SOL-USDT&timeframe=1m&indicators=sma_5,rsi_14")
    _wait_live(tab)
    count = "window.tradingopsChart && window.tradingopsChart.candles.data().length"
    tab.wait_for(f"({count}) === 25", timeout=5000)
    assert tab.page.evaluate("[...window.tradingopsChart.lines.keys()]") == ["sma_5", "rsi_14"]
    expect(tab.page.locator("#marks tbody tr")).to_have_count(1)
    expect(tab.page.locator("#chart canvas").first).to_be_visible()

    # A live tick in a new minute opens a new bar and moves the last price, without a reload.
    live = [TickInput("SOL-USDT", start + timedelta(minutes=25, seconds=1), Decimal("171.37"))]
    server_side(feed_ticks, live)
    tab.wait_for(f"({count}) === 26", timeout=2000)
    expect(tab.page.locator("#last-price")).to_have_text("171.37")
    last = tab.page.evaluate("window.tradingopsChart.candles.data().at(-1)")
    assert (last["open"], last["close"]) == (171.37, 171.37)
    tab.screenshot("market")
    assert tab.errors == []


def test_agents_page_adds_judgements_live_to_its_table_and_chart(users, open_tab, server_side):
    tab = open_tab()
    tab.login("vera", "/agents/")
    _wait_live(tab)
    judged = {"plan_id": "p1", "overall_score": "64", "component_scores": {"risk": "70"}}
    server_side(emit, "plan_judged", judged, source="agent:judge")
    expect(tab.page.locator("#judgements tbody tr").first).to_contain_text("p164risk 70", timeout=2000)
    assert tab.page.evaluate("window.tradingopsChart.scores.data().map(p => p.value)") == [64]
    tab.screenshot("agents")
    assert tab.errors == []


@pytest.fixture
def fine_backtest_progress(monkeypatch):
    """The worker reports every 2,000 bars, pushed at most every 0.05 s (set before it starts)."""
    monkeypatch.setenv("BACKTESTS_PROGRESS_EVERY_BARS", "2000")
    monkeypatch.setenv("BACKTESTS_PROGRESS_INTERVAL_S", "0.05")


def test_backtest_started_from_the_form_moves_to_100_percent_and_draws_its_equity(
    users, fine_backtest_progress, celery_worker_process, open_tab
):
    instrument = Instrument.objects.create(
        symbol="SYN-USD", base="SYN", quote="USD", price_tick=Decimal("0.000001"), lot_size=Decimal("0.00000001"),
        min_notional=Decimal(0),
    )  # fmt: skip
    rows = synthetic_rows(100_000)
    for i in range(0, len(rows), 50_000):
        candle_rows_upsert(instrument_id=instrument.pk, timeframe="1m", rows=rows[i : i + 50_000])

    tab = open_tab()
    tab.login("otto", "/backtests/")
    seen: list[int] = []

    def progress(payload):
        frame = json.loads(payload)
        if "candles_processed" in frame:  # the socket also carries the top bar's header frames
            seen.append(frame["candles_processed"])

    tab.page.on("websocket", lambda ws: ws.on("framereceived", progress))
    tab.page.select_option("#id_symbol", "SYN-USD")
    tab.page.select_option("#id_timeframe", "1m")
    tab.page.fill("#id_initial_cash", "1000000")
    tab.page.fill("#id_params", "fast=2, slow=5")
    tab.page.click("form[data-action=backtest-start] button[type=submit]")
    tab.page.wait_for_url(re.compile(r"/backtests/[0-9a-f-]{36}/$"))
    expect(tab.page.locator("#bt-status")).to_have_text("completed", timeout=60000)
    expect(tab.page.locator("#bt-percent")).to_have_text("100%")
    tab.wait_for("window.tradingopsChart && window.tradingopsChart.equity.data().length > 100")
    assert any(0 < n < 100_000 for n in seen), seen  # the bar moved part-way before it finished
    expect(tab.page.locator("#results dt", has_text="trades").first).to_be_visible()
    expect(tab.page.locator("#daily tbody tr").first).to_be_visible()
    tab.screenshot("backtest-results")

    # Playback: the slider's first position shows the portfolio at the first bar.
    expect(tab.page.locator("#playback")).to_be_enabled()
    tab.page.evaluate(
        "() => { const s = document.getElementById('playback'); s.value = '0'; s.dispatchEvent(new Event('input')); }"
    )
    first = tab.page.evaluate("new Date(window.tradingopsChart.equity.data()[0].time * 1000).toISOString()")
    tab.wait_for(f"document.getElementById('playback').dataset.shown === '{first}'")
    expect(tab.page.locator("#playback-state")).to_contain_text("equity1000000")

    # A second run, then both compared on one chart.

    other = {"symbols": ["SYN-USD"], "timeframe": "1m", "initial_cash": "1000000",
             "strategy": {"preset": "sma_cross", "params": {"fast": 3, "slow": 8}}}  # fmt: skip
    second = backtest_services.backtest_run_create(data=other)
    deadline = time.monotonic() + 60
    while BacktestRun.objects.get(pk=second.pk).status != "completed" and time.monotonic() < deadline:
        time.sleep(0.1)
    tab.goto("/backtests/")
    for box in tab.page.locator("input[name=ids]").all():
        box.check()
    tab.page.get_by_role("button", name="Compare selected (2 to 5 completed runs)").click()
    tab.page.wait_for_url(re.compile(r"/backtests/compare\?ids="))
    tab.wait_for("window.tradingopsChart && window.tradingopsChart.series.length === 2")
    expect(tab.page.locator("#compare-metrics thead th")).to_have_count(3)
    tab.screenshot("backtest-compare")
    assert tab.errors == []


def test_a_what_if_started_on_the_results_page_fills_in_when_its_runs_finish(users, open_tab, server_side, sol):
    """The form queues one run per value; the page asks the API until they have finished, then shows
    each value's row beside the run's."""

    def completed_base():
        candles_load_file(instrument=sol, timeframe="1h", path=Path(__file__).parents[2] / "market/data/SOLUSDT-1h.csv")
        run = backtest_services.backtest_run_create(
            data={
                "symbols": ["SOL-USDT"], "timeframe": "1h", "initial_cash": "10000",
                "strategy": {"preset": "sma_cross", "params": {"fast": 5, "slow": 15}},
                "risk": {"max_trades_per_day": 1, "max_trades_per_symbol_per_day": None, "max_cost_to_reward": None},
            }
        )  # fmt: skip
        worker.backtest_execute(run_id=run.pk)
        return BacktestRun.objects.get(pk=run.pk)

    base = server_side(completed_base)
    assert base.status == "completed"
    tab = open_tab()
    tab.login("otto", f"/backtests/{base.pk}/")
    expect(tab.page.locator('#block-scorecard tr[data-reason="total"]')).to_be_visible()
    tab.page.select_option("#id_rule", "max_trades_per_day")
    tab.page.fill("#id_values", "2, off")
    tab.page.click("form[data-action=what-if] button[type=submit]")
    expect(tab.page.locator(".banner.success")).to_contain_text("2 runs queued", timeout=10000)

    def run_them():  # the backtests queue's worker, here
        for run in Sweep.objects.get(base_run=base).runs.all():
            worker.backtest_execute(run_id=run.pk)

    server_side(run_them)
    # the page reloads itself once the API says every run has finished
    expect(tab.page.locator("table.what-if")).to_have_attribute("data-finished", "true", timeout=20000)
    off = tab.page.locator('table.what-if tr[data-value="off"]')
    expect(off.locator("td").first).to_have_text("completed")
    expect(off).to_contain_text(f"0 (-{base.results['blocks']})")
    tab.screenshot("backtest-what-if")
    assert tab.errors == []
