import json
import re
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from agents.services import kill_switch_set, runtime_config_change
from events.models import Event
from events.services import emit
from wallets import services

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
FILL = {"fill_id": "f1", "order_id": "o1", "symbol": "SOL-USDT", "side": "buy", "qty": "0.5", "price": "140.25"}
BLOCK = {
    "symbol": "SOL-USDT",
    "side": "buy",
    "reason": "risk_budget_exceeded",
    "reason_class": "risk_valid",
    "detail": {"requested_notional": "1500", "budget_left": "250.50"},
}
PAGES = ["/", "/decisions/"]


@pytest.fixture
def login(client, users):
    def as_role(role):
        client.force_login(users[role])
        return client

    return as_role


def _chain():
    """intent -> trigger -> blocked, and a separate order -> fill chain."""
    intent = emit("intent", {"action": "buy_dip", "symbol": "SOL-USDT"}, source="user:otto", run_id="r1")
    trigger = emit(
        "trigger_fired",
        {"plan_id": "p1", "symbol": "SOL-USDT", "side": "buy", "rule": "rsi_14 < 30", "price": "139.9"},
        source="agent:engine",
        run_id="r1",
        correlation_id=intent.correlation_id,
        causation_id=intent.event_id,
    )
    blocked = emit(
        "trade_blocked",
        BLOCK,
        source="agent:risk",
        run_id="r1",
        correlation_id=intent.correlation_id,
        causation_id=trigger.event_id,
    )
    return intent, trigger, blocked


@pytest.mark.parametrize("path", PAGES)
def test_anonymous_visitor_is_sent_to_the_login_page(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={path}"


@pytest.mark.parametrize("path", PAGES)
def test_user_without_a_role_gets_the_403_page(login, path):
    response = login("nobody").get(path)
    assert response.status_code == 403
    assert b"Your account has no role" in response.content


@pytest.mark.parametrize("role", ["viewer", "operator", "admin"])
@pytest.mark.parametrize("path", PAGES)
def test_every_role_sees_every_page_with_mode_and_kill_switch(login, role, path, settings):
    settings.TRADING_MODE = "paper"
    response = login(role).get(path)
    assert response.status_code == 200
    html = response.content.decode()
    assert re.search(r'id="mode"[^>]*>Mode: <strong>PAPER</strong>', html)
    assert re.search(r'id="kill-switch"[^>]*>Kill switch:\s*<strong>off</strong>', html)
    assert "Times in UTC" in html
    assert f"({role})" in html


def test_viewer_sees_no_action_form_and_operator_does(login):
    assert b'data-action="note"' not in login("viewer").get("/decisions/").content
    assert b'data-action="note"' in login("operator").get("/decisions/").content


def test_operator_note_is_stored_as_an_intent_naming_the_user(login):
    response = login("operator").post("/decisions/notes", {"note": "Pausing SOL for the FOMC", "symbol": "SOL-USDT"})
    assert response.status_code == 302
    event = Event.objects.get()
    assert (event.type, event.source) == ("intent", "user:otto")
    assert event.payload == {"action": "note", "note": "Pausing SOL for the FOMC", "symbol": "SOL-USDT", "params": {}}


def test_forged_note_from_a_viewer_is_refused_and_nothing_is_written(login):
    response = login("viewer").post("/decisions/notes", {"note": "forged"})
    assert response.status_code == 403
    assert not Event.objects.exists()


def test_empty_note_shows_the_error_on_its_field_and_writes_nothing(login):
    response = login("operator").post("/decisions/notes", {"note": ""})
    assert response.status_code == 400
    assert b'id="err-note">This field is required.' in response.content
    assert not Event.objects.exists()


def test_decisions_lists_newest_first_with_summaries_and_chain_links(login):
    intent, trigger, blocked = _chain()
    html = login("viewer").get("/decisions/").content.decode()
    ids = [int(i) for i in re.findall(r'<tr id="ev-(\d+)"', html)]
    assert ids == [blocked.id, trigger.id, intent.id]
    assert "Blocked buy SOL-USDT: risk_budget_exceeded (risk_valid)" in html
    assert "Trigger buy SOL-USDT @ 139.90: rsi_14 &lt; 30" in html
    assert f'href="/decisions/events/{blocked.event_id}/"' in html  # a row opens its own decision path
    assert f'data-last-id="{blocked.id}"' in html


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("type=trade_blocked", ["trade_blocked"]),
        ("type=fill&type=intent", ["fill", "intent"]),
        ("symbol=BTC-USD", ["fill"]),
        ("run_id=r1", ["trade_blocked", "trigger_fired", "intent"]),
    ],
)
def test_decisions_filters_by_type_symbol_and_run(login, query, expected):
    _chain()
    emit("fill", {**FILL, "symbol": "BTC-USD"}, source="agent:execution", run_id="r2")
    html = login("viewer").get(f"/decisions/?{query}").content.decode()
    assert re.findall(r'<tr id="ev-\d+" data-id="\d+" data-type="(\w+)"', html) == expected


