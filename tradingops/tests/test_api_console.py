"""The browsable API as a working console: the root lists every endpoint by area, and every write
offers a form with its input fields."""

import pytest

from tradingops.api.views import _endpoints
from tradingops.urls import api_v1

pytestmark = pytest.mark.django_db


def test_the_root_lists_every_endpoint_by_area(client_for):
    root = client_for("viewer").get("/api/v1/").json()
    assert {"events", "market", "agents", "backtests", "wallets", "docs"} <= set(root)
    listed = {url for area in root.values() for url in area.values()}
    every = _endpoints(api_v1)
    assert len(every) >= 45
    for area, name, path in every:
        assert f"http://testserver/api/v1/{path}" in listed, (area, name)
    assert root["events"]["event-path"] == "http://testserver/api/v1/events/{event_id}/chain"


@pytest.mark.parametrize(
    ("role", "url", "fields", "not_fields"),
    [
        ("operator", "/api/v1/agents/plans", ["preset", "params", "plan"], ["version", "created_at"]),
        ("operator", "/api/v1/agents/intents", ["action", "symbol", "note"], ["correlation_id"]),
        ("admin", "/api/v1/control/kill-switch", ["engaged", "reason"], ["daily_risk_budget"]),
        ("admin", "/api/v1/control/mode", ["mode", "confirmation"], ["kill_switch"]),
        ("operator", "/api/v1/wallets/reconcile", ["threshold_abs", "threshold_rel", "wallet_ids"], []),
    ],
)
def test_every_write_has_a_form_with_its_input_fields(client_for, role, url, fields, not_fields):
    page = client_for(role).get(url, HTTP_ACCEPT="text/html")
    assert page.status_code in (200, 405), page.status_code
    html = page.content.decode()
    form = html[html.index('id="post-object-form"') :] if 'id="post-object-form"' in html else ""
    assert form, f"no HTML form for POST on {url}"
    for field in fields:
        assert f'name="{field}"' in form, field
    for field in not_fields:
        assert f'name="{field}"' not in form.split("</form>")[0], field


def test_what_the_plan_form_sends_reaches_the_service(client_for):
    """The form's fields are the input serializer's: a form post (not JSON) with a preset and its
    params passes validation and is judged by the service (here: no candles to trade yet)."""
    response = client_for("operator").post("/api/v1/agents/plans", {"preset": "sma_cross", "params": '{"fast": 5}'})
    assert response.status_code == 400
    assert response.json() == {"preset": ["No active instrument has candles to trade yet."]}
    bad = client_for("operator").post("/api/v1/agents/plans", {"preset": "sma_cross", "params": "[1, 2]"})
    assert bad.json() == {"params": ["Must be a JSON object."]}


def test_the_reconcile_form_picks_wallets_and_what_it_sends_reaches_the_service(client_for):
    from wallets.models import Wallet

    kept = Wallet.objects.create(name="paper-a", kind="paper")
    other = Wallet.objects.create(name="paper-b", kind="paper")
    operator = client_for("operator")
    html = operator.get("/api/v1/wallets/reconcile", HTTP_ACCEPT="text/html").content.decode()
    form = html[html.index('id="post-object-form"') :].split("</form>")[0]
    select = form[form.index('<select multiple class="form-control" name="wallet_ids">') :].split("</select>")[0]
    assert f'<option value="{kept.pk}"  >paper-a (paper, #{kept.pk})</option>' in select
    assert f'<option value="{other.pk}"  >paper-b (paper, #{other.pk})</option>' in select
    assert "Lists are not currently supported in HTML input" not in form

    # a form post (not JSON), as the select sends it: one wallet_ids per picked option
    response = operator.post("/api/v1/wallets/reconcile", {"wallet_ids": [kept.pk], "threshold_abs": ""})
    assert response.status_code == 201, response.content
    assert response.json()["wallet_ids"] == [kept.pk]
    unknown = operator.post("/api/v1/wallets/reconcile", {"wallet_ids": ["424242"]})
    assert unknown.status_code == 400
    assert "wallet_ids" in unknown.json()
