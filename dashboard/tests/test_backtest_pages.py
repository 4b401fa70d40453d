import re
import uuid
from decimal import Decimal
from html.parser import HTMLParser

import pytest

from backtests import services, worker
from backtests.models import BacktestRun, Sweep
from market.tests.factories import shipped_candles

pytestmark = pytest.mark.django_db


@pytest.fixture
def sol_candles(sol):
    shipped_candles(sol)
    return sol


@pytest.fixture
def login(client, users):
    def as_role(role):
        client.force_login(users[role])
        return client

    return as_role


FORM = {
    "symbol": "SOL-USDT",
    "timeframe": "1h",
    "initial_cash": "10000",
    "preset": "sma_cross",
    "params": "fast=10, slow=30",
}


def test_operator_starts_a_backtest_from_the_form_and_lands_on_its_page(login, sol_candles):
    response = login("operator").post("/backtests/start", {**FORM, "name": "sma 10/30"})
    run = BacktestRun.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/backtests/{run.pk}/"
    assert (run.name, run.status, run.created_by.username) == ("sma 10/30", "queued", "otto")
    assert run.config["strategy"] == {"preset": "sma_cross", "params": {"fast": 10, "slow": 30}}
    html = login("operator").get(response["Location"]).content.decode()
    assert f'data-ws-path="/ws/backtests/{run.pk}/"' in html
    assert '<span id="bt-status">queued</span>' in html
    assert 'data-action="backtest-cancel"' in html


def test_api_field_errors_are_shown_on_the_form_fields_and_nothing_is_started(login, sol_candles):
    response = login("operator").post("/backtests/start", {**FORM, "params": "fast=50, slow=20"})
    assert response.status_code == 400
    html = response.content.decode()
    assert re.search(r'<span class="error" id="err-params">[^<]*fast', html)
    assert not BacktestRun.objects.exists()


def test_unparseable_params_and_unknown_symbol_are_shown_on_their_fields(login, sol_candles):
    response = login("operator").post("/backtests/start", {**FORM, "params": "fast"})
    assert 'id="err-params">&#x27;fast&#x27; is not name=value.' in response.content.decode()
    response = login("operator").post("/backtests/start", {**FORM, "symbol": "DOGE-USD"})
    assert response.status_code == 400
    assert 'id="err-symbol">' in response.content.decode()
    assert not BacktestRun.objects.exists()


def test_viewer_sees_no_form_and_a_forged_start_is_refused(login, sol_candles):
    client = login("viewer")
    assert b'data-action="backtest-start"' not in client.get("/backtests/").content
    assert client.post("/backtests/start", FORM).status_code == 403
    assert not BacktestRun.objects.exists()


def test_operator_cancels_a_queued_run(login, sol_candles):
    client = login("operator")
    client.post("/backtests/start", FORM)
    run = BacktestRun.objects.get()
    response = client.post(f"/backtests/{run.pk}/cancel", follow=True)
    run.refresh_from_db()
    assert run.status == "cancelled"
    assert b"Cancel requested" in response.content


def test_unknown_backtest_gives_the_404_page(login):
    response = login("viewer").get(f"/backtests/{uuid.uuid4()}/")
    assert response.status_code == 404
    assert b"<h1>Not found</h1>" in response.content


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("", "No run picked."),
        (f"ids={uuid.UUID(int=1)}", "give 2 to 5 run ids separated by commas"),
        (f"ids={uuid.UUID(int=1)}&ids={uuid.UUID(int=2)}", f"No backtest {uuid.UUID(int=1)}."),
    ],
)
def test_compare_with_bad_ids_says_what_to_pick(login, query, message):
    response = login("viewer").get(f"/backtests/compare?{query}")
    assert response.status_code == 400
    assert message in response.content.decode()


def test_compare_refuses_runs_that_have_not_completed(login, sol_candles):
    client = login("operator")
    client.post("/backtests/start", FORM)
    client.post("/backtests/start", {**FORM, "params": "fast=5, slow=20"})
    ids = "&".join(f"ids={run.pk}" for run in BacktestRun.objects.all())
    html = client.get(f"/backtests/compare?{ids}").content.decode()
    assert "is queued: only completed runs compare." in html