def test_decisions_filters_by_time_window(login):
    now = timezone.now()
    emit("intent", {"action": "old"}, source="x", ts=now - timedelta(hours=2))
    recent = emit("intent", {"action": "recent"}, source="x", ts=now - timedelta(minutes=5))
    since = (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S")
    html = login("viewer").get(f"/decisions/?since={since}").content.decode()
    assert re.findall(r'<tr id="ev-(\d+)"', html) == [str(recent.id)]


def test_unparseable_time_filter_is_shown_on_its_field_not_a_500(login):
    response = login("viewer").get("/decisions/?since=yesterday-ish&type=teleport")
    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="err-since">Enter a valid date/time.' in html
    assert 'id="err-type">Select a valid choice. teleport is not one of the available choices.' in html
    assert "<tr id=" not in html


def test_decisions_pages_with_a_cursor_and_only_the_first_page_is_live(login):
    for n in range(55):
        emit("intent", {"action": f"a{n}"}, source="x")
    client = login("viewer")
    first = client.get("/decisions/").content.decode()
    assert len(re.findall(r'<tr id="ev-', first)) == 50
    assert 'data-ws-path="/ws/events/"' in first
    older = re.search(r'<a href="([^"]+)" rel="next" id="load-more"', first).group(1).replace("&amp;", "&")
    second = client.get(older).content.decode()
    assert len(re.findall(r'<tr id="ev-', second)) == 5
    assert "data-ws-path" not in second
    assert 'id="list-end">End of the list.' in second  # said, not silently cut


@pytest.mark.parametrize("cursor", ["zzz", "eyJ4IjoxfQ==", "cj0wJnA9WyJ4Il0="])
def test_a_forged_decisions_cursor_is_a_400_shown_on_the_page(login, cursor):
    response = login("viewer").get(f"/decisions/?cursor={cursor}")
    assert response.status_code == 400
    assert "Invalid cursor." in response.content.decode()


def test_decisions_sorts_by_a_column_header_kept_in_the_url_and_paged_in_that_order(login):
    for n in range(60):
        symbol = ["SOL-USDT", "BTC-USD", "ETH-USD"][n % 3]
        emit("intent", {"action": "note", "note": f"n{n}", "symbol": symbol}, source="x", run_id=f"r{n % 4}")
    client = login("viewer")
    first = client.get("/decisions/").content.decode()
    header = re.search(r'<th scope="col" aria-sort="none" data-sort="symbol"><a class="sort" href="([^"]+)"', first)
    assert header.group(1) == "?ordering=symbol"
    page = client.get("/decisions/" + header.group(1)).content.decode()
    assert 'aria-sort="ascending" data-sort="symbol"><a class="sort" href="?ordering=-symbol"' in page
    assert 'id="not-live">new events are not added live in this order' in page
    assert "data-ws-path" not in page
    rows = re.findall(r'<tr id="ev-(\d+)".*?</td>\s*<td><span[^>]*>\w+</span></td>\s*<td>([\w-]+)</td>', page, re.S)
    more = re.search(r'<a href="([^"]+)" rel="next" id="load-more"', page).group(1).replace("&amp;", "&")
    assert "ordering=symbol" in more
    rest = client.get(more).content.decode()
    rows += re.findall(r'<tr id="ev-(\d+)".*?</td>\s*<td><span[^>]*>\w+</span></td>\s*<td>([\w-]+)</td>', rest, re.S)
    symbols = [symbol for _, symbol in rows]
    assert symbols == ["BTC-USD"] * 20 + ["ETH-USD"] * 20 + ["SOL-USDT"] * 20
    for group in range(3):  # newest first among equals
        ids = [int(i) for i, _ in rows[group * 20 : group * 20 + 20]]
        assert ids == sorted(ids, reverse=True)


def test_decisions_unknown_sort_is_refused_on_the_page(login):
    response = login("viewer").get("/decisions/?ordering=payload")
    assert response.status_code == 400
    assert "payload is not one of the available choices" in response.content.decode()


def test_decisions_query_count_does_not_grow_with_rows(login, django_assert_num_queries):
    client = login("viewer")
    emit("intent", {"action": "one"}, source="x")
    client.get("/decisions/")  # warm the session and content types
    with django_assert_num_queries(9) as one:
        client.get("/decisions/")
    for n in range(60):
        emit("fill", {**FILL, "fill_id": f"f{n}"}, source="x")
    with django_assert_num_queries(len(one.captured_queries)):
        client.get("/decisions/")


def test_overview_query_count_does_not_grow_with_rows(login, django_assert_num_queries, django_assert_max_num_queries):
    client = login("viewer")
    _chain()
    client.get("/")
    # the book (trades 2, equity 1) and the scorecard (tallies and the window's two edges: up to 3)
    with django_assert_max_num_queries(26) as one:
        client.get("/")
    for n in range(30):
        emit("fill", {**FILL, "fill_id": f"f{n}"}, source="x", run_id=f"run{n}")
        emit("trade_blocked", {**BLOCK, "reason": f"r{n % 3}"}, source="x", run_id=f"run{n}")
    with django_assert_num_queries(len(one.captured_queries)):
        client.get("/")


def test_chain_page_shows_each_step_in_order_with_its_numbers(login):
    intent, trigger, blocked = _chain()
    response = login("viewer").get(f"/decisions/chains/{intent.correlation_id}/")
    assert response.status_code == 200
    html = response.content.decode()
    steps = re.findall(r'<li id="step-([0-9a-f-]+)" class="step step-(\w+)', html)
    assert steps == [(str(e.event_id), e.type) for e in (intent, trigger, blocked)]
    blocked_html = html[html.index(f'id="step-{blocked.event_id}"') :]
    assert "Blocked buy SOL-USDT: risk_budget_exceeded (risk_valid)" in blocked_html
    assert '<dt>detail.requested_notional</dt><dd class="num">1,500.00</dd>' in blocked_html
    assert '<dt>detail.budget_left</dt><dd class="num">250.50</dd>' in blocked_html
    assert "caused by trigger_fired" in blocked_html


def test_event_page_highlights_the_event_inside_its_chain(login):
    intent, trigger, _ = _chain()
    html = login("viewer").get(f"/decisions/events/{trigger.event_id}/").content.decode()
    assert f'<li id="step-{trigger.event_id}" class="step step-trigger_fired highlight" aria-current="step">' in html
    assert f'id="step-{intent.event_id}" class="step step-intent"' in html


@pytest.mark.parametrize("path", ["/decisions/chains/{id}/", "/decisions/events/{id}/", "/no-such-page/"])
def test_unknown_id_gives_the_project_404_page(login, path):
    response = login("viewer").get(path.format(id=uuid.uuid4()))
    assert response.status_code == 404
    assert b"<h1>Not found</h1>" in response.content
    assert b"Go to the overview" in response.content


def test_overview_shows_latest_fills_and_last_hour_blocks_by_reason_and_class(login):
    emit("fill", FILL, source="agent:execution")
    emit("trade_blocked", BLOCK, source="agent:risk")
    emit("trade_blocked", BLOCK, source="agent:risk")
    emit("trade_blocked", {**BLOCK, "reason": "stale_data", "reason_class": "infra"}, source="agent:risk")
    emit("trade_blocked", {**BLOCK, "reason": "old"}, source="agent:risk", ts=timezone.now() - timedelta(hours=2))
    html = login("viewer").get("/").content.decode()
    assert "Filled buy 0.500 SOL-USDT @ 140.25" in html
    rows = re.findall(r'<tr data-key="([^"]+)"><td>[^<]+</td><td>[^<]+</td><td class="num">(\d+)</td>', html)
    assert rows == [("risk_budget_exceeded|risk_valid", "2"), ("stale_data|infra", "1")]


def test_overview_empty_states_say_what_to_do(login):
    html = login("viewer").get("/").content.decode()
    assert "No fills yet." in html
    assert "No trade was blocked in the last hour." in html
    assert "No runs yet. A run appears when an agent emits its first event." in html


def test_vendored_chart_library_is_the_version_the_lock_file_pins():
    lock = json.loads((ROOT / "package-lock.json").read_text())
    pinned = lock["packages"]["node_modules/lightweight-charts"]["version"]
    vendored = (ROOT / "static/vendor/lightweight-charts/lightweight-charts.standalone.production.js").read_text()
    assert f"Lightweight Charts™ v{pinned}\n" in vendored[:300]


def test_overview_shows_the_latest_reconciliation(login):

    wallet = services.wallet_create(name="p1", kind="paper")
    services.paper_wallet_fund(wallet_id=wallet.pk, currency="USDT", amount="10", reference="seed")
    services.paper_exchange_move(wallet_id=wallet.pk, deltas={"USDT": "-1"}, reference="leak")
    run = services.wallet_reconcile().run
    html = login("viewer").get("/").content.decode()
    assert f'#<span id="recon-id">{run.pk}</span>' in html
    assert '<strong id="recon-breaches" class="breach">⚠ 1 breach</strong>' in html


def test_top_bar_reads_mode_and_kill_switch_from_the_runtime_configuration(login, users):

    runtime_config_change(changes={"mode": "live"}, source="test")
    kill_switch_set(user=users["admin"], engaged=True, reason="exchange outage")
    html = login("viewer").get("/decisions/").content.decode()
    assert re.search(r'id="mode" class="badge mode-live"[^>]*>Mode: <strong>LIVE</strong>', html)
    assert re.search(r'id="kill-switch" class="badge kill-on"[^>]*>Kill switch:\s*<strong>ENGAGED</strong>', html)
    assert "by user:ada" in html


def test_decisions_opens_on_decisions_with_heartbeats_behind_a_filter_and_any_case_symbols(login):
    intent, trigger, blocked = _chain()
    beats = [
        emit("agent_run", {"agent": "execution", "status": "ok", "duration_ms": 3}, source="agent:execution")
        for _ in range(60)
    ]
    client = login("viewer")
    html = client.get("/decisions/").content.decode()
    ids = [int(i) for i in re.findall(r'<tr id="ev-(\d+)"', html)]
    assert ids == [blocked.id, trigger.id, intent.id]  # 60 newer heartbeats do not push them off
    assert 'data-hidden-types="agent_run,marks_updated,positions_snapshotted"' in html

    noisy = client.get("/decisions/?noise=1").content.decode()
    assert f'<tr id="ev-{beats[-1].id}"' in noisy
    by_type = client.get("/decisions/?type=agent_run").content.decode()
    assert len(re.findall(r'<tr id="ev-(\d+)"', by_type)) == 50  # asked for by type: shown (page of 50)

    lower = client.get("/decisions/?symbol=sol-usdt").content.decode()
    assert {int(i) for i in re.findall(r'<tr id="ev-(\d+)"', lower)} == {blocked.id, trigger.id, intent.id}
    assert '<select id="id_symbol" name="symbol"' in lower  # a picker of known instruments
    assert '<option value="SOL-USDT" selected>SOL-USDT</option>' in lower


def test_a_symbol_that_is_no_instrument_is_refused_on_its_field(login):
    response = login("viewer").get("/decisions/?symbol=DOGE-USDT")
    assert response.status_code == 400
    assert 'id="err-symbol">Select a valid choice. DOGE-USDT is not one of the available choices.' in (
        response.content.decode()
    )
