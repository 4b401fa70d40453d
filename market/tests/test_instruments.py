"""Your own data in one command: load_candles --create makes the instrument from the numbers it is given
(never guessed), POST /api/v1/market/instruments does the same for admins; both refuse bad input by name."""

from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from market.models import Candle, Instrument

pytestmark = pytest.mark.django_db


def write_csv(path, rows):
    path.write_text("timestamp,open,high,low,close,volume\n" + "\n".join(rows) + "\n")
    return path


ROWS = ["2024-01-01 00:00:00,0.0021,0.0022,0.0020,0.00215,1000000",
        "2024-01-01 01:00:00,0.00215,0.0023,0.0021,0.0022,2000000"]  # fmt: skip


def test_load_candles_create_makes_the_instrument_then_loads(tmp_path, capsys):
    path = write_csv(tmp_path / "pepe.csv", ROWS)
    call_command("load_candles", "PEPE-USDT", "--file", str(path), "--timeframe", "1h", "--no-progress",
                 "--create", "--quote", "USDT", "--tick-size", "0.0000001", "--lot-size", "1")  # fmt: skip
    instrument = Instrument.objects.get(symbol="PEPE-USDT")
    assert (instrument.base, instrument.quote) == ("PEPE", "USDT")
    assert (instrument.price_tick, instrument.lot_size, instrument.min_notional) == (
        Decimal("0.0000001"), Decimal(1), Decimal(0))  # fmt: skip
    assert Candle.objects.filter(instrument=instrument, timeframe="1h").count() == 2
    assert "created PEPE-USDT" in capsys.readouterr().out


def test_load_candles_create_refuses_to_guess(tmp_path):
    path = write_csv(tmp_path / "pepe.csv", ROWS)
    with pytest.raises(CommandError, match="--create needs --tick-size, --lot-size"):
        call_command("load_candles", "PEPE-USDT", "--file", str(path), "--timeframe", "1h", "--no-progress",
                     "--create", "--quote", "USDT")  # fmt: skip
    with pytest.raises(CommandError, match="--lot-size: must be greater than 0"):
        call_command("load_candles", "PEPE-USDT", "--file", str(path), "--timeframe", "1h", "--no-progress",
                     "--create", "--quote", "USDT", "--tick-size", "0.0000001", "--lot-size", "0")  # fmt: skip
    with pytest.raises(CommandError, match="--create"):  # without --create: says how
        call_command("load_candles", "PEPE-USDT", "--file", str(path), "--timeframe", "1h", "--no-progress")
    assert not Instrument.objects.filter(symbol="PEPE-USDT").exists()


BODY = {"symbol": "PEPE-USDT", "quote": "USDT", "price_tick": "0.0000001", "lot_size": "1", "min_notional": "1"}


def test_admins_create_an_instrument_over_the_api(client_for):
    response = client_for("admin").post("/api/v1/market/instruments", BODY, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["base"] == "PEPE"
    assert response.json()["lot_size"] == "1"
    again = client_for("admin").post("/api/v1/market/instruments", BODY, format="json")
    assert again.status_code == 409
    assert "symbol" in again.json()


@pytest.mark.parametrize(
    ("change", "field"),
    [({"lot_size": "0"}, "lot_size"), ({"price_tick": "-1"}, "price_tick"), ({"price_tick": "abc"}, "price_tick"),
     ({"quote": "BTC"}, "base"), ({"symbol": "PE PE"}, "symbol"), ({"leverage": 3}, "leverage"),
     ({"min_notional": "-5"}, "min_notional")],
)  # fmt: skip
def test_bad_instruments_are_a_400_naming_the_field(client_for, change, field):
    response = client_for("admin").post("/api/v1/market/instruments", {**BODY, **change}, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert not Instrument.objects.filter(symbol__in=["PEPE-USDT", "PE PE"]).exists()


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_only_admins_create_instruments(client_for, role):
    assert client_for(role).post("/api/v1/market/instruments", BODY, format="json").status_code == 403
    assert not Instrument.objects.filter(symbol__in=["PEPE-USDT", "PE PE"]).exists()
