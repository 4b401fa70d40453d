"""The Market page's candle upload: operators load a CSV or Parquet file for an instrument; the same checks
as load_candles (a bad row refuses the file by line, nothing written); viewers cannot; JSON for the XHR."""

import io
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from market.models import Candle
from market.tests.factories import InstrumentFactory

pytestmark = pytest.mark.django_db

CSV = (b"timestamp,open,high,low,close,volume\n"
       b"2024-01-01 00:00:00,0.0021,0.0022,0.0020,0.00215,1000000\n"
       b"2024-01-01 01:00:00,0.00215,0.0023,0.0021,0.0022,2000000\n")  # fmt: skip


@pytest.fixture
def pepe(db):
    return InstrumentFactory(
        symbol="PEPE-USDT", base="PEPE", price_tick=Decimal("0.0000001"), lot_size=Decimal(1), min_notional=Decimal(0)
    )


def post(client, name, content, *, json=True):
    body = {"symbol": "PEPE-USDT", "timeframe": "1h", "file": SimpleUploadedFile(name, content)}
    return client.post("/market/upload", body, **({"HTTP_ACCEPT": "application/json"} if json else {}))


@pytest.fixture
def as_role(client, users):
    def login(role):
        client.force_login(users[role])
        return client

    return login


def test_an_operator_uploads_a_csv_and_gets_the_report(as_role, pepe):
    response = post(as_role("operator"), "pepe.csv", CSV)
    assert response.status_code == 201, response.content
    assert response.json()["loaded"] == 2
    assert "PEPE-USDT 1h: 2 candle(s) loaded" in response.json()["message"]
    assert Candle.objects.filter(instrument=pepe, timeframe="1h").count() == 2


def test_a_parquet_file_loads_the_same(as_role, pepe):
    table = pa.table({"timestamp": pa.array([1704067200, 1704070800], pa.int64()).cast(pa.timestamp("s")),
                      "open": [0.0021, 0.00215], "high": [0.0022, 0.0023], "low": [0.0020, 0.0021],
                      "close": [0.00215, 0.0022], "volume": [1e6, 2e6]})  # fmt: skip
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    response = post(as_role("operator"), "pepe.parquet", buffer.getvalue())
    assert response.status_code == 201, response.content
    assert Candle.objects.filter(instrument=pepe, timeframe="1h").count() == 2


def test_a_bad_row_refuses_the_file_by_line_and_writes_nothing(as_role, pepe):
    bad = CSV.replace(b"0.0023,0.0021,0.0022", b"0.0023,0.0030,0.0022")  # low above high
    response = post(as_role("operator"), "pepe.csv", bad)
    assert response.status_code == 400
    assert "line 3" in response.json()["file"][0]
    assert not Candle.objects.filter(instrument=pepe).exists()


def test_unknown_symbol_and_wrong_file_type_are_named(as_role, pepe):
    client = as_role("operator")
    body = {"symbol": "NOPE-USD", "timeframe": "1h", "file": SimpleUploadedFile("a.csv", CSV)}
    response = client.post("/market/upload", body, HTTP_ACCEPT="application/json")
    assert response.status_code == 400
    assert "symbol" in response.json()
    response = post(client, "pepe.xlsx", CSV)
    assert response.status_code == 400
    assert "file" in response.json()


def test_viewers_cannot_upload_and_see_no_form(as_role, pepe):
    client = as_role("viewer")
    assert post(client, "pepe.csv", CSV).status_code == 403
    assert b'data-action="candle-upload"' not in client.get("/market/?symbol=PEPE-USDT").content
    assert not Candle.objects.filter(instrument=pepe).exists()


def test_without_javascript_the_page_comes_back_with_the_report(as_role, pepe):
    client = as_role("operator")
    assert b'data-action="candle-upload"' in client.get("/market/?symbol=PEPE-USDT").content
    response = post(client, "pepe.csv", CSV, json=False)
    assert response.status_code == 302
    page = client.get(response["Location"]).content.decode()
    assert "2 candle(s) loaded" in page
