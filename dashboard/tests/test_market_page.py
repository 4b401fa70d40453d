import importlib

import pytest
from django.apps import apps

from market.models import Instrument

pytestmark = pytest.mark.django_db
_seed = importlib.import_module("market.migrations.0002_seed_instruments")


@pytest.fixture
def instruments(db):

    _seed.seed(apps, None)


@pytest.fixture
def viewer(client, users):
    client.force_login(users["viewer"])
    return client


def test_market_page_defaults_to_the_first_symbol_with_its_tick(viewer, instruments):
    response = viewer.get("/market/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-symbol="BTC-USD"' in html
    assert 'data-timeframe="1h"' in html
    assert 'data-indicators="sma_20,ema_50"' in html
    assert 'data-price-tick="0.1"' in html
    assert "lightweight-charts.standalone.production.js" in html


def test_bad_indicator_is_shown_on_its_field_and_no_chart_is_drawn(viewer, instruments):
    response = viewer.get("/market/?symbol=SOL-USDT&indicators=sma_x")
    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="err-indicators">&#x27;sma_x&#x27; is not an indicator spec' in html
    assert 'id="chart"' not in html


def test_unknown_timeframe_is_shown_on_its_field(viewer, instruments):
    html = viewer.get("/market/?symbol=SOL-USDT&timeframe=7h").content.decode()
    assert 'id="err-timeframe">&quot;7h&quot; is not a timeframe: allowed are 1m, 5m, 15m, 1h, 4h, 1d, 1M.' in html


def test_unknown_symbol_gives_the_404_page(viewer, instruments):
    response = viewer.get("/market/?symbol=DOGE-USD")
    assert response.status_code == 404
    assert b"<h1>Not found</h1>" in response.content


def test_without_instruments_the_page_says_how_to_add_them(viewer):

    Instrument.objects.all().delete()
    html = viewer.get("/market/").content.decode()
    assert "No active instrument yet." in html