def form_defaults(html: str) -> dict:
    """What a browser posts untouched: each input's value, each select's selected option, no unticked box."""

    class Form(HTMLParser):
        def __init__(self):
            super().__init__()
            self.inside = False
            self.values = {}
            self.select = None

        def handle_starttag(self, tag, attrs):
            a = dict(attrs)
            if tag == "form" and a.get("data-action") == "backtest-start":
                self.inside = True
            if not self.inside:
                return
            if tag == "input" and a.get("name") and a.get("type") not in ("checkbox", "submit"):
                self.values[a["name"]] = a.get("value", "")
            elif tag == "input" and a.get("type") == "checkbox" and "checked" in a:
                self.values[a["name"]] = "on"
            elif tag == "select":
                self.select = a["name"]
            elif tag == "option" and self.select and (self.select not in self.values or "selected" in a):
                self.values[self.select] = a.get("value", "")

        def handle_endtag(self, tag):
            if tag == "select":
                self.select = None
            if tag == "form":
                self.inside = False

    parser = Form()
    parser.feed(html)
    parser.values.pop("csrfmiddlewaretoken", None)
    return parser.values


@pytest.mark.parametrize("preset", ["sma_cross", "rsi_reversion", "breakout"])
def test_each_preset_trades_with_the_forms_defaults(login, sol_candles, preset):

    client = login("operator")
    defaults = form_defaults(client.get("/backtests/").content.decode())
    assert defaults["symbol"] == "SOL-USDT"
    assert defaults["timeframe"] == "1h"
    response = client.post("/backtests/start", {**defaults, "preset": preset})
    assert response.status_code == 302, response.content.decode()[:3000]
    run = BacktestRun.objects.get()
    assert worker.backtest_execute(run_id=run.pk) == "completed"
    run.refresh_from_db()
    assert run.results["trades"] > 0, run.results["blocks_by_reason"]


def test_the_form_shows_every_setting_with_its_default_and_where_the_candles_are(login, sol_candles):
    html = login("operator").get("/backtests/").content.decode()
    for name in ("sizing_method", "sizing_value", "sizing_price", "stop", "target", "fee_rate", "slippage_bps",
                 "fill_timing", "close_at_end", "daily_risk_budget", "risk_per_trade", "max_trades_per_day",
                 "max_trades_per_symbol_per_day", "max_open_positions", "max_cost_to_reward", "min_notional",
                 "cooldown_after_loss_s"):  # fmt: skip
        assert f'name="{name}"' in html, name
    defaults = form_defaults(html)
    assert defaults["risk_per_trade"] == "off"
    assert defaults["max_trades_per_day"] == "20"
    assert defaults["fee_rate"] == "0.001"
    assert 'type="datetime-local" name="start"' in html
    assert "SOL-USDT — 1h: 2024-09-19 23:00 → 2024-10-31 14:00 (1,000)" in html


def test_form_settings_reach_the_stored_config(login, sol_candles):
    client = login("operator")
    body = {**FORM, "sizing_method": "equity_fraction", "sizing_value": "0.5", "sizing_price": "fill",
            "stop": "low_10", "close_at_end": "on", "fee_rate": "0.002", "slippage_bps": "0",
            "max_trades_per_day": "off", "risk_per_trade": "0.02", "daily_risk_budget": "0.05",
            "start": "2024-09-25T00:00"}  # fmt: skip
    response = client.post("/backtests/start", body)
    assert response.status_code == 302, response.content.decode()[:3000]
    config = BacktestRun.objects.get().config
    assert config["sizing"] == {"method": "equity_fraction", "value": "0.5", "price": "fill"}
    assert config["strategy"]["stop"] == "low_10"
    assert config["close_at_end"] is True
    assert (config["fee_rate"], config["slippage_bps"]) == ("0.002", "0")
    assert config["risk"]["max_trades_per_day"] is None
    assert config["risk"]["risk_per_trade"] == "0.02"
    assert config["start"] == "2024-09-25T00:00:00Z"


def test_a_zero_limit_is_refused_on_its_field(login, sol_candles):
    response = login("operator").post("/backtests/start", {**FORM, "max_open_positions": "0"})
    assert response.status_code == 400
    assert re.search(r'id="err-max_open_positions">[^<]*null', response.content.decode())
    assert not BacktestRun.objects.exists()


