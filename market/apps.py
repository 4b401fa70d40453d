from django.apps import AppConfig


class MarketConfig(AppConfig):
    name = "market"

    def ready(self) -> None:
        from events import formatting

        formatting.register_instrument_precision(instrument_precision)


def instrument_precision(symbol: str):
    """Tick, lot and quote of an instrument, for events.formatting (cached there)."""
    from .models import Instrument

    row = Instrument.objects.filter(symbol=symbol).values_list("price_tick", "lot_size", "quote").first()
    return tuple(row) if row else None
