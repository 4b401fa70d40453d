"""Seed the instruments the shipped data and the default feed use (editable in the admin afterwards)."""

from decimal import Decimal

from django.db import migrations

SEED = [
    # symbol, base, quote, exchange, exchange_symbol, price_tick, lot_size, min_notional
    ("SOL-USDT", "SOL", "USDT", "binance", "SOL/USDT", "0.01", "0.001", "5"),
    ("BTC-USD", "BTC", "USD", "kraken", "BTC/USD", "0.1", "0.00001", "5"),
    ("ETH-USD", "ETH", "USD", "kraken", "ETH/USD", "0.01", "0.0001", "5"),
]


def seed(apps, schema_editor):
    Instrument = apps.get_model("market", "Instrument")
    for symbol, base, quote, exchange, exchange_symbol, tick, lot, notional in SEED:
        Instrument.objects.get_or_create(
            symbol=symbol,
            defaults={
                "base": base,
                "quote": quote,
                "exchange": exchange,
                "exchange_symbol": exchange_symbol,
                "price_tick": Decimal(tick),
                "lot_size": Decimal(lot),
                "min_notional": Decimal(notional),
            },
        )


class Migration(migrations.Migration):
    dependencies = [("market", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