def test_no_candles_in_the_range_says_which_there_are(login, sol_candles):
    response = login("operator").post("/backtests/start", {**FORM, "start": "2025-03-01T00:00"})
    assert response.status_code == 400
    assert "SOL-USDT has 1h from 2024-09-19 23:00 to 2024-10-31 14:00 UTC (1,000)" in response.content.decode()


def _completed(config_changes=None):

    strategy = {"preset": "sma_cross", "params": {"fast": 10, "slow": 30}}
    data = {"symbols": ["SOL-USDT"], "timeframe": "1h", "initial_cash": "10000", "strategy": strategy}
    data.update(config_changes or {})
    run = services.backtest_run_create(data=data)
    assert worker.backtest_execute(run_id=run.pk) == "completed"
    run.refresh_from_db()
    return run


def test_results_read_at_a_glance_percentages_money_and_ratios(login, sol_candles):
    run = _completed()
    html = login("viewer").get(f"/backtests/{run.pk}/").content.decode()
    total = Decimal(str(run.results["total_return"])) * 100
    assert f"{total:,.2f} %" in html  # 0.1757... -> 17.58 % (the one rule, events.formatting), never 0.1757858...
    assert str(run.results["total_return"]) not in html
    assert f"{Decimal(run.results['final_equity']):,.2f}</" in html  # USDT money to the cent
    assert f"{run.results['sharpe']:,.2f}</" in html
    labels = re.findall(r'data-metric="([a-z_]+)"', html)
    assert labels[:5] == ["total_return", "cagr", "final_equity", "initial_cash", "max_drawdown"]
    assert 'id="by-symbol"' in html
    assert 'id="by-exit-reason"' in html
    assert "Win rate" in html


def test_blocks_say_why_with_their_numbers(login, sol_candles):
    run = _completed({"risk": {"risk_per_trade": "0.01", "daily_risk_budget": "0.02"}})
    assert run.results["blocks_by_reason"].get("trade_risk_limit")
    html = login("viewer").get(f"/backtests/{run.pk}/").content.decode()
    assert re.search(r"the trade risks [\d,]+\.\d\d, more than the [\d,]+\.\d\d allowed \(1% of equity", html)
    first = run.results["summary"]["blocks_by_reason"][0]
    assert first["reason"] == "trade_risk_limit"
    assert first["count"] == run.results["blocks_by_reason"]["trade_risk_limit"]


def test_the_list_shows_return_trades_drawdown_and_sharpe(login, sol_candles):
    run = _completed()
    html = login("viewer").get("/backtests/").content.decode()
    row = re.search(rf"<tr>.*?{run.pk}.*?</tr>", html, re.S).group(0)
    assert f"{Decimal(str(run.results['total_return'])) * 100:,.2f} %" in row
    assert f'<td class="num">{run.results["trades"]}</td>' in row
    assert f"{Decimal(str(run.results['max_drawdown'])) * 100:,.2f} %" in row
    assert f"{run.results['sharpe']:,.2f}" in row
    assert "—" not in row.split("</a>")[1]


def test_compare_is_in_a_fixed_meaningful_order(login, sol_candles):
    a = _completed()
    b = _completed({"strategy": {"preset": "sma_cross", "params": {"fast": 5, "slow": 20}}})
    html = login("viewer").get(f"/backtests/compare?ids={a.pk},{b.pk}").content.decode()
    labels = re.findall(r'<th scope="row">([^<]+)</th>', html)
    assert labels[:6] == ["Total return", "CAGR", "Final equity", "Initial cash", "Max drawdown", "Longest drawdown"]
    assert "%" in html


def test_trades_and_daily_money_to_the_quotes_cents(login, sol_candles):
    run = _completed()
    html = login("viewer").get(f"/backtests/{run.pk}/").content.decode()
    trades = re.search(r'<table id="trades">.*?</table>', html, re.S).group(0)
    pnls = re.findall(r'class="pnl (?:pos|neg|flat)">(?:<span aria-hidden="true">[▲▼]</span> )?([^<]+)<', trades)
    assert pnls
    assert all(re.fullmatch(r"[+-]?[\d,]+\.\d\d", p) for p in pnls), pnls[:5]
    daily = re.search(r'<table id="daily">.*?</table>', html, re.S).group(0)
    assert "10,000.00" in daily


