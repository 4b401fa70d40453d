"""The candles the agents decide on, read from the market app as engine ``Bars``/``Candle``s."""

from datetime import datetime

from django.db.models import Exists, OuterRef

from market.models import Candle, Instrument

from .engine.bars import Candle as EngineCandle


def _query(symbol: str, timeframe: str):
    return Candle.objects.filter(instrument__symbol=symbol, timeframe=timeframe)


def candles_between(
    *, symbol: str, timeframe: str, after: datetime | None, until: datetime, last: int | None = None
) -> list[EngineCandle]:
    """Closed candles with ``after < open_time <= until``, oldest first (only the ``last`` few if given)."""
    queryset = _query(symbol, timeframe).filter(open_time__lte=until)
    if after is not None:
        queryset = queryset.filter(open_time__gt=after)
    columns = ("open_time", "open", "high", "low", "close", "volume")
    if last is not None:
        rows = list(queryset.order_by("-open_time").values_list(*columns)[:last])[::-1]
    else:
        rows = queryset.order_by("open_time").values_list(*columns)
    return [EngineCandle.of(*row) for row in rows]


def trading_symbols(*, timeframe: str) -> list[str]:
    """Active instruments that have candles of the agents' timeframe: the ones a plan can trade."""
    has_candles = Candle.objects.filter(instrument=OuterRef("pk"), timeframe=timeframe)
    active = Instrument.objects.filter(active=True).filter(Exists(has_candles))
    return list(active.order_by("symbol").values_list("symbol", flat=True))


def lot_sizes(symbols: list[str]) -> dict:
    return dict(Instrument.objects.filter(symbol__in=symbols).values_list("symbol", "lot_size"))