CAPPED_ONE_A_DAY = {
    "risk": {"max_trades_per_day": 1, "max_trades_per_symbol_per_day": None, "max_cost_to_reward": None},
    "strategy": {"preset": "sma_cross", "params": {"fast": 5, "slow": 15}},
}


def test_the_results_show_what_the_blocks_saved_or_cost(login, sol_candles):
    run = _completed(CAPPED_ONE_A_DAY)
    card = run.results["block_scorecard"]
    assert card["total"]["blocks"] > 0
    html = login("viewer").get(f"/backtests/{run.pk}/").content.decode()
    table = html[html.index('id="block-scorecard"') :]
    table = table[: table.index("</table>")]
    for row in card["by_reason"]:
        cells = re.search(rf'<tr data-reason="{row["key"]}"><th scope="row">[^<]+</th><td class="num">(\d+)</td>'
                          r'<td class="num">(\d+)</td>', table)  # fmt: skip
        assert cells, row["key"]
        assert (int(cells[1]), int(cells[2])) == (row["blocks"], row["closed"])
    total = table[table.index('data-reason="total"') :]
    assert f'<td class="num">{card["total"]["blocks"]}</td><td class="num">{card["total"]["closed"]}</td>' in total
    assert "What-if on a risk rule" in html
    assert 'data-action="what-if"' not in html  # a viewer cannot start one


def test_an_operator_starts_a_what_if_from_the_results_and_sees_it_beside_the_run(login, sol_candles):

    run = _completed(CAPPED_ONE_A_DAY)
    client = login("operator")
    assert 'data-action="what-if"' in client.get(f"/backtests/{run.pk}/").content.decode()
    response = client.post(
        f"/backtests/{run.pk}/what-if", {"rule": "max_trades_per_day", "values": "2, off"}, follow=True
    )
    assert b"What-if on max_trades_per_day: 2 runs queued." in response.content
    sweep = Sweep.objects.get(base_run=run)
    assert sweep.grid == {"risk.max_trades_per_day": [2, None]}
    page = client.get(f"/backtests/{run.pk}/").content.decode()
    assert 'data-what-if-pending="true"' in page  # the page's script polls until the runs finish
    assert "waiting for the run" in page
    for queued in sweep.runs.all():
        worker.backtest_execute(run_id=queued.pk)
    page = client.get(f"/backtests/{run.pk}/").content.decode()
    assert "data-what-if-pending" not in page
    off = BacktestRun.objects.get(sweep=sweep, params={"max_trades_per_day": None})
    row = page[page.index('<tr data-value="off">') :]
    row = row[: row.index("</tr>")]
    assert f'href="/backtests/{off.pk}/"' in row
    assert f"{off.results['trades']} (+{off.results['trades'] - run.results['trades']})" in row
    assert f"0 (-{run.results['blocks']})" in row  # switched off, the cap blocks nothing
    assert re.search(r"% \(<span class=\"pnl (pos|neg|flat)\">.*?</span> pts\)", row)  # the return's change, signed


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"rule": "max_trades_per_week", "values": "2"}, "What-if rule: Select a valid choice."),
        ({"rule": "max_trades_per_day", "values": " , "}, "What-if values: Give at least one value."),
        ({"rule": "max_trades_per_day", "values": "0"}, "What-if values: value 0: 0 is a limit of zero"),
        ({"rule": "risk_per_trade", "values": "lots"}, "What-if values: value 0:"),
    ],
)
def test_a_refused_what_if_says_why_and_starts_nothing(login, sol_candles, form, message):

    run = _completed(CAPPED_ONE_A_DAY)
    response = login("operator").post(f"/backtests/{run.pk}/what-if", form, follow=True)
    assert message in response.content.decode()
    assert not Sweep.objects.exists()


def test_a_viewer_cannot_start_a_what_if(login, sol_candles):

    run = _completed(CAPPED_ONE_A_DAY)
    response = login("viewer").post(f"/backtests/{run.pk}/what-if", {"rule": "max_trades_per_day", "values": "2"})
    assert response.status_code == 403
    assert not Sweep.objects.exists()
